/// A KRaft-style Raft voter as a pure state machine (KIP-595, with KIP-996 pre-vote).
///
/// It takes messages, clock readings and proposals and returns the actions the shell must carry
/// out; it does no I/O, reads no clock and draws randomness only from the generator it is given.
/// Replication is pull-based as in KRaft: followers `Fetch` from the leader, which learns their
/// log ends from those fetches and advances the high watermark at a majority.
public struct RaftNode: Sendable {
    public enum Role: Equatable, Sendable {
        case unattached
        /// Asking for pre-votes: no epoch change until a majority says it would vote for us.
        case prospective(granted: Set<Int32>)
        case candidate(granted: Set<Int32>)
        case leader
        case follower(leader: Int32)
    }

    struct Peer {
        /// Log end the follower reported in its last fetch (acknowledged, durable on it).
        var endOffset: Int64 = 0
        var lastFetchMs: Int64 = Int64.min / 2
    }

    public let id: Int32
    public let voters: [Int32]
    public let config: RaftConfig
    public private(set) var quorum: QuorumState
    public private(set) var role: Role = .unattached
    public private(set) var log: RaftLog
    public private(set) var highWatermark: Int64 = 0
    /// The latest snapshot: the state at `log.startOffset`, served to followers that fell behind.
    public private(set) var snapshot: RaftSnapshot?
    /// A snapshot being fetched from the leader, chunk by chunk.
    private var download: (endOffset: Int64, epoch: Int32, bytes: [UInt8])?
    /// Offset up to which the leader's own entries are flushed (counted towards the majority).
    public private(set) var durableEndOffset: Int64
    private var rng: SplitMix
    private var electionDeadlineMs: Int64
    private var lastLeaderContactMs: Int64 = Int64.min / 2
    private var fetchInFlightSinceMs: Int64? = nil
    private var nextFetchAtMs: Int64 = 0
    private var peers: [Int32: Peer] = [:]
    private var voteRequestSentMs: Int64 = 0
    private var epochStartOffset: Int64 = 0
    private var lastBeginQuorumMs: Int64 = Int64.min / 2

    public var majority: Int { voters.count / 2 + 1 }
    public var isLeader: Bool { role == .leader }

    /// The voters, this one included, that a leader has had a fetch from within `withinMs`;
    /// 0 when this node does not lead.
    public func votersInTouch(nowMs: Int64, withinMs: Int64) -> Int {
        guard role == .leader else { return 0 }
        return peers.filter { voters.contains($0.key) && nowMs - $0.value.lastFetchMs <= withinMs }.count + 1
    }
    public var epoch: Int32 { quorum.epoch }
    public var leaderId: Int32? {
        switch role {
        case .leader: return id
        case .follower(let l): return l
        default: return nil
        }
    }

    /// Starts a voter from what it persisted. A restarted node never resumes as leader: it comes
    /// back unattached in its persisted epoch and waits to hear from the quorum. With a snapshot,
    /// the log starts where the snapshot ends, and everything up to there counts as committed.
    public init(
        id: Int32, voters: [Int32], state: QuorumState, log: RaftLog, snapshot: RaftSnapshot? = nil,
        config: RaftConfig, seed: UInt64, nowMs: Int64
    ) {
        precondition(voters.contains(id), "node \(id) is not among the voters \(voters)")
        precondition(
            (snapshot?.endOffset ?? 0) == log.startOffset, "the log must start where the snapshot ends")
        self.snapshot = snapshot
        self.highWatermark = log.startOffset
        self.id = id
        self.voters = voters.sorted()
        self.config = config
        self.quorum = state
        self.log = log
        self.durableEndOffset = log.endOffset
        self.rng = SplitMix(seed: seed ^ UInt64(bitPattern: Int64(id)))
        self.electionDeadlineMs = 0
        // A quorum of one has nobody to wait for.
        self.electionDeadlineMs = voters.count == 1 ? nowMs : nowMs + randomElectionTimeout()
        if let leader = state.leaderId, leader != id {
            role = .follower(leader: leader)
            lastLeaderContactMs = nowMs
        }
    }

    private mutating func randomElectionTimeout() -> Int64 {
        config.electionTimeoutMs + Int64(rng.next() % UInt64(max(1, config.electionTimeoutMs)))
    }

