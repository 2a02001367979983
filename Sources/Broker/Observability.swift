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
    }

    private let state = NIOLockedValueBox((events: [Event](), next: 1))
    /// Told each event's kind, for the metrics' counters.
    private let onEvent: @Sendable (String) -> Void

    init(onEvent: @escaping @Sendable (String) -> Void = { _ in }) { self.onEvent = onEvent }

    public var all: [Event] { state.withLockedValue { $0.events } }

    func add(_ kind: String, _ text: String, nowMs: Int64) {
        state.withLockedValue { s in
            s.events.append(Event(sequence: s.next, timeMs: nowMs, kind: kind, text: text))
            s.next += 1
            if s.events.count > 500 { s.events.removeFirst(s.events.count - 500) }
        }
        onEvent(kind)
    }

    /// Records what changed between two images.
    func record(from old: MetadataImage, to new: MetadataImage, nowMs: Int64) {
        guard old != new else { return }
        for (id, b) in new.brokers.sorted(by: { $0.key < $1.key }) {
            let before = old.brokers[id]
            if before == nil {
                add("broker", "broker \(id) registered (\(b.host):\(b.port))", nowMs: nowMs)
            } else if before!.fenced != b.fenced {
                add("broker", "broker \(id) \(b.fenced ? "fenced" : "unfenced")", nowMs: nowMs)
            }
        }
        for name in new.topics.keys.sorted() where old.topics[name] == nil {
            add("topic", "topic \(name) created with \(new.topics[name]!.partitionCount) partition(s)", nowMs: nowMs)
        }
        for name in old.topics.keys.sorted() where new.topics[name] == nil {
            add("topic", "topic \(name) deleted", nowMs: nowMs)
        }
        for (name, t) in new.topics.sorted(by: { $0.key < $1.key }) {
            guard let before = old.topics[name], before.id == t.id else { continue }
            for (index, p) in t.partitions.sorted(by: { $0.key < $1.key }) {
                guard let q = before.partitions[index] else { continue }
                if p.leader != q.leader {
                    let who = p.leader >= 0 ? "broker \(p.leader)" : "none (offline)"
                    add("leader", "\(name)-\(index): leader \(q.leader) → \(who), epoch \(p.leaderEpoch)", nowMs: nowMs)
                }
                let gone = q.isr.filter { !p.isr.contains($0) }
                let joined = p.isr.filter { !q.isr.contains($0) }
                if !gone.isEmpty {
                    add("isr-shrink", "\(name)-\(index): ISR shrank to \(p.isr) (left: \(gone))", nowMs: nowMs)
                }
                if !joined.isEmpty {
                    add("isr-expand", "\(name)-\(index): ISR grew to \(p.isr) (joined: \(joined))", nowMs: nowMs)
                }
            }
        }
    }
}
