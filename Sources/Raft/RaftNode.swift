/// A KRaft-style Raft voter as a pure state machine (KIP-595, with KIP-996 pre-vote).
///
/// A node whose id is not among the voters is an observer (a broker-only node): it never votes
/// or stands for election; it finds the leader by fetching from the voters in turn and then
/// replicates the log like a follower, without counting towards the high watermark.
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
    /// The voters in force: the latest voters entry in the log (committed or not, KIP-853),
    /// else the snapshot's, else the configured ones.
    public internal(set) var voters: [Int32]
    /// The same voters with where they listen.
    public internal(set) var voterEndpoints: [VoterEndpoint]
    /// The voters this node was configured with (`controller.quorum.voters`).
    let bootstrapVoters: [VoterEndpoint]
    /// The voters in force at `log.startOffset`: the snapshot's, else the configured ones.
    var baseVoters: [VoterEndpoint]
    /// Voters entries in the log, in order, with their offsets.
    var voterChanges: [(offset: Int64, set: [VoterEndpoint])] = []
    public let config: RaftConfig
    public internal(set) var quorum: QuorumState
    public internal(set) var role: Role = .unattached
    public internal(set) var log: RaftLog
    public internal(set) var highWatermark: Int64 = 0
    /// The latest snapshot: the state at `log.startOffset`, served to followers that fell behind.
    public internal(set) var snapshot: RaftSnapshot?
    /// A snapshot being fetched from the leader, chunk by chunk.
    var download: (endOffset: Int64, epoch: Int32, bytes: [UInt8])?
    /// Offset up to which the leader's own entries are flushed (counted towards the majority).
    public internal(set) var durableEndOffset: Int64
    private var rng: SplitMix
    var electionDeadlineMs: Int64
    var lastLeaderContactMs: Int64 = Int64.min / 2
    var fetchInFlightSinceMs: Int64? = nil
    var nextFetchAtMs: Int64 = 0
    var peers: [Int32: Peer] = [:]
    private var voteRequestSentMs: Int64 = 0
    var epochStartOffset: Int64 = 0
    var lastBeginQuorumMs: Int64 = Int64.min / 2

    /// Observers a leader has had fetches from (not counted for the majority), at most
    /// `maxObservers`: a new one past that replaces the one heard from longest ago.
    var observers: [Int32: Peer] = [:]
    public static let maxObservers = 64
    /// Which voter an observer without a leader asks next.
    var discoveryIndex = 0

    public var majority: Int { voters.count / 2 + 1 }
    /// Not a voter: a broker-only node that follows the log.
    public var isObserver: Bool { !voters.contains(id) }
    public var isLeader: Bool { role == .leader }

    /// The voters, this one included, that a leader has had a fetch from within `withinMs`;
    /// 0 when this node does not lead.
    public func votersInTouch(nowMs: Int64, withinMs: Int64) -> Int {
        guard role == .leader else { return 0 }
        return peers.filter { voters.contains($0.key) && nowMs - $0.value.lastFetchMs <= withinMs }.count
            + (voters.contains(id) ? 1 : 0)
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
        self.init(
            id: id, voterEndpoints: voters.map { VoterEndpoint(id: $0, host: "", port: 0) }, state: state, log: log,
            snapshot: snapshot, config: config, seed: seed, nowMs: nowMs)
    }

    public init(
        id: Int32, voterEndpoints configured: [VoterEndpoint], state: QuorumState, log: RaftLog,
        snapshot: RaftSnapshot? = nil, config: RaftConfig, seed: UInt64, nowMs: Int64
    ) {
        precondition(!configured.isEmpty, "a quorum needs voters")
        precondition(
            (snapshot?.endOffset ?? 0) == log.startOffset, "the log must start where the snapshot ends")
        self.snapshot = snapshot
        self.highWatermark = log.startOffset
        self.id = id
        bootstrapVoters = configured.sorted { $0.id < $1.id }
        baseVoters = (snapshot?.voters ?? configured).sorted { $0.id < $1.id }
        for (i, e) in log.entries.enumerated() {
            if let set = e.voterSet { voterChanges.append((log.startOffset + Int64(i), set.sorted { $0.id < $1.id })) }
        }
        voterEndpoints = voterChanges.last?.set ?? baseVoters
        let voters = voterEndpoints.map(\.id)
        self.voters = voters
        self.config = config
        self.quorum = state
        self.log = log
        self.durableEndOffset = log.endOffset
        self.rng = SplitMix(seed: seed ^ UInt64(bitPattern: Int64(id)))
        self.electionDeadlineMs = 0
        // A quorum of one has nobody to wait for.
        self.electionDeadlineMs = voters.count == 1 ? nowMs : nowMs + randomElectionTimeout()
        if let leader = state.leaderId, leader != id, voters.contains(leader) {
            role = .follower(leader: leader)
            lastLeaderContactMs = nowMs
        }
    }

    mutating func randomElectionTimeout() -> Int64 {
        config.electionTimeoutMs + Int64(rng.next() % UInt64(max(1, config.electionTimeoutMs)))
    }

    // MARK: - Clock

    public mutating func tick(nowMs: Int64) -> [RaftAction] {
        // A leader that removed itself leads on until the change commits.
        if !mayCampaign && role != .leader { return observerTick(nowMs: nowMs) }
        var actions: [RaftAction] = []
        switch role {
        case .leader:
            // Check quorum: a leader that no majority has fetched from lately resigns, so a
            // partitioned leader does not go on believing it leads.
            let recent =
                peers.filter { voters.contains($0.key) && nowMs - $0.value.lastFetchMs <= config.fetchTimeoutMs }.count
                + (voters.contains(id) ? 1 : 0)
            if recent < majority && voters != [id] {
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
}