    // MARK: - Clock

    public mutating func tick(nowMs: Int64) -> [RaftAction] {
        var actions: [RaftAction] = []
        switch role {
        case .leader:
            // Check quorum: a leader that no majority has fetched from lately resigns, so a
            // partitioned leader does not go on believing it leads.
            let recent = peers.filter { nowMs - $0.value.lastFetchMs <= config.fetchTimeoutMs }.count + 1
            if recent < majority && voters.count > 1 {
                actions.append(.lostLeadership(epoch: quorum.epoch))
                for v in voters where v != id {
                    actions.append(.send(to: v, .endQuorumEpoch(epoch: quorum.epoch, leaderId: id)))
                }
                role = .unattached
                quorum.leaderId = nil
                actions.append(.persist(quorum))
                electionDeadlineMs = nowMs + randomElectionTimeout()
                return actions
            }
            // Remind voters that have not fetched lately who leads.
            if nowMs - lastBeginQuorumMs >= config.requestTimeoutMs {
                for v in voters
                where v != id && nowMs - (peers[v]?.lastFetchMs ?? Int64.min / 2) > config.requestTimeoutMs {
                    actions.append(.send(to: v, .beginQuorumEpoch(epoch: quorum.epoch, leaderId: id)))
                }
                lastBeginQuorumMs = nowMs
            }
        case .follower(let leader):
            if nowMs - lastLeaderContactMs > config.fetchTimeoutMs {
                actions += startPreVote(nowMs: nowMs)
            } else if let since = fetchInFlightSinceMs {
                if nowMs - since >= config.requestTimeoutMs { actions.append(sendFetch(to: leader, nowMs: nowMs)) }
            } else if nowMs >= nextFetchAtMs {
                actions.append(sendFetch(to: leader, nowMs: nowMs))
            }
        case .unattached:
            if nowMs >= electionDeadlineMs { actions += startPreVote(nowMs: nowMs) }
        case .prospective:
            if nowMs >= electionDeadlineMs { actions += startPreVote(nowMs: nowMs) }
        case .candidate:
            if nowMs >= electionDeadlineMs {
                // The election went nowhere (split vote or lost messages): try again via pre-vote.
                actions += startPreVote(nowMs: nowMs)
            }
        }
        return actions
    }

    private mutating func sendFetch(to leader: Int32, nowMs: Int64) -> RaftAction {
        fetchInFlightSinceMs = nowMs
        return .send(
            to: leader,
            .fetch(
                RaftFetchRequest(
                    epoch: quorum.epoch, replicaId: id, fetchOffset: log.endOffset, lastFetchedEpoch: log.lastEpoch)))
    }

    private mutating func sendFetchSnapshot(to leader: Int32, nowMs: Int64) -> RaftAction {
        fetchInFlightSinceMs = nowMs
        let d = download!
        return .send(
            to: leader,
            .fetchSnapshot(
                RaftFetchSnapshotRequest(
                    epoch: quorum.epoch, replicaId: id, endOffset: d.endOffset, snapshotEpoch: d.epoch,
                    position: Int64(d.bytes.count))))
    }

    // MARK: - Elections

    private mutating func startPreVote(nowMs: Int64) -> [RaftAction] {
        electionDeadlineMs = nowMs + randomElectionTimeout()
        // Messages past maxEpoch are refused, so this is only reached by local state files
        // edited by hand; stay a follower rather than overflow.
        guard quorum.epoch < RaftMessage.maxEpoch else { return [] }
        fetchInFlightSinceMs = nil
        if voters.count == 1 { return becomeCandidate(nowMs: nowMs) }
        role = .prospective(granted: [id])
        let request = RaftVoteRequest(
            candidateEpoch: quorum.epoch + 1, candidateId: id, lastOffsetEpoch: log.lastEpoch,
            lastOffset: log.endOffset,
            preVote: true)
        return voters.filter { $0 != id }.map { .send(to: $0, .vote(request)) }
    }

