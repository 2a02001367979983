/// Replication throttles (Kafka's KIP-73), as `kafka-reassign-partitions.sh --throttle` sets them:
/// a byte rate per broker for each side (`leader.replication.throttled.rate`,
/// `follower.replication.throttled.rate`, dynamic broker configs) that applies to the replicas a
/// topic names (`leader.replication.throttled.replicas`, `follower.replication.throttled.replicas`:
/// "partition:broker" pairs or "*"), and only while the follower is out of the ISR, so a
/// catching-up copy cannot starve the replication that acks=all writes wait for.
public enum ReplicationThrottle {
    public static let leaderRate = "leader.replication.throttled.rate"
    public static let followerRate = "follower.replication.throttled.rate"
    public static let leaderReplicas = "leader.replication.throttled.replicas"
    public static let followerReplicas = "follower.replication.throttled.replicas"

    /// The dynamic broker configs Tern takes (IncrementalAlterConfigs on a broker), with their
    /// value checks: a rate in bytes per second, 0 to 2^50 (above that nothing is throttled).
    public static let dynamicBrokerConfigs: [String: @Sendable (String) -> Bool] = [
        leaderRate: { (Int64($0) ?? -1) >= 0 },
        followerRate: { (Int64($0) ?? -1) >= 0 },
    ]

    /// Rates at or above this are no throttle (Kafka's default is Long.MAX_VALUE).
    public static let unthrottled: Int64 = 1 << 50

    /// The rate a config value sets, nil when it throttles nothing.
    public static func rate(_ value: String?) -> Int64? {
        guard let v = value.flatMap({ Int64($0) }), v >= 0, v < unthrottled else { return nil }
        return v
    }

    /// Whether a throttled-replicas list names `partition` on `broker` ("*" names every one).
    public static func names(_ list: String?, partition: Int32, broker: Int32) -> Bool {
        guard let list else { return false }
        func trimmed(_ s: Substring) -> String { String(s.filter { $0 != " " && $0 != "\t" }) }
        if trimmed(list[...]) == "*" { return true }
        let wanted = "\(partition):\(broker)"
        return list.split(separator: ",").contains { trimmed($0) == wanted }
    }
}

/// A leaky bucket of bytes: what was sent drains at `bytesPerSecond`, and up to one second's worth
/// may be outstanding. Pure: the caller hands in the time.
public struct ByteRateLimiter: Sendable, Equatable {
    public private(set) var bytesPerSecond: Int64
    private var level: Int64 = 0
    private var lastMs: Int64

    public init(bytesPerSecond: Int64, nowMs: Int64) {
        self.bytesPerSecond = min(max(bytesPerSecond, 0), ReplicationThrottle.unthrottled)
        self.lastMs = nowMs
    }

    /// A new rate keeps what is outstanding.
    public mutating func setRate(_ bytesPerSecond: Int64) {
        self.bytesPerSecond = min(max(bytesPerSecond, 0), ReplicationThrottle.unthrottled)
    }

    private mutating func drain(nowMs: Int64) {
        // At most 10 s of draining at once: enough to empty any bucket, and no overflow.
        let elapsed = min(max(nowMs - lastMs, 0), 10_000)
        lastMs = max(lastMs, nowMs)
        level = max(0, level - bytesPerSecond / 1000 * elapsed - bytesPerSecond % 1000 * elapsed / 1000)
    }

    /// The bytes that may go now (0 while over the rate).
    public mutating func allowance(nowMs: Int64) -> Int64 {
        drain(nowMs: nowMs)
        return max(0, bytesPerSecond - level)
    }

    /// Bytes that went (a first batch may overshoot the allowance: the debt is paid by waiting).
    public mutating func record(_ bytes: Int, nowMs: Int64) {
        drain(nowMs: nowMs)
        let (sum, overflow) = level.addingReportingOverflow(Int64(max(bytes, 0)))
        level = overflow ? Int64.max / 2 : min(sum, Int64.max / 2)
    }
}
