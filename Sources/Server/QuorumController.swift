import Broker
import Glibc
import KafkaClient
import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Raft
import Storage

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
public final class QuorumController: @unchecked Sendable {
    static let topicName = "__cluster_metadata"
    public let id: Int32
    public let voters: [Voter]
    public let clusterId: String
    public let loop: any EventLoop
    /// Defaults for topics created without partition count or replication factor.
    public var topicDefaults = BrokerConfig()
    let group: any EventLoopGroup
    let logger: Logger
    /// Refused peer messages, logged at most a few a second.
    let peerLogLimiter = LogLimiter()
    let directory: String
    private let log: EntryLog
    var node: RaftNode
    private var dirty = false
    private(set) var appliedOffset: Int64 = 0
    public internal(set) var image = MetadataImage()
    /// Controller state that only the active controller uses (see ActiveController.swift).
    var active = ControllerCore<Completion>(sessionTimeoutMs: QuorumController.sessionTimeoutMs)
    /// When the in-flight batch was proposed (for the commit latency metric).
    var proposedAt: NIODeadline? = nil
    /// Called on the controller loop after committed records change the image.
    public let onImageChange = NIOLockedValueBox<(@Sendable (MetadataImage) -> Void)?>(nil)
    private var pendingVotes: [Int32: EventLoopPromise<KafkaProtocol.VoteResponse>] = [:]
    private var pendingFetches: [Int32: EventLoopPromise<KafkaProtocol.FetchResponse>] = [:]
    private var pendingSnapshotFetches: [Int32: EventLoopPromise<FetchSnapshotResponse>] = [:]
    /// Take a snapshot of the image once this many bytes of records were applied after the last
    /// one (`metadata.log.max.record.bytes.between.snapshots`, Kafka's default 20 MiB).
    public var snapshotEveryBytes = 20 * 1024 * 1024
    /// What the first active controller of a new cluster writes (`tern storage format
    /// --add-scram`); set before `start`.
    public var bootstrapRecords: [MetadataRecord] = []
    /// TLS and SASL to the other voters' CONTROLLER listener (set before `start`).
    public var peerSecurity = ClientSecurity.plaintext
    private var bytesSinceSnapshot = 0
    private var lastFetchWallMs: [Int32: Int64] = [:]
    /// Long-polled Raft fetches from caught-up followers: answered when the log grows, the high
    /// watermark moves, or after `fetchParkMs`.
    private var parkedFetches:
        [Int32: (
            request: RaftFetchRequest, promise: EventLoopPromise<KafkaProtocol.FetchResponse>, timeout: Scheduled<Void>
        )] = [:]
    private var lastSentHighWatermark: [Int32: Int64] = [:]
    private var answeringParked = false
    static let fetchParkMs: Int64 = 300
    private var tickTask: RepeatedTask?
    private let connections = NIOLockedValueBox<[Int32: KafkaConnection]>([:])
    /// Raft RPCs and forwards to the active controller under way; the stop waits for them.
    let background = BackgroundTasks()
    private let wasLeader = NIOLockedValueBox(false)
    private var leaderlessSinceMs: Int64? = nil
    private var warnedLeaderless = false

