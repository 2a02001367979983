/// One entry of the replicated log. `payload` is opaque to Raft (metadata records above it).
public struct LogEntry: Equatable, Sendable {
    public var epoch: Int32
    public var payload: [UInt8]

    public init(epoch: Int32, payload: [UInt8]) {
        self.epoch = epoch
        self.payload = payload
    }

    /// The first entry a new leader writes in its epoch (KRaft's LeaderChange control record):
    /// committing it commits everything before it (Raft §5.4.2: a leader commits only entries
    /// of its own epoch by counting replicas).
    public static func leaderChange(epoch: Int32, leader: Int32) -> LogEntry {
        LogEntry(epoch: epoch, payload: [0xFF] + withUnsafeBytes(of: leader.bigEndian, Array.init))
    }

    public var isLeaderChange: Bool { payload.count == 5 && payload[0] == 0xFF }

    /// A change of the quorum's voters (KIP-853's VotersRecord): the whole new set, in force on
    /// every node from the moment the entry is in its log (committed or not).
    public static func voters(epoch: Int32, _ set: [VoterEndpoint]) -> LogEntry {
        LogEntry(epoch: epoch, payload: [0xFE, 0] + VoterEndpoint.encode(set))
    }

    /// A voters entry, readable or not (an unreadable one changes nothing).
    public var isVoters: Bool { payload.first == 0xFE }
    /// Raft's own entries, which the state machine above skips.
    public var isControl: Bool { isLeaderChange || isVoters }

    /// The voter set a voters entry names; nil for any other entry or a malformed one.
    public var voterSet: [VoterEndpoint]? {
        guard payload.count >= 2, payload[0] == 0xFE, payload[1] == 0 else { return nil }
        guard let (set, end) = VoterEndpoint.decode(payload, from: 2), end == payload.count else { return nil }
        return set
    }
}

/// A voter of the quorum and where its CONTROLLER listener is.
public struct VoterEndpoint: Equatable, Hashable, Sendable {
    public var id: Int32
    public var host: String
    public var port: Int32
    public init(id: Int32, host: String, port: Int32) {
        self.id = id
        self.host = host
        self.port = port
    }

    /// The most voters a set may hold, and the longest host name kept.
    public static let maxVoters = 255
    public static let maxHostBytes = 255

