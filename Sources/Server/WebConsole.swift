import Broker
import KafkaClient
import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Storage

/// JSON text, written by hand (the payloads are small and flat); the tools use it too.
public enum JSON {
    /// A JSON string literal.
    public static func string(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 {
                    let hex = String(c.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
    static func ints<T: BinaryInteger>(_ xs: [T]) -> String { "[" + xs.map { "\($0)" }.joined(separator: ",") + "]" }
    static func optional<T: BinaryInteger>(_ x: T?) -> String { x.map { "\($0)" } ?? "null" }
}

/// What the web console and `/metrics` show, read from this node's broker and quorum member.
final class ConsoleModel: Sendable {
    let broker: Broker
    let quorum: QuorumController
    /// Each listener kind's connection tracker, for the connection metrics.
    let connections: [(String, ConnectionTracker)]
    /// The message browser and produce form.
    let messages: ConsoleMessages
    /// Every group in the cluster, from each coordinator.
    let allGroups: ConsoleGroups
    /// Every replica's size, from each broker.
    let replicas: ConsoleReplicas
    /// Every transactional id, from its coordinator.
    let allTransactions: ConsoleTransactions
    /// Each node's silence on the metadata log, from the quorum leader.
    private let silence: CachedReading<[Int32: Int64]>
    /// The whole state, shared by every stream for 400 ms.
    private let sharedState = NIOLockedValueBox<(atMs: Int64, json: String?)>((0, nil))
    /// Host names a browser may reach the console by (DNS rebinding: a page of another site
    /// whose name resolves here would otherwise read records through the visitor's browser).
    let allowedHosts: Set<String>
    /// Whether the page lists the ACLs themselves (the console listens on loopback only).
    let listAcls: Bool
    /// The ACL listing of the image at this metadata offset.
    private let aclListing = NIOLockedValueBox<(offset: Int64, json: String?)>((-2, nil))

    init(
        broker: Broker, quorum: QuorumController, connections: [(String, ConnectionTracker)] = [],
        messagesRefusal: String? = nil, allowedHosts: Set<String> = ["localhost"], listAcls: Bool = true
    ) {
        self.broker = broker
        self.quorum = quorum
        self.connections = connections
        messages = ConsoleMessages(broker: broker, refusal: messagesRefusal)
        allGroups = ConsoleGroups(broker: broker)
        replicas = ConsoleReplicas(broker: broker)
        allTransactions = ConsoleTransactions(broker: broker)
        silence = CachedReading(clock: broker.clock, refreshMs: 400)
        self.allowedHosts = allowedHosts
        self.listAcls = listAcls
    }

    private var image: MetadataImage { broker.registry.image }

    private func partitionCounts(_ image: MetadataImage) -> (total: Int, underReplicated: Int, offline: Int) {
        var total = 0
        var under = 0
        var offline = 0
        for t in image.topics.values {
            for p in t.partitions.values {
                total += 1
                if p.isr.count < p.replicas.count { under += 1 }
                if p.leader < 0 || image.brokers[p.leader]?.fenced != false { offline += 1 }
            }
        }
        return (total, under, offline)
    }

    /// A broker whose last fetch of the metadata log is older than this, and which the
    /// controller has not fenced yet, shows as "missed heartbeats" (voters and observers fetch
    /// at least every ~300 ms; fencing comes after the 9 s session timeout).
    static let silentAfterMs: Int64 = 2_000

    /// How long each node has not fetched the metadata log, as the quorum's leader saw it
    /// (DescribeQuorum; measured against the leader's own last entry, so the nodes' clocks need
    /// not agree), read at most every 400 ms whatever the number of pages; empty when the
    /// leader does not answer.
    func lastFetches(on loop: any EventLoop) -> EventLoopFuture<[Int32: Int64]> {
        loop.makeSucceededFuture(silence.current { await self.readSilence() } ?? [:])
    }

    private func readSilence() async -> [Int32: Int64]? {
        guard let describe = broker.describeQuorum.withLockedValue({ $0 }) else { return nil }
        guard let response = try? await describe().get() else { return [:] }
        var seen: [Int32: Int64] = [:]
        for p in response.topics.flatMap(\.partitions) where p.errorCode == 0 {
            for r in p.currentVoters + p.observers where r.lastFetchTimestamp >= 0 {
                seen[r.replicaId] = max(seen[r.replicaId] ?? 0, r.lastFetchTimestamp)
            }
        }
        let leaderNow = seen.values.max() ?? 0
        return seen.mapValues { max(0, leaderNow - $0) }
    }

    func clusterJSON(on loop: any EventLoop) -> EventLoopFuture<String> {
        lastFetches(on: loop).map { self.cluster(lastFetch: $0) }
    }

    func cluster(lastFetch silence: [Int32: Int64] = [:]) -> String {
        let image = self.image
        let counts = partitionCounts(image)
        let raft = quorum.raftState
        let brokers = image.brokers.values.sorted { $0.id < $1.id }.map { b in
            // Only a silence worth showing, in half seconds (the stream sends on change).
            let silentMs = silence[b.id].flatMap { $0 > Self.silentAfterMs ? $0 / 500 * 500 : nil }
            let state = b.fenced ? "fenced" : silentMs != nil ? "missed heartbeats" : "up"
            return JSON.object([
                ("id", "\(b.id)"), ("host", JSON.string(b.host)), ("port", "\(b.port)"),
                ("state", JSON.string(state)), ("epoch", "\(b.epoch)"), ("silentMs", JSON.optional(silentMs)),
            ])
        }
        return JSON.object([
            ("clusterId", JSON.string(broker.clusterId)), ("node", "\(broker.config.nodeId)"),
            ("controller", JSON.optional(quorum.leaderId)), ("controllerEpoch", "\(raft.epoch)"),
            ("metadataOffset", "\(quorum.appliedOffsetSnapshot)"), ("brokers", JSON.array(brokers)),
            ("partitions", "\(counts.total)"), ("underReplicated", "\(counts.underReplicated)"),
            ("offline", "\(counts.offline)"),
        ])
    }

    /// Every partition; each replica's size and lag from every live broker (`replicas`, read now
    /// and then), offsets where this node holds a replica.
    func topics() -> String {
        let image = self.image
        let replicas = self.replicas.current()
        return JSON.array(
            image.topics.values.sorted { $0.name < $1.name }.map { t in
                let minInsync =
                    t.configs["min.insync.replicas"].flatMap { Int($0) } ?? Int(broker.config.minInsyncReplicas)
                let parts = t.partitions.sorted { $0.key < $1.key }.map { index, p -> String in
                    let state = broker.registry.partition(t.name, index)
                    let local = state?.log
                    let copies = replicas[t.name]?[index] ?? [:]
                    let replicaJSON = copies.sorted { $0.key < $1.key }.map { id, r in
                        JSON.object([
                            ("broker", "\(id)"), ("sizeBytes", "\(r.sizeBytes)"), ("offsetLag", "\(r.offsetLag)"),
                        ])
                    }
                    // Lags are known where this node leads; elsewhere the page says less.
                    let lags = state?.followerLags
                    let why = PartitionHealth.explain(
                        .init(
                            leader: p.leader, replicas: p.replicas, isr: p.isr, live: Set(image.liveBrokers),
                            lag: lags ?? [:], lagKnown: lags != nil, minInsync: minInsync))
                    return JSON.object([
                        ("partition", "\(index)"), ("leader", "\(p.leader)"), ("leaderEpoch", "\(p.leaderEpoch)"),
                        ("replicas", JSON.ints(p.replicas)), ("isr", JSON.ints(p.isr)),
                        ("outOfSync", JSON.ints(p.replicas.filter { !p.isr.contains($0) })),
                        ("logEndOffset", JSON.optional(local?.logEndOffset)),
                        ("highWatermark", JSON.optional(local?.highWatermark)),
                        ("lastStableOffset", JSON.optional(local?.lastStableOffset)),
                        ("openTransactions", JSON.optional(local?.ongoingTransactions.count)),
                        ("logStartOffset", JSON.optional(local?.logStartOffset)),
                        (
                            "sizeBytes",
                            JSON.optional(local.map { Int64($0.sizeInBytes) } ?? copies[p.leader]?.sizeBytes)
                        ),
                        ("replicaSizes", JSON.array(replicaJSON)),
                        ("why", why.map(JSON.string) ?? "null"),
                    ])
                }
                return JSON.object([
                    ("name", JSON.string(t.name)), ("id", JSON.string(t.id.description)),
                    ("internal", t.name.hasPrefix("__") ? "true" : "false"), ("partitions", JSON.array(parts)),
                ])
            })
    }

    func events(after: Int = 0) -> String {
        JSON.array(
            broker.events.all.filter { $0.sequence > after }.map { e in
                JSON.object([
                    ("seq", "\(e.sequence)"), ("timeMs", "\(e.timeMs)"), ("kind", JSON.string(e.kind)),
                    ("text", JSON.string(e.text)), ("replayed", e.replayed ? "true" : "false"),
                ])
            })
    }

    /// Groups this node coordinates, with committed offsets and lag where this node holds the
    /// partition (lag = high watermark - committed offset).
    func groups(on loop: any EventLoop) -> EventLoopFuture<[(GroupCoordinator.GroupOffsets, [Int64?])]> {
        guard let f = broker.groupOffsets() else { return loop.makeSucceededFuture([]) }
        return f.hop(to: loop).map { groups in
            groups.map { g in
                (
                    g,
                    g.offsets.map { o in
                        self.broker.registry.partition(o.topic, o.partition).map { $0.log.highWatermark }
                    }
                )
            }
        }
    }

    func groupsJSON(on loop: any EventLoop) -> EventLoopFuture<String> {
        groups(on: loop).map { groups in
            JSON.array(
                groups.map { g, ends in
                    JSON.object([
                        ("id", JSON.string(g.id)), ("state", JSON.string(g.state)), ("members", "\(g.members)"),
                        (
                            "partitions",
                            JSON.array(
                                zip(g.offsets, ends).map { o, end in
                                    JSON.object([
                                        ("topic", JSON.string(o.topic)), ("partition", "\(o.partition)"),
                                        ("committed", "\(o.offset)"), ("highWatermark", JSON.optional(end)),
                                        ("lag", JSON.optional(end.map { Self.lag(end: $0, committed: o.offset) })),
                                    ])
                                })
                        ),
                    ])
                })
        }
    }

    /// Transactional ids this node coordinates: state, producer, partitions, time open.
    func transactionsJSON(on loop: any EventLoop) -> EventLoopFuture<String> {
        guard let f = broker.transactionsSnapshot() else { return loop.makeSucceededFuture("[]") }
        let now = broker.clock.wallMs
        return f.hop(to: loop).map { txns in
            JSON.array(
                txns.map { t in
                    JSON.object([
                        ("id", JSON.string(t.id)), ("state", JSON.string(t.state)), ("producerId", "\(t.producerId)"),
                        ("producerEpoch", "\(t.producerEpoch)"),
                        ("partitions", JSON.array(t.partitions.map(JSON.string))),
                        ("openMs", t.state == "Ongoing" && t.startMs >= 0 ? "\(max(0, now - t.startMs))" : "null"),
                    ])
                })
        }
    }

    func state(on loop: any EventLoop) -> EventLoopFuture<String> {
        stateAndSeen(on: loop).map(\.0)
    }

    /// The state for the streams: built at most every 400 ms however many pages follow it.
    func streamedState(on loop: any EventLoop) -> EventLoopFuture<String> {
        let now = broker.clock.monotonicMs
        if let json = sharedState.withLockedValue({ now - $0.atMs < 400 ? $0.json : nil }) {
            return loop.makeSucceededFuture(json)
        }
        return state(on: loop).map { json in
            self.sharedState.withLockedValue { $0 = (now, json) }
            return json
        }
    }

    /// Whether a request's Host header names this console: an address, localhost, or one of
    /// the node's own names.
    func hostAllowed(_ header: String?) -> Bool {
        guard var host = header?.lowercased(), !host.isEmpty else { return false }
        if host.hasPrefix("[") { return true }  // an IPv6 literal
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host.allSatisfy({ $0.isNumber || $0 == "." }) { return true }  // an IPv4 literal
        return allowedHosts.contains(host)
    }

    /// The page with its first render and the state it started from.
    func page(on loop: any EventLoop) -> EventLoopFuture<String> {
        stateAndSeen(on: loop).map { state, seen in
            ConsolePage.html(state: state, summary: self.summary(lastFetch: seen))
        }
    }

    func summary(lastFetch silence: [Int32: Int64]) -> ConsolePage.Summary {
        let image = self.image
        let counts = partitionCounts(image)
        let leader = quorum.leaderId
        return ConsolePage.Summary(
            clusterId: broker.clusterId, node: broker.config.nodeId,
            controller: leader.map { "node \($0), epoch \(quorum.raftState.epoch)" } ?? "none",
            underReplicated: counts.underReplicated, offline: counts.offline,
            brokers: image.brokers.values.sorted { $0.id < $1.id }.map { b in
                let silent = (silence[b.id] ?? 0) > Self.silentAfterMs
                return (
                    b.id, "\(b.host):\(b.port)", b.fenced ? "fenced" : silent ? "missed heartbeats" : "up",
                    Int64(b.epoch)
                )
            },
            topics: image.topics.values.filter { !$0.name.hasPrefix("__") }.sorted { $0.name < $1.name }.map { t in
                (t.name, t.partitions.count, t.partitions.values.filter { $0.isr.count < $0.replicas.count }.count)
            })
    }

    private func stateAndSeen(on loop: any EventLoop) -> EventLoopFuture<(String, [Int32: Int64])> {
        // Every group from its coordinator; this node's own until the first cluster-wide reading.
        let everyGroup = allGroups.current()
        let groupsJSON = everyGroup.map { loop.makeSucceededFuture($0) } ?? self.groupsJSON(on: loop)
        let everyTransaction = allTransactions.current()
        let txnsJSON = everyTransaction.map { loop.makeSucceededFuture($0) } ?? transactionsJSON(on: loop)
        return groupsJSON.and(txnsJSON).and(lastFetches(on: loop)).map { both, seen in
            let (groups, txns) = both
            let bytesOut = self.broker.metrics.topicBytesOut.sorted { $0.key < $1.key }.map {
                (JSON.string($0.key), "\($0.value)")
            }
            let state = JSON.object([
                ("cluster", self.cluster(lastFetch: seen)), ("topics", self.topics()), ("groups", groups),
                ("groupsScope", JSON.string(everyGroup == nil ? "(coordinated by this node)" : "(every coordinator)")),
                ("transactions", txns),
                (
                    "transactionsScope",
                    JSON.string(everyTransaction == nil ? "(coordinated by this node)" : "(every coordinator)")
                ),
                ("acls", self.aclsJSON()),
                (
                    "messages",
                    JSON.object([
                        ("enabled", self.messages.refusal == nil ? "true" : "false"),
                        ("why", self.messages.refusal.map(JSON.string) ?? "null"),
                    ])
                ),
                ("bytesOut", "{" + bytesOut.map { "\($0.0):\($0.1)" }.joined(separator: ",") + "}"),
                ("events", self.events()),
            ])
            return (state, seen)
        }
    }

    /// Prometheus text exposition (version 0.0.4): the broker's counters and histograms, and
    /// gauges read now from the image, the partitions, the groups and the process.
    func metrics(on loop: any EventLoop) -> EventLoopFuture<String> {
        groups(on: loop).and(transactionsSnapshot(on: loop)).map { groups, txns in
            let m = self.broker.metrics
            let image = self.image
            let node = self.broker.config.nodeId
            let counts = self.partitionCounts(image)
            m.setGauge("tern_under_replicated_partitions", Double(counts.underReplicated))
            m.setGauge("tern_offline_partitions", Double(counts.offline))
            var underMinIsr = 0
            var leaders = 0
            for t in image.topics.values {
                let minIsr =
                    t.configs["min.insync.replicas"].flatMap { Int($0) } ?? Int(self.broker.config.minInsyncReplicas)
                for p in t.partitions.values {
                    if p.isr.count < minIsr { underMinIsr += 1 }
                    if p.leader == node { leaders += 1 }
                }
            }
            m.setGauge("tern_under_min_isr_partitions", Double(underMinIsr))
            m.setGauge("tern_leader_count", Double(leaders))
            m.setGauge("tern_global_partition_count", Double(counts.total))
            m.setGauge("tern_global_topic_count", Double(image.topics.count))
            let leader = self.quorum.leaderId
            let raft = self.quorum.raftState
            m.setGauge("tern_active_controller", leader == node ? 1 : 0)
            m.setGauge("tern_controller_id", Double(leader ?? -1))
            m.setGauge("tern_raft_epoch", Double(raft.epoch))
            m.setGauge("tern_raft_high_watermark", Double(raft.highWatermark))
            m.setGauge("tern_metadata_applied_offset", Double(self.quorum.appliedOffsetSnapshot))
            let up = image.brokers.values.filter { !$0.fenced }.count
            m.setGauges(
                "tern_brokers",
                [([("state", "up")], Double(up)), ([("state", "fenced")], Double(image.brokers.count - up))])
            m.setGauges(
                "tern_build_info", [([("node", "\(node)"), ("cluster_id", self.broker.clusterId)], 1)])

            // This broker's replicas.
            let local = self.broker.registry.all().sorted { ($0.topic, $0.index) < ($1.topic, $1.index) }
            m.setGauge("tern_partition_count", Double(local.count))
            var sizes: [([(String, String)], Double)] = []
            var ends: [([(String, String)], Double)] = []
            var starts: [([(String, String)], Double)] = []
            var watermarks: [([(String, String)], Double)] = []
            var maxLag: Int64 = 0
            for p in local {
                let l = [("topic", p.topic), ("partition", "\(p.index)")]
                sizes.append((l, Double(p.log.sizeInBytes)))
                ends.append((l, Double(p.log.logEndOffset)))
                starts.append((l, Double(p.log.logStartOffset)))
                watermarks.append((l, Double(p.log.highWatermark)))
                if let lags = p.followerLags { maxLag = max(maxLag, lags.values.max() ?? 0) }
            }
            m.setGauges("tern_log_size_bytes", sizes)
            m.setGauges("tern_log_end_offset", ends)
            m.setGauges("tern_log_start_offset", starts)
            m.setGauges("tern_high_watermark", watermarks)
            m.setGauge("tern_replica_max_lag", Double(maxLag))

            // Groups and transactions this node coordinates.
            var lag: [([(String, String)], Double)] = []
            var byState: [String: Int] = [:]
            var members: [([(String, String)], Double)] = []
            // Group ids and their partitions are the clients' choice: the per-group series are
            // bounded (every group still counts in tern_consumer_groups).
            for (i, (g, ends)) in groups.enumerated() {
                byState[g.state, default: 0] += 1
                guard i < Self.maxGroupSeries else { continue }
                members.append(([("group", g.id)], Double(g.members)))
                for (o, end) in zip(g.offsets, ends) where lag.count < Self.maxLagSeries {
                    guard let end else { continue }
                    lag.append(
                        (
                            [("group", g.id), ("topic", o.topic), ("partition", "\(o.partition)")],
                            Double(Self.lag(end: end, committed: o.offset))
                        ))
                }
            }
            m.setGauges("tern_consumer_group_lag", lag)
            m.setGauges("tern_consumer_group_members", members)
            m.setGauges(
                "tern_consumer_groups",
                Self.groupStates.map { ([("state", $0)], Double(byState[$0, default: 0])) })
            var txnStates: [String: Int] = [:]
            for t in txns { txnStates[t.state, default: 0] += 1 }
            m.setGauges(
                "tern_transactions",
                Self.transactionStates.map { ([("state", $0)], Double(txnStates[$0, default: 0])) })

            // Connections, by listener kind.
            var open: [([(String, String)], Double)] = []
            for (name, tracker) in self.connections {
                let c = tracker.counts
                open.append(([("listener", name)], Double(c.open)))
                m.advanceCounter("tern_connections_accepted_total", [("listener", name)], to: c.accepted)
                m.advanceCounter("tern_connections_rejected_total", [("listener", name)], to: c.rejected)
            }
            m.setGauges("tern_connections", open)
            let sessions = self.broker.fetchSessionCounts
            m.setGauge("tern_fetch_sessions", Double(sessions.sessions))
            m.setGauge("tern_fetch_session_partitions", Double(sessions.partitions))

            // The process, from /proc.
            let process = ProcessStats.read()
            m.advanceCounter("process_cpu_seconds_total", [], to: process.cpuSeconds)
            m.setGauge("process_resident_memory_bytes", process.residentBytes)
            m.setGauge("process_virtual_memory_bytes", process.virtualBytes)
            m.setGauge("process_open_fds", process.openFds)
            m.setGauge("process_max_fds", process.maxFds)
            m.setGauge("process_start_time_seconds", process.startTimeSeconds)
            return m.exposition()
        }
    }

    /// High watermark minus a committed offset, never below zero; a client may commit any
    /// offset (Int64.min included), so the difference saturates instead of trapping.
    static func lag(end: Int64, committed: Int64) -> Int64 {
        let (d, overflow) = end.subtractingReportingOverflow(committed)
        return overflow ? (committed < 0 ? Int64.max : 0) : max(0, d)
    }

    /// ACLs the page lists (of up to `AclIndex.maxCount`); the count says how many there are.
    static let maxAclsShown = 500

    /// The ACLs' principals and resources are listed only when the console listens on loopback
    /// (a page the machine's own users reach); elsewhere the page has no login, so it shows how
    /// many there are and says how to see them.
    func aclsJSON() -> String {
        let acls = image.acls
        guard listAcls else {
            return JSON.object([
                ("total", "\(acls.count)"), ("shown", "[]"),
                (
                    "hidden",
                    JSON.string(
                        "listed only when the console listens on loopback (http.listeners=HTTP://localhost:port); kafka-acls.sh --list shows them"
                    )
                ),
            ])
        }
        // Sorted once per metadata image, not on every state (up to 100,000 ACLs).
        let offset = image.offset
        if let cached = aclListing.withLockedValue({ $0.offset == offset ? $0.json : nil }) { return cached }
        let shown = acls.all.sorted(by: AclEntry.inOrder).prefix(Self.maxAclsShown).map { a in
            JSON.object([
                ("resourceType", JSON.string(AclResourceType(rawValue: a.resourceType)?.kafkaName ?? "UNKNOWN")),
                ("name", JSON.string(a.resourceName)),
                ("pattern", JSON.string(AclPatternType(rawValue: a.patternType)?.kafkaName ?? "UNKNOWN")),
                ("principal", JSON.string(a.principal)), ("host", JSON.string(a.host)),
                ("operation", JSON.string(AclOperation(rawValue: a.operation)?.kafkaName ?? "UNKNOWN")),
                ("permission", JSON.string(AclPermission(rawValue: a.permissionType)?.kafkaName ?? "UNKNOWN")),
            ])
        }
        let json = JSON.object([("total", "\(acls.count)"), ("shown", JSON.array(shown))])
        aclListing.withLockedValue { $0 = (offset, json) }
        return json
    }

    static let maxGroupSeries = 1_000
    static let maxLagSeries = 10_000

    static let groupStates = ["Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"]
    static let transactionStates = [
        "Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead",
        "PrepareEpochFence",
    ]

    private func transactionsSnapshot(on loop: any EventLoop) -> EventLoopFuture<[TransactionCoordinator.Summary]> {
        guard let f = broker.transactionsSnapshot() else { return loop.makeSucceededFuture([]) }
        return f.hop(to: loop)
    }
}

/// Serves the web console (`/`), its JSON (`/api/cluster`, `/api/topics`, `/api/groups`,
/// `/api/events`), a Server-Sent Events stream of the whole state every second
/// (`/api/stream`), and Prometheus metrics (`/metrics`).
final class ConsoleHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let model: ConsoleModel
    private var path = "/"
    private var query: [String: String] = [:]
    private var method = HTTPMethod.GET
    private var fromPage = false
    private var hostAllowed = false
    private var acceptBody = false
    private var body = ByteBuffer()
    private var bodyTooLarge = false
    private var keepAlive = false
    private var stream: RepeatedTask?
    /// The most a request body may carry (the produce form's record and its fields).
    static let maxBody = ConsoleMessages.maxProduceBytes * 4

    init(model: ConsoleModel) { self.model = model }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            path = String(parts.first ?? "/")
            query = parts.count > 1 ? FormDecoding.decode(parts[1]) : [:]
            method = head.method
            // Only the page's own script sets this header; a form on another site cannot (the
            // browser would ask first), so another site cannot make a visitor's browser produce.
            fromPage = head.headers["X-Tern-Console"].first == "1"
            hostAllowed = model.hostAllowed(head.headers["Host"].first)
            keepAlive = head.isKeepAlive
            body = ByteBuffer()
            bodyTooLarge = false
            // A body is kept only for a produce from the page; any other is dropped as it comes.
            acceptBody = method == .POST && path == "/api/produce" && hostAllowed && fromPage
        case .body(var chunk):
            guard acceptBody else { break }
            if body.readableBytes + chunk.readableBytes > Self.maxBody {
                bodyTooLarge = true
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            route(context)
        }
    }

    private func route(_ context: ChannelHandlerContext) {
        let loop = context.eventLoop
        // Only by a name of this node (an address, localhost, its own host names): a page of
        // another site whose name an attacker's DNS points here cannot read the console through
        // a visitor's browser. /metrics stays open to scrapers by any name.
        guard hostAllowed || path == "/metrics" else {
            return sendError(context, 403, "the Host header does not name this node")
        }
        if path == "/api/messages" || path == "/api/produce" {
            // Records leave and enter only for the page's own script (a page of another site
            // cannot set this header without asking first, and is not asked).
            guard fromPage else {
                return sendError(context, 403, "\(path) answers the console page only (X-Tern-Console: 1)")
            }
        }
        switch path {
        case "/api/messages":
            let messages = model.messages
            let query = self.query
            answer(context) { try await messages.browse(ConsoleMessages.Query(query)) }
            return
        case "/api/produce":
            guard method == .POST else { return sendError(context, 405, "POST a form to /api/produce") }
            guard !bodyTooLarge else {
                return sendError(context, 413, "the form is larger than \(Self.maxBody) bytes")
            }
            let form = FormDecoding.decode(Substring(String(buffer: body)))
            let messages = model.messages
            answer(context) { try await messages.produce(form) }
            return
        default: break
        }
        switch path {
        case "/", "/index.html": reply(context, model.page(on: loop), "text/html; charset=utf-8")
        case "/api/cluster": reply(context, model.clusterJSON(on: loop), "application/json")
        case "/api/topics": send(context, 200, "application/json", model.topics())
        case "/api/events": send(context, 200, "application/json", model.events())
        case "/api/groups": reply(context, model.groupsJSON(on: loop), "application/json")
        case "/api/state": reply(context, model.state(on: loop), "application/json")
        case "/metrics": reply(context, model.metrics(on: loop), "text/plain; version=0.0.4; charset=utf-8")
        case "/api/stream": startStream(context)
        default: send(context, 404, "text/plain", "not found: \(path)\n")
        }
    }

    /// Answers with `work`'s JSON, or its failure's status and message (as JSON `{"error": ...}`).
    private func answer(_ context: ChannelHandlerContext, _ work: @escaping @Sendable () async throws -> String) {
        let promise = context.eventLoop.makePromise(of: (Int, String).self)
        promise.completeWithTask {
            do {
                return (200, try await work())
            } catch let f as ConsoleMessages.Failure {
                return (f.status, JSON.object([("error", JSON.string(f.message))]))
            } catch {
                return (502, JSON.object([("error", JSON.string(KafkaClientError.reason(error)))]))
            }
        }
        promise.futureResult.assumeIsolated().whenSuccess { [self] status, text in
            send(context, status, "application/json", text)
        }
    }

    private func reply(_ context: ChannelHandlerContext, _ body: EventLoopFuture<String>, _ type: String) {
        body.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let text): send(context, 200, type, text)
            case .failure(let e): send(context, 500, "text/plain", "\(e)\n")
            }
        }
    }

    /// An error as JSON (`{"error": ...}`), which the page shows.
    private func sendError(_ context: ChannelHandlerContext, _ status: Int, _ message: String) {
        send(context, status, "application/json", JSON.object([("error", JSON.string(message))]))
    }

    private func send(_ context: ChannelHandlerContext, _ status: Int, _ type: String, _ body: String) {
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(buffer.readableBytes)")
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "Content-Security-Policy", value: "frame-ancestors 'none'")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let keep = keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keep { context.close(promise: nil) }
        }
    }

    /// Server-Sent Events: the whole state now, then again every second while it changes (and
    /// at least every 15 s, as a keep-alive).
    private func startStream(_ context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-store")
        context.writeAndFlush(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        let model = self.model
        let channel = context.channel
        let last = NIOLockedValueBox(("", 0))
        let push: @Sendable () -> Void = {
            // A page that does not read its stream gets nothing more until it does.
            guard channel.isWritable else { return }
            model.streamedState(on: channel.eventLoop).whenSuccess { json in
                let (previous, quiet) = last.withLockedValue { $0 }
                guard json != previous || quiet >= 15 else {
                    last.withLockedValue { $0.1 += 1 }
                    return
                }
                last.withLockedValue { $0 = (json, 0) }
                var b = channel.allocator.buffer(capacity: json.utf8.count + 8)
                b.writeString("data: \(json)\n\n")
                channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(b)), promise: nil)
            }
        }
        push()
        stream = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(500), delay: .milliseconds(500)) {
            _ in
            push()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            stream?.cancel()
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stream?.cancel()
        stream = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        stream?.cancel()
        context.close(promise: nil)
    }
}

enum WebConsole {
    /// Console connections open at once; more are closed as they come.
    static let maxConnections = 64

    static func bind(group: any EventLoopGroup, host: String, port: Int, model: ConsoleModel) throws -> any Channel {
        let open = NIOLockedValueBox(0)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let admitted = open.withLockedValue { n -> Bool in
                    guard n < maxConnections else { return false }
                    n += 1
                    return true
                }
                guard admitted else { return channel.close() }
                channel.closeFuture.whenComplete { _ in open.withLockedValue { $0 -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    // A connection that neither sends nor receives for a minute is closed (a stream
                    // is written at least every ~8 s, so only a stalled one goes).
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .seconds(60)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ConsoleHTTPHandler(model: model))
                }
            }
        return try ListenError.naming(host: host, port: port) { try bootstrap.bind(host: host, port: port).wait() }
    }
}