    private mutating func becomeCandidate(nowMs: Int64) -> [RaftAction] {
        quorum = QuorumState(epoch: quorum.epoch + 1, votedFor: id, leaderId: nil)
        role = .candidate(granted: [id])
        electionDeadlineMs = nowMs + randomElectionTimeout()
        var actions: [RaftAction] = [.persist(quorum)]
        if voters.count == 1 { return actions + becomeLeader(nowMs: nowMs) }
        let request = RaftVoteRequest(
            candidateEpoch: quorum.epoch, candidateId: id, lastOffsetEpoch: log.lastEpoch, lastOffset: log.endOffset,
            preVote: false)
        for v in voters where v != id { actions.append(.send(to: v, .vote(request))) }
        return actions
    }

    private mutating func becomeLeader(nowMs: Int64) -> [RaftAction] {
        role = .leader
        quorum.leaderId = id
        peers = [:]
        for v in voters where v != id { peers[v] = Peer(endOffset: 0, lastFetchMs: nowMs) }
        epochStartOffset = log.endOffset
        lastBeginQuorumMs = nowMs
        let marker = LogEntry.leaderChange(epoch: quorum.epoch, leader: id)
        let offset = log.endOffset
        log.append([marker])
        var actions: [RaftAction] = [
            .persist(quorum), .append(offset: offset, entries: [marker]), .becameLeader(epoch: quorum.epoch),
        ]
        for v in voters where v != id {
            actions.append(.send(to: v, .beginQuorumEpoch(epoch: quorum.epoch, leaderId: id)))
        }
        actions += advanceHighWatermark()
        return actions
    }

    /// Moves to a newer epoch learned from a message, as a follower of `leader` if it is known.
    private mutating func observe(epoch: Int32, leader: Int32?, nowMs: Int64) -> [RaftAction] {
        var actions: [RaftAction] = []
        if role == .leader { actions.append(.lostLeadership(epoch: quorum.epoch)) }
        quorum = QuorumState(epoch: epoch, votedFor: nil, leaderId: leader)
        actions.append(.persist(quorum))
        fetchInFlightSinceMs = nil
        download = nil
        if let leader, leader != id {
            role = .follower(leader: leader)
            lastLeaderContactMs = nowMs
            nextFetchAtMs = nowMs
        } else {
            role = .unattached
            electionDeadlineMs = nowMs + randomElectionTimeout()
        }
        return actions
    }

    // MARK: - Messages

    public mutating func receive(_ message: RaftMessage, from sender: Int32, nowMs: Int64) -> [RaftAction] {
        guard voters.contains(sender), sender != id else { return [] }
        // Epochs and offsets out of range are dropped before they can move any state.
        guard message.isPlausible(currentEpoch: quorum.epoch) else { return [] }
        var actions: [RaftAction] = []
        // Any message from a newer epoch moves us into it, except pre-votes, which are
        // hypothetical, and vote requests, which are handled below so the vote itself is
        // persisted together with the epoch.
        let isPreVote: Bool = { if case .vote(let v) = message { return v.preVote } else { return false } }()
        if message.epoch > quorum.epoch && !isPreVote {
            switch message {
            case .beginQuorumEpoch(let e, let l): actions += observe(epoch: e, leader: l, nowMs: nowMs)
            case .fetchResponse(let r): actions += observe(epoch: r.epoch, leader: r.leaderId, nowMs: nowMs)
            case .fetchSnapshotResponse(let r): actions += observe(epoch: r.epoch, leader: r.leaderId, nowMs: nowMs)
            case .voteResponse(let r) where !r.preVote:
                actions += observe(epoch: r.epoch, leader: r.leaderId, nowMs: nowMs)
            case .voteResponse(let r):
                // A refused pre-vote from a newer epoch still tells us that epoch exists.
                actions += observe(epoch: r.epoch, leader: r.leaderId, nowMs: nowMs)
            default: actions += observe(epoch: message.epoch, leader: nil, nowMs: nowMs)
            }
        }
        switch message {
        case .vote(let v): actions += handleVote(v, nowMs: nowMs)
        case .voteResponse(let r): actions += handleVoteResponse(r, from: sender, nowMs: nowMs)
        case .beginQuorumEpoch(let e, let l):
            if e == quorum.epoch && l != id, role != .follower(leader: l) {
                if role == .leader { break }  // cannot happen: one leader per epoch
                quorum.leaderId = l
                actions.append(.persist(quorum))
                role = .follower(leader: l)
                lastLeaderContactMs = nowMs
                nextFetchAtMs = nowMs
                fetchInFlightSinceMs = nil
            }
            if e == quorum.epoch, case .follower(let l2) = role, l2 == l, fetchInFlightSinceMs == nil {
                actions.append(sendFetch(to: l, nowMs: nowMs))
            }
        case .endQuorumEpoch(let e, let l):
            // The leader resigned: do not wait out the fetch timeout.
            if e == quorum.epoch, case .follower(let cur) = role, cur == l {
                lastLeaderContactMs = Int64.min / 2
                electionDeadlineMs = nowMs + randomElectionTimeout() / 4
                role = .unattached
            }
        case .fetch(let f): actions += handleFetch(f, from: sender, nowMs: nowMs)
        case .fetchResponse(let r): actions += handleFetchResponse(r, from: sender, nowMs: nowMs)
        case .fetchSnapshot(let f): actions += handleFetchSnapshot(f, from: sender, nowMs: nowMs)
        case .fetchSnapshotResponse(let r): actions += handleFetchSnapshotResponse(r, from: sender, nowMs: nowMs)
        }
        return actions
    }

