import KafkaClient
import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// A single Kafka broker: it answers decoded requests from its topic store. It knows nothing of
/// sockets; `Server` hands it each request's header and body and writes back what it returns.
public final class Broker: Sendable {
    public let config: BrokerConfig
    public let clusterId: String
    public let registry: PartitionRegistry
    /// Set by the server once the quorum exists.
    public let gateway = NIOLockedValueBox<(any ControllerGateway)?>(nil)
    let fetcher = NIOLockedValueBox<ReplicaFetcher?>(nil)
    let maintenance: LogMaintenance
    /// Leader elections, ISR changes and broker states this node saw, for the web console.
    public let events: ClusterEvents
    public let metrics: BrokerMetrics
    /// Replication throttles (`--throttle` of a reassignment).
    let replicationQuotas: ReplicationQuotas
    /// Consumer groups this node coordinates; started with replication.
    let groupCoordinator = NIOLockedValueBox<GroupCoordinator?>(nil)
    /// Set while a request to create `__consumer_offsets` is on its way to the controller.
    let creatingOffsetsTopic = NIOLockedValueBox(false)
    /// Transactional ids this node coordinates; started with replication.
    let transactionCoordinator = NIOLockedValueBox<TransactionCoordinator?>(nil)
    /// Set while a request to create `__transaction_state` is on its way to the controller.
    let creatingTransactionTopic = NIOLockedValueBox(false)
    /// Set once this node has caught up with the metadata log: before that its images are old
    /// ones replayed at start-up, in which it may still lead a `__transaction_state` partition it
    /// lost while it was down, and a transaction coordinator acting on them would resend the
    /// markers of transactions long since finished.
    let metadataCaughtUp = NIOLockedValueBox(false)
    let producerIds: ProducerIdAllocator
    /// Connections to the other brokers for the web console (set with replication).
    public let consolePeers = NIOLockedValueBox<PeerClient?>(nil)
    /// Held for the broker's life: no second process opens these logs.
    let dirLock: DirectoryLock
    let logger: Logger
    /// The node's clock, handed to every partition log and to the group coordinator.
    public let clock: any TernClock
    /// Answers DescribeQuorum; set by the server that runs the metadata quorum.
    public let describeQuorum = NIOLockedValueBox<(@Sendable () -> EventLoopFuture<DescribeQuorumResponse>)?>(nil)
    /// Incremental fetch sessions (KIP-227), by id; each ends with its connection.
    let fetchSessions: NIOLockedValueBox<FetchSessionCache>
    /// Replica fetches held waiting for data, and wakes, by follower: an append to a partition
    /// whose follower has not fetched it yet ends them, so that the follower asks again with it
    /// (see `wakeReplicaFetches`).
    let replicaFetchWaits = NIOLockedValueBox<[Int32: FollowerFetchWaits]>([:])

    public init(config: BrokerConfig, clock: any TernClock, logger: Logger) throws {
        self.config = config
        self.clock = clock
        self.logger = logger
        let metrics = BrokerMetrics()
        self.metrics = metrics
        events = ClusterEvents(onEvent: { kind in metrics.clusterEvent(kind) })
        replicationQuotas = ReplicationQuotas(nowMs: clock.monotonicMs)
        fetchSessions = NIOLockedValueBox(FetchSessionCache(limits: .init(slots: config.fetchSessionSlots)))
        try FileSystem.makeDirectories(config.logDirs)
        dirLock = try DirectoryLock(directory: config.logDirs)
        clusterId = try MetaProperties.loadOrCreate(
            logDir: config.logDirs, nodeId: config.nodeId, clusterId: config.clusterId,
            derived: config.clusterIdIsDerived)
        registry = PartitionRegistry(config: config, clock: clock, logger: logger)
        maintenance = LogMaintenance(registry: registry, config: config, logger: logger)
        try registry.cleanUpDeletedDirectories()
        producerIds = try ProducerIdAllocator(path: config.logDirs + "/producer-id-block", nodeId: config.nodeId)
    }

