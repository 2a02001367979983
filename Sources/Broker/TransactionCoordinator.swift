import KafkaProtocol
import Logging
import Metadata
import NIOCore
import Storage

/// Transactions (KIP-98). A transactional id belongs to partition `javaHash(id) % partitions`
/// of `__transaction_state`; the leader of that partition is its coordinator. Each id's state
/// (producer id and epoch, timeout, state, partitions) is a record in that partition, written
/// with acks=all before the coordinator answers or acts on it, so the partition's next leader
/// reads it back and carries on: it finishes a transaction it finds in PrepareCommit or
/// PrepareAbort by writing the markers again (a marker written twice is harmless to readers).
///
/// A transaction ends in two steps: EndTxn writes PrepareCommit (or PrepareAbort) and answers;
/// the coordinator then has a marker written to every partition of the transaction by the
/// partition's leader (WriteTxnMarkers) and, once all are in, writes CompleteCommit (or
/// CompleteAbort). Until then the id answers CONCURRENT_TRANSACTIONS and the producer retries.
///
/// All state is touched on one event loop; callers get futures.
/// Sendable by hand: its mutable state is touched only on `loop` (settings come with `init`).
public final class TransactionCoordinator: @unchecked Sendable {
    public static let topic = "__transaction_state"

    enum State: Int8, CaseIterable {
        case empty = 0, ongoing, prepareCommit, prepareAbort, completeCommit, completeAbort, dead, prepareEpochFence

        /// Kafka's names, as DescribeTransactions, ListTransactions and kafka-transactions.sh show them.
        var name: String {
            switch self {
            case .empty: return "Empty"
            case .ongoing: return "Ongoing"
            case .prepareCommit: return "PrepareCommit"
            case .prepareAbort: return "PrepareAbort"
            case .completeCommit: return "CompleteCommit"
            case .completeAbort: return "CompleteAbort"
            case .dead: return "Dead"
            case .prepareEpochFence: return "PrepareEpochFence"
            }
        }
    }

    public struct TopicPartition: Hashable, Sendable, Comparable {
        public var topic: String
        public var partition: Int32
        public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    }

    /// One transactional id's state, as it is (or is about to be) in `__transaction_state`.
    struct Txn: Equatable {
        var producerId: Int64 = -1
        var producerEpoch: Int16 = -1
        /// The epoch before the last bump, so a producer that missed the answer can recover (KIP-360).
        var lastProducerEpoch: Int16 = -1
        var timeoutMs: Int32 = 60_000
        var state = State.empty
        var partitions: Set<TopicPartition> = []
        var startMs: Int64 = -1
        var updateMs: Int64 = 0
    }

    /// A marker round the coordinator asks the partitions' leaders for.
    public struct MarkerRound: Sendable {
        public var producerId: Int64
        public var producerEpoch: Int16
        public var commit: Bool
        public var coordinatorEpoch: Int32
        public var partitions: [TopicPartition]
    }

    let loop: any EventLoop
    let nodeId: Int32
    let clock: any TernClock
    let logger: Logger
    let settings: Settings
    /// Writes records to a partition of `__transaction_state` with acks=all.
    let write: @Sendable (Int32, ByteBuffer) -> EventLoopFuture<ErrorCode>
    /// Reads a partition of `__transaction_state` from an offset; nil batches past the end.
    let read: @Sendable (Int32, Int64) -> (batches: ByteBuffer?, end: Int64)
    /// Has the markers of a round written; the future gives each partition's error code.
    let deliver: @Sendable (MarkerRound) -> EventLoopFuture<[TopicPartition: ErrorCode]>
    /// A new producer id, never handed out before.
    let allocateProducerId: @Sendable () throws -> Int64

    struct Settings {
        var maxTimeoutMs: Int32 = 900_000
        var idExpirationMs: Int64 = 604_800_000
        var abortCheckIntervalMs: Int64 = 10_000
        /// Where commits and aborts are counted.
        var metrics: BrokerMetrics? = nil
    }

    var txns: [String: Txn] = [:]
    /// Ids with a write or a marker round in flight: they answer CONCURRENT_TRANSACTIONS.
    var busy: Set<String> = []
    var owned: Set<Int32> = []
    var loading: Set<Int32> = []
    var partitionCount: Int32 = 0
    /// The leader epoch of each owned partition: the coordinator epoch its markers carry.
    var epochs: [Int32: Int32] = [:]
    private var tick: RepeatedTask?

