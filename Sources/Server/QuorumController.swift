import Broker
import KafkaClient
import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Raft
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where each voter's CONTROLLER listener is (`controller.quorum.voters`).
public struct Voter: Sendable, Equatable {
    public var id: Int32
    public var host: String
    public var port: Int
}

/// One node's member of the metadata quorum: it runs the pure `RaftNode` on a single event
/// loop, keeps its log and quorum state on disk under `__cluster_metadata-0/`, and carries Raft
/// messages as Kafka's Vote, BeginQuorumEpoch, EndQuorumEpoch and Fetch RPCs.
///
/// The Raft contract is kept here: state and log writes are fsynced before any message that
/// depends on them leaves. Committed entries are folded into `image`.
/// Sendable by hand: its mutable state is touched only on `loop`; what other threads read is in
/// locked boxes, and the settings are fixed by `init`.
public final class QuorumController: @unchecked Sendable {
    static let topicName = "__cluster_metadata"
    public let id: Int32
    /// The voters in force (they change with add-controller / remove-controller, KIP-853),
    /// readable from any thread.
    public var voters: [Voter] { currentVoters.withLockedValue { $0 } }
    let currentVoters: NIOLockedValueBox<[Voter]>
    public let clusterId: String
    public let loop: any EventLoop
    /// Defaults for topics created without partition count or replication factor.
    public let topicDefaults: BrokerConfig
    let group: any EventLoopGroup
    let logger: Logger
    /// The node's clock: Raft's timers run on its monotonic time.
    let clock: any TernClock
    /// Refused peer messages, logged at most a few a second.
    let peerLogLimiter = LogLimiter()
    let directory: String
    let log: EntryLog
    var node: RaftNode
    private var dirty = false
    var appliedOffset: Int64 = 0
    /// A later step of applying a burst of committed entries is scheduled (`apply(upTo:)`): it
    /// goes on to the node's high watermark, so commits meanwhile leave the work to it.
    var applyStepScheduled = false
    public internal(set) var image = MetadataImage()
    /// Controller state that only the active controller uses (see QuorumController+ActiveController.swift).
    var active = ControllerCore<Completion>(sessionTimeoutMs: QuorumController.sessionTimeoutMs)
    /// When the in-flight batch was proposed (for the commit latency metric).
    var proposedAt: NIODeadline? = nil
    /// Called on the controller loop after committed records change the image.
    public let onImageChange = NIOLockedValueBox<(@Sendable (MetadataImage) -> Void)?>(nil)
    var pendingVotes: [Int32: EventLoopPromise<KafkaProtocol.VoteResponse>] = [:]
    var pendingFetches: [Int32: EventLoopPromise<KafkaProtocol.FetchResponse>] = [:]
    var pendingSnapshotFetches: [Int32: EventLoopPromise<FetchSnapshotResponse>] = [:]
    /// Take a snapshot of the image once this many bytes of records were applied after the last
    /// one (`metadata.log.max.record.bytes.between.snapshots`, Kafka's default 20 MiB).
    public let snapshotEveryBytes: Int
    /// What the first active controller of a new cluster writes (`tern storage format
    /// --add-scram`).
    public let bootstrapRecords: [MetadataRecord]
    /// TLS and SASL to the other voters' CONTROLLER listener.
    public let peerSecurity: ClientSecurity

