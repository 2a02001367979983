import Broker
import Dispatch
import KafkaClient
import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Raft
import Security
import ServiceLifecycle
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One Tern node's network shell: the client listener in front of a `Broker`, and the metadata
/// quorum with its CONTROLLER listener.
public final class TernServer: Sendable {
    public let config: ServerConfig
    public let broker: Broker
    public let quorum: QuorumController
    let lifecycle: BrokerLifecycle
    private let isrCheck: RepeatedTask
    let group: MultiThreadedEventLoopGroup
    /// The metadata quorum, its CONTROLLER listener and its peer connections run on a thread of
    /// their own, as Kafka's controller does: clients that keep every client loop busy must not
    /// starve elections, heartbeats and fencing (a pipelining flood once fenced its own broker).
    let controlGroup: MultiThreadedEventLoopGroup
    let logger: Logger
    /// The one clock every component of the node reads.
    let clock: any TernClock
    private let channel: any Channel
    /// Client listeners after the first (e.g. one advertised inside a container network).
    private let extraChannels: [any Channel]
    private let controllerChannel: (any Channel)?
    /// Open client connections (all client listeners together) and the bytes of their requests
    /// not yet answered; the CONTROLLER listener has its own, so clients cannot crowd out the quorum.
    let clientConnections: ConnectionTracker
    let requestMemory: RequestMemory
    let controllerConnections: ConnectionTracker
    let controllerMemory: RequestMemory
    /// The web console and `/metrics`, when its port could be bound.
    private let consoleChannel: (any Channel)?
    /// The port the web console listens on, if it is up.
    public var consolePort: Int? { consoleChannel?.localAddress?.port }