    private mutating func handleVote(_ v: RaftVoteRequest, nowMs: Int64) -> [RaftAction] {
        let upToDate = log.isUpToDate(lastEpoch: v.lastOffsetEpoch, endOffset: v.lastOffset)
        if v.preVote {
            // KIP-996: refuse while we still hear from a leader, so a node returning from a
            // partition cannot disrupt a healthy quorum.
            let leaderAlive: Bool = {
                switch role {
                case .leader: return true
                case .follower: return nowMs - lastLeaderContactMs <= config.fetchTimeoutMs
                default: return false
                }
            }()
            let granted = v.candidateEpoch > quorum.epoch && upToDate && !leaderAlive
            return [
                .send(
                    to: v.candidateId,
                    .voteResponse(
                        RaftVoteResponse(epoch: quorum.epoch, granted: granted, preVote: true, leaderId: leaderId)))
            ]
        }
        var actions: [RaftAction] = []
        var granted = false
        if v.candidateEpoch == quorum.epoch && role != .leader && upToDate
            && (quorum.votedFor == nil || quorum.votedFor == v.candidateId) && quorum.leaderId == nil
        {
            granted = true
            if quorum.votedFor == nil {
                quorum.votedFor = v.candidateId
                actions.append(.persist(quorum))
            }
            electionDeadlineMs = nowMs + randomElectionTimeout()
        }
        actions.append(
            .send(
                to: v.candidateId,
                .voteResponse(
                    RaftVoteResponse(epoch: quorum.epoch, granted: granted, preVote: false, leaderId: leaderId))))
        return actions
    }

    private mutating func handleVoteResponse(_ r: RaftVoteResponse, from sender: Int32, nowMs: Int64) -> [RaftAction] {
        guard r.granted else { return [] }
        switch role {
        case .prospective(var granted) where r.preVote && r.epoch <= quorum.epoch:
            granted.insert(sender)
            role = .prospective(granted: granted)
            if granted.count >= majority { return becomeCandidate(nowMs: nowMs) }
        case .candidate(var granted) where !r.preVote && r.epoch == quorum.epoch:
            granted.insert(sender)
            role = .candidate(granted: granted)
            if granted.count >= majority { return becomeLeader(nowMs: nowMs) }
        default:
            break
        }
        return []
    }

    private mutating func handleFetch(_ f: RaftFetchRequest, from sender: Int32, nowMs: Int64) -> [RaftAction] {
        func answer(_ outcome: RaftFetchResponse.Outcome) -> [RaftAction] {
            [
                .send(
                    to: sender,
                    .fetchResponse(
                        RaftFetchResponse(
                            epoch: quorum.epoch, leaderId: leaderId, highWatermark: highWatermark,
                            fetchOffset: f.fetchOffset, outcome: outcome)))
            ]
        }
        guard role == .leader, f.epoch == quorum.epoch else { return answer(.fenced) }
        peers[sender]?.lastFetchMs = nowMs
        // Below the log start only the snapshot has what the follower needs.
        if let snap = snapshot, f.fetchOffset < log.startOffset {
            return answer(.snapshot(endOffset: snap.endOffset, epoch: snap.epoch))
        }
        // Divergence check (KIP-595): the follower's last fetched epoch must end, on our log,
        // at or after its fetch offset.
        if f.fetchOffset > 0 {
            guard let (epoch, end) = log.endOffset(forEpoch: f.lastFetchedEpoch) else {
                // It diverges somewhere inside our snapshot: the snapshot replaces its log.
                let snap = snapshot!
                return answer(.snapshot(endOffset: snap.endOffset, epoch: snap.epoch))
            }
            if epoch < f.lastFetchedEpoch || end < f.fetchOffset {
                return answer(.diverging(epoch: epoch, endOffset: end))
            }
        }
        var actions: [RaftAction] = []
        if let peer = peers[sender] {
            peers[sender]!.endOffset = max(peer.endOffset, f.fetchOffset)
            actions += advanceHighWatermark()
        }
        return actions + answer(.entries(log.slice(from: f.fetchOffset, max: config.maxFetchEntries)))
    }

