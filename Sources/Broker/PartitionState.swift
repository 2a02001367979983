import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import Storage

/// A partition the broker serves: its log and the fetches waiting for new data.
public final class PartitionState: @unchecked Sendable {
    public let topic: String
    public let topicId: KafkaUUID
    public let index: Int32
    public let log: PartitionLog
    private let lock = NIOLock()
    private var _leader: Int32 = -1
    private var _leaderEpoch: Int32 = -1
    private var _partitionEpoch: Int32 = -1
    private var _replicas: [Int32] = []
    private var _isr: [Int32] = []
    /// Where the current leader epoch began in this log (a follower must reach it to rejoin).
    private var leaderEpochStartOffset: Int64 = 0
    /// Leader side: each follower's log end (from its fetches) and when it was last caught up.
    private var followers: [Int32: (endOffset: Int64, caughtUpMs: Int64)] = [:]
    private var isrChangeInFlight = false
    /// The (leader epoch, partition epoch) the in-flight or last refused ISR proposal was made at.
    private var proposedAt: (leaderEpoch: Int32, partitionEpoch: Int32)? = nil
    /// acks=all produces waiting for the high watermark to pass their last offset.
    private var ackWaiters: [(offset: Int64, done: @Sendable (ErrorCode) -> Void)] = []
    let nodeId: Int32

    /// Leader and leader epoch from the latest metadata image.
    public var leadership: (leader: Int32, epoch: Int32) { lock.withLock { (_leader, _leaderEpoch) } }
    public var isr: [Int32] { lock.withLock { _isr } }
    public var replicas: [Int32] { lock.withLock { _replicas } }
    public var isLeader: Bool { lock.withLock { _leader == nodeId } }

    /// Takes the partition's state from a new metadata image.
    func update(_ p: MetadataImage.Partition, nowMs: Int64) {
        var failed: [@Sendable (ErrorCode) -> Void] = []
        lock.withLock {
            let becameLeader = p.leader == nodeId && (_leader != nodeId || p.leaderEpoch != _leaderEpoch)
            if becameLeader {
                leaderEpochStartOffset = log.logEndOffset
                followers = [:]
                for r in p.replicas where r != nodeId { followers[r] = (0, nowMs) }
            }
            if p.leader != nodeId {
                failed = ackWaiters.map(\.done)
                ackWaiters = []
                followers = [:]
            }
            _leader = p.leader
            _leaderEpoch = p.leaderEpoch
            _partitionEpoch = p.partitionEpoch
            _replicas = p.replicas
            _isr = p.isr
            // A proposal is settled by a new state of this partition, not by any image: clearing
            // it on every image let the leader send the same proposal again while the first was
            // in flight, and the second was refused for its stale partition epoch.
            if let at = proposedAt, at != (p.leaderEpoch, p.partitionEpoch) {
                isrChangeInFlight = false
                proposedAt = nil
            }
        }
        for f in failed { f(.notLeaderOrFollower) }
        if p.leader == nodeId { advanceHighWatermark(nowMs: nowMs) }
    }

    /// Leader: the high watermark is the smallest log end among the ISR; it only moves forward.
    func advanceHighWatermark(nowMs: Int64) {
        var ready: [@Sendable (ErrorCode) -> Void] = []
        var moved = false
        lock.withLock {
            guard _leader == nodeId else { return }
            var hw = log.logEndOffset
            for r in _isr where r != nodeId { hw = min(hw, followers[r]?.endOffset ?? 0) }
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

    /// Leader: a follower fetched from `offset`, so it holds everything before it. Returns an
    /// ISR to propose when this follower has caught up and is outside the ISR.
    /// `eligible`: the follower is registered and unfenced in this broker's image (KIP-841); the
    /// controller refuses a fenced one, so proposing it only makes a refusal.
    func followerFetched(_ replica: Int32, offset: Int64, nowMs: Int64, eligible: Bool = true) -> [Int32]? {
        let proposal: [Int32]? = lock.withLock {
            guard _leader == nodeId, _replicas.contains(replica) else { return nil }
            let hw = log.highWatermark
            var f = followers[replica] ?? (0, nowMs)
            f.endOffset = offset
            if offset >= log.logEndOffset || offset >= hw { f.caughtUpMs = nowMs }
            followers[replica] = f
            if eligible && !_isr.contains(replica) && !isrChangeInFlight && offset >= hw
                && offset >= leaderEpochStartOffset
            {
                isrChangeInFlight = true
                proposedAt = (_leaderEpoch, _partitionEpoch)
                return _isr + [replica]
            }
            return nil
        }
        advanceHighWatermark(nowMs: nowMs)
        return proposal
    }

    /// Leader: the ISR without followers that have not caught up for `lagMs`, if that differs.
    func isrShrink(nowMs: Int64, lagMs: Int64) -> [Int32]? {
        lock.withLock {
            guard _leader == nodeId, !isrChangeInFlight else { return nil }
            let keep = _isr.filter { r in r == nodeId || nowMs - (followers[r]?.caughtUpMs ?? nowMs) <= lagMs }
            guard keep.count < _isr.count else { return nil }
            isrChangeInFlight = true
            proposedAt = (_leaderEpoch, _partitionEpoch)
            return keep
        }
    }

    /// The proposal failed (controller unreachable) or was refused. A refusal for a stale epoch
    /// waits for the image to bring this partition's new state (`update` clears it then), unless
    /// the image already moved past the epochs proposed; anything else may be proposed again.
    func isrChangeFailed(staleEpoch: Bool = false) {
        lock.withLock {
            if staleEpoch, let at = proposedAt, at == (_leaderEpoch, _partitionEpoch) { return }
            isrChangeInFlight = false
            proposedAt = nil
        }
    }

    var alterPartitionFields: (leaderEpoch: Int32, partitionEpoch: Int32) {
        lock.withLock { (_leaderEpoch, _partitionEpoch) }
    }

    private var waiters: [(owner: PendingFetch, wake: @Sendable () -> Void)] = []

    init(topic: String, topicId: KafkaUUID, index: Int32, log: PartitionLog, nodeId: Int32) {
        self.topic = topic
        self.topicId = topicId
        self.index = index
        self.log = log
        self.nodeId = nodeId
    }

    /// Runs `wake` once, after the next append. Waiters of fetches that already answered are
    /// dropped here, so an idle partition does not collect them.
    func waitForAppend(owner: PendingFetch, _ wake: @escaping @Sendable () -> Void) {
        lock.withLock {
            waiters.removeAll { $0.owner.isDone }
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

/// Kafka's `.properties` format: `key=value` lines, `#` and `!` comments, blank lines ignored.
public enum Properties {
    public static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value, _) in parseLines(text) { out[key] = value }
        return out
    }

    /// Key, value and 1-based line number of every setting, in file order.
    public static func parseLines(_ text: String) -> [(String, String, Int)] {
        var out: [(String, String, Int)] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            let sep = line.firstIndex(where: { $0 == "=" || $0 == ":" }) ?? line.endIndex
            let key = String(line[..<sep]).trimmingCharacters(in: " \t")
            let value = sep < line.endIndex ? String(line[line.index(after: sep)...]).trimmingCharacters(in: " \t") : ""
            out.append((key, value, n + 1))
        }
        return out
    }
}
