import NIOConcurrencyHelpers

/// The tasks a part of the node starts in the background (forwards to the active controller,
/// Raft RPCs): `stopAndWait` cancels them and returns once each has ended, so that none of them
/// touches an event loop after its group has shut down. Once stopping, nothing new starts.
final class BackgroundTasks: Sendable {
    private struct State {
        var stopping = false
        var next = 0
        var running: [Int: Task<Void, Never>] = [:]
    }
    private let state = NIOLockedValueBox(State())

    var isStopping: Bool { state.withLockedValue { $0.stopping } }

    /// Starts `body` unless stopping; returns whether it started.
    @discardableResult
    func run(_ body: @escaping @Sendable () async -> Void) -> Bool {
        state.withLockedValue { s in
            guard !s.stopping else { return false }
            let id = s.next
            s.next += 1
            // The task removes itself once done; it cannot run before the lock is released.
            s.running[id] = Task { [self] in
                await body()
                state.withLockedValue { _ = $0.running.removeValue(forKey: id) }
            }
            return true
        }
    }

    /// How many are running (for tests and the log).
    var count: Int { state.withLockedValue { $0.running.count } }

    /// Refuses new tasks, cancels those running and waits for each to end.
    func stopAndWait() async {
        let tasks = state.withLockedValue { s -> [Task<Void, Never>] in
            s.stopping = true
            return Array(s.running.values)
        }
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
    }
}
