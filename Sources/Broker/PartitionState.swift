import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import Storage

/// A partition the broker serves: its log and the fetches waiting for new data.
/// Sendable by hand: its mutable fields are private and touched only under `lock`.
public final class PartitionState: @unchecked Sendable {
    public let topic: String
    public let topicId: KafkaUUID
    public let index: Int32
    public let log: PartitionLog
    private let lock = NIOLock()
    /// Leadership, epochs, ISR and the leader's view of its followers.
    private var tracker: IsrTracker
    /// acks=all produces waiting for the high watermark to pass their last offset.
    private var ackWaiters: [(offset: Int64, done: @Sendable (ErrorCode) -> Void)] = []
    let nodeId: Int32

    /// Leader and leader epoch from the latest metadata image.
    public var leadership: (leader: Int32, epoch: Int32) { lock.withLock { (tracker.leader, tracker.leaderEpoch) } }
    public var isr: [Int32] { lock.withLock { tracker.isr } }
    public var replicas: [Int32] { lock.withLock { tracker.replicas } }
    public var isLeader: Bool { lock.withLock { tracker.isLeader } }
    /// Leader: where its epoch began in the log (its log end when it was elected).
    public var leaderEpochStartOffset: Int64 { lock.withLock { tracker.leaderEpochStartOffset } }

    /// Follower: the leader's high watermark as its last fetch answer gave it (-1 before one).
    private var leaderHighWatermark: Int64 = -1

    /// Follower: notes the leader's high watermark from a fetch answer.
    func noteLeaderHighWatermark(_ hw: Int64) { lock.withLock { leaderHighWatermark = hw } }

    /// How many offsets this replica's log end is behind the partition's high watermark: the
    /// leader's own, or for a follower the leader's as last heard (0 when caught up or unknown).
    public var offsetLag: Int64 {
        let end = log.logEndOffset
        let hw = lock.withLock { tracker.isLeader ? log.highWatermark : max(leaderHighWatermark, log.highWatermark) }
        return max(0, hw - end)
    }

    /// Leader: how far each replica it has heard from is behind the high watermark (nil when
    /// this broker does not lead the partition).
    public var followerLags: [Int32: Int64]? {
        lock.withLock {
            guard tracker.isLeader else { return nil }
            let hw = log.highWatermark
            var lags: [Int32: Int64] = [:]
            for r in tracker.replicas where r != nodeId {
                if let end = tracker.followerEndOffset(r) { lags[r] = max(0, hw - end) }
            }
            return lags
        }
    }

    /// Leader: the ISR with each member's log end as last heard (the leader's own for itself),
    /// read under one lock so the two agree.
    public var inSyncEnds: [(id: Int32, logEndOffset: Int64)] {
        lock.withLock {
            tracker.isr.map { r in
                (r, r == nodeId ? log.logEndOffset : tracker.followerEndOffset(r) ?? 0)
            }
        }
    }

    /// Takes the partition's state from a new metadata image.
    func update(_ p: MetadataImage.Partition, nowMs: Int64) {
        var failed: [@Sendable (ErrorCode) -> Void] = []
        let leads = lock.withLock {
            let leads = tracker.update(p, logEnd: log.logEndOffset, nowMs: nowMs)
            if !leads {
                failed = ackWaiters.map(\.done)
                ackWaiters = []
            }
            return leads
        }
        for f in failed { f(.notLeaderOrFollower) }
        if leads { advanceHighWatermark(nowMs: nowMs) }
    }

    /// Leader: the high watermark is the smallest log end among the ISR; it only moves forward.
    func advanceHighWatermark(nowMs: Int64) {
        var ready: [@Sendable (ErrorCode) -> Void] = []
        var moved = false
        lock.withLock {
            guard tracker.isLeader else { return }
            let hw = tracker.isrEndOffset(logEnd: log.logEndOffset)
            if hw > log.highWatermark {
                log.setHighWatermark(hw, nowMs: nowMs)
                moved = true
            }
            let current = log.highWatermark
            ready = ackWaiters.filter { $0.offset < current }.map(\.done)
            ackWaiters.removeAll { $0.offset < current }
        }
        for r in ready { r(.none) }
        if moved { notifyAppended() }
    }

    /// Leader: registers an acks=all produce whose last offset is `offset`.
    func waitForHighWatermark(past offset: Int64, nowMs: Int64, _ done: @escaping @Sendable (ErrorCode) -> Void) {
        let already: Bool = lock.withLock {
            if log.highWatermark > offset { return true }
            ackWaiters.append((offset, done))
            return false
        }
        if already { done(.none) } else { advanceHighWatermark(nowMs: nowMs) }
    }

    func expireAckWaiter(offset: Int64) -> (@Sendable (ErrorCode) -> Void)? {
        lock.withLock {
            guard let i = ackWaiters.firstIndex(where: { $0.offset == offset }) else { return nil }
            return ackWaiters.remove(at: i).done
        }
    }

    /// Leader: a follower fetched from `offset`; an ISR to propose when it has caught up and
    /// is outside the ISR (see `IsrTracker.followerFetched`).
    func followerFetched(_ replica: Int32, offset: Int64, nowMs: Int64, eligible: Bool = true) -> [Int32]? {
        let proposal = lock.withLock {
            tracker.followerFetched(
                replica, offset: offset, logEnd: log.logEndOffset, highWatermark: log.highWatermark, nowMs: nowMs,
                eligible: eligible)
        }
        advanceHighWatermark(nowMs: nowMs)
        return proposal
    }

    /// Leader: replicas that have not fetched this partition yet (see `IsrTracker`).
    func replicasNotHeardFrom(nowMs: Int64) -> [Int32] { lock.withLock { tracker.replicasNotHeardFrom(nowMs: nowMs) } }

    /// Leader: the ISR without followers that have not caught up for `lagMs`, if that differs.
    func isrShrink(nowMs: Int64, lagMs: Int64) -> [Int32]? {
        lock.withLock { tracker.shrink(nowMs: nowMs, lagMs: lagMs) }
    }

    /// The proposal failed or was refused (see `IsrTracker.proposalFailed`).
    func isrChangeFailed(staleEpoch: Bool = false) {
        lock.withLock { tracker.proposalFailed(staleEpoch: staleEpoch) }
    }

    var alterPartitionFields: (leaderEpoch: Int32, partitionEpoch: Int32) {
        lock.withLock { (tracker.leaderEpoch, tracker.partitionEpoch) }
    }

    private var waiters: [(owner: PendingFetch, wake: @Sendable () -> Void)] = []

    init(topic: String, topicId: KafkaUUID, index: Int32, log: PartitionLog, nodeId: Int32) {
        self.topic = topic
        self.topicId = topicId
        self.index = index
        self.log = log
        self.nodeId = nodeId
        tracker = IsrTracker(nodeId: nodeId)
    }

    /// Runs `wake` once, after the next append. Waiters of fetches that already answered are
    /// dropped here, so an idle partition does not collect them.
    func waitForAppend(owner: PendingFetch, _ wake: @escaping @Sendable () -> Void) {
        lock.withLock {
            waiters.removeAll { $0.owner.isDone }
            // A fetch re-arming while still waiting here keeps its one waiter.
            guard !waiters.contains(where: { $0.owner === owner }) else { return }
            waiters.append((owner, wake))
        }
    }

    func notifyAppended() {
        let toWake = lock.withLock {
            let w = waiters
            waiters = []
            return w
        }
        for w in toWake where !w.owner.isDone { w.wake() }
    }
}
