import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Errors a client call can end with.
public enum KafkaClientError: Error, CustomStringConvertible {
    case connectionFailed(String, any Error)
    case connectionClosed(String)
    case timedOut(String, Int)
    case unsupported(String)
    case kafka(ErrorCode, String)
    case badBootstrap(String)

    /// A connection failure in a few words ("connection refused", "timed out"), without NIO's
    /// nested error dump.
    public static func reason(_ error: any Error) -> String {
        if case .connectionFailed(_, let e) = error as? KafkaClientError { return reason(e) }
        let text = "\(error)"
        for (needle, say) in [
            ("Connection refused", "connection refused"), ("timeout", "timed out"), ("Timeout", "timed out"),
            ("No address", "unknown host"), ("NXDOMAIN", "unknown host"), ("Name or service", "unknown host"),
            ("unreachable", "network unreachable"),
        ] where text.contains(needle) {
            return say
        }
        return text
    }

    public var description: String {
        switch self {
        case .connectionFailed(let addr, let e): return "could not connect to \(addr): \(Self.reason(e))"
        case .connectionClosed(let addr): return "connection to \(addr) closed"
        case .timedOut(let what, let ms): return "\(what) got no answer within \(ms) ms"
        case .unsupported(let why): return why
        case .kafka(let code, let msg): return msg.isEmpty ? "\(code)" : "\(code): \(msg)"
        case .badBootstrap(let s): return "invalid --bootstrap-server '\(s)': expected host:port[,host:port...]"
        }
    }
}

/// Correlation ids and waiting promises of one connection, shared by the caller and the pipeline.
/// Sendable by hand: its mutable fields are private and touched only under `lock`.
final class InFlight: @unchecked Sendable {
    private let lock = NIOLock()
    private var nextId: Int32 = 1
    private var waiting: [Int32: (promise: EventLoopPromise<ByteBuffer>, flexibleHeader: Bool)] = [:]
    private var closedError: (any Error)?

    func register(_ promise: EventLoopPromise<ByteBuffer>, flexibleHeader: Bool) -> Int32? {
        lock.withLock {
            if closedError != nil { return nil }
            let id = nextId
            nextId = nextId == Int32.max ? 1 : nextId + 1
            waiting[id] = (promise, flexibleHeader)
            return id
        }
    }

    func take(_ id: Int32) -> (promise: EventLoopPromise<ByteBuffer>, flexibleHeader: Bool)? {
        lock.withLock { waiting.removeValue(forKey: id) }
    }

    func failAll(_ error: any Error) {
        let all = lock.withLock {
            closedError = error
            let w = waiting
            waiting = [:]
            return w
        }
        for (_, w) in all { w.promise.fail(error) }
    }
}

final class ResponseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let inFlight: InFlight
    let address: String

    init(inFlight: InFlight, address: String) {
        self.inFlight = inFlight
        self.address = address
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let id: Int32 = frame.readInteger(), let w = inFlight.take(id) else { return }
        if w.flexibleHeader {
            var reader = KafkaReader(frame, flexible: true)
            do {
                try reader.tags()
                w.promise.succeed(reader.buffer)
            } catch {
                w.promise.fail(error)
            }
        } else {
            w.promise.succeed(frame)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inFlight.failAll(KafkaClientError.connectionClosed(address))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        inFlight.failAll(error)
        context.close(promise: nil)
    }
}

/// One TCP connection to a broker, with pipelined requests matched to answers by correlation id.
public final class KafkaConnection: Sendable {
    public let address: String
    public let channel: any Channel
    let inFlight: InFlight
    let clientId: String
    /// The highest version of each API the broker accepts (from ApiVersions).
    public let brokerVersions: [Int16: ClosedRange<Int16>]

    init(
        address: String, channel: any Channel, inFlight: InFlight, clientId: String,
        brokerVersions: [Int16: ClosedRange<Int16>]
    ) {
        self.address = address
        self.channel = channel
        self.inFlight = inFlight
        self.clientId = clientId
        self.brokerVersions = brokerVersions
    }