    init(
        loop: any EventLoop, nodeId: Int32, clock: any TernClock, logger: Logger, settings: Settings,
        write: @escaping @Sendable (Int32, ByteBuffer) -> EventLoopFuture<ErrorCode>,
        read: @escaping @Sendable (Int32, Int64) -> (batches: ByteBuffer?, end: Int64),
        deliver: @escaping @Sendable (MarkerRound) -> EventLoopFuture<[TopicPartition: ErrorCode]>,
        allocateProducerId: @escaping @Sendable () throws -> Int64
    ) {
        self.loop = loop
        self.nodeId = nodeId
        self.clock = clock
        self.logger = logger
        self.settings = settings
        self.write = write
        self.read = read
        self.deliver = deliver
        self.allocateProducerId = allocateProducerId
        let every = max(100, min(settings.abortCheckIntervalMs, 10_000))
        tick = loop.scheduleRepeatedTask(initialDelay: .milliseconds(every), delay: .milliseconds(every)) {
            [self] _ in
            abortTimedOut()
        }
    }

    func stop() { tick?.cancel() }

    static func partition(for id: String, count: Int32) -> Int32 { GroupCoordinator.partition(for: id, count: count) }

    /// NONE when this node coordinates the id now.
    func ownership(_ id: String) -> ErrorCode {
        guard partitionCount > 0 else { return .coordinatorNotAvailable }
        let p = Self.partition(for: id, count: partitionCount)
        if loading.contains(p) { return .coordinatorLoadInProgress }
        return owned.contains(p) ? .none : .notCoordinator
    }

    // MARK: - Following the image

    /// Loads the ids of partitions this node now leads, drops those of partitions it no longer leads.
    func update(_ image: MetadataImage) {
        loop.execute { [self] in
            guard let t = image.topics[Self.topic] else {
                for p in owned.union(loading) { unload(p) }
                partitionCount = 0
                return
            }
            partitionCount = Int32(clamping: t.partitionCount)
            let leading = t.partitions.filter { $0.value.leader == nodeId }
            for p in owned.union(loading) where leading[p] == nil { unload(p) }
            for (p, part) in leading {
                if owned.contains(p) && epochs[p] != part.leaderEpoch {
                    // Led again in a newer epoch (we lost it and won it back): read it afresh.
                    unload(p)
                }
                guard !owned.contains(p) && !loading.contains(p) else { continue }
                loading.insert(p)
                epochs[p] = part.leaderEpoch
                loop.scheduleTask(in: .milliseconds(50)) { [self] in load(p) }
            }
        }
    }

    private func unload(_ p: Int32) {
        owned.remove(p)
        loading.remove(p)
        epochs[p] = nil
        for id in txns.keys where Self.partition(for: id, count: partitionCount) == p {
            txns[id] = nil
            busy.remove(id)
        }
    }

    /// Reads the partition back (the last record per id wins; a null value removes it), then
    /// finishes the transactions it finds half-ended.
    private func load(_ p: Int32) {
        guard loading.contains(p) else { return }
        var position: Int64 = 0
        var found: [String: Txn] = [:]
        while true {
            let (data, end) = read(p, position)
            guard var data, data.readableBytes > 0 else { break }
            // A header whose length is shorter than a header (a damaged file) ends the read.
            while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize >= RecordBatchHeader.size,
                let batch = data.readSlice(length: h.totalSize)
            {
                position = h.nextOffset
                guard !h.isControl, let records = try? Record.decodeAll(batch: batch, header: h) else { continue }
                for r in records {
                    guard let key = r.key, let id = TransactionLogCodec.decodeKey(key) else { continue }
                    if let value = r.value, let v = TransactionLogCodec.decodeValue(value), let t = Self.txn(v) {
                        found[id] = t
                    } else {
                        found[id] = nil
                    }
                }
            }
            if position >= end { break }
        }
        loading.remove(p)
        owned.insert(p)
        for (id, t) in found { txns[id] = t }
        logger.info("transaction coordinator for \(Self.topic)-\(p): loaded \(found.count) transactional id(s)")
        for (id, t) in found where t.state == .prepareCommit || t.state == .prepareAbort {
            busy.insert(id)
            complete(id, t)
        }
    }