    /// count (UInt16), then per voter: id (Int32), port (UInt16), host length (UInt16), host.
    public static func encode(_ set: [VoterEndpoint]) -> [UInt8] {
        var out: [UInt8] = []
        func u16(_ v: Int) { out += [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
        let voters = Array(set.prefix(maxVoters))
        u16(voters.count)
        for v in voters {
            out += withUnsafeBytes(of: v.id.bigEndian, Array.init)
            u16(Int(UInt16(truncatingIfNeeded: v.port)))
            let host = Array(v.host.utf8.prefix(maxHostBytes))
            u16(host.count)
            out += host
        }
        return out
    }

    /// Reads a set written by `encode` at `from`; nil if the bytes are short or out of bounds.
    public static func decode(_ b: [UInt8], from start: Int) -> ([VoterEndpoint], Int)? {
        var i = start
        func u16() -> Int? {
            guard i >= 0, i + 2 <= b.count else { return nil }
            defer { i += 2 }
            return Int(b[i]) << 8 | Int(b[i + 1])
        }
        // An empty set would leave a quorum nobody can lead: read as no set at all.
        guard let count = u16(), (1...maxVoters).contains(count) else { return nil }
        var set: [VoterEndpoint] = []
        for _ in 0..<count {
            guard i + 4 <= b.count else { return nil }
            let id = Int32(
                bitPattern: UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
            i += 4
            guard let port = u16(), let length = u16(), length <= maxHostBytes, i + length <= b.count else {
                return nil
            }
            let host = String(decoding: b[i..<(i + length)], as: UTF8.self)
            i += length
            guard id >= 0, !set.contains(where: { $0.id == id }) else { return nil }
            set.append(VoterEndpoint(id: id, host: host, port: Int32(truncatingIfNeeded: port)))
        }
        return (set, i)
    }
}

/// The state a voter must not forget across restarts (KIP-595's quorum-state file): written
/// before any message that depends on it is sent.
public struct QuorumState: Equatable, Sendable {
    public var epoch: Int32
    public var votedFor: Int32?
    public var leaderId: Int32?

    public init(epoch: Int32 = 0, votedFor: Int32? = nil, leaderId: Int32? = nil) {
        self.epoch = epoch
        self.votedFor = votedFor
        self.leaderId = leaderId
    }
}

public struct RaftVoteRequest: Equatable, Sendable {
    /// The epoch the candidate stands in (for a pre-vote, the epoch it would stand in).
    public var candidateEpoch: Int32
    public var candidateId: Int32
    public var lastOffsetEpoch: Int32
    /// Log end offset (one past the last entry).
    public var lastOffset: Int64
    public var preVote: Bool

    public init(candidateEpoch: Int32, candidateId: Int32, lastOffsetEpoch: Int32, lastOffset: Int64, preVote: Bool) {
        self.candidateEpoch = candidateEpoch
        self.candidateId = candidateId
        self.lastOffsetEpoch = lastOffsetEpoch
        self.lastOffset = lastOffset
        self.preVote = preVote
    }
}

public struct RaftVoteResponse: Equatable, Sendable {
    public var epoch: Int32
    public var granted: Bool
    public var preVote: Bool
    public var leaderId: Int32?

    public init(epoch: Int32, granted: Bool, preVote: Bool, leaderId: Int32?) {
        self.epoch = epoch
        self.granted = granted
        self.preVote = preVote
        self.leaderId = leaderId
    }
}

public struct RaftFetchRequest: Equatable, Sendable {
    public var epoch: Int32
    public var replicaId: Int32
    public var fetchOffset: Int64
    public var lastFetchedEpoch: Int32

    public init(epoch: Int32, replicaId: Int32, fetchOffset: Int64, lastFetchedEpoch: Int32) {
        self.epoch = epoch
        self.replicaId = replicaId
        self.fetchOffset = fetchOffset
        self.lastFetchedEpoch = lastFetchedEpoch
    }
}

public struct RaftFetchResponse: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        /// Entries starting at the requested offset (possibly none).
        case entries([LogEntry])
        /// The follower's log diverges: truncate to at most `endOffset`, then fetch again.
        case diverging(epoch: Int32, endOffset: Int64)
        /// The request's epoch is stale or the receiver is not the leader.
        case fenced
        /// What the follower asks for is only in the leader's snapshot: fetch that first.
        case snapshot(endOffset: Int64, epoch: Int32)
    }

    public var epoch: Int32
    public var leaderId: Int32?
    public var highWatermark: Int64
    public var fetchOffset: Int64
    public var outcome: Outcome

    public init(epoch: Int32, leaderId: Int32?, highWatermark: Int64, fetchOffset: Int64, outcome: Outcome) {
        self.epoch = epoch
        self.leaderId = leaderId
        self.highWatermark = highWatermark
        self.fetchOffset = fetchOffset
        self.outcome = outcome
    }
}

/// A snapshot of the state machine at `endOffset` (everything below it applied), taken in
/// `epoch` (the epoch of the entry at `endOffset - 1`). `payload` is opaque to Raft.
public struct RaftSnapshot: Equatable, Sendable {
    public var endOffset: Int64
    public var epoch: Int32
    public var payload: [UInt8]
    /// The voters in force at `endOffset` when they differ from the configured ones (KIP-853).
    public var voters: [VoterEndpoint]?
    /// What is stored and sent: the payload alone without voters (as before KIP-853), else a
    /// header with the voters, then the payload.
    public let framed: [UInt8]

    static let framedMagic: [UInt8] = Array("TVOT".utf8)

    public init(endOffset: Int64, epoch: Int32, payload: [UInt8], voters: [VoterEndpoint]? = nil) {
        self.endOffset = endOffset
        self.epoch = epoch
        self.payload = payload
        self.voters = voters
        framed = voters.map { Self.framedMagic + [0] + VoterEndpoint.encode($0) + payload } ?? payload
    }