    /// Connects and negotiates versions with ApiVersions.
    public static func connect(
        host: String, port: Int, group: any EventLoopGroup, clientId: String, timeoutMs: Int = 10_000,
        security: ClientSecurity = .plaintext
    ) async throws -> KafkaConnection {
        let address = "\(host):\(port)"
        let inFlight = InFlight()
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(Int64(timeoutMs)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls = security.tls {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls, serverHostname: security.serverHostname(for: host)))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(maxFrameBytes: Int(Int32.max))))
                        try channel.pipeline.syncOperations.addHandler(
                            ResponseHandler(inFlight: inFlight, address: address))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw KafkaClientError.connectionFailed(address, error)
        }
        let bare = KafkaConnection(
            address: address, channel: channel, inFlight: inFlight, clientId: clientId, brokerVersions: [:])
        var request = ApiVersionsRequest()
        request.clientSoftwareName = "tern"
        request.clientSoftwareVersion = "0.1.0"
        var versions: ApiVersionsResponse
        do {
            versions = try await bare.send(request, version: 3, as: ApiVersionsResponse.self, timeoutMs: timeoutMs)
            if versions.errorCode == ErrorCode.unsupportedVersion.rawValue {
                versions = try await bare.send(
                    ApiVersionsRequest(), version: 0, as: ApiVersionsResponse.self, timeoutMs: timeoutMs)
            }
        } catch {
            // A TLS handshake that failed ends here too: its error, not a bare "closed".
            await bare.close()
            throw error
        }
        var ranges: [Int16: ClosedRange<Int16>] = [:]
        for k in versions.apiKeys where k.minVersion <= k.maxVersion { ranges[k.apiKey] = k.minVersion...k.maxVersion }
        let connection = KafkaConnection(
            address: address, channel: channel, inFlight: inFlight, clientId: clientId, brokerVersions: ranges)
        if let login = security.sasl {
            do { try await connection.authenticate(login, timeoutMs: timeoutMs) } catch {
                await connection.close()
                throw error
            }
        }
        return connection
    }

    /// The highest version both sides support.
    public func version(for api: ApiKey) throws -> Int16 {
        guard let theirs = brokerVersions[api.rawValue] else {
            throw KafkaClientError.unsupported("broker at \(address) does not support \(api)")
        }
        let v = min(theirs.upperBound, api.supported.upperBound)
        guard v >= max(theirs.lowerBound, api.supported.lowerBound) else {
            throw KafkaClientError.unsupported("no common version of \(api) with \(address)")
        }
        return v
    }

    public func send<Response: KafkaMessage>(
        _ request: some KafkaMessage, version: Int16? = nil, as: Response.Type, timeoutMs: Int = 30_000
    ) async throws -> Response {
        let api = type(of: request).apiKey
        let v = try version ?? self.version(for: api)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        guard let id = inFlight.register(promise, flexibleHeader: api.responseHeaderVersion(v) >= 1) else {
            // The connection closed: the promise must still be completed (an abandoned promise
            // is a fatal error in debug builds, which the chaos run found taking down brokers).
            promise.fail(KafkaClientError.connectionClosed(address))
            throw KafkaClientError.connectionClosed(address)
        }
        var frame = channel.allocator.buffer(capacity: 256)
        frame.writeInteger(Int32(0))
        RequestHeader(apiKey: api.rawValue, apiVersion: v, correlationId: id, clientId: clientId).encode(into: &frame)
        try request.encode(version: v, into: &frame)
        frame.setInteger(Int32(frame.readableBytes - 4), at: frame.readerIndex)
        channel.writeAndFlush(frame, promise: nil)
        let timeout = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(timeoutMs))) { [inFlight] in
            if let w = inFlight.take(id) { w.promise.fail(KafkaClientError.timedOut("\(api) request", timeoutMs)) }
        }
        let body = try await promise.futureResult.get()
        timeout.cancel()
        return try Response.decode(body, version: v)
    }

    public func close() async {
        try? await channel.close()
    }
}