    static func txn(_ v: TransactionLogValue) -> Txn? {
        guard let state = State(rawValue: v.status) else { return nil }
        var t = Txn()
        t.producerId = v.producerId
        t.producerEpoch = v.producerEpoch
        t.timeoutMs = v.timeoutMs
        t.state = state
        t.partitions = Set(
            v.partitions.flatMap { tp in tp.partitionIds.map { TopicPartition(topic: tp.topic, partition: $0) } })
        t.startMs = v.startTimestampMs
        t.updateMs = v.lastUpdateTimestampMs
        return t
    }

    static func value(_ t: Txn) -> TransactionLogValue {
        TransactionLogValue(
            producerId: t.producerId, producerEpoch: t.producerEpoch, timeoutMs: t.timeoutMs, status: t.state.rawValue,
            partitions: Dictionary(grouping: t.partitions, by: \.topic).sorted { $0.key < $1.key }.map {
                .init(topic: $0.key, partitionIds: $0.value.map(\.partition).sorted())
            },
            lastUpdateTimestampMs: t.updateMs, startTimestampMs: t.startMs)
    }

    // MARK: - Writing state

    /// Writes `next` as the id's state; on success it becomes the state in memory. The id is
    /// busy meanwhile (the caller marks it).
    func persist(_ id: String, _ next: Txn) -> EventLoopFuture<ErrorCode> {
        let p = Self.partition(for: id, count: partitionCount)
        let epoch = epochs[p]
        var b = RecordBatchBuilder()
        do {
            b.append(
                key: try TransactionLogCodec.encodeKey(id),
                value: try TransactionLogCodec.encodeValue(Self.value(next)), timestamp: clock.wallMs)
        } catch {
            return loop.makeSucceededFuture(.unknownServerError)
        }
        return write(p, b.build()).hop(to: loop).map { [self] code in
            // The partition may have moved while the write was out: only a coordinator still
            // in the same epoch takes the state.
            guard code == .none, owned.contains(p), epochs[p] == epoch else {
                return code == .none ? .notCoordinator : Self.coordinatorError(code)
            }
            txns[id] = next
            return .none
        }
    }

    /// What a producer is told when the state could not be written: Kafka's mapping.
    static func coordinatorError(_ code: ErrorCode) -> ErrorCode {
        switch code {
        case .notLeaderOrFollower, .unknownTopicOrPartition: return .notCoordinator
        case .notEnoughReplicas, .requestTimedOut: return .coordinatorNotAvailable
        default: return code == .none ? .none : .coordinatorNotAvailable
        }
    }

    /// Has the markers of the id's PrepareCommit/PrepareAbort written, retrying those that fail
    /// while this node coordinates the id, then writes CompleteCommit/CompleteAbort.
    func complete(_ id: String, _ prepared: Txn) {
        let p = Self.partition(for: id, count: partitionCount)
        guard owned.contains(p), let epoch = epochs[p] else {
            busy.remove(id)
            return
        }
        markerRound(id, prepared, prepared.partitions.sorted(), epoch: epoch, attempt: 0)
    }

    /// Whether this node still coordinates partition `p` in `epoch`.
    private func stillOwns(_ p: Int32, _ epoch: Int32) -> Bool { owned.contains(p) && epochs[p] == epoch }