    /// What the node's configuration fixes for the quorum member's life.
    public struct Settings {
        public var topicDefaults = BrokerConfig()
        public var snapshotEveryBytes = 20 * 1024 * 1024
        public var bootstrapRecords: [MetadataRecord] = []
        public var peerSecurity = ClientSecurity.plaintext
        public var metrics: BrokerMetrics? = nil
        public init() {}
    }
    var bytesSinceSnapshot = 0
    /// When the active controller next checks leader balance (`auto.leader.rebalance.enable`).
    var nextLeaderBalanceMs: Int64? = nil
    var lastFetchWallMs: [Int32: Int64] = [:]
    /// Broker-only nodes fetching the metadata log, by when they last did (monotonic ms).
    var observerSeenMs: [Int32: Int64] = [:]
    static let observerExpiryMs: Int64 = 60_000
    /// Long-polled Raft fetches from caught-up followers: answered when the log grows, the high
    /// watermark moves, or after `fetchParkMs`.
    var parkedFetches:
        [Int32: (
            request: RaftFetchRequest, promise: EventLoopPromise<KafkaProtocol.FetchResponse>, timeout: Scheduled<Void>
        )] = [:]
    var lastSentHighWatermark: [Int32: Int64] = [:]
    /// The number of the latest Raft fetch sent to each voter (see `send`).
    var lastFetchSent: [Int32: UInt64] = [:]
    /// AddRaftVoter / RemoveRaftVoter answers waiting for their voters entry to commit.
    var pendingVoterChanges:
        [(offset: Int64, promise: EventLoopPromise<(ErrorCode, String?)>, timeout: Scheduled<Void>)] = []
    var answeringParked = false
    static let fetchParkMs: Int64 = 300
    private var tickTask: RepeatedTask?
    let connections = NIOLockedValueBox<[Int64: KafkaConnection]>([:])
    /// Per peer and lane, the backoff after failed connection attempts.
    let reconnects = NIOLockedValueBox<[Int64: (backoff: ExponentialBackoff, notBefore: NIODeadline)]>([:])
    /// Raft RPCs and forwards to the active controller under way; the stop waits for them.
    let background = BackgroundTasks()
    private let wasLeader = NIOLockedValueBox(false)
    private var leaderlessSinceMs: Int64? = nil
    private var warnedLeaderless = false

    public init(
        id: Int32, voters: [Voter], clusterId: String, logDir: String, group: any EventLoopGroup, config: RaftConfig,
        clock: any TernClock, settings: Settings = Settings(), logger: Logger
    ) throws {
        self.clock = clock
        topicDefaults = settings.topicDefaults
        snapshotEveryBytes = settings.snapshotEveryBytes
        metrics = settings.metrics
        bootstrapRecords = settings.bootstrapRecords
        peerSecurity = settings.peerSecurity
        self.id = id
        currentVoters = NIOLockedValueBox(voters.sorted { $0.id < $1.id })
        self.clusterId = clusterId
        self.group = group
        self.loop = group.next()
        self.logger = logger
        directory = logDir + "/__cluster_metadata-0"
        log = try EntryLog(directory: directory, logger: logger)
        let saved = try QuorumStateFile.load(directory: directory)
        let state = QuorumState(epoch: saved?.epoch ?? 0, votedFor: saved?.votedFor, leaderId: saved?.leaderId)
        let entries = log.entries.map { LogEntry(epoch: $0.epoch, payload: $0.payload) }
        var snapshot: RaftSnapshot? = nil
        if let s = log.snapshot {
            // The stored form: the voters in force there (when they changed), then the image.
            let stored = RaftSnapshot(endOffset: s.endOffset, epoch: s.epoch, framed: s.payload)
            image = try MetadataImage(snapshot: stored.payload)
            snapshot = stored
        }
        appliedOffset = log.startOffset
        node = RaftNode(
            id: id,
            voterEndpoints: voters.map { VoterEndpoint(id: $0.id, host: $0.host, port: Int32(clamping: $0.port)) },
            state: state,
            log: RaftLog(entries: entries, startOffset: log.startOffset, startEpoch: snapshot?.epoch ?? 0),
            snapshot: snapshot, config: config, seed: UInt64.random(in: 0...UInt64.max), nowMs: clock.monotonicMs)
        // The voters of the log (or its snapshot) win over the configured ones.
        let inForce = node.voterEndpoints.map { Voter(id: $0.id, host: $0.host, port: Int($0.port)) }
        currentVoters.withLockedValue { $0 = inForce }
        let restored = image
        imageBox.withLockedValue { $0 = restored }
        appliedSnapshot.withLockedValue { [appliedOffset] in $0 = appliedOffset - 1 }
        logger.info(
            "metadata quorum: node \(id)\(node.isObserver ? " (an observer)" : ""), voters \(inForce.map(\.id)), epoch \(state.epoch), \(snapshot.map { "snapshot at offset \($0.endOffset) (\($0.payload.count) bytes), " } ?? "")\(entries.count) log entries in \(directory)"
        )
    }

