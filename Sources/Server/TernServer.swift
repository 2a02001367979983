import Broker
import KafkaProtocol
import Logging
import NIOCore
import NIOPosix

/// One Tern node's network shell: the client listener in front of a `Broker`.
public final class TernServer: Sendable {
    public let config: ServerConfig
    public let broker: Broker
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    private let channel: any Channel

    /// Opens the log directory (recovering every partition) and binds the client listener.
    public init(config: ServerConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        broker = try Broker(config: config.broker, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let broker = self.broker
        let maxFrame = config.socketRequestMaxBytes
        let maxInFlight = config.maxInFlightPerConnection
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(maxFrameBytes: maxFrame)))
                        try channel.pipeline.syncOperations.addHandler(
                            RequestHandler(broker: broker, logger: logger, maxInFlight: maxInFlight))
                    }
                }
                .bind(host: config.listenHost, port: config.listenPort)
                .wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    public var boundPort: Int { channel.localAddress?.port ?? config.listenPort }

    /// Blocks until the listener closes.
    public func wait() throws { try channel.closeFuture.wait() }

    /// Stops accepting, flushes logs and stops the event loops.
    public func shutdown() {
        try? channel.close().wait()
        broker.shutdown()
        try? group.syncShutdownGracefully()
    }
}
