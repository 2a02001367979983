import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The node's one source of time. The server hands every component the same `SystemClock`; tests
/// hand in a `ManualClock` and advance it instead of sleeping.
public protocol TernClock: Sendable {
    /// Milliseconds since the Unix epoch: record timestamps, retention, segment age, offset expiry.
    var wallMs: Int64 { get }
    /// Nanoseconds on a clock that never goes back: timeouts, deadlines, latencies.
    var monotonicNs: UInt64 { get }
}

extension TernClock {
    /// `monotonicNs` in milliseconds.
    public var monotonicMs: Int64 { Int64(monotonicNs / 1_000_000) }
    /// `monotonicNs` as a deadline NIO's timers and comparisons understand.
    public var now: NIODeadline { .uptimeNanoseconds(monotonicNs) }
    /// Milliseconds since `start` (a `monotonicNs` reading).
    public func msSince(_ start: UInt64) -> Int64 { Int64((monotonicNs &- start) / 1_000_000) }
}

/// The operating system's clocks.
public struct SystemClock: TernClock {
    public init() {}
    public var wallMs: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
    public var monotonicNs: UInt64 { NIODeadline.now().uptimeNanoseconds }
}

/// A clock that moves only when told, for tests.
public final class ManualClock: TernClock {
    private let state: NIOLockedValueBox<(wall: Int64, mono: UInt64)>
    public init(wallMs: Int64 = 1_700_000_000_000, monotonicNs: UInt64 = 1_000_000_000) {
        state = NIOLockedValueBox((wallMs, monotonicNs))
    }
    public var wallMs: Int64 { state.withLockedValue { $0.wall } }
    public var monotonicNs: UInt64 { state.withLockedValue { $0.mono } }
    /// Moves both clocks forward by `ms`.
    public func advance(ms: Int64) {
        state.withLockedValue {
            $0.wall += ms
            $0.mono += UInt64(max(0, ms)) * 1_000_000
        }
    }
}