    public init(
        id: Int32, voters: [Voter], clusterId: String, logDir: String, group: any EventLoopGroup, config: RaftConfig,
        logger: Logger
    ) throws {
        self.id = id
        self.voters = voters.sorted { $0.id < $1.id }
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
            image = try MetadataImage(snapshot: s.payload)
            snapshot = RaftSnapshot(endOffset: s.endOffset, epoch: s.epoch, payload: s.payload)
        }
        appliedOffset = log.startOffset
        node = RaftNode(
            id: id, voters: voters.map(\.id), state: state,
            log: RaftLog(entries: entries, startOffset: log.startOffset, startEpoch: snapshot?.epoch ?? 0),
            snapshot: snapshot, config: config, seed: UInt64.random(in: 0...UInt64.max), nowMs: Self.monotonicMs())
        let restored = image
        imageBox.withLockedValue { $0 = restored }
        appliedSnapshot.withLockedValue { [appliedOffset] in $0 = appliedOffset - 1 }
        logger.info(
            "metadata quorum: node \(id) of voters \(voters.map(\.id)), epoch \(state.epoch), \(snapshot.map { "snapshot at offset \($0.endOffset) (\($0.payload.count) bytes), " } ?? "")\(entries.count) log entries in \(directory)"
        )
    }

    static func monotonicMs() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }

    static func wallMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public func start() {
        if appliedOffset > 0 {
            // The broker starts from the snapshot's image rather than from nothing.
            loop.execute { [self] in onImageChange.withLockedValue { $0 }?(image) }
        }
        tickTask = loop.scheduleRepeatedTask(initialDelay: .milliseconds(10), delay: .milliseconds(25)) { [self] _ in
            let now = Self.monotonicMs()
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
            let now = Self.wallMs()
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
    /// Time from proposing a batch of metadata records to their commit, on the active controller.
    public let commitLatency = BrokerMetrics()
    /// The quorum's epoch and high watermark, readable from any thread (for metrics).
    public var raftState: (epoch: Int32, highWatermark: Int64) { raftSnapshot.withLockedValue { $0 } }
    private let raftSnapshot = NIOLockedValueBox<(Int32, Int64)>((0, 0))
    /// Offset up to which committed records are applied, readable from any thread.
    public var appliedOffsetSnapshot: Int64 { appliedSnapshot.withLockedValue { $0 } }
    private let leaderSnapshot = NIOLockedValueBox<Int32?>(nil)
    private let appliedSnapshot = NIOLockedValueBox<Int64>(-1)
    private let imageBox = NIOLockedValueBox(MetadataImage())
    /// The committed image, readable from any thread.
    public var imageSnapshot: MetadataImage { imageBox.withLockedValue { $0 } }

    // MARK: - Carrying out Raft's actions

    func carryOut(_ actions: [RaftAction]) {
        loop.preconditionInEventLoop()
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
                case .becameLeader(let epoch):
                    wasLeader.withLockedValue { $0 = true }
                    becameActive()
                    logger.info("node \(id) is the active controller in epoch \(epoch)")
                case .lostLeadership(let epoch):
                    wasLeader.withLockedValue { $0 = false }
                    resignActive()
                    logger.info("node \(id) is no longer the active controller (epoch \(epoch))")
                case .installSnapshot(let snap):
                    try install(snap)
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

    /// Makes the image (and the offset it stands at) visible to the broker and other threads.
    private func publishImage() {
        let applied = appliedOffset - 1
        appliedSnapshot.withLockedValue { $0 = applied }
        let img = image
        imageBox.withLockedValue { $0 = img }
        completeCommitted(upTo: appliedOffset)
        onImageChange.withLockedValue { $0 }?(img)
    }

    /// A snapshot fetched from the leader replaces the log and the image.
    private func install(_ snap: RaftSnapshot) throws {
        let restored = try MetadataImage(snapshot: snap.payload)
        try log.saveSnapshot(endOffset: snap.endOffset, epoch: snap.epoch, payload: snap.payload)
        image = restored
        appliedOffset = snap.endOffset
        bytesSinceSnapshot = 0
        logger.info(
            "installed the leader's metadata snapshot at offset \(snap.endOffset) (epoch \(snap.epoch), \(snap.payload.count) bytes): \(image.topics.count) topics, \(image.brokers.count) brokers"
        )
        publishImage()
    }

    /// Snapshots the image once enough has been applied since the last snapshot, and drops the
    /// log entries it stands for. The snapshot is on disk before they go.
    private func snapshotIfDue() {
        guard bytesSinceSnapshot >= snapshotEveryBytes, appliedOffset > node.log.startOffset,
            let epoch = node.log.epoch(at: appliedOffset - 1)
        else { return }
        let payload: [UInt8]
        do {
            payload = try image.snapshotBytes()
            try log.saveSnapshot(endOffset: appliedOffset, epoch: epoch, payload: payload)
        } catch {
            logger.error("could not write the metadata snapshot at offset \(appliedOffset): \(error)")
            return
        }
        node.takeSnapshot(upTo: appliedOffset, payload: payload)
        logger.info(
            "metadata snapshot at offset \(appliedOffset) (epoch \(epoch), \(payload.count) bytes) after \(bytesSinceSnapshot) bytes of records; log now starts there"
        )
        bytesSinceSnapshot = 0
    }

    private func apply(upTo hw: Int64) {
        let before = appliedOffset
        defer {
            if appliedOffset > before {
                publishImage()
                snapshotIfDue()
            }
        }
        while appliedOffset < hw, let e = node.log.entry(at: appliedOffset) {
            bytesSinceSnapshot += e.payload.count
            if !e.isLeaderChange {
                do {
                    image.apply(try MetadataRecord.decode(e.payload), at: appliedOffset)
                } catch {
                    // Applying the rest without it would leave this node with another image than
                    // its peers: stop instead, loudly.
                    logger.critical(
                        "committed metadata record at offset \(appliedOffset) (epoch \(e.epoch)) in \(directory) is unreadable: \(error). Stopping: this node cannot apply the metadata log past it. It was written by another version of Tern or damaged before it was committed; start this node with the Tern version that wrote it, or move this node's __cluster_metadata-0 aside so that it fetches the log (or a snapshot) again from the quorum leader."
                    )
                    exit(70)  // EX_SOFTWARE
                }
            }
            appliedOffset += 1
        }
    }

    /// Answers parked fetches by running them through the node again (now with new entries or
    /// a new high watermark, or empty at their deadline).
    private func answerParked(only peer: Int32? = nil) {
        let peers = peer.map { [$0] } ?? Array(parkedFetches.keys)
        for p in peers {
            guard let parked = parkedFetches.removeValue(forKey: p) else { continue }
            parked.timeout.cancel()
            pendingFetches[p]?.succeed(replacedFetchAnswer(at: parked.request.fetchOffset))
            pendingFetches[p] = parked.promise
            answeringParked = true
            carryOut(node.receive(.fetch(parked.request), from: p, nowMs: Self.monotonicMs()))
            answeringParked = false
            if let left = pendingFetches.removeValue(forKey: p) {
                left.succeed(replacedFetchAnswer(at: parked.request.fetchOffset))
            }
        }
    }

    // MARK: - Outgoing RPCs

    /// Which traffic a connection carries. Raft's fetches and votes never share a connection
    /// with requests that wait for a commit (registration, admin): answers on a connection go out
    /// in request order, so a waiting request would hold back the very fetches it waits for.
    /// Broker registrations and heartbeats have a lane of their own, so that admin requests
    /// forwarded to the controller never queue behind them, nor they behind a slow admin request.
    enum Lane: Int { case raft, control, lifecycle }

    func connection(to peer: Int32, lane: Lane = .raft) async throws -> KafkaConnection {
        let key = peer * 3 + Int32(lane.rawValue)
        if background.isStopping { throw KafkaClientError.connectionClosed("node \(id) is stopping") }
        if let c = connections.withLockedValue({ $0[key] }), c.channel.isActive { return c }
        guard let v = voters.first(where: { $0.id == peer }) else {
            throw KafkaClientError.unsupported("unknown voter \(peer)")
        }
        // A peer that refused the last attempt is not tried again before its backoff (50 ms
        // growing to 1 s, as reconnect.backoff.ms and reconnect.backoff.max.ms): a voter that is
        // down costs about one connection attempt a second per lane, not one per message.
        let now = NIODeadline.now()
        if let waitUntil = reconnects.withLockedValue({ $0[key]?.notBefore }), now < waitUntil {
            throw KafkaClientError.connectionClosed("node \(peer) (backing off after a failed connection)")
        }
        do {
            let c = try await KafkaConnection.connect(
                host: v.host, port: v.port, group: group, clientId: "node-\(id)-\(lane)", timeoutMs: 1000,
                security: peerSecurity)
            connections.withLockedValue { $0[key] = c }
            reconnects.withLockedValue { $0[key] = nil }
            if background.isStopping {
                try? await c.channel.close()
                throw KafkaClientError.connectionClosed("node \(id) is stopping")
            }
            return c
        } catch {
            reconnects.withLockedValue { r in
                var state = r[key] ?? (ExponentialBackoff(initialMs: 50, maxMs: 1000), now)
                state.notBefore = NIODeadline.now() + .milliseconds(state.backoff.next())
                r[key] = state
            }
            throw error
        }
    }

    /// Per peer and lane, the backoff after failed connection attempts.
    private let reconnects = NIOLockedValueBox<[Int32: (backoff: ExponentialBackoff, notBefore: NIODeadline)]>([:])

    /// Forgets and closes a connection that failed or timed out, so the next request reconnects
    /// instead of queueing behind whatever the old one is stuck on.
    func dropConnection(to peer: Int32, lane: Lane) {
        let key = peer * 3 + Int32(lane.rawValue)
        if let c = connections.withLockedValue({ $0.removeValue(forKey: key) }) {
            c.channel.close(promise: nil)
        }
    }

    private func partitionTopic<P>(_ p: P, make: () -> (inout P) -> Void) -> P { p }

    private func send(_ message: RaftMessage, to peer: Int32) {
        switch message {
        case .voteResponse(let r):
            guard let promise = pendingVotes.removeValue(forKey: peer) else { return }
            var p = QuorumPartitionResult()
            p.leaderId = r.leaderId ?? -1
            p.leaderEpoch = r.epoch
            p.voteGranted = r.granted
            var t = QuorumTopicResult()
            t.topicName = Self.topicName
            t.partitions = [p]
            var resp = KafkaProtocol.VoteResponse()
            resp.topics = [t]
            promise.succeed(resp)
        case .fetchResponse(let r):
            guard let promise = pendingFetches.removeValue(forKey: peer) else { return }
            if !answeringParked, node.isLeader, case .entries(let entries) = r.outcome, entries.isEmpty,
                r.fetchOffset == node.log.endOffset, lastSentHighWatermark[peer] == r.highWatermark
            {
                // Nothing new for a caught-up follower: hold the fetch (KRaft's long poll).
                let request = RaftFetchRequest(
                    epoch: r.epoch, replicaId: peer, fetchOffset: r.fetchOffset, lastFetchedEpoch: node.log.lastEpoch)
                let timeout = loop.scheduleTask(in: .milliseconds(Self.fetchParkMs)) { [self] in
                    answerParked(only: peer)
                }
                parkedFetches.removeValue(forKey: peer)?.promise.succeed(encodeFetchResponse(r))
                parkedFetches[peer] = (request, promise, timeout)
                return
            }
            lastSentHighWatermark[peer] = r.highWatermark
            promise.succeed(encodeFetchResponse(r))
        case .vote(let v):
            var p = KafkaProtocol.VoteRequest.Partition()
            p.candidateEpoch = v.candidateEpoch
            p.candidateId = v.candidateId
            p.lastOffsetEpoch = v.lastOffsetEpoch
            p.lastOffset = v.lastOffset
            p.preVote = v.preVote
            var t = KafkaProtocol.VoteRequest.Topic()
            t.topicName = Self.topicName
            t.partitions = [p]
            var req = KafkaProtocol.VoteRequest()
            req.clusterId = clusterId
            req.voterId = peer
            req.topics = [t]
            call(peer, req, as: KafkaProtocol.VoteResponse.self) { resp in
                guard let p = resp.topics.first?.partitions.first else { return nil }
                return .voteResponse(
                    RaftVoteResponse(
                        epoch: p.leaderEpoch, granted: p.voteGranted, preVote: v.preVote,
                        leaderId: p.leaderId >= 0 ? p.leaderId : nil))
            }
        case .beginQuorumEpoch(let epoch, let leader):
            var p = BeginQuorumEpochRequest.Partition()
            p.leaderId = leader
            p.leaderEpoch = epoch
            var t = BeginQuorumEpochRequest.Topic()
            t.topicName = Self.topicName
            t.partitions = [p]
            var req = BeginQuorumEpochRequest()
            req.clusterId = clusterId
            req.voterId = peer
            req.topics = [t]
            call(peer, req, as: BeginQuorumEpochResponse.self) { _ in nil }
        case .endQuorumEpoch(let epoch, let leader):
            var p = EndQuorumEpochRequest.Partition()
            p.leaderId = leader
            p.leaderEpoch = epoch
            var t = EndQuorumEpochRequest.Topic()
            t.topicName = Self.topicName
            t.partitions = [p]
            var req = EndQuorumEpochRequest()
            req.clusterId = clusterId
            req.topics = [t]
            call(peer, req, as: EndQuorumEpochResponse.self) { _ in nil }
        case .fetchSnapshotResponse(let r):
            guard let promise = pendingSnapshotFetches.removeValue(forKey: peer) else { return }
            promise.succeed(Self.encodeFetchSnapshotResponse(r))
        case .fetchSnapshot(let f):
            var p = FetchSnapshotRequest.Partition()
            p.currentLeaderEpoch = f.epoch
            p.endOffset = f.endOffset
            p.epoch = f.snapshotEpoch
            p.position = f.position
            var t = FetchSnapshotRequest.Topic()
            t.name = Self.topicName
            t.partitions = [p]
            var req = FetchSnapshotRequest()
            req.clusterId = clusterId
            req.replicaId = id
            req.topics = [t]
            call(peer, req, as: FetchSnapshotResponse.self) { resp in Self.decodeFetchSnapshotResponse(resp, request: f)
            }
        case .fetch(let f):
            var fp = KafkaProtocol.FetchRequest.Partition()
            fp.partition = 0
            fp.currentLeaderEpoch = f.epoch
            fp.fetchOffset = f.fetchOffset
            fp.lastFetchedEpoch = f.lastFetchedEpoch
            fp.partitionMaxBytes = 1 << 20
            var ft = KafkaProtocol.FetchRequest.Topic()
            ft.topic = Self.topicName
            ft.partitions = [fp]
            var req = KafkaProtocol.FetchRequest()
            req.replicaId = id
            req.maxWaitMs = 0
            req.minBytes = 0
            req.topics = [ft]
            req.clusterId = clusterId
            call(peer, req, as: KafkaProtocol.FetchResponse.self) { resp in
                Self.decodeFetchResponse(resp, request: f)
            }
        }
    }

    /// Sends a request to a voter in the background; its answer, if it becomes a Raft message,
    /// is fed back to the node on the controller's loop. Failures are dropped: Raft retries.
    private func call<Req: KafkaMessage, Resp: KafkaMessage>(
        _ peer: Int32, _ request: Req, as: Resp.Type, _ toRaft: @escaping @Sendable (Resp) -> RaftMessage?
    ) {
        background.run { [self] in
            do {
                let c = try await connection(to: peer)
                let resp = try await c.send(request, as: Resp.self, timeoutMs: 2000)
                if let message = toRaft(resp), !background.isStopping {
                    loop.execute { [self] in carryOut(node.receive(message, from: peer, nowMs: Self.monotonicMs())) }
                }
            } catch {
                dropConnection(to: peer, lane: .raft)
                // A peer that is down is Raft's everyday business; a refused TLS handshake or
                // login is a configuration to fix, and the quorum cannot form until it is.
                switch error {
                case KafkaClientError.connectionFailed, KafkaClientError.connectionClosed, KafkaClientError.timedOut:
                    break
                default:
                    peerLogLimiter.warn(
                        logger,
                        "cannot reach voter \(peer) over its CONTROLLER listener: \(KafkaClientError.reason(error))")
                }
            }
        }
    }

    static func decodeFetchResponse(_ resp: KafkaProtocol.FetchResponse, request f: RaftFetchRequest) -> RaftMessage? {
        guard let p = resp.responses.first?.partitions.first else { return nil }
        let leader = p.currentLeader
        let epoch = leader?.leaderEpoch ?? f.epoch
        let leaderId = leader.flatMap { $0.leaderId >= 0 ? $0.leaderId : nil }
        if p.errorCode != 0 {
            return .fetchResponse(
                RaftFetchResponse(
                    epoch: epoch, leaderId: leaderId, highWatermark: p.highWatermark, fetchOffset: f.fetchOffset,
                    outcome: .fenced))
        }
        if let snap = p.snapshotId {
            return .fetchResponse(
                RaftFetchResponse(
                    epoch: epoch, leaderId: leaderId, highWatermark: p.highWatermark, fetchOffset: f.fetchOffset,
                    outcome: .snapshot(endOffset: snap.endOffset, epoch: snap.epoch)))
        }
        if let d = p.divergingEpoch {
            return .fetchResponse(
                RaftFetchResponse(
                    epoch: epoch, leaderId: leaderId, highWatermark: p.highWatermark, fetchOffset: f.fetchOffset,
                    outcome: .diverging(epoch: d.epoch, endOffset: d.endOffset)))
        }
        var entries: [LogEntry] = []
        if var data = p.records {
            while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize <= data.readableBytes {
                let batch = data.readSlice(length: h.totalSize)!
                guard let records = try? Record.decodeAll(batch: batch, header: h) else { return nil }
                entries += records.map { LogEntry(epoch: h.partitionLeaderEpoch, payload: $0.value ?? []) }
            }
        }
        return .fetchResponse(
            RaftFetchResponse(
                epoch: epoch, leaderId: leaderId, highWatermark: p.highWatermark, fetchOffset: f.fetchOffset,
                outcome: .entries(entries)))
    }

    static func encodeFetchSnapshotResponse(_ r: RaftFetchSnapshotResponse) -> FetchSnapshotResponse {
        var p = FetchSnapshotResponse.Partition()
        p.endOffset = r.endOffset
        p.epoch = r.snapshotEpoch
        p.currentLeader = .init(leaderId: r.leaderId ?? -1, leaderEpoch: r.epoch)
        switch r.outcome {
        case .fenced: p.errorCode = ErrorCode.notLeaderOrFollower.rawValue
        case .notFound: p.errorCode = ErrorCode.snapshotNotFound.rawValue
        case .chunk(let size, let position, let bytes):
            p.size = size
            p.position = position
            p.bytes = ByteBuffer(bytes: bytes)
        }
        var t = FetchSnapshotResponse.Topic()
        t.name = topicName
        t.partitions = [p]
        var resp = FetchSnapshotResponse()
        resp.topics = [t]
        return resp
    }

    static func decodeFetchSnapshotResponse(_ resp: FetchSnapshotResponse, request f: RaftFetchSnapshotRequest)
        -> RaftMessage?
    {
        guard let p = resp.topics.first?.partitions.first else { return nil }
        let epoch = p.currentLeader?.leaderEpoch ?? f.epoch
        let leaderId = p.currentLeader.flatMap { $0.leaderId >= 0 ? $0.leaderId : nil }
        let outcome: RaftFetchSnapshotResponse.Outcome
        switch p.errorCode {
        case 0: outcome = .chunk(size: p.size, position: p.position, bytes: Array(p.bytes.readableBytesView))
        case ErrorCode.snapshotNotFound.rawValue: outcome = .notFound
        default: outcome = .fenced
        }
        return .fetchSnapshotResponse(
            RaftFetchSnapshotResponse(
                epoch: epoch, leaderId: leaderId, endOffset: f.endOffset, snapshotEpoch: f.snapshotEpoch,
                outcome: outcome))
    }

    /// The answer for a fetch this node cannot serve (it does not lead, or the fetch was replaced).
    func fencedFetchAnswer(at fetchOffset: Int64) -> KafkaProtocol.FetchResponse {
        encodeFetchResponse(
            RaftFetchResponse(
                epoch: node.epoch, leaderId: node.leaderId, highWatermark: node.highWatermark, fetchOffset: fetchOffset,
                outcome: .fenced))
    }

    /// The answer for a fetch that a newer fetch from the same follower replaced, or that the node
    /// did not answer itself. While this node leads it is an empty answer: a NOT_LEADER answer
    /// here made a live follower drop its leader and start an election (the follower cannot
    /// tell which of its fetches was answered), which left it leaderless for up to a second.
    func replacedFetchAnswer(at fetchOffset: Int64) -> KafkaProtocol.FetchResponse {
        guard node.isLeader else { return fencedFetchAnswer(at: fetchOffset) }
        return encodeFetchResponse(
            RaftFetchResponse(
                epoch: node.epoch, leaderId: node.leaderId, highWatermark: node.highWatermark, fetchOffset: fetchOffset,
                outcome: .entries([])))
    }

    func encodeFetchResponse(_ r: RaftFetchResponse) -> KafkaProtocol.FetchResponse {
        var p = KafkaProtocol.FetchResponse.Partition()
        p.partitionIndex = 0
        p.highWatermark = r.highWatermark
        p.currentLeader = .init(leaderId: r.leaderId ?? -1, leaderEpoch: r.epoch)
        p.records = ByteBuffer()
        switch r.outcome {
        case .fenced:
            p.errorCode = ErrorCode.notLeaderOrFollower.rawValue
        case .diverging(let epoch, let end):
            p.divergingEpoch = .init(epoch: epoch, endOffset: end)
        case .snapshot(let end, let epoch):
            p.snapshotId = .init(endOffset: end, epoch: epoch)
        case .entries(let entries):
            // One batch per run of entries of the same epoch; the epoch rides in the batch header.
            var out = ByteBuffer()
            var offset = r.fetchOffset
            var i = 0
            while i < entries.count {
                var builder = RecordBatchBuilder()
                let epoch = entries[i].epoch
                while i < entries.count && entries[i].epoch == epoch {
                    builder.append(key: nil, value: entries[i].payload, timestamp: 0)
                    i += 1
                }
                var batch = builder.build(baseOffset: offset)
                batch.setInteger(epoch, at: batch.readerIndex + 12)
                offset += Int64(builder.count)
                out.writeBuffer(&batch)
            }
            p.records = out
        }
        var t = KafkaProtocol.FetchResponse.Topic()
        t.topic = Self.topicName
        t.partitions = [p]
        var resp = KafkaProtocol.FetchResponse()
        resp.responses = [t]
        return resp
    }

    // MARK: - Incoming RPCs (CONTROLLER listener)

    static let controllerApis: [ApiKey] = [
        .apiVersions, .fetch, .vote, .beginQuorumEpoch, .endQuorumEpoch, .describeQuorum, .brokerRegistration,
        .brokerHeartbeat, .createTopics, .deleteTopics, .createPartitions, .alterPartition, .fetchSnapshot,
        .incrementalAlterConfigs, .alterUserScramCredentials, .createAcls, .deleteAcls,
    ]

    /// Answers one request that arrived on the CONTROLLER listener.
    public func handle(_ header: RequestHeader, body: ByteBuffer, on caller: any EventLoop) -> EventLoopFuture<
        ByteBuffer?
    > {
        guard let api = ApiKey(rawValue: header.apiKey), Self.controllerApis.contains(api) else {
            return caller.makeFailedFuture(ProtocolError.unknownApiKey(header.apiKey))
        }
        let v = header.apiVersion
        guard api.supported.contains(v) else {
            if api == .apiVersions {
                return caller.makeSucceededFuture(
                    (try? ApiVersionsResponse.supported(errorCode: .unsupportedVersion, apis: Self.controllerApis)
                        .encoded(version: 0))
                        ?? ByteBuffer())
            }
            return caller.makeFailedFuture(ProtocolError.unsupportedVersion(api: header.apiKey, version: v))
        }
        do {
            switch api {
            case .apiVersions:
                return caller.makeSucceededFuture(
                    try ApiVersionsResponse.supported(apis: Self.controllerApis).encoded(version: v))
            case .vote:
                let req = try KafkaProtocol.VoteRequest.decode(body, version: v)
                return onVote(req).hop(to: caller).flatMapThrowing { try $0.encoded(version: v) }
            case .beginQuorumEpoch:
                let req = try BeginQuorumEpochRequest.decode(body, version: v)
                if let p = req.topics.first?.partitions.first {
                    if let refused = refusal(clusterId: req.clusterId, sender: p.leaderId, "BeginQuorumEpoch") {
                        var r = BeginQuorumEpochResponse()
                        r.errorCode = refused.rawValue
                        return caller.makeSucceededFuture(try r.encoded(version: v))
                    }
                    loop.execute { [self] in
                        carryOut(
                            node.receive(
                                .beginQuorumEpoch(epoch: p.leaderEpoch, leaderId: p.leaderId), from: p.leaderId,
                                nowMs: Self.monotonicMs()))
                    }
                }
                return caller.makeSucceededFuture(try BeginQuorumEpochResponse().encoded(version: v))
            case .endQuorumEpoch:
                let req = try EndQuorumEpochRequest.decode(body, version: v)
                if let p = req.topics.first?.partitions.first {
                    if let refused = refusal(clusterId: req.clusterId, sender: p.leaderId, "EndQuorumEpoch") {
                        var r = EndQuorumEpochResponse()
                        r.errorCode = refused.rawValue
                        return caller.makeSucceededFuture(try r.encoded(version: v))
                    }
                    loop.execute { [self] in
                        carryOut(
                            node.receive(
                                .endQuorumEpoch(epoch: p.leaderEpoch, leaderId: p.leaderId), from: p.leaderId,
                                nowMs: Self.monotonicMs()))
                    }
                }
                return caller.makeSucceededFuture(try EndQuorumEpochResponse().encoded(version: v))
            case .fetch:
                let req = try KafkaProtocol.FetchRequest.decode(body, version: v)
                return onFetch(req).hop(to: caller).flatMapThrowing { try $0.encoded(version: v) }
            case .fetchSnapshot:
                let req = try FetchSnapshotRequest.decode(body, version: v)
                return onFetchSnapshot(req).hop(to: caller).flatMapThrowing { try $0.encoded(version: v) }
            case .describeQuorum:
                return describe().hop(to: caller).flatMapThrowing { try $0.encoded(version: v) }
            case .brokerRegistration:
                return register(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .brokerHeartbeat:
                return heartbeat(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .createTopics:
                return createTopics(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .deleteTopics:
                return deleteTopics(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .createPartitions:
                return createPartitions(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .alterPartition:
                return alterPartition(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .incrementalAlterConfigs:
                return incrementalAlterConfigs(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .alterUserScramCredentials:
                return alterUserScramCredentials(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .createAcls:
                return createAcls(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            case .deleteAcls:
                return deleteAcls(try .decode(body, version: v)).hop(to: caller).flatMapThrowing {
                    try $0.encoded(version: v)
                }
            default:
                return caller.makeFailedFuture(ProtocolError.unknownApiKey(header.apiKey))
            }
        } catch {
            return caller.makeFailedFuture(error)
        }
    }

    /// Why a quorum RPC is refused before Raft sees it: it must name this cluster (a missing
    /// cluster id is refused too: every Tern peer sends it) and come from another voter. Raft then
    /// drops epochs and offsets out of range (`RaftMessage.isPlausible`).
    func refusal(clusterId sent: String?, sender: Int32, _ what: StaticString) -> ErrorCode? {
        guard sent == clusterId else {
            peerLogLimiter.warn(
                logger,
                "refused \(what) from node \(sender): cluster id \(sent.map { "'\($0.truncatedUTF8(toBytes: 64))'" } ?? "missing"), this cluster is '\(clusterId)'"
            )
            return .inconsistentClusterId
        }
        guard sender != id, voters.contains(where: { $0.id == sender }) else {
            peerLogLimiter.warn(
                logger, "refused \(what) from node \(sender), which is not another voter of \(voters.map(\.id))")
            return .inconsistentVoterSet
        }
        return nil
    }

    private func onVote(_ req: KafkaProtocol.VoteRequest) -> EventLoopFuture<KafkaProtocol.VoteResponse> {
        let promise = loop.makePromise(of: KafkaProtocol.VoteResponse.self)
        loop.execute { [self] in
            let refused = (req.topics.first?.partitions.first).flatMap {
                refusal(clusterId: req.clusterId, sender: $0.candidateId, "Vote")
            }
            guard let p = req.topics.first?.partitions.first, refused == nil else {
                var r = KafkaProtocol.VoteResponse()
                r.errorCode = (refused ?? .invalidRequest).rawValue
                promise.succeed(r)
                return
            }
            pendingVotes[p.candidateId]?.succeed(KafkaProtocol.VoteResponse())
            pendingVotes[p.candidateId] = promise
            let vote = RaftVoteRequest(
                candidateEpoch: p.candidateEpoch, candidateId: p.candidateId, lastOffsetEpoch: p.lastOffsetEpoch,
                lastOffset: p.lastOffset,
                preVote: p.preVote)
            carryOut(node.receive(.vote(vote), from: p.candidateId, nowMs: Self.monotonicMs()))
            if let left = pendingVotes.removeValue(forKey: p.candidateId) {
                left.succeed(KafkaProtocol.VoteResponse())  // the node chose not to answer: not granted
            }
        }
        return promise.futureResult
    }

    private func onFetchSnapshot(_ req: FetchSnapshotRequest) -> EventLoopFuture<FetchSnapshotResponse> {
        let promise = loop.makePromise(of: FetchSnapshotResponse.self)
        loop.execute { [self] in
            let refused = refusal(clusterId: req.clusterId, sender: req.replicaId, "FetchSnapshot")
            guard let p = req.topics.first?.partitions.first, refused == nil else {
                var r = FetchSnapshotResponse()
                r.errorCode = (refused ?? .invalidRequest).rawValue
                promise.succeed(r)
                return
            }
            let replica = req.replicaId
            lastFetchWallMs[replica] = Self.wallMs()
            let request = RaftFetchSnapshotRequest(
                epoch: p.currentLeaderEpoch, replicaId: replica, endOffset: p.endOffset, snapshotEpoch: p.epoch,
                position: p.position)
            let notServed = Self.encodeFetchSnapshotResponse(
                RaftFetchSnapshotResponse(
                    epoch: node.epoch, leaderId: node.leaderId, endOffset: p.endOffset, snapshotEpoch: p.epoch,
                    outcome: .fenced))
            pendingSnapshotFetches[replica]?.succeed(notServed)
            pendingSnapshotFetches[replica] = promise
            carryOut(node.receive(.fetchSnapshot(request), from: replica, nowMs: Self.monotonicMs()))
            pendingSnapshotFetches.removeValue(forKey: replica)?.succeed(notServed)
        }
        return promise.futureResult
    }

    private func onFetch(_ req: KafkaProtocol.FetchRequest) -> EventLoopFuture<KafkaProtocol.FetchResponse> {
        let promise = loop.makePromise(of: KafkaProtocol.FetchResponse.self)
        loop.execute { [self] in
            let refused = refusal(clusterId: req.clusterId, sender: req.replicaId, "Fetch")
            guard let p = req.topics.first?.partitions.first, refused == nil else {
                var r = KafkaProtocol.FetchResponse()
                r.errorCode = (refused ?? .invalidRequest).rawValue
                promise.succeed(r)
                return
            }
            let replica = req.replicaId
            lastFetchWallMs[replica] = Self.wallMs()
            pendingFetches[replica]?.succeed(replacedFetchAnswer(at: p.fetchOffset))
            pendingFetches[replica] = promise
            let fetch = RaftFetchRequest(
                epoch: p.currentLeaderEpoch, replicaId: replica, fetchOffset: p.fetchOffset,
                lastFetchedEpoch: p.lastFetchedEpoch)
            carryOut(node.receive(.fetch(fetch), from: replica, nowMs: Self.monotonicMs()))
            if let left = pendingFetches.removeValue(forKey: replica) {
                left.succeed(replacedFetchAnswer(at: p.fetchOffset))
            }
        }
        return promise.futureResult
    }

}
