import Broker
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

    init(broker: Broker, quorum: QuorumController) {
        self.broker = broker
        self.quorum = quorum
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

    func cluster() -> String {
        let image = self.image
        let counts = partitionCounts(image)
        let raft = quorum.raftState
        let brokers = image.brokers.values.sorted { $0.id < $1.id }.map { b in
            JSON.object([
                ("id", "\(b.id)"), ("host", JSON.string(b.host)), ("port", "\(b.port)"),
                ("state", JSON.string(b.fenced ? "fenced" : "up")), ("epoch", "\(b.epoch)"),
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

    func topics() -> String {
        let image = self.image
        return JSON.array(
            image.topics.values.sorted { $0.name < $1.name }.map { t in
                let minInsync =
                    t.configs["min.insync.replicas"].flatMap { Int($0) } ?? Int(broker.config.minInsyncReplicas)
                let parts = t.partitions.sorted { $0.key < $1.key }.map { index, p -> String in
                    let state = broker.registry.partition(t.name, index)
                    let local = state?.log
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
                        ("sizeBytes", JSON.optional(local?.sizeInBytes)),
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
                    ("text", JSON.string(e.text)),
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
                                        ("lag", JSON.optional(end.map { max(0, $0 - o.offset) })),
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
        groupsJSON(on: loop).and(transactionsJSON(on: loop)).map { groups, txns in
            JSON.object([
                ("cluster", self.cluster()), ("topics", self.topics()), ("groups", groups), ("transactions", txns),
                ("events", self.events()),
            ])
        }
    }

    /// Prometheus text exposition (version 0.0.4).
    func metrics(on loop: any EventLoop) -> EventLoopFuture<String> {
        groups(on: loop).map { groups in
            var out = ""
            func family(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
                out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
                for (labels, value) in samples { out += "\(name)\(labels) \(value)\n" }
            }
            func labels(_ pairs: [(String, String)]) -> String {
                "{" + pairs.map { "\($0.0)=\(JSON.string($0.1))" }.joined(separator: ",") + "}"
            }
            func histogram(_ name: String, _ help: String, _ label: String, _ series: [(String, BrokerMetrics.Latency)])
            {
                out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
                for (value, l) in series {
                    var cumulative = 0
                    for (i, bound) in BrokerMetrics.latencyBuckets.enumerated() {
                        cumulative += l.buckets[i]
                        out += "\(name)_bucket\(labels([(label, value), ("le", "\(bound)")])) \(cumulative)\n"
                    }
                    out += "\(name)_bucket\(labels([(label, value), ("le", "+Inf")])) \(l.count)\n"
                    out += "\(name)_sum\(labels([(label, value)])) \(l.sumSeconds)\n"
                    out += "\(name)_count\(labels([(label, value)])) \(l.count)\n"
                }
            }
            let latencies = self.broker.metrics.requestLatencies.sorted { $0.key < $1.key }
            histogram(
                "tern_request_latency_seconds", "Time from a request's arrival to its answer, by API.", "api",
                latencies.map { ($0.key, $0.value) })
            histogram(
                "tern_raft_commit_latency_seconds",
                "Time from proposing metadata records to their commit, on the active controller.", "log",
                self.quorum.commitLatency.requestLatencies.map { ($0.key, $0.value) })
            family(
                "tern_requests_total", "counter", "Requests answered, by API.",
                latencies.map { (labels([("api", $0.key)]), "\($0.value.count)") })
            let bytes = self.broker.metrics.topicBytes
            family(
                "tern_topic_bytes_in_total", "counter", "Record bytes produced to partitions this broker leads.",
                bytes.into.sorted { $0.key < $1.key }.map { (labels([("topic", $0.key)]), "\($0.value)") })
            family(
                "tern_topic_bytes_out_total", "counter", "Record bytes fetched by consumers from this broker.",
                bytes.out.sorted { $0.key < $1.key }.map { (labels([("topic", $0.key)]), "\($0.value)") })
            let image = self.image
            let counts = self.partitionCounts(image)
            family(
                "tern_under_replicated_partitions", "gauge", "Partitions whose ISR is smaller than their replicas.",
                [("", "\(counts.underReplicated)")])
            family(
                "tern_offline_partitions", "gauge", "Partitions without a live leader.", [("", "\(counts.offline)")])
            let events = self.broker.events.counts
            family(
                "tern_isr_shrinks_total", "counter", "ISR shrinks seen in the metadata log since this node started.",
                [("", "\(events.isrShrinks)")])
            family(
                "tern_isr_expands_total", "counter", "ISR expansions seen in the metadata log since this node started.",
                [("", "\(events.isrExpands)")])
            family(
                "tern_leader_elections_total", "counter", "Partition leader changes seen since this node started.",
                [("", "\(events.elections)")])
            let leader = self.quorum.leaderId
            let raft = self.quorum.raftState
            family(
                "tern_active_controller", "gauge", "1 when this node is the active controller.",
                [("", leader == self.broker.config.nodeId ? "1" : "0")])
            family(
                "tern_controller_id", "gauge", "The active controller's node id; -1 without one.",
                [("", "\(leader ?? -1)")])
            family("tern_raft_epoch", "gauge", "The metadata quorum's epoch.", [("", "\(raft.epoch)")])
            family(
                "tern_raft_high_watermark", "gauge", "Committed offset of the metadata log.",
                [("", "\(raft.highWatermark)")])
            family(
                "tern_brokers", "gauge", "Registered brokers by state.",
                [
                    (labels([("state", "up")]), "\(image.brokers.values.filter { !$0.fenced }.count)"),
                    (labels([("state", "fenced")]), "\(image.brokers.values.filter { $0.fenced }.count)"),
                ])
            var lag: [(String, String)] = []
            for (g, ends) in groups {
                for (o, end) in zip(g.offsets, ends) {
                    guard let end else { continue }
                    lag.append(
                        (
                            labels([("group", g.id), ("topic", o.topic), ("partition", "\(o.partition)")]),
                            "\(max(0, end - o.offset))"
                        ))
                }
            }
            family(
                "tern_consumer_group_lag", "gauge",
                "High watermark minus committed offset, for groups this node coordinates.", lag)
            var sizes: [(String, String)] = []
            var ends: [(String, String)] = []
            for p in self.broker.registry.all().sorted(by: { ($0.topic, $0.index) < ($1.topic, $1.index) }) {
                let l = labels([("topic", p.topic), ("partition", "\(p.index)")])
                sizes.append((l, "\(p.log.sizeInBytes)"))
                ends.append((l, "\(p.log.logEndOffset)"))
            }
            family("tern_log_size_bytes", "gauge", "Bytes in a partition's segments on this broker.", sizes)
            family("tern_log_end_offset", "gauge", "A partition's log end offset on this broker.", ends)
            return out
        }
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
    private var keepAlive = false
    private var stream: RepeatedTask?

    init(model: ConsoleModel) { self.model = model }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "/")
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            route(context)
        }
    }

    private func route(_ context: ChannelHandlerContext) {
        let loop = context.eventLoop
        switch path {
        case "/", "/index.html": send(context, 200, "text/html; charset=utf-8", ConsolePage.html)
        case "/api/cluster": send(context, 200, "application/json", model.cluster())
        case "/api/topics": send(context, 200, "application/json", model.topics())
        case "/api/events": send(context, 200, "application/json", model.events())
        case "/api/groups": reply(context, model.groupsJSON(on: loop), "application/json")
        case "/api/state": reply(context, model.state(on: loop), "application/json")
        case "/metrics": reply(context, model.metrics(on: loop), "text/plain; version=0.0.4; charset=utf-8")
        case "/api/stream": startStream(context)
        default: send(context, 404, "text/plain", "not found: \(path)\n")
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

    private func send(_ context: ChannelHandlerContext, _ status: Int, _ type: String, _ body: String) {
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(buffer.readableBytes)")
        headers.add(name: "Cache-Control", value: "no-store")
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
            model.state(on: channel.eventLoop).whenSuccess { json in
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
    static func bind(group: any EventLoopGroup, host: String, port: Int, model: ConsoleModel) throws -> any Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ConsoleHTTPHandler(model: model))
                }
            }
        return try ListenError.naming(host: host, port: port) { try bootstrap.bind(host: host, port: port).wait() }
    }
}
