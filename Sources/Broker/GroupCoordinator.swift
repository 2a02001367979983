import KafkaProtocol
import Logging
import NIOCore
import Storage

/// Consumer groups with Kafka's classic protocol. A group belongs to partition
/// `javaHash(group) % partitions` of `__consumer_offsets`; the leader of that partition is its
/// coordinator. Membership (generations, rebalances, assignments) lives in the coordinator's
/// memory; committed offsets are records in that partition, written with acks=all like any
/// produce, so they survive the loss of the coordinator: the next leader reads the partition
/// back before it answers for the group (COORDINATOR_LOAD_IN_PROGRESS meanwhile). Members of a
/// group whose coordinator moved find the new one and rejoin.
///
/// All state is touched on one event loop; callers get futures.
/// Sendable by hand: its mutable state is touched only on `loop` (settings come with `init`).
public final class GroupCoordinator: @unchecked Sendable {
    public static let topic = "__consumer_offsets"

    enum State: String {
        case empty = "Empty"
        case preparingRebalance = "PreparingRebalance"
        case completingRebalance = "CompletingRebalance"
        case stable = "Stable"
        case dead = "Dead"
    }

    struct JoinResult {
        var error: ErrorCode = .none
        var generation: Int32 = -1
        var protocolType: String?
        var protocolName: String?
        var leader = ""
        var memberId = ""
        var members: [(id: String, instanceId: String?, metadata: [UInt8])] = []
        /// A static leader rejoining a stable group keeps the assignment it made (KIP-814).
        var skipAssignment = false
    }

    struct SyncResult {
        var error: ErrorCode = .none
        var protocolType: String?
        var protocolName: String?
        var assignment: [UInt8] = []
    }

    final class Member {
        let id: String
        var instanceId: String?
        var clientId: String
        var host: String
        var sessionTimeoutMs: Int64
        var rebalanceTimeoutMs: Int64
        var protocols: [(name: String, metadata: [UInt8])]
        var assignment: [UInt8] = []
        var joinPromise: EventLoopPromise<JoinResult>?
        var syncPromise: EventLoopPromise<SyncResult>?
        var lastHeartbeat: NIODeadline

        init(
            id: String, instanceId: String?, clientId: String, host: String, sessionTimeoutMs: Int64,
            rebalanceTimeoutMs: Int64, protocols: [(name: String, metadata: [UInt8])], now: NIODeadline
        ) {
            self.id = id
            self.instanceId = instanceId
            self.clientId = clientId
            self.host = host
            self.sessionTimeoutMs = sessionTimeoutMs
            self.rebalanceTimeoutMs = rebalanceTimeoutMs
            self.protocols = protocols
            lastHeartbeat = now
        }
    }

    final class Group {
        let id: String
        var state = State.empty
        var generation: Int32 = 0
        var protocolType: String?
        var protocolName: String?
        var leader: String?
        var members: [String: Member] = [:]
        /// Member ids in join order: the first is the leader when a new one is needed.
        var order: [String] = []
        /// Ids handed out with MEMBER_ID_REQUIRED and not yet used (KIP-394), with their expiry.
        var pending: [String: NIODeadline] = [:]
        var rebalanceDeadline = NIODeadline.distantFuture
        var joinNotBefore = NIODeadline.distantPast

        init(id: String) { self.id = id }

        func add(_ m: Member) {
            members[m.id] = m
            order.append(m.id)
        }

        func remove(_ id: String) {
            members[id] = nil
            order.removeAll { $0 == id }
            if leader == id { leader = nil }
        }

        /// Whether `memberId` speaks for a static member (`instanceId`) that another member id
        /// has since taken over (KIP-345): its requests get FENCED_INSTANCE_ID, so the old
        /// process stops instead of taking the place back.
        func fences(instanceId: String?, memberId: String) -> Bool {
            guard let instanceId, members[memberId]?.instanceId != instanceId else { return false }
            return members.values.contains { $0.instanceId == instanceId && $0.id != memberId }
        }
    }

    struct OffsetKey: Hashable {
        var topic: String
        var partition: Int32
    }

    struct Committed {
        var offset: Int64
        var leaderEpoch: Int32
        var metadata: String
        var timestamp: Int64
    }