    /// One round of markers to the partitions `left`; those that fail go again after a pause.
    private func markerRound(_ id: String, _ prepared: Txn, _ left: [TopicPartition], epoch: Int32, attempt: Int) {
        guard !left.isEmpty else {
            finish(id, prepared, epoch: epoch, attempt: 0)
            return
        }
        let p = Self.partition(for: id, count: partitionCount)
        let r = MarkerRound(
            producerId: prepared.producerId, producerEpoch: prepared.producerEpoch,
            commit: prepared.state == .prepareCommit, coordinatorEpoch: epoch, partitions: left)
        deliver(r).hop(to: loop).whenComplete { [self] result in
            guard stillOwns(p, epoch) else {
                busy.remove(id)
                return
            }
            var failed = left
            if case .success(let codes) = result {
                failed = left.filter { tp in
                    let c = codes[tp] ?? .unknownServerError
                    if c == .invalidProducerEpoch || c == .transactionCoordinatorFenced {
                        // The partition has seen a newer epoch of this producer: the marker can
                        // never be written there (Kafka stops too); retrying would hold the id.
                        logger.warning(
                            "transaction \(id): \(tp.topic)-\(tp.partition) refuses its marker (\(c)): it has seen a newer epoch of producer \(prepared.producerId); giving up on that partition"
                        )
                        return false
                    }
                    // A partition that no longer exists needs no marker.
                    return c != .none && c != .unknownTopicOrPartition
                }
            }
            if failed.isEmpty {
                finish(id, prepared, epoch: epoch, attempt: 0)
                return
            }
            if attempt % 50 == 5 {
                logger.warning(
                    "transaction \(id): markers not yet written to \(failed.count) partition(s), e.g. \(failed[0].topic)-\(failed[0].partition); retrying"
                )
            }
            let delay = Int64(min(1000, 50 * (attempt + 1)))
            loop.scheduleTask(in: .milliseconds(delay)) { [self, failed] in
                markerRound(id, prepared, failed, epoch: epoch, attempt: attempt + 1)
            }
        }
    }

    /// Every marker is in: CompleteCommit/CompleteAbort is written (again shortly if that fails).
    private func finish(_ id: String, _ prepared: Txn, epoch: Int32, attempt: Int) {
        let p = Self.partition(for: id, count: partitionCount)
        var done = prepared
        done.state = prepared.state == .prepareCommit ? .completeCommit : .completeAbort
        done.partitions = []
        done.updateMs = clock.wallMs
        persist(id, done).whenComplete { [self] result in
            if case .success(.none) = result {
                busy.remove(id)
                settings.metrics?.transactionEnded(committed: done.state == .completeCommit)
            } else if stillOwns(p, epoch) {
                loop.scheduleTask(in: .milliseconds(200)) { [self] in
                    finish(id, prepared, epoch: epoch, attempt: attempt + 1)
                }
            } else {
                busy.remove(id)
            }
        }
    }

    /// Ends the id's ongoing transaction: PrepareCommit/PrepareAbort is written, then the markers.
    /// `fence` bumps the epoch first (a timeout or a new producer of the same id), so the old
    /// producer's further writes are refused.
    func end(_ id: String, commit: Bool, fence: Bool) -> EventLoopFuture<ErrorCode> {
        guard var next = txns[id] else { return loop.makeSucceededFuture(.invalidProducerIdMapping) }
        if fence && next.producerEpoch < Int16.max - 1 {
            next.lastProducerEpoch = next.producerEpoch
            next.producerEpoch += 1
        }
        next.state = commit ? .prepareCommit : .prepareAbort
        next.updateMs = clock.wallMs
        busy.insert(id)
        return persist(id, next).map { [self, next] code in
            if code == .none {
                complete(id, next)
            } else {
                busy.remove(id)
            }
            return code
        }
    }

    /// Aborts transactions open longer than their timeout (fencing their producers), and
    /// forgets ids unused for `transactional.id.expiration.ms`.
    func abortTimedOut() {
        let now = clock.wallMs
        for (id, t) in txns where !busy.contains(id) {
            if t.state == .ongoing && t.startMs >= 0 && now - t.startMs > Int64(t.timeoutMs) {
                logger.info(
                    "transaction \(id) (producer \(t.producerId), epoch \(t.producerEpoch)) passed its timeout of \(t.timeoutMs) ms: aborting it"
                )
                _ = end(id, commit: false, fence: true)
            } else if [.empty, .completeCommit, .completeAbort].contains(t.state),
                now - t.updateMs > settings.idExpirationMs
            {
                expire(id)
            }
        }
    }

    /// Writes a tombstone for an id unused for too long.
    private func expire(_ id: String) {
        let p = Self.partition(for: id, count: partitionCount)
        guard let key = try? TransactionLogCodec.encodeKey(id) else { return }
        var b = RecordBatchBuilder()
        b.append(key: key, value: nil, timestamp: clock.wallMs)
        busy.insert(id)
        write(p, b.build()).hop(to: loop).whenComplete { [self] result in
            busy.remove(id)
            if case .success(.none) = result { txns[id] = nil }
        }
    }
}