    /// Reads what `framed` wrote (a payload without the header is one from before KIP-853).
    public init(endOffset: Int64, epoch: Int32, framed: [UInt8]) {
        self.endOffset = endOffset
        self.epoch = epoch
        self.framed = framed
        if framed.count >= 5, Array(framed[0..<4]) == Self.framedMagic, framed[4] == 0,
            let (set, end) = VoterEndpoint.decode(framed, from: 5)
        {
            voters = set
            payload = Array(framed[end...])
        } else {
            voters = nil
            payload = framed
        }
    }
}

/// A follower asks for a chunk of the leader's snapshot (Kafka's FetchSnapshot).
public struct RaftFetchSnapshotRequest: Equatable, Sendable {
    public var epoch: Int32
    public var replicaId: Int32
    public var endOffset: Int64
    public var snapshotEpoch: Int32
    public var position: Int64

    public init(epoch: Int32, replicaId: Int32, endOffset: Int64, snapshotEpoch: Int32, position: Int64) {
        self.epoch = epoch
        self.replicaId = replicaId
        self.endOffset = endOffset
        self.snapshotEpoch = snapshotEpoch
        self.position = position
    }
}

public struct RaftFetchSnapshotResponse: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        /// `bytes` from `position` of a snapshot of `size` bytes.
        case chunk(size: Int64, position: Int64, bytes: [UInt8])
        /// The leader no longer has that snapshot (it took a newer one): fetch again.
        case notFound
        /// The request's epoch is stale or the receiver is not the leader.
        case fenced
    }

    public var epoch: Int32
    public var leaderId: Int32?
    public var endOffset: Int64
    public var snapshotEpoch: Int32
    public var outcome: Outcome

    public init(epoch: Int32, leaderId: Int32?, endOffset: Int64, snapshotEpoch: Int32, outcome: Outcome) {
        self.epoch = epoch
        self.leaderId = leaderId
        self.endOffset = endOffset
        self.snapshotEpoch = snapshotEpoch
        self.outcome = outcome
    }
}

/// Messages between voters. They map onto Kafka's Vote, BeginQuorumEpoch, EndQuorumEpoch,
/// Fetch and FetchSnapshot RPCs on the CONTROLLER listener.
public enum RaftMessage: Equatable, Sendable {
    case vote(RaftVoteRequest)
    case voteResponse(RaftVoteResponse)
    case beginQuorumEpoch(epoch: Int32, leaderId: Int32)
    case endQuorumEpoch(epoch: Int32, leaderId: Int32)
    case fetch(RaftFetchRequest)
    case fetchResponse(RaftFetchResponse)
    case fetchSnapshot(RaftFetchSnapshotRequest)
    case fetchSnapshotResponse(RaftFetchSnapshotResponse)

    /// The highest epoch a message may carry: far below `Int32.max`, so that no number of
    /// elections after it can overflow. A legitimate quorum never comes near it (one election a
    /// second for 68 years).
    public static let maxEpoch = Int32.max - (1 << 20)
    /// How far ahead of the receiver's own epoch a message may be. Epochs move by one per
    /// election, so a real peer is never this far ahead; a forged one is refused instead of
    /// pushing the quorum towards `maxEpoch`.
    public static let maxEpochJump: Int32 = 1 << 20
    /// Offsets beyond this are refused: nothing real is near it, and offset arithmetic stays exact.
    public static let maxOffset = Int64.max / 4