    /// Opens the log directory (recovering every partition), starts the quorum member and binds
    /// both listeners.
    public init(config: ServerConfig, clock: any TernClock = SystemClock(), logger: Logger) throws {
        self.config = config
        self.clock = clock
        clientConnections = ConnectionTracker(limits: config.connectionLimits, name: "client")
        requestMemory = RequestMemory(limit: config.connectionLimits.queuedMaxRequestBytes)
        controllerConnections = ConnectionTracker(limits: config.connectionLimits, name: "CONTROLLER")
        controllerMemory = RequestMemory(limit: config.connectionLimits.queuedMaxRequestBytes)
        self.logger = logger
        let (before, after) = Descriptors.raiseLimit()
        if after > before {
            logger.info("open files limit raised from \(before) to \(after) (the hard limit)")
        }
        if after < 10_000 {
            logger.warning(
                "this process may open only \(after) files (ulimit -n): every partition replica holds one per segment, so this node can host about \(max(0, after - Descriptors.reserved(limit: after))) partition replicas; raise the hard limit (e.g. ulimit -Hn 1048576) for more"
            )
        }
        var brokerConfig = config.broker
        brokerConfig.clusterId = config.clusterId
        broker = try Broker(config: brokerConfig, clock: clock, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        controlGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let voters =
            config.voters.isEmpty
            ? [Voter(id: config.broker.nodeId, host: config.broker.advertisedHost, port: 0)] : config.voters
        var raft = RaftConfig()
        raft.fetchTimeoutMs = 2000
        raft.electionTimeoutMs = 500
        raft.requestTimeoutMs = 500
        raft.fetchBackoffMs = 50
        raft.leaderHoldsFetches = true  // QuorumController parks a caught-up follower's fetch
        let quorum: QuorumController
        do {
            var settings = QuorumController.Settings()
            settings.topicDefaults = config.broker
            settings.snapshotEveryBytes = config.metadataSnapshotEveryBytes
            settings.peerSecurity = config.controllerClient
            settings.metrics = broker.metrics
            let seedPath = config.broker.logDirs + "/" + BootstrapRecords.fileName
            if FileSystem.exists(seedPath) {
                settings.bootstrapRecords = try BootstrapRecords.parse(
                    try FileSystem.readText(seedPath), source: seedPath)
            }
            quorum = try QuorumController(
                id: config.broker.nodeId, voters: voters, clusterId: broker.clusterId, logDir: config.broker.logDirs,
                group: controlGroup, config: raft, clock: clock, settings: settings, logger: logger)
            self.quorum = quorum
            let maxFrame = config.socketRequestMaxBytes
            let maxInFlight = config.maxInFlightPerConnection
            // The client listeners open only once this broker is unfenced; a port another process
            // holds stops the start here, before the broker registers and looks up to its peers.
            for l in config.clientListeners {
                try ListenError.checkFree(host: l.bindHost, port: l.port)
            }
            if let c = config.controllerListener, config.isController {
                let broker = self.broker
                let name = config.controllerListenerName
                let limiter = LogLimiter(clock: clock)
                controllerChannel = try Self.bind(
                    group: controlGroup, host: c.host, port: c.port, maxFrame: maxFrame, maxInFlight: maxInFlight,
                    logger: logger, tracker: controllerConnections, memory: controllerMemory,
                    security: config.controllerSecurity, scramCredential: Self.scramLookup(quorum)
                ) { header, body, loop, session in
                    if let refused = ControllerListenerAuthorization.refusal(
                        header, body: body, session: session, broker: broker, listener: name, on: loop, logger: logger,
                        limiter: limiter)
                    {
                        return refused
                    }
                    return quorum.handle(header, body: body, on: loop).map { $0.map { ResponseBody(bytes: $0) } }
                }
            } else {
                controllerChannel = nil
            }
        } catch {
            try? group.syncShutdownGracefully()
            try? controlGroup.syncShutdownGracefully()
            throw error
        }
        let group = self.group
        broker.describeQuorum.withLockedValue {
            $0 = { Self.describeAnywhere(quorum, group: group, security: config.controllerClient) }
        }
        let broker = self.broker
        quorum.onImageChange.withLockedValue { $0 = { image in broker.apply(image) } }
        broker.gateway.withLockedValue { $0 = ClusterGateway(quorum: quorum) }
        lifecycle = BrokerLifecycle(
            quorum: quorum, nodeId: config.broker.nodeId, host: config.broker.advertisedHost,
            port: config.broker.advertisedPort,
            listeners: config.clientListeners.map { ($0.name, $0.advertisedHost, $0.advertisedPort) },
            rack: config.broker.rack, logger: logger, onCaughtUp: { broker.caughtUp() })
        quorum.start()
        lifecycle.start()
        broker.startReplication(group: group, security: config.interBrokerClient)
        isrCheck = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            broker.checkIsr()
            // Partitions refused for want of file descriptors are tried again once some are free
            // (a topic deleted), not only with the next metadata change.
            if broker.registry.hasRefused { quorum.reapplyImage() }
        }
        // Like Kafka, serve clients once this broker has caught up with the metadata log and been
        // unfenced, so that the first requests see the cluster as it is. A node that cannot
        // reach a quorum still opens its listener after a while, so tools can ask it why.
        let deadline = clock.now + .seconds(15)
        while lifecycle.isFenced && clock.now < deadline { usleep(5000) }
        if lifecycle.isFenced {
            logger.warning(
                "serving clients before this broker was unfenced: the metadata quorum has no leader yet (voters \(voters.map(\.id)))"
            )
        }
        let maxFrame = config.socketRequestMaxBytes
        let maxInFlight = config.maxInFlightPerConnection
        let clientConnections = clientConnections
        let requestMemory = requestMemory
        var bound: [any Channel] = []
        do {
            for l in config.clientListeners {
                bound.append(
                    try Self.bind(
                        group: group, host: l.bindHost, port: l.port, maxFrame: maxFrame, maxInFlight: maxInFlight,
                        logger: logger, metrics: broker.metrics, clock: clock, tracker: clientConnections,
                        memory: requestMemory,
                        security: config.security[l.name] ?? ListenerSecurity(),
                        scramCredential: Self.scramLookup(quorum),
                        closed: { broker.connectionClosed($0) }
                    ) { header, body, loop, session in
                        broker.respond(header, body: body, on: loop, listener: l.name, session: session)
                    })
            }
        } catch {
            for c in bound { try? c.close().wait() }
            lifecycle.stop()
            quorum.stop()
            try? controllerChannel?.close().wait()
            try? group.syncShutdownGracefully()
            try? controlGroup.syncShutdownGracefully()
            throw error
        }
        channel = bound[0]
        extraChannels = Array(bound.dropFirst())
        if let http = config.httpListener {
            do {
                consoleChannel = try WebConsole.bind(
                    group: group, host: http.host, port: http.port,
                    model: ConsoleModel(
                        broker: broker, quorum: quorum,
                        connections: [("client", clientConnections), ("controller", controllerConnections)],
                        messagesRefusal: ConsoleMessages.refusal(
                            authorizer: config.broker.authorizer != nil,
                            anonymousListener: config.clientListeners.contains { l in
                                let s = config.security[l.name] ?? ListenerSecurity()
                                return !s.securityProtocol.usesSASL && s.tls?.clientAuth != .required
                            }),
                        allowedHosts: Set(
                            ["localhost", http.host.lowercased(), config.broker.advertisedHost.lowercased()]
                                + config.clientListeners.map { $0.advertisedHost.lowercased() }),
                        listAcls: ["localhost", "127.0.0.1", "::1"].contains(http.host.lowercased())))
                logger.info(
                    "web console and /metrics on http://\(http.host == "0.0.0.0" ? "localhost" : http.host):\(http.port)/"
                )
            } catch {
                // The console is a convenience: a port in use (another node's, or a program's)
                // must not stop the broker.
                consoleChannel = nil
                logger.warning("web console not started: \(error)")
            }
        } else {
            consoleChannel = nil
        }
    }