    /// `handle`, with Fetch answers whose records come straight from segment files: the body
    /// leaves them out and names where each file slice goes, for the server to send with
    /// sendfile.
    public func respond(
        _ header: RequestHeader, body: ByteBuffer, on loop: any EventLoop, listener: String? = nil,
        session: Session = Session()
    )
        -> EventLoopFuture<ResponseBody?>
    {
        let v = header.apiVersion
        if header.apiKey == ApiKey.fetch.rawValue, ApiKey.fetch.supported.contains(v),
            let request = try? FetchRequest.decode(body, version: v)
        {
            return sessionFetch(request, version: v, session: session, on: loop, listener: listener)
                .flatMapThrowing { response in
                    let (bytes, files) = try response.encodedSplicingFiles(version: v)
                    return ResponseBody(bytes: bytes, files: files)
                }
        }
        return handle(header, body: body, on: loop, listener: listener, session: session).map {
            $0.map { ResponseBody(bytes: $0) }
        }
    }

    /// Flushes every partition's active segment; called on clean shutdown.
    /// Groups this node coordinates, with their committed offsets (for lag in the web console).
    public func groupOffsets() -> EventLoopFuture<[GroupCoordinator.GroupOffsets]>? {
        groupCoordinator.withLockedValue { $0 }?.offsetsSnapshot()
    }

    /// Transactional ids this node coordinates (for the web console).
    public func transactionsSnapshot() -> EventLoopFuture<[TransactionCoordinator.Summary]>? {
        transactionCoordinator.withLockedValue { $0 }?.snapshot()
    }

    /// Flushes every log; after `stopReplication`, as nothing may append while it runs.
    public func shutdown() {
        groupCoordinator.withLockedValue { $0 }?.stop()
        transactionCoordinator.withLockedValue { $0 }?.stop()
        for p in registry.all() { try? p.log.flush() }
        do {
            try registry.syncNewMetadataFiles()
            try registry.checkpointHighWatermarks()
        } catch {
            logger.error("cannot checkpoint high watermarks at shutdown: \(error)")
        }
    }

    /// Applies a newly committed metadata image to the local replicas and their fetchers.
    public func apply(_ image: MetadataImage) {
        let before = registry.image
        events.record(from: before, to: image, nowMs: clock.wallMs, replayed: !metadataCaughtUp.withLockedValue { $0 })
        for (name, t) in before.topics where image.topics[name]?.id != t.id { metrics.forgetTopic(name) }
        registry.apply(image)
        fetcher.withLockedValue { $0 }?.update(image)
        groupCoordinator.withLockedValue { $0 }?.update(image)
        if metadataCaughtUp.withLockedValue({ $0 }) { transactionCoordinator.withLockedValue { $0 }?.update(image) }
    }

    /// Starts copying the partitions this broker follows from their leaders.
    public func startReplication(group: any EventLoopGroup, security: ClientSecurity = .plaintext) {
        maintenance.start()
        let f = ReplicaFetcher(broker: self, group: group, security: security, logger: logger)
        fetcher.withLockedValue { $0 = f }
        consolePeers.withLockedValue {
            $0 = PeerClient(broker: self, group: group, security: security, purpose: "console")
        }
        f.update(registry.image)
        let loop = group.next()
        let coordinator = GroupCoordinator(
            loop: loop, nodeId: config.nodeId, clock: clock, logger: logger,
            write: { [self] partition, records in
                var r = ProduceRequest()
                r.acks = -1
                r.timeoutMs = 5000
                r.topics = [
                    .init(name: GroupCoordinator.topic, partitions: [.init(index: partition, records: records)])
                ]
                return produceAsync(r, version: 9, on: loop).map {
                    ErrorCode(rawValue: $0.responses.first?.partitions.first?.errorCode ?? -1)
                }
            },
            read: { [self] partition, from in
                guard let log = registry.partition(GroupCoordinator.topic, partition)?.log else { return (nil, 0) }
                let start = max(from, log.logStartOffset)
                return ((try? log.read(from: start, maxBytes: 1 << 20)) ?? nil, log.logEndOffset)
            },
            settings: .init(
                initialRebalanceDelayMs: Int64(config.groupInitialRebalanceDelayMs), maxGroupSize: config.groupMaxSize,
                offsetsRetentionMs: Int64(config.offsetsRetentionMinutes) * 60_000,
                offsetsRetentionCheckMs: Int64(config.offsetsRetentionCheckIntervalMs), metrics: metrics))
        groupCoordinator.withLockedValue { $0 = coordinator }
        coordinator.update(registry.image)
        startTransactionCoordinator(loop: loop, group: group, security: security)
    }