    /// Whether every epoch and offset in the message is in range for a node at `current`.
    public func isPlausible(currentEpoch current: Int32) -> Bool {
        let e = epoch
        guard e >= 0, e <= Self.maxEpoch, Int64(e) <= Int64(current) + Int64(Self.maxEpochJump) else { return false }
        func offset(_ o: Int64) -> Bool { o >= 0 && o <= Self.maxOffset }
        func epochField(_ x: Int32) -> Bool { x >= 0 && x <= e }
        switch self {
        case .vote(let v): return offset(v.lastOffset) && epochField(v.lastOffsetEpoch)
        case .voteResponse, .beginQuorumEpoch, .endQuorumEpoch: return true
        case .fetch(let f): return offset(f.fetchOffset) && epochField(f.lastFetchedEpoch)
        case .fetchResponse(let r):
            guard offset(r.highWatermark), offset(r.fetchOffset) else { return false }
            switch r.outcome {
            case .diverging(let de, let end): return epochField(de) && offset(end)
            case .snapshot(let end, let se): return epochField(se) && offset(end)
            case .entries(let es): return es.allSatisfy { $0.epoch >= 0 && $0.epoch <= e }
            default: return true
            }
        case .fetchSnapshot(let f):
            return offset(f.endOffset) && offset(f.position) && epochField(f.snapshotEpoch)
        case .fetchSnapshotResponse(let r):
            return offset(r.endOffset) && epochField(r.snapshotEpoch)
        }
    }

    /// The epoch the sender was in when it sent this.
    public var epoch: Int32 {
        switch self {
        case .vote(let v): return v.candidateEpoch
        case .voteResponse(let v): return v.epoch
        case .beginQuorumEpoch(let e, _), .endQuorumEpoch(let e, _): return e
        case .fetch(let f): return f.epoch
        case .fetchResponse(let f): return f.epoch
        case .fetchSnapshot(let f): return f.epoch
        case .fetchSnapshotResponse(let f): return f.epoch
        }
    }
}

/// What the shell must do, in order. `persist` and `append`/`truncate` are durable before any
/// later `send` in the same list is sent.
public enum RaftAction: Equatable, Sendable {
    case persist(QuorumState)
    /// Write entries at `offset` (the log's end after any truncate before it).
    case append(offset: Int64, entries: [LogEntry])
    /// Drop every entry at or after `offset`.
    case truncate(offset: Int64)
    case send(to: Int32, RaftMessage)
    /// Entries below `highWatermark` are committed: apply them.
    case commit(highWatermark: Int64)
    case becameLeader(epoch: Int32)
    case lostLeadership(epoch: Int32)
    /// A snapshot fetched from the leader replaces the whole log and state: store it, drop every
    /// entry, and load the state machine from it. Durable before any later `send`.
    case installSnapshot(RaftSnapshot)
    /// The voter set changed (an entry appended, truncated away, or a snapshot installed): the
    /// shell learns where new voters listen.
    case votersChanged([VoterEndpoint])
}

public struct RaftConfig: Sendable {
    /// A follower that hears nothing from its leader for this long starts an election.
    public var fetchTimeoutMs: Int64 = 2000
    /// Candidates wait a random time in [electionTimeoutMs, 2 * electionTimeoutMs).
    public var electionTimeoutMs: Int64 = 1000
    /// Retry a request that got no answer after this long.
    public var requestTimeoutMs: Int64 = 500
    /// Pause between fetches that returned nothing, when the leader answers at once.
    public var fetchBackoffMs: Int64 = 50
    /// The leader holds a caught-up follower's fetch until it has news (entries, a moved high
    /// watermark) or a while has passed, as the server's does. A follower then fetches again as
    /// soon as any answer arrives: an empty one is a high watermark to learn or a held fetch's
    /// end, never a leader answering at once, and waiting `fetchBackoffMs` after it left the
    /// next entry unseen on that node for up to 75 ms (a topic created and unknown there).
    public var leaderHoldsFetches = false
    /// Most entries in one fetch answer. Every answer is a commit step on the leader and an
    /// image applied on every node, so a burst of records (10,000 partitions created, or moved
    /// off a failed broker) goes in few of them: with 64 it took 156 rounds.
    public var maxFetchEntries = 4096
    /// Most payload bytes in one fetch answer (past the first entry).
    public var maxFetchBytes = 1 << 20
    /// Most snapshot bytes in one FetchSnapshot answer.
    public var maxSnapshotChunkBytes = 1 << 20

    public init() {}
}