    private mutating func handleFetchResponse(_ r: RaftFetchResponse, from sender: Int32, nowMs: Int64) -> [RaftAction]
    {
        guard case .follower(let leader) = role, leader == sender, r.epoch == quorum.epoch else { return [] }
        guard r.fetchOffset == log.endOffset else {
            // An answer to an older fetch (duplicated or reordered): ignore, ask again.
            fetchInFlightSinceMs = nil
            return []
        }
        fetchInFlightSinceMs = nil
        var actions: [RaftAction] = []
        if case .fenced = r.outcome {
            // The node we follow says it does not lead this epoch (it restarted, or resigned):
            // stop following it and let the election timer run. It is no sign of a live leader.
            role = .unattached
            quorum.leaderId = nil
            electionDeadlineMs = nowMs + randomElectionTimeout() / 2
            return [.persist(quorum)]
        }
        lastLeaderContactMs = nowMs
        switch r.outcome {
        case .fenced:
            break
        case .diverging(let epoch, let endOffset):
            let ours = log.endOffset(forEpoch: epoch)?.endOffset ?? log.startOffset
            let target = max(log.startOffset, min(endOffset, ours, log.endOffset))
            // Committed entries never diverge: an answer that says so is a stale copy of one
            // already acted on (found by simulation: a duplicated answer whose fetch offset
            // matched the log end again after the truncation and the next append).
            guard target >= highWatermark else { return [sendFetch(to: leader, nowMs: nowMs)] }
            log.truncate(to: target)
            durableEndOffset = min(durableEndOffset, target)
            actions.append(.truncate(offset: target))
            actions.append(sendFetch(to: leader, nowMs: nowMs))
        case .entries(let entries):
            if !entries.isEmpty {
                let offset = log.endOffset
                log.append(entries)
                durableEndOffset = log.endOffset
                actions.append(.append(offset: offset, entries: entries))
            }
            let hw = min(r.highWatermark, log.endOffset)
            if hw > highWatermark {
                highWatermark = hw
                actions.append(.commit(highWatermark: hw))
            }
            if entries.isEmpty {
                nextFetchAtMs = nowMs + config.fetchBackoffMs
            } else {
                actions.append(sendFetch(to: leader, nowMs: nowMs))
            }
        case .snapshot(let endOffset, let epoch):
            // Carry on with a download of the same snapshot where it stopped.
            if download?.endOffset != endOffset || download?.epoch != epoch {
                download = (endOffset, epoch, [])
            }
            actions.append(sendFetchSnapshot(to: leader, nowMs: nowMs))
        }
        return actions
    }

    private mutating func handleFetchSnapshot(_ f: RaftFetchSnapshotRequest, from sender: Int32, nowMs: Int64)
        -> [RaftAction]
    {
        func answer(_ outcome: RaftFetchSnapshotResponse.Outcome) -> [RaftAction] {
            [
                .send(
                    to: sender,
                    .fetchSnapshotResponse(
                        RaftFetchSnapshotResponse(
                            epoch: quorum.epoch, leaderId: leaderId, endOffset: f.endOffset,
                            snapshotEpoch: f.snapshotEpoch, outcome: outcome)))
            ]
        }
        guard role == .leader, f.epoch == quorum.epoch else { return answer(.fenced) }
        peers[sender]?.lastFetchMs = nowMs
        guard let snap = snapshot, snap.endOffset == f.endOffset, snap.epoch == f.snapshotEpoch else {
            return answer(.notFound)
        }
        let from = Int(max(0, min(f.position, Int64(snap.payload.count))))
        let to = min(snap.payload.count, from + config.maxSnapshotChunkBytes)
        return answer(
            .chunk(size: Int64(snap.payload.count), position: Int64(from), bytes: Array(snap.payload[from..<to])))
    }

