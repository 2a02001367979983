import Metadata
import NIOConcurrencyHelpers

/// This broker's two replication throttles (leader side: bytes it sends to followers out of the
/// ISR; follower side: bytes it fetches while out of the ISR), their rates read from the image's
/// dynamic broker configs at each use, so a change applies at the next fetch.
final class ReplicationQuotas: Sendable {
    enum Side { case leader, follower }
    private let buckets: NIOLockedValueBox<(leader: ByteRateLimiter, follower: ByteRateLimiter)>

    init(nowMs: Int64) {
        buckets = NIOLockedValueBox(
            (
                ByteRateLimiter(bytesPerSecond: ReplicationThrottle.unthrottled, nowMs: nowMs),
                ByteRateLimiter(bytesPerSecond: ReplicationThrottle.unthrottled, nowMs: nowMs)
            ))
    }

    /// Whether `partition`'s replication by `replica` (the follower) is throttled on `side` here:
    /// a rate is set for this broker, the topic names the replica on this side, and the follower
    /// is out of the ISR.
    static func applies(
        _ side: Side, image: MetadataImage, me: Int32, topic: String, partition: Int32, follower: Int32,
        isr: [Int32]
    ) -> Int64? {
        let rateKey = side == .leader ? ReplicationThrottle.leaderRate : ReplicationThrottle.followerRate
        guard let rate = ReplicationThrottle.rate(image.brokerConfig(me, rateKey)), !isr.contains(follower),
            let t = image.topics[topic]
        else { return nil }
        let list = t.configs[
            side == .leader ? ReplicationThrottle.leaderReplicas : ReplicationThrottle.followerReplicas]
        return ReplicationThrottle.names(list, partition: partition, broker: me) ? rate : nil
    }

    /// The bytes that may go now at `rate`.
    func allowance(_ side: Side, rate: Int64, nowMs: Int64) -> Int64 {
        buckets.withLockedValue { b in
            switch side {
            case .leader:
                b.leader.setRate(rate)
                return b.leader.allowance(nowMs: nowMs)
            case .follower:
                b.follower.setRate(rate)
                return b.follower.allowance(nowMs: nowMs)
            }
        }
    }

    func record(_ side: Side, _ bytes: Int, nowMs: Int64) {
        guard bytes > 0 else { return }
        buckets.withLockedValue { b in
            if side == .leader { b.leader.record(bytes, nowMs: nowMs) } else { b.follower.record(bytes, nowMs: nowMs) }
        }
    }
}