    /// SCRAM credentials as the replicated metadata holds them.
    static func scramLookup(_ quorum: QuorumController) -> @Sendable (String, ScramMechanism) -> ScramCredential? {
        { [quorum] user, mechanism in
            quorum.imageSnapshot.scramCredentials[user]?[mechanism.kafkaType].map {
                ScramCredential(
                    mechanism: mechanism, salt: $0.salt, storedKey: $0.storedKey, serverKey: $0.serverKey,
                    iterations: $0.iterations)
            }
        }
    }

    /// The address part of a peer's socket address ("?" when unknown), for per-address limits.
    static func ipOf(_ address: SocketAddress?) -> String {
        address?.ipAddress ?? "?"
    }

    static func bind(
        group: MultiThreadedEventLoopGroup, host: String, port: Int, maxFrame: Int, maxInFlight: Int, logger: Logger,
        metrics: BrokerMetrics? = nil, clock: any TernClock = SystemClock(), tracker: ConnectionTracker? = nil,
        memory: RequestMemory? = nil, security: ListenerSecurity = ListenerSecurity(),
        scramCredential: @escaping @Sendable (String, ScramMechanism) -> ScramCredential? = { _, _ in nil },
        closed: (@Sendable (UInt64) -> Void)? = nil, handle: @escaping RequestHandler.Handle
    ) throws -> any Channel {
        let tls = try security.tls.map { try $0.serverContext() }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                let ip = Self.ipOf(channel.remoteAddress)
                if let tracker {
                    if let refused = tracker.admit(ip) {
                        tracker.logLimiter.warn(logger, "closing a new connection from \(ip): \(refused)")
                        return channel.close()
                    }
                    tracker.track(channel, ip: ip)
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    if let idle = tracker?.limits.idleMs, idle > 0 {
                        try channel.pipeline.syncOperations.addHandler(
                            IdleStateHandler(readTimeout: .milliseconds(idle)))
                        try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                    }
                    let account = memory.map { ConnectionMemory(pool: $0) }
                    if let account { try channel.pipeline.syncOperations.addHandler(ReadAccounting(memory: account)) }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(maxFrameBytes: maxFrame)))
                    try channel.pipeline.syncOperations.addHandler(
                        RequestHandler(
                            handle: handle, logger: logger, maxInFlight: maxInFlight, metrics: metrics, memory: account,
                            sasl: security.securityProtocol.usesSASL
                                ? SaslGate(security: security, scramCredential: scramCredential) : nil,
                            sendfile: tls == nil, principalMapping: security.principalMapping, clock: clock,
                            onClose: closed)
                    )
                }
            }
        return try ListenError.naming(host: host, port: port) { try bootstrap.bind(host: host, port: port).wait() }
    }

    /// DescribeQuorum from any node: the local answer if this node leads, otherwise the
    /// leader's, asked over its CONTROLLER listener. With no leader, the local view is returned
    /// with NOT_LEADER_OR_FOLLOWER so the tool can say the quorum has no leader.
    static func describeAnywhere(
        _ quorum: QuorumController, group: any EventLoopGroup, security: ClientSecurity
    ) -> EventLoopFuture<
        DescribeQuorumResponse
    > {
        quorum.describe().flatMap { local in
            let p = local.topics.first?.partitions.first
            guard let p, p.errorCode != 0, p.leaderId >= 0, p.leaderId != quorum.id,
                let leader = quorum.voters.first(where: { $0.id == p.leaderId })
            else { return group.next().makeSucceededFuture(local) }
            let promise = group.next().makePromise(of: DescribeQuorumResponse.self)
            let ask: @Sendable () async -> DescribeQuorumResponse = {
                do {
                    let c = try await KafkaConnection.connect(
                        host: leader.host, port: leader.port, group: group, clientId: "describe-forward",
                        timeoutMs: 2000, security: security)
                    var t = DescribeQuorumRequest.Topic()
                    t.topicName = QuorumController.topicName
                    t.partitions = [0]
                    var req = DescribeQuorumRequest()
                    req.topics = [t]
                    let answer = try? await c.send(req, as: DescribeQuorumResponse.self, timeoutMs: 2000)
                    await c.close()
                    return answer ?? local
                } catch {
                    return local
                }
            }
            // In the background of the quorum, so that a stop waits for it.
            if !quorum.background.run({ promise.succeed(await ask()) }) { promise.succeed(local) }
            return promise.futureResult
        }
    }

    public var boundPort: Int { channel.localAddress?.port ?? config.listenPort }
    public var controllerPort: Int? { controllerChannel?.localAddress?.port }

    /// The steps of a clean stop, in the order they run: leaderships move away while clients are
    /// still connected (they are told NOT_LEADER and move on), then the listeners close, the
    /// fetchers stop, every log is flushed, and the quorum member leaves last, so that nodes
    /// stopped together still form a majority for each other's fences while they flush.
    func stopSteps() -> [(name: String, stop: @Sendable () async -> Void)] {
        let lifecycle = lifecycle
        let broker = broker
        let quorum = quorum
        let logger = logger
        let listeners = [consoleChannel].compactMap { $0 } + extraChannels + [channel]
        let controllerChannel = controllerChannel
        let isrCheck = isrCheck
        let began = stopBegan
        let clients = clientConnections
        let controllers = controllerConnections
        return [
            (
                "controlled shutdown",
                {
                    logger.info("controlled shutdown: asking the controller to move this broker's leaderships")
                    await lifecycle.shutDown()
                }
            ),
            (
                "listeners",
                {
                    for c in listeners { try? await c.close() }
                    await clients.closeAll()
                }
            ),
            (
                "replication",
                {
                    isrCheck.cancel()
                    await broker.stopReplication()
                }
            ),
            ("logs", { broker.shutdown() }),
            (
                "quorum",
                {
                    let since = began.withLockedValue { $0 } ?? .now()
                    await Self.lingerForLeavingBrokers(quorum, since: since, logger: logger)
                    await lifecycle.finished()
                    await quorum.stopAndWait()
                    try? await controllerChannel?.close()
                    await controllers.closeAll()
                }
            ),
        ]
    }

    /// The active controller stays a voter while other brokers that asked to stop (at the same
    /// time as this one, as `tern cluster down` does) wait for their fences: leaving first would
    /// cost them an election, and the last of them its majority. At most `maxMs`.
    static func lingerForLeavingBrokers(
        _ quorum: QuorumController, since: NIODeadline, logger: Logger, minMs: Int64 = 200, maxMs: Int64 = 2000
    ) async {
        let clock = quorum.clock
        while clock.now < since + .milliseconds(maxMs) {
            guard quorum.leaderId == quorum.id, quorum.canCommit,
                let leaving = try? await quorum.brokersStillLeaving().get()
            else { return }
            let othersUp = quorum.imageSnapshot.brokers.values.contains { $0.id != quorum.id && !$0.fenced }
            if leaving.isEmpty && (!othersUp || clock.now >= since + .milliseconds(minMs)) { return }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        logger.info("stopping the quorum member with brokers still waiting for their controlled shutdown")
    }

    /// The node's parts as services of one `ServiceGroup`: the group shuts services down in the
    /// reverse of their order, each after the later ones have finished, so this is
    /// `stopSteps()` reversed. Their start is `init`'s (listeners open once the broker is
    /// unfenced); each service waits for the graceful shutdown and then stops its part.
    public var services: [any Service] {
        stopSteps().reversed().map {
            NodePart(
                name: $0.name, stop: $0.stop, logger: logger, nodeId: config.broker.nodeId, began: stopBegan,
                clock: clock)
        }
    }

    /// When the first service began to stop.
    let stopBegan = NIOLockedValueBox<NIODeadline?>(nil)
    /// How long the stop has taken so far, once it has begun.
    public var stoppingForMs: Int64? {
        stopBegan.withLockedValue { $0 }.map { (clock.now - $0).nanoseconds / 1_000_000 }
    }

    /// Stops the event loops, once every service has stopped.
    public func closeEventLoops() async {
        try? await group.shutdownGracefully()
        try? await controlGroup.shutdownGracefully()
    }

    /// The whole ordered stop, for callers that are not a ServiceGroup (tests); blocks.
    public func shutdown() {
        let steps = stopSteps()
        stopBegan.withLockedValue { $0 = $0 ?? clock.now }
        let done = DispatchSemaphore(value: 0)
        Task {
            for step in steps { await step.stop() }
            await closeEventLoops()
            done.signal()
        }
        done.wait()
    }
}

/// One part of a node in its ServiceGroup: runs until the graceful shutdown (or cancellation),
/// then stops the part and says how long that took.
struct NodePart: Service {
    let name: String
    let stop: @Sendable () async -> Void
    let logger: Logger
    let nodeId: Int32
    let began: NIOLockedValueBox<NIODeadline?>
    let clock: any TernClock

    func run() async throws {
        try? await gracefulShutdown()
        let start = clock.now
        let first = began.withLockedValue { b -> Bool in
            defer { b = b ?? start }
            return b == nil
        }
        if first { logger.info("Tern node \(nodeId) shutting down") }
        await stop()
        let ms = (clock.now - start).nanoseconds / 1_000_000
        logger.debug("stopped \(name) in \(ms) ms")
    }
}

/// Closes a connection that sent nothing for `connections.max.idle.ms` (after IdleStateHandler).
final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? IdleStateHandler.IdleStateEvent, e == .read {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
