import CoreMetrics
import KafkaProtocol
import NIOConcurrencyHelpers
import Prometheus

/// One node's metrics: recorded through swift-metrics (`Counter`, `Timer`, `Gauge`, `Meter`)
/// into this node's own Prometheus registry, which `/metrics` emits. Each node has its own
/// registry (tests run several nodes in one process), so nothing is bootstrapped globally.
///
/// Names follow Kafka's broker metrics where Kafka has one (MessagesInPerSec becomes
/// `tern_messages_in_total`, UnderReplicatedPartitions `tern_under_replicated_partitions`, ...).
public final class BrokerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: DescribedMetricsFactory

    /// Upper bounds of the request latency buckets.
    public static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    private struct PerApi: Sendable {
        let requests: CoreMetrics.Counter
        let latency: CoreMetrics.Timer
        let bytes: CoreMetrics.Counter
    }
    private let apis: [Int16: PerApi]
    private let queue: Meter
    private let failedRequests: CoreMetrics.Counter
    private let messagesIn: CoreMetrics.Counter
    private let bytesIn: CoreMetrics.Counter
    private let bytesOut: CoreMetrics.Counter
    private let replicationBytesOut: CoreMetrics.Counter
    private let replicationBytesIn: CoreMetrics.Counter
    private let failedProduce: CoreMetrics.Counter
    private let failedFetch: CoreMetrics.Counter
    private let authOk: CoreMetrics.Counter
    private let authFailed: CoreMetrics.Counter
    private let denied: CoreMetrics.Counter
    private let isrShrinks: CoreMetrics.Counter
    private let isrExpands: CoreMetrics.Counter
    private let elections: CoreMetrics.Counter
    private let rebalances: CoreMetrics.Counter
    private let offsetCommits: CoreMetrics.Counter
    private let txnCommitted: CoreMetrics.Counter
    private let txnAborted: CoreMetrics.Counter
    private let raftCommit: CoreMetrics.Timer
    private struct TopicCounters: Sendable {
        let messagesIn: CoreMetrics.Counter
        let bytesIn: CoreMetrics.Counter
        let bytesOut: CoreMetrics.Counter
    }
    private let topics = NIOLockedValueBox([String: TopicCounters]())
    /// Gauges set when `/metrics` is read, by family: each reading replaces the family's samples
    /// (a deleted topic's, a group gone, simply are not in the next). They are written into the
    /// exposition text directly: registering 10,000 per-partition series in the Prometheus
    /// registry copies its family's label table for each one added (quadratic: a 4.8 s scrape).
    private let snapshots = NIOLockedValueBox([String: [([(String, String)], Double)]]())
    /// Counters mirrored from totals kept elsewhere, with the total last seen.
    private let mirrored = NIOLockedValueBox([String: (FloatingPointCounter, Double)]())

    public init() {
        let factory = DescribedMetricsFactory(registry: registry)
        self.factory = factory
        func counter(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
        }
        var apis: [Int16: PerApi] = [:]
        for api in ApiKey.allCases {
            let l = [("api", "\(api)")]
            apis[api.rawValue] = PerApi(
                requests: counter("tern_requests_total", l),
                latency: CoreMetrics.Timer(label: "tern_request_latency_seconds", dimensions: l, factory: factory),
                bytes: counter("tern_request_bytes_total", l))
        }
        self.apis = apis
        queue = Meter(label: "tern_requests_in_flight", factory: factory)
        failedRequests = counter("tern_failed_requests_total")
        messagesIn = counter("tern_messages_in_total")
        bytesIn = counter("tern_bytes_in_total")
        bytesOut = counter("tern_bytes_out_total")
        replicationBytesOut = counter("tern_replication_bytes_out_total")
        replicationBytesIn = counter("tern_replication_bytes_in_total")
        failedProduce = counter("tern_failed_produce_requests_total")
        failedFetch = counter("tern_failed_fetch_requests_total")
        authOk = counter("tern_authentication_successes_total")
        authFailed = counter("tern_authentication_failures_total")
        denied = counter("tern_authorization_denials_total")
        isrShrinks = counter("tern_isr_shrinks_total")
        isrExpands = counter("tern_isr_expands_total")
        elections = counter("tern_leader_elections_total")
        rebalances = counter("tern_group_rebalances_total")
        offsetCommits = counter("tern_offset_commits_total")
        txnCommitted = counter("tern_transactions_committed_total")
        txnAborted = counter("tern_transactions_aborted_total")
        raftCommit = CoreMetrics.Timer(
            label: "tern_raft_commit_latency_seconds", dimensions: [("log", "metadata")], factory: factory)
    }

    // MARK: - Recording, from any thread

    public func requestArrived() { queue.increment() }

    /// A request answered: its count, its latency and its size, by API.
    public func recordRequest(_ apiKey: Int16, nanoseconds: Int64, bytes: Int) {
        queue.decrement()
        guard let api = apis[apiKey] else { return }
        api.requests.increment()
        api.latency.recordNanoseconds(nanoseconds)
        api.bytes.increment(by: bytes)
    }

    /// A request whose answer failed: it leaves the queue unanswered.
    public func requestAbandoned() { queue.decrement() }

    /// A connection closed for a request that could not be read, authenticated or answered.
    public func requestFailed() { failedRequests.increment() }

    private func topic(_ name: String) -> TopicCounters {
        if let t = topics.withLockedValue({ $0[name] }) { return t }
        let l = [("topic", name)]
        let t = TopicCounters(
            messagesIn: CoreMetrics.Counter(label: "tern_topic_messages_in_total", dimensions: l, factory: factory),
            bytesIn: CoreMetrics.Counter(label: "tern_topic_bytes_in_total", dimensions: l, factory: factory),
            bytesOut: CoreMetrics.Counter(label: "tern_topic_bytes_out_total", dimensions: l, factory: factory))
        return topics.withLockedValue { all in
            if let existing = all[name] { return existing }
            all[name] = t
            return t
        }
    }

    /// Records appended by a client's Produce, on the partition's leader.
    public func recordProduced(_ topic: String, records: Int, bytes: Int) {
        messagesIn.increment(by: records)
        bytesIn.increment(by: bytes)
        let t = self.topic(topic)
        t.messagesIn.increment(by: records)
        t.bytesIn.increment(by: bytes)
    }

    /// A deleted topic's series go with it (a cluster that creates and deletes topics all day
    /// would otherwise keep a series for every name it ever had).
    public func forgetTopic(_ name: String) {
        guard let t = topics.withLockedValue({ $0.removeValue(forKey: name) }) else { return }
        t.messagesIn.destroy()
        t.bytesIn.destroy()
        t.bytesOut.destroy()
        bytesOutTotals.withLockedValue { $0[name] = nil }
    }

    /// Record bytes a consumer fetched.
    public func recordBytesOut(_ topic: String, _ n: Int) {
        bytesOut.increment(by: n)
        self.topic(topic).bytesOut.increment(by: n)
        bytesOutTotals.withLockedValue { $0[topic, default: 0] += n }
    }

    /// Record bytes consumers fetched from this broker since it started, by topic (the web
    /// console's chart).
    public var topicBytesOut: [String: Int] { bytesOutTotals.withLockedValue { $0 } }
    private let bytesOutTotals = NIOLockedValueBox([String: Int]())

    public func recordReplicationOut(_ n: Int) { replicationBytesOut.increment(by: n) }
    public func recordReplicationIn(_ n: Int) { replicationBytesIn.increment(by: n) }
    public func produceFailed() { failedProduce.increment() }
    public func fetchFailed() { failedFetch.increment() }
    public func authenticated(_ ok: Bool) { (ok ? authOk : authFailed).increment() }
    public func authorizationDenied() { denied.increment() }
    public func groupRebalanced() { rebalances.increment() }
    public func offsetsCommitted(_ n: Int) { offsetCommits.increment(by: n) }
    public func transactionEnded(committed: Bool) { (committed ? txnCommitted : txnAborted).increment() }
    public func recordRaftCommit(nanoseconds: Int64) { raftCommit.recordNanoseconds(nanoseconds) }

    func clusterEvent(_ kind: String) {
        switch kind {
        case "isr-shrink": isrShrinks.increment()
        case "isr-expand": isrExpands.increment()
        case "leader": elections.increment()
        default: break
        }
    }

    // MARK: - Readings taken when /metrics is read

    /// Sets a gauge family to exactly these samples: label sets not named are gone.
    public func setGauges(_ name: String, _ samples: [([(String, String)], Double)]) {
        snapshots.withLockedValue { $0[name] = samples }
    }

    /// Sets one unlabelled gauge.
    public func setGauge(_ name: String, _ value: Double) { setGauges(name, [([], value)]) }

    /// Brings a counter kept elsewhere (a connection tracker's, the kernel's CPU time) up to
    /// `total`: it grows by the difference since the last reading, and never goes back.
    public func advanceCounter<T: BinaryInteger>(_ name: String, _ labels: [(String, String)], to total: T) {
        advanceCounter(name, labels, to: Double(total))
    }

    public func advanceCounter(_ name: String, _ labels: [(String, String)], to total: Double) {
        let factory = self.factory
        let key = name + "\u{0}" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: "\u{0}")
        mirrored.withLockedValue { all in
            var entry =
                all[key]
                ?? (FloatingPointCounter(label: name, dimensions: labels, factory: factory), 0)
            if total > entry.1 {
                entry.0.increment(by: total - entry.1)
                entry.1 = total
            }
            all[key] = entry
        }
    }

    /// The Prometheus text exposition (0.0.4) of every family: families with no series yet
    /// (no topic, no group) still carry their HELP and TYPE lines, so a scraper sees every
    /// family from start-up.
    public func exposition() -> String {
        var text = registry.emitToString()
        var declared = Set<Substring>()
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            if let name = line.dropFirst(7).split(separator: " ").first { declared.insert(name) }
        }
        let gauges = snapshots.withLockedValue { $0 }
        for (name, samples) in gauges.sorted(by: { $0.key < $1.key }) where !samples.isEmpty {
            text.reserveCapacity(text.utf8.count + samples.count * (name.utf8.count + 40))
            text += "# HELP \(name) \(MetricCatalogue.help[name] ?? "")\n# TYPE \(name) gauge\n"
            for (labels, value) in samples { Self.appendSample(&text, name, labels, value) }
            declared.insert(Substring(name))
        }
        for family in MetricCatalogue.families where !declared.contains(Substring(family.name)) {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
        }
        return text
    }

    /// One sample line: `name{label="value",...} value`, label values escaped as the text format
    /// asks (backslash, double quote, line feed).
    static func appendSample(_ text: inout String, _ name: String, _ labels: [(String, String)], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (i, (key, raw)) in labels.enumerated() {
                if i > 0 { text += "," }
                text += key
                text += "=\""
                if raw.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) {
                    // By scalar: "\r\n" is one Character, and its line feed must be escaped too.
                    for c in raw.unicodeScalars {
                        switch c {
                        case "\\": text += "\\\\"
                        case "\"": text += "\\\""
                        case "\n": text += "\\n"
                        default: text.unicodeScalars.append(c)
                        }
                    }
                } else {
                    text += raw
                }
                text += "\""
            }
            text += "}"
        }
        text += " "
        if value.isNaN {
            text += "NaN"
        } else if value.isInfinite {
            text += value > 0 ? "+Inf" : "-Inf"
        } else {
            text += "\(value)"
        }
        text += "\n"
    }
}