    /// Hands the current image to the broker again, on the controller loop as every image: for
    /// partitions it could not open before (file descriptors freed since).
    public func reapplyImage() {
        loop.execute { [self] in
            guard appliedOffset > 0 else { return }
            onImageChange.withLockedValue { $0 }?(image)
        }
    }

    public func start() {
        if appliedOffset > 0 {
            // The broker starts from the snapshot's image rather than from nothing.
            loop.execute { [self] in onImageChange.withLockedValue { $0 }?(image) }
        }
        tickTask = loop.scheduleRepeatedTask(initialDelay: .milliseconds(10), delay: .milliseconds(25)) { [self] _ in
            let now = clock.monotonicMs
            carryOut(node.tick(nowMs: now))
            noteLeadership(now)
            activeTick(now)
            let leader = node.leaderId
            let epoch = node.epoch
            let hw = node.highWatermark
            let majority =
                node.isLeader ? node.votersInTouch(nowMs: now, withinMs: 1000) >= node.majority : leader != nil
            leaderSnapshot.withLockedValue { $0 = leader }
            raftSnapshot.withLockedValue { $0 = (epoch, hw) }
            majoritySnapshot.withLockedValue { $0 = majority }
        }
    }

    public func stop() {
        tickTask?.cancel()
        for c in connections.withLockedValue({ $0.values }) { c.channel.close(promise: nil) }
    }

    /// `stop`, returning once the ticks have ended and the connections to peers are closed.
    public func stopAndWait() async {
        let stopped = loop.makePromise(of: Void.self)
        tickTask?.cancel(promise: stopped)
        if tickTask == nil { stopped.succeed(()) }
        try? await stopped.futureResult.get()
        // Closing the connections ends the requests waiting on them; then every task in the
        // background is cancelled and awaited, and none can open a connection again.
        let closeAll = { [connections] in
            for c in connections.withLockedValue({ Array($0.values) }) { try? await c.channel.close() }
        }
        await closeAll()
        await background.stopAndWait()
        await closeAll()
    }

    /// Says in the log when the quorum has had no leader for a while (a majority is unreachable),
    /// and when it has one again, so a person reading it knows why metadata is frozen.
    private func noteLeadership(_ now: Int64) {
        if let leader = node.leaderId {
            if warnedLeaderless {
                logger.warning("metadata quorum has a leader again: node \(leader) in epoch \(node.epoch)")
            }
            leaderlessSinceMs = nil
            warnedLeaderless = false
            return
        }
        let since = leaderlessSinceMs ?? now
        leaderlessSinceMs = since
        if !warnedLeaderless && now - since > node.config.fetchTimeoutMs {
            warnedLeaderless = true
            logger.warning(
                "metadata quorum has no leader: node \(id) cannot reach a majority of the voters \(voters.map(\.id)) (needs \(node.majority)); metadata changes wait until enough of them are back"
            )
        }
    }

    /// A snapshot of the quorum for DescribeQuorum and `tern cluster status`.
    public func describe() -> EventLoopFuture<KafkaProtocol.DescribeQuorumResponse> {
        loop.submit { [self] in
            var p = KafkaProtocol.DescribeQuorumResponse.Partition()
            p.leaderId = node.leaderId ?? -1
            p.leaderEpoch = node.epoch
            p.highWatermark = node.highWatermark
            let ends = node.followerEndOffsets
            let now = clock.wallMs
            p.currentVoters = voters.map { v in
                var r = KafkaProtocol.DescribeQuorumResponse.ReplicaState()
                r.replicaId = v.id
                if v.id == id {
                    r.logEndOffset = node.log.endOffset
                    r.lastFetchTimestamp = now
                    r.lastCaughtUpTimestamp = now
                } else {
                    r.logEndOffset = ends[v.id] ?? -1
                    r.lastFetchTimestamp = lastFetchWallMs[v.id] ?? -1
                    r.lastCaughtUpTimestamp =
                        (ends[v.id] ?? -1) >= node.highWatermark ? (lastFetchWallMs[v.id] ?? -1) : -1
                }
                return r
            }
            p.observers = node.observerEndOffsets.sorted { $0.key < $1.key }.map { o, end in
                var r = KafkaProtocol.DescribeQuorumResponse.ReplicaState()
                r.replicaId = o
                r.logEndOffset = end
                r.lastFetchTimestamp = lastFetchWallMs[o] ?? -1
                r.lastCaughtUpTimestamp = end >= node.highWatermark ? (lastFetchWallMs[o] ?? -1) : -1
                return r
            }
            if !node.isLeader { p.errorCode = ErrorCode.notLeaderOrFollower.rawValue }
            var t = KafkaProtocol.DescribeQuorumResponse.Topic()
            t.topicName = Self.topicName
            t.partitions = [p]
            var r = KafkaProtocol.DescribeQuorumResponse()
            r.topics = [t]
            return r
        }
    }

