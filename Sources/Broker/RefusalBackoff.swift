/// Partitions a leader refused to a follower (not its replica yet, a stale or unknown epoch),
/// each left out of the fetches to that leader for a while that doubles with each refusal in a
/// row: 10 ms, 20 ms, ... up to 500 ms (Kafka's `replica.fetch.backoff.ms`, reached in steps).
///
/// A partition just created is the usual case: the follower learns of it a few milliseconds
/// before or after its leader does, and a leader that has not taken the record yet refuses it.
/// Left out 500 ms at once, its first acks=all writes waited that long; never left out, one such
/// partition makes every fetch to the leader answer at once and the fetcher spins on the rest.
/// Pure: the fetcher hands in the time.
struct RefusalBackoff: Sendable {
    static let firstMs: Int64 = 10
    static let maxMs: Int64 = 500

    private var entries: [Broker.PartitionKey: (until: Int64, streak: Int)] = [:]

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }

    /// The leader refused `key`: leave it out for the next step of the doubling.
    mutating func refused(_ key: Broker.PartitionKey, nowMs: Int64) {
        let streak = entries[key]?.streak ?? 0
        let delay = min(Self.maxMs, Self.firstMs << min(streak, 16))
        entries[key] = (nowMs + delay, streak + 1)
    }

    /// The leader answered `key` without an error: the next refusal starts from the first step.
    mutating func answered(_ key: Broker.PartitionKey) {
        if !entries.isEmpty { entries.removeValue(forKey: key) }
    }

    /// Whether `key` is left out of a fetch sent now.
    func leavesOut(_ key: Broker.PartitionKey, nowMs: Int64) -> Bool {
        guard let e = entries[key] else { return false }
        return e.until > nowMs
    }

    /// Forgets partitions not refused for a second past their wait (deleted ones, moved ones),
    /// so that the table holds only what is being refused now.
    mutating func forgetSettled(nowMs: Int64) {
        guard !entries.isEmpty else { return }
        entries = entries.filter { $0.value.until + 2 * Self.maxMs > nowMs }
    }
}
