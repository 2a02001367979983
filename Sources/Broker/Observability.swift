import Metadata
import NIOConcurrencyHelpers

/// What this broker saw happen in the cluster, from the metadata images it applied: leader
/// elections, ISR shrinks and expands, brokers fenced and unfenced, topics created and deleted.
/// The newest 500 are kept, for the web console's timeline.
public final class ClusterEvents: Sendable {
    public struct Event: Sendable {
        public var sequence: Int
        public var timeMs: Int64
        public var kind: String
        public var text: String
        /// Replayed from the metadata log at start-up: `timeMs` is when it was replayed.
        public var replayed: Bool = false
    }

    private let state = NIOLockedValueBox((events: [Event](), next: 1))
    /// Told each event's kind, for the metrics' counters.
    private let onEvent: @Sendable (String) -> Void

    init(onEvent: @escaping @Sendable (String) -> Void = { _ in }) { self.onEvent = onEvent }

    public var all: [Event] { state.withLockedValue { $0.events } }

    func add(_ kind: String, _ text: String, nowMs: Int64, replayed: Bool = false, count: Int = 1) {
        state.withLockedValue { s in
            s.events.append(Event(sequence: s.next, timeMs: nowMs, kind: kind, text: text, replayed: replayed))
            s.next += 1
            if s.events.count > 500 { s.events.removeFirst(s.events.count - 500) }
        }
        // Replayed changes were counted by the process that saw them happen.
        if !replayed { for _ in 0..<max(0, count) { onEvent(kind) } }
    }

    /// More changes of one kind to one topic in one image than this are one line; changes to
    /// internal topics (`__consumer_offsets`, `__transaction_state`) always are.
    static let foldAbove = 3

    /// Records what changed between two images. `replayed`: the image is one of those this
    /// node applies again at start-up, before it has caught up (the change happened earlier;
    /// the metadata log does not say when).
    func record(from old: MetadataImage, to new: MetadataImage, nowMs: Int64, replayed: Bool = false) {
        guard old != new else { return }
        func add(_ kind: String, _ text: String, count: Int = 1) {
            self.add(kind, text, nowMs: nowMs, replayed: replayed, count: count)
        }
        for (id, b) in new.brokers.sorted(by: { $0.key < $1.key }) {
            if let before = old.brokers[id] {
                if before.fenced != b.fenced { add("broker", "broker \(id) \(b.fenced ? "fenced" : "unfenced")") }
            } else {
                add("broker", "broker \(id) registered (\(b.host):\(b.port))")
            }
        }
        for (name, t) in new.topics.sorted(by: { $0.key < $1.key }) where old.topics[name] == nil {
            add("topic", "topic \(name) created with \(t.partitionCount) partition(s)")
        }
        for name in old.topics.keys.sorted() where new.topics[name] == nil {
            add("topic", "topic \(name) deleted")
        }
        for (name, t) in new.topics.sorted(by: { $0.key < $1.key }) {
            guard let before = old.topics[name], before.id == t.id else { continue }
            var leaders: [(index: Int32, from: Int32, to: Int32, epoch: Int32)] = []
            var shrinks: [(index: Int32, isr: [Int32], gone: [Int32])] = []
            var expands: [(index: Int32, isr: [Int32], joined: [Int32])] = []
            for (index, p) in t.partitions.sorted(by: { $0.key < $1.key }) {
                guard let q = before.partitions[index] else { continue }
                if p.leader != q.leader { leaders.append((index, q.leader, p.leader, p.leaderEpoch)) }
                let gone = q.isr.filter { !p.isr.contains($0) }
                let joined = p.isr.filter { !q.isr.contains($0) }
                if !gone.isEmpty { shrinks.append((index, p.isr, gone)) }
                if !joined.isEmpty { expands.append((index, p.isr, joined)) }
            }
            let internalTopic = name.hasPrefix("__")
            func fold(_ n: Int) -> Bool { n > 0 && (internalTopic || n > Self.foldAbove) }
            func who(_ b: Int32) -> String { b >= 0 ? "broker \(b)" : "none (offline)" }
            func brokers(_ ids: [Int32]) -> String { Set(ids).sorted().map { "\($0)" }.joined(separator: ", ") }
            if fold(leaders.count) {
                let to = Dictionary(grouping: leaders, by: \.to).sorted { $0.key < $1.key }
                    .map { "\($0.value.count) to \(who($0.key))" }.joined(separator: ", ")
                add("leader", "\(name): leader changed on \(leaders.count) partition(s): \(to)", count: leaders.count)
            } else {
                for l in leaders {
                    add("leader", "\(name)-\(l.index): leader \(l.from) → \(who(l.to)), epoch \(l.epoch)")
                }
            }
            if fold(shrinks.count) {
                add(
                    "isr-shrink",
                    "\(name): ISR shrank on \(shrinks.count) partition(s) (left: \(brokers(shrinks.flatMap(\.gone))))",
                    count: shrinks.count)
            } else {
                for c in shrinks { add("isr-shrink", "\(name)-\(c.index): ISR shrank to \(c.isr) (left: \(c.gone))") }
            }
            if fold(expands.count) {
                add(
                    "isr-expand",
                    "\(name): ISR grew on \(expands.count) partition(s) (joined: \(brokers(expands.flatMap(\.joined))))",
                    count: expands.count)
            } else {
                for c in expands {
                    add("isr-expand", "\(name)-\(c.index): ISR grew to \(c.isr) (joined: \(c.joined))")
                }
            }
        }
    }
}