    private mutating func handleFetchSnapshotResponse(
        _ r: RaftFetchSnapshotResponse, from sender: Int32, nowMs: Int64
    ) -> [RaftAction] {
        guard case .follower(let leader) = role, leader == sender, r.epoch == quorum.epoch,
            var d = download, d.endOffset == r.endOffset, d.epoch == r.snapshotEpoch
        else { return [] }
        fetchInFlightSinceMs = nil
        switch r.outcome {
        case .fenced:
            role = .unattached
            quorum.leaderId = nil
            download = nil
            electionDeadlineMs = nowMs + randomElectionTimeout() / 2
            return [.persist(quorum)]
        case .notFound:
            lastLeaderContactMs = nowMs
            download = nil
            return [sendFetch(to: leader, nowMs: nowMs)]
        case .chunk(let size, let position, let bytes):
            lastLeaderContactMs = nowMs
            // An answer to an older request (duplicated or reordered): ask for what is next.
            guard position == Int64(d.bytes.count) else { return [sendFetchSnapshot(to: leader, nowMs: nowMs)] }
            d.bytes += bytes
            download = d
            if Int64(d.bytes.count) < size && !bytes.isEmpty { return [sendFetchSnapshot(to: leader, nowMs: nowMs)] }
            let snap = RaftSnapshot(endOffset: d.endOffset, epoch: d.epoch, payload: d.bytes)
            download = nil
            snapshot = snap
            log.reset(toSnapshotEnding: snap.endOffset, epoch: snap.epoch)
            durableEndOffset = snap.endOffset
            highWatermark = max(highWatermark, snap.endOffset)
            return [.installSnapshot(snap), sendFetch(to: leader, nowMs: nowMs)]
        }
    }

    /// The state machine has applied everything below `offset` (≤ the high watermark) and
    /// `payload` is its state there: keep it as the snapshot and forget the entries below. The
    /// shell stores the snapshot durably before it drops those entries from disk.
    @discardableResult
    public mutating func takeSnapshot(upTo offset: Int64, payload: [UInt8]) -> Bool {
        guard offset <= highWatermark, offset > log.startOffset, offset <= log.endOffset,
            let epoch = log.epoch(at: offset - 1)
        else { return false }
        snapshot = RaftSnapshot(endOffset: offset, epoch: epoch, payload: payload)
        log.compact(upTo: offset)
        return true
    }

    // MARK: - Leader

    /// Appends entries as leader. They are not durable until the shell reports `flushed`.
    public mutating func propose(_ payloads: [[UInt8]]) -> (offset: Int64, actions: [RaftAction])? {
        guard role == .leader, !payloads.isEmpty else { return nil }
        let offset = log.endOffset
        let entries = payloads.map { LogEntry(epoch: quorum.epoch, payload: $0) }
        log.append(entries)
        return (offset, [.append(offset: offset, entries: entries)])
    }

    /// The shell flushed the log up to `offset`: the leader may count its own copy.
    public mutating func flushed(upTo offset: Int64) -> [RaftAction] {
        durableEndOffset = max(durableEndOffset, min(offset, log.endOffset))
        return role == .leader ? advanceHighWatermark() : []
    }

    private mutating func advanceHighWatermark() -> [RaftAction] {
        var ends = peers.values.map(\.endOffset)
        ends.append(durableEndOffset)
        ends.sort(by: >)
        let candidate = ends[majority - 1]
        // Only an offset in the current epoch may be committed by counting (Raft §5.4.2).
        guard candidate > epochStartOffset, candidate > highWatermark else { return [] }
        highWatermark = candidate
        return [.commit(highWatermark: candidate)]
    }

    /// Lag of each follower behind the leader's log end, for DescribeQuorum.
    public var followerEndOffsets: [Int32: Int64] { peers.mapValues(\.endOffset) }
}

/// SplitMix64: small, fast and reproducible from its seed.
public struct SplitMix: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
