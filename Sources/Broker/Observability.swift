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

    private let state = NIOLockedValueBox((events: [Event](), next: 1, isrShrinks: 0, isrExpands: 0, elections: 0))

    public var all: [Event] { state.withLockedValue { $0.events } }
    public var counts: (isrShrinks: Int, isrExpands: Int, elections: Int) {
        state.withLockedValue { ($0.isrShrinks, $0.isrExpands, $0.elections) }
    }

    func add(_ kind: String, _ text: String, nowMs: Int64) {
        state.withLockedValue { s in
            s.events.append(Event(sequence: s.next, timeMs: nowMs, kind: kind, text: text))
            s.next += 1
            if s.events.count > 500 { s.events.removeFirst(s.events.count - 500) }
            switch kind {
            case "isr-shrink": s.isrShrinks += 1
            case "isr-expand": s.isrExpands += 1
            case "leader": s.elections += 1
            default: break
            }
        }
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

/// Counters and latency histograms for `/metrics`. Cheap to update from any thread.
public final class BrokerMetrics: Sendable {
    /// Upper bounds of the request latency buckets, in seconds.
    public static let latencyBuckets: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    public struct Latency: Sendable {
        public var count = 0
        public var sumSeconds = 0.0
        public var buckets = [Int](repeating: 0, count: BrokerMetrics.latencyBuckets.count)
    }

    private let requests = NIOLockedValueBox([String: Latency]())
    private let bytes = NIOLockedValueBox((into: [String: Int](), out: [String: Int]()))

    public init() {}

    public func recordRequest(_ api: String, seconds: Double) {
        requests.withLockedValue { r in
            var l = r[api] ?? Latency()
            l.count += 1
            l.sumSeconds += seconds
            if let i = Self.latencyBuckets.firstIndex(where: { seconds <= $0 }) { l.buckets[i] += 1 }
            r[api] = l
        }
    }

    public func recordBytesIn(_ topic: String, _ n: Int) { bytes.withLockedValue { $0.into[topic, default: 0] += n } }
    public func recordBytesOut(_ topic: String, _ n: Int) { bytes.withLockedValue { $0.out[topic, default: 0] += n } }

    public var requestLatencies: [String: Latency] { requests.withLockedValue { $0 } }
    public var topicBytes: (into: [String: Int], out: [String: Int]) { bytes.withLockedValue { $0 } }
}