/// A swift-metrics factory over one Prometheus registry that gives each family its help text
/// from `MetricCatalogue` (the stock factory writes none).
struct DescribedMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricCatalogue.help[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        if aggregate {
            return registry.makeValueHistogram(
                descriptor: descriptor(label), labels: dimensions, buckets: [1, 10, 100, 1000, 10000])
        }
        return registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: descriptor(label), labels: dimensions, buckets: BrokerMetrics.latencyBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
        if let h = handler as? ValueHistogram { registry.unregisterValueHistogram(h) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let h = handler as? DurationHistogram { registry.unregisterDurationHistogram(h) }
    }
}

/// Every family `/metrics` serves, with its type and help text.
public enum MetricCatalogue {
    public struct Family: Sendable {
        public let name: String
        public let type: String
        public let help: String
    }

    public static let families: [Family] = [
        // Requests and the network.
        .init(name: "tern_requests_total", type: "counter", help: "Requests answered, by API."),
        .init(
            name: "tern_request_latency_seconds", type: "histogram",
            help: "Time from a request's arrival to its answer, by API."),
        .init(name: "tern_request_bytes_total", type: "counter", help: "Bytes of request frames answered, by API."),
        .init(
            name: "tern_requests_in_flight", type: "gauge",
            help:
                "Requests read and not yet answered, parked fetches included (Kafka's RequestQueueSize plus purgatory)."
        ),
        .init(
            name: "tern_failed_requests_total", type: "counter",
            help: "Connections closed for a request that could not be read, authenticated or answered."),
        .init(name: "tern_connections", type: "gauge", help: "Open connections, by listener kind."),
        .init(
            name: "tern_fetch_sessions", type: "gauge",
            help: "Incremental fetch sessions (KIP-227) held, of max.incremental.fetch.session.cache.slots."),
        .init(
            name: "tern_fetch_session_partitions", type: "gauge", help: "Partitions held by all fetch sessions."),
        .init(
            name: "tern_connections_accepted_total", type: "counter", help: "Connections admitted, by listener kind."),
        .init(
            name: "tern_connections_rejected_total", type: "counter",
            help: "Connections refused by max.connections or max.connections.per.ip, by listener kind."),
        .init(name: "tern_authentication_successes_total", type: "counter", help: "SASL authentications that passed."),
        .init(name: "tern_authentication_failures_total", type: "counter", help: "SASL authentications that failed."),
        .init(
            name: "tern_authorization_denials_total", type: "counter",
            help: "Operations the ACL authorizer refused."),
        // Broker topic metrics.
        .init(
            name: "tern_messages_in_total", type: "counter",
            help: "Records produced by clients to partitions this broker leads (Kafka's MessagesInPerSec)."),
        .init(name: "tern_bytes_in_total", type: "counter", help: "Record bytes produced by clients (BytesInPerSec)."),
        .init(
            name: "tern_bytes_out_total", type: "counter", help: "Record bytes fetched by consumers (BytesOutPerSec)."),
        .init(name: "tern_topic_messages_in_total", type: "counter", help: "Records produced by clients, by topic."),
        .init(name: "tern_topic_bytes_in_total", type: "counter", help: "Record bytes produced by clients, by topic."),
        .init(
            name: "tern_topic_bytes_out_total", type: "counter", help: "Record bytes fetched by consumers, by topic."),
        .init(
            name: "tern_failed_produce_requests_total", type: "counter",
            help: "Produce requests with an error for at least one partition."),
        .init(
            name: "tern_failed_fetch_requests_total", type: "counter",
            help: "Fetch requests with an error for at least one partition."),
        .init(
            name: "tern_replication_bytes_out_total", type: "counter",
            help: "Record bytes followers fetched from this broker (ReplicationBytesOutPerSec)."),
        .init(
            name: "tern_replication_bytes_in_total", type: "counter",
            help: "Record bytes this broker's replica fetchers copied from leaders (ReplicationBytesInPerSec)."),
        // Replicas and partitions.
        .init(
            name: "tern_under_replicated_partitions", type: "gauge",
            help: "Partitions whose ISR is smaller than their replicas, cluster-wide."),
        .init(name: "tern_offline_partitions", type: "gauge", help: "Partitions without a live leader."),
        .init(
            name: "tern_under_min_isr_partitions", type: "gauge",
            help: "Partitions whose ISR is below min.insync.replicas (acks=all produce fails)."),
        .init(name: "tern_leader_count", type: "gauge", help: "Partitions this broker leads."),
        .init(name: "tern_partition_count", type: "gauge", help: "Partition replicas this broker holds."),
        .init(name: "tern_global_partition_count", type: "gauge", help: "Partitions in the cluster."),
        .init(name: "tern_global_topic_count", type: "gauge", help: "Topics in the cluster."),
        .init(
            name: "tern_isr_shrinks_total", type: "counter",
            help: "ISR shrinks seen in the metadata log since this node started."),
        .init(
            name: "tern_isr_expands_total", type: "counter",
            help: "ISR expansions seen in the metadata log since this node started."),
        .init(
            name: "tern_leader_elections_total", type: "counter",
            help: "Partition leader changes seen since this node started."),
        .init(
            name: "tern_replica_max_lag", type: "gauge",
            help: "Most records any follower is behind, over the partitions this broker leads."),
        .init(name: "tern_log_size_bytes", type: "gauge", help: "Bytes in a partition's segments on this broker."),
        .init(name: "tern_log_end_offset", type: "gauge", help: "A partition's log end offset on this broker."),
        .init(name: "tern_log_start_offset", type: "gauge", help: "A partition's log start offset on this broker."),
        .init(name: "tern_high_watermark", type: "gauge", help: "A partition's high watermark on this broker."),
        // Controller and quorum.
        .init(name: "tern_active_controller", type: "gauge", help: "1 when this node is the active controller."),
        .init(name: "tern_controller_id", type: "gauge", help: "The active controller's node id; -1 without one."),
        .init(name: "tern_raft_epoch", type: "gauge", help: "The metadata quorum's epoch."),
        .init(name: "tern_raft_high_watermark", type: "gauge", help: "Committed offset of the metadata log."),
        .init(
            name: "tern_metadata_applied_offset", type: "gauge",
            help: "Offset up to which this node applied the metadata log."),
        .init(
            name: "tern_raft_commit_latency_seconds", type: "histogram",
            help: "Time from proposing metadata records to their commit, on the active controller."),
        .init(name: "tern_brokers", type: "gauge", help: "Registered brokers by state."),
        // Groups and transactions.
        .init(
            name: "tern_consumer_group_lag", type: "gauge",
            help: "High watermark minus committed offset, for groups this node coordinates."),
        .init(name: "tern_consumer_groups", type: "gauge", help: "Groups this node coordinates, by state."),
        .init(name: "tern_consumer_group_members", type: "gauge", help: "Members of the groups this node coordinates."),
        .init(name: "tern_group_rebalances_total", type: "counter", help: "Rebalances completed by this coordinator."),
        .init(
            name: "tern_offset_commits_total", type: "counter", help: "Partition offsets committed to this coordinator."
        ),
        .init(
            name: "tern_transactions", type: "gauge", help: "Transactional ids this node coordinates, by state."),
        .init(
            name: "tern_transactions_committed_total", type: "counter", help: "Transactions this coordinator committed."
        ),
        .init(name: "tern_transactions_aborted_total", type: "counter", help: "Transactions this coordinator aborted."),
        // The process.
        .init(name: "process_cpu_seconds_total", type: "counter", help: "User and system CPU time spent, in seconds."),
        .init(name: "process_resident_memory_bytes", type: "gauge", help: "Resident memory size in bytes."),
        .init(name: "process_virtual_memory_bytes", type: "gauge", help: "Virtual memory size in bytes."),
        .init(name: "process_open_fds", type: "gauge", help: "Open file descriptors."),
        .init(name: "process_max_fds", type: "gauge", help: "The limit on open file descriptors."),
        .init(name: "process_start_time_seconds", type: "gauge", help: "Start time of the process, in Unix seconds."),
        .init(name: "tern_build_info", type: "gauge", help: "1, labelled with the node's id and cluster id."),
    ]

    public static let help: [String: String] = Dictionary(
        families.map { ($0.name, $0.help) }, uniquingKeysWith: { a, _ in a })
}