    public var leaderId: Int32? { leaderSnapshot.withLockedValue { $0 } }
    /// Whether the quorum can commit as far as this node can tell: it follows a leader, or it
    /// leads and a majority of the voters fetched from it within the last second.
    public var canCommit: Bool { majoritySnapshot.withLockedValue { $0 } }
    private let majoritySnapshot = NIOLockedValueBox(false)
    /// Where the time from proposing a batch of metadata records to their commit is recorded,
    /// on the active controller.
    let metrics: BrokerMetrics?
    /// The quorum's epoch and high watermark, readable from any thread (for metrics).
    public var raftState: (epoch: Int32, highWatermark: Int64) { raftSnapshot.withLockedValue { $0 } }
    private let raftSnapshot = NIOLockedValueBox<(Int32, Int64)>((0, 0))
    /// Offset up to which committed records are applied, readable from any thread.
    public var appliedOffsetSnapshot: Int64 { appliedSnapshot.withLockedValue { $0 } }
    private let leaderSnapshot = NIOLockedValueBox<Int32?>(nil)
    let appliedSnapshot = NIOLockedValueBox<Int64>(-1)
    let imageBox = NIOLockedValueBox(MetadataImage())
    /// The committed image, readable from any thread.
    public var imageSnapshot: MetadataImage { imageBox.withLockedValue { $0 } }

    // MARK: - Carrying out Raft's actions

    func carryOut(_ actions: [RaftAction]) {
        loop.preconditionInEventLoop()
        let started = clock.now
        defer { noteBusy(since: started, "carrying out \(actions.count) Raft action(s)") }
        var queue = actions[...]
        while let action = queue.popFirst() {
            do {
                switch action {
                case .persist(let s):
                    try QuorumStateFile.save(
                        directory: directory, epoch: s.epoch, votedFor: s.votedFor, leaderId: s.leaderId)
                case .append(let offset, let entries):
                    if offset < log.endOffset { try log.truncate(to: offset) }
                    for e in entries { try log.append(epoch: e.epoch, payload: e.payload) }
                    dirty = true
                case .truncate(let offset):
                    try log.truncate(to: offset)
                    dirty = true
                case .send(let to, let message):
                    queue = try syncIfDirty() + queue
                    send(message, to: to)
                case .commit(let hw):
                    apply(upTo: hw)
                    settleVoterChanges()
                case .becameLeader(let epoch):
                    wasLeader.withLockedValue { $0 = true }
                    becameActive()
                    logger.info("node \(id) is the active controller in epoch \(epoch)")
                case .lostLeadership(let epoch):
                    wasLeader.withLockedValue { $0 = false }
                    resignActive()
                    settleVoterChanges()
                    logger.info("node \(id) is no longer the active controller (epoch \(epoch))")
                case .installSnapshot(let snap):
                    try install(snap)
                case .votersChanged(let set):
                    votersChanged(set)
                }
            } catch {
                // A node that cannot write its log must not go on voting or leading.
                logger.critical("metadata log write failed: \(error); stopping the node")
                exit(70)
            }
            if queue.isEmpty, let more = try? syncIfDirty() { queue = more[...] }
        }
        if !parkedFetches.isEmpty && !answeringParked {
            if !node.isLeader || node.log.endOffset > (parkedFetches.values.map(\.request.fetchOffset).min() ?? 0)
                || parkedFetches.keys.contains(where: { lastSentHighWatermark[$0] != node.highWatermark })
            {
                answerParked()
            }
        }
    }

    /// fsync pending writes; a leader may then count its own copy towards the majority.
    private func syncIfDirty() throws -> [RaftAction] {
        guard dirty else { return [] }
        try log.sync()
        dirty = false
        return node.flushed(upTo: log.endOffset)
    }
}
