/// Waits between retries that grow as Kafka's clients grow them (KIP-580): the first wait is
/// `initialMs`, each failure doubles it up to `maxMs`, and each wait is spread by ±20% so that
/// many retrying tasks (a node's partitions, after a peer died) do not come back in step. A
/// success resets it. Pure: the caller sleeps, and may pass the random draw.
public struct ExponentialBackoff: Sendable, Equatable {
    public let initialMs: Int64
    public let maxMs: Int64
    public private(set) var failures = 0

    public init(initialMs: Int64, maxMs: Int64) {
        self.initialMs = max(1, initialMs)
        self.maxMs = max(self.initialMs, maxMs)
    }

    /// The wait after one more failure, in milliseconds. `random` in 0..<1 places it within ±20%.
    public mutating func next(random: Double = Double.random(in: 0..<1)) -> Int64 {
        let shift = min(failures, 40)
        failures = min(failures + 1, 40)
        let base = min(Double(initialMs) * Double(UInt64(1) << UInt64(shift)), Double(maxMs))
        let spread = 1 + 0.2 * (2 * min(max(random, 0), 1) - 1)
        let ms = base * spread
        return ms >= Double(Int64.max) ? Int64.max : max(1, Int64(ms))
    }

    /// `next()` in nanoseconds, for `Task.sleep` (capped at about 200 days).
    public var nextNanoseconds: UInt64 {
        mutating get { UInt64(min(next(), 1 << 44)) * 1_000_000 }
    }

    public mutating func reset() { failures = 0 }
}