    let loop: any EventLoop
    let nodeId: Int32
    /// The node's clock: session and rebalance timeouts, commit times, offset expiry.
    let clock: any TernClock
    let logger: Logger
    /// Writes records to a partition of `__consumer_offsets` with acks=all; the future gives the
    /// partition's error code.
    let write: @Sendable (Int32, ByteBuffer) -> EventLoopFuture<ErrorCode>
    /// Reads a partition of `__consumer_offsets` from `from`, up to `maxBytes` of batches.
    let read: @Sendable (Int32, Int64) -> (batches: ByteBuffer?, end: Int64)
    var initialRebalanceDelayMs: Int64 = 0
    /// `group.max.size`: members, joined or handed an id and pending (KIP-394), per group.
    var maxGroupSize = 10_000
    /// Offsets of a group without members expire this long after their last commit
    /// (`offsets.retention.minutes`, 7 days), checked every `offsetsRetentionCheckMs`.
    var offsetsRetentionMs: Int64 = 7 * 24 * 3_600_000
    var offsetsRetentionCheckMs: Int64 = 600_000
    var lastRetentionCheck: NIODeadline
    static let minSessionTimeoutMs: Int64 = 6000
    /// How often sessions, joins and offset retention are checked.
    static let tickMs: Int64 = 200
    static let maxSessionTimeoutMs: Int64 = 1_800_000

    var groups: [String: Group] = [:]
    var offsets: [String: [OffsetKey: Committed]] = [:]
    /// Offsets committed in transactions not yet ended: producer id → group → offsets.
    var pendingTxnOffsets: [Int64: [String: [OffsetKey: Committed]]] = [:]
    /// Partitions of `__consumer_offsets` this node leads and has loaded.
    var owned: Set<Int32> = []
    var loading: Set<Int32> = []
    var partitionCount: Int32 = 0
    private var tick: RepeatedTask?
    /// A one-shot expiry at the next session deadline when it falls between two ticks, so a
    /// member is removed when its session ends, not up to a tick later.
    var nextDeadline: Scheduled<Void>?
    let metrics: BrokerMetrics?

    init(
        loop: any EventLoop, nodeId: Int32, clock: any TernClock, logger: Logger,
        write: @escaping @Sendable (Int32, ByteBuffer) -> EventLoopFuture<ErrorCode>,
        read: @escaping @Sendable (Int32, Int64) -> (batches: ByteBuffer?, end: Int64),
        settings: Settings = Settings()
    ) {
        initialRebalanceDelayMs = settings.initialRebalanceDelayMs
        maxGroupSize = settings.maxGroupSize
        metrics = settings.metrics
        offsetsRetentionMs = settings.offsetsRetentionMs
        offsetsRetentionCheckMs = settings.offsetsRetentionCheckMs
        self.loop = loop
        self.nodeId = nodeId
        self.clock = clock
        lastRetentionCheck = clock.now
        self.logger = logger
        self.write = write
        self.read = read
        tick = loop.scheduleRepeatedTask(initialDelay: .milliseconds(Self.tickMs), delay: .milliseconds(Self.tickMs)) {
            [self] _ in
            expire()
        }
    }

    /// The broker's group settings, fixed for the coordinator's life.
    struct Settings {
        var initialRebalanceDelayMs: Int64 = 0
        var maxGroupSize = 10_000
        var offsetsRetentionMs: Int64 = 7 * 24 * 3_600_000
        var offsetsRetentionCheckMs: Int64 = 600_000
        /// Where rebalances and commits are counted.
        var metrics: BrokerMetrics? = nil
    }

    func stop() {
        tick?.cancel()
        nextDeadline?.cancel()
    }

    /// Java's String.hashCode, as Kafka uses it to place a group.
    static func javaHash(_ s: String) -> Int32 {
        var h: Int32 = 0
        for unit in s.utf16 { h = h &* 31 &+ Int32(unit) }
        return h
    }

    static func partition(for group: String, count: Int32) -> Int32 {
        count <= 0 ? 0 : (javaHash(group) & 0x7fff_ffff) % count
    }

    // MARK: - Records in __consumer_offsets (see OffsetsTopicCodec)

    static func encodeOffsetKey(_ group: String, _ k: OffsetKey) throws -> [UInt8] {
        try OffsetsTopicCodec.encodeOffsetKey(group, k)
    }

    static func decodeOffsetKey(_ bytes: [UInt8]) -> (String, OffsetKey)? {
        OffsetsTopicCodec.decodeOffsetKey(bytes)
    }

    static func encodeOffsetValue(_ c: Committed) throws -> [UInt8] {
        try OffsetsTopicCodec.encodeOffsetValue(c)
    }

    static func decodeOffsetValue(_ bytes: [UInt8]) -> Committed? {
        OffsetsTopicCodec.decodeOffsetValue(bytes)
    }
}