    /// Stops the fetchers and background log work, and returns once they have ended.
    public func stopReplication() async {
        await fetcher.withLockedValue { $0 }?.stop()
        await consolePeers.withLockedValue { $0 }?.close()
        await maintenance.stopAndWait()
    }

    /// Called once this broker has caught up with the metadata log.
    public func caughtUp() {
        registry.removeOrphans()
        metadataCaughtUp.withLockedValue { $0 = true }
        transactionCoordinator.withLockedValue { $0 }?.update(registry.image)
    }
}

/// An encoded response body, and the file slices to send within it: each slice's bytes go at
/// index `at` of `bytes`.
public struct ResponseBody: Sendable {
    public var bytes: ByteBuffer
    public var files: [(at: Int, slice: FileBytes)]

    public init(bytes: ByteBuffer, files: [(at: Int, slice: FileBytes)] = []) {
        self.bytes = bytes
        self.files = files
    }

    /// Bytes on the wire: the buffer and every file slice.
    public var length: Int { bytes.readableBytes + files.reduce(0) { $0 + $1.slice.length } }
}

/// `<log.dirs>/meta.properties`: the cluster id and node id this directory belongs to.
enum MetaProperties {
    struct Mismatch: Error, CustomStringConvertible {
        var path: String
        var found: String
        var expected: Int32
        var description: String {
            "\(path) belongs to node.id=\(found), but this broker is configured with node.id=\(expected); use another log.dirs"
        }
    }

    struct OtherCluster: Error, CustomStringConvertible {
        var path: String
        var found: String
        var expected: String
        var description: String {
            "\(path) belongs to cluster \(found), but this node is configured for cluster \(expected); use another log.dirs"
        }
    }

    static func loadOrCreate(logDir: String, nodeId: Int32, clusterId wanted: String?, derived: Bool = false) throws
        -> String
    {
        let path = logDir + "/meta.properties"
        if FileSystem.exists(path) {
            let p = Properties.parse(try FileSystem.readText(path))
            if let found = p["node.id"], found != String(nodeId) {
                throw Mismatch(path: path, found: found, expected: nodeId)
            }
            if let id = p["cluster.id"], !id.isEmpty {
                if let wanted, wanted != id, !derived { throw OtherCluster(path: path, found: id, expected: wanted) }
                return id
            }
        }
        let id = wanted ?? KafkaUUID.random().description
        try FileSystem.writeTextAtomically(
            "#Written by Tern\nversion=1\ncluster.id=\(id)\nnode.id=\(nodeId)\n", to: path)
        return id
    }
}

/// Hands out producer ids for idempotent producers, never twice across restarts (a block of ids
/// is reserved on disk before any of it is used) nor by two brokers (each node's ids carry its
/// node id in the high bits).
final class ProducerIdAllocator: Sendable {
    private let path: String
    private let ids: NIOLockedValueBox<(next: Int64, reservedUpTo: Int64)>
    static let blockSize: Int64 = 1000

    init(path: String, nodeId: Int32) throws {
        self.path = path
        let saved =
            FileSystem.exists(path) ? Int64(try FileSystem.readText(path).trimmingCharacters(in: " \n")) ?? 0 : 0
        let start = max(saved, Int64(nodeId) << 40)
        ids = NIOLockedValueBox((start, start))
    }

    func allocate() throws -> Int64 {
        try ids.withLockedValue { ids in
            if ids.next >= ids.reservedUpTo {
                ids.reservedUpTo = ids.next + Self.blockSize
                try FileSystem.writeTextAtomically("\(ids.reservedUpTo)\n", to: path)
            }
            defer { ids.next += 1 }
            return ids.next
        }
    }
}
