import Logging
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// Warnings that a remote party can cause, at most a few a second: a flood of bad frames or
/// forged peer messages must not become a flood of log lines (disk and CPU). What is held back is
/// counted and reported with the next line that gets through.
final class LogLimiter: Sendable {
    private struct State {
        var windowStart: UInt64
        var inWindow = 0
        var suppressed = 0
    }
    private let state: NIOLockedValueBox<State>
    private let perSecond: Int
    private let clock: any TernClock

    init(perSecond: Int = 5, clock: any TernClock = SystemClock()) {
        self.perSecond = perSecond
        self.clock = clock
        state = NIOLockedValueBox(State(windowStart: clock.monotonicNs))
    }

    func warn(_ logger: Logger, _ message: @autoclosure () -> String) {
        let (allowed, held): (Bool, Int) = state.withLockedValue { s in
            let now = clock.monotonicNs
            if now - s.windowStart >= 1_000_000_000 {
                s.windowStart = now
                s.inWindow = 0
            }
            guard s.inWindow < perSecond else {
                s.suppressed += 1
                return (false, 0)
            }
            s.inWindow += 1
            let held = s.suppressed
            s.suppressed = 0
            return (true, held)
        }
        guard allowed else { return }
        logger.warning("\(message())\(held > 0 ? " (\(held) similar lines held back)" : "")")
    }
}
