import KafkaProtocol
import NIOCore

/// One request on its way to its handler: the header and body as they arrived, the loop the
/// answer goes back on, and who sent it over which listener.
public struct ApiCall: Sendable {
    public let api: ApiKey
    public let header: RequestHeader
    public let body: ByteBuffer
    public let loop: any EventLoop
    /// The client listener's name (Metadata, FindCoordinator and DescribeCluster answer with its
    /// addresses); nil on the CONTROLLER listener.
    public let listener: String?
    public let session: Session

    public var version: Int16 { header.apiVersion }

    /// The body as the request type the caller expects.
    public func decode<Request: KafkaMessage>(_: Request.Type = Request.self) throws -> Request {
        try Request.decode(body, version: version)
    }

    /// Encodes an answer that is ready now.
    public func answer(_ response: some KafkaMessage) throws -> EventLoopFuture<ByteBuffer?> {
        loop.makeSucceededFuture(try response.encoded(version: version))
    }

    /// ApiVersions: the versions of every API the `listener` serves, from the table.
    public func answerApiVersions(for listener: ApiSpec.Listeners) throws -> EventLoopFuture<ByteBuffer?> {
        _ = try decode(ApiVersionsRequest.self)
        let apis = ApiKey.table.filter { $0.listeners.contains(listener) }.map(\.key)
        return try answer(ApiVersionsResponse.supported(apis: apis))
    }

    /// Encodes an answer when it comes, on the caller's loop.
    public func answer<Response: KafkaMessage>(_ response: EventLoopFuture<Response>) -> EventLoopFuture<ByteBuffer?> {
        let version = self.version
        return response.hop(to: loop).flatMapThrowing { try $0.encoded(version: version) }
    }
}

/// The handlers of one listener, one per API that `ApiKey.table` says the listener serves:
/// the table decides what a listener advertises and accepts, this only says who answers.
public struct ApiDispatch<Owner: Sendable>: Sendable {
    public typealias Handler = @Sendable (Owner, ApiCall) throws -> EventLoopFuture<ByteBuffer?>

    public let listener: ApiSpec.Listeners
    /// The APIs this listener serves, in the table's order (what its ApiVersions lists).
    public let apis: [ApiKey]
    private let handlers: [ApiKey: Handler]

    /// Stops at start-up when the handlers and the table disagree: an API the table gives this
    /// listener without a handler, or a handler for one it does not.
    public init(_ listener: ApiSpec.Listeners, _ handlers: [ApiKey: Handler]) {
        let apis = ApiKey.table.filter { $0.listeners.contains(listener) }.map(\.key)
        precondition(
            Set(apis) == Set(handlers.keys),
            "handlers \(handlers.keys.sorted { $0.rawValue < $1.rawValue }) for \(apis)")
        self.listener = listener
        self.apis = apis
        self.handlers = handlers
    }

    /// Checks the API and version against the table, lets `before` answer first (authorization),
    /// then hands the request to its handler. A future that fails means the request could not be
    /// decoded or is not served here: the connection is closed.
    public func dispatch(
        _ owner: Owner, _ header: RequestHeader, body: ByteBuffer, on loop: any EventLoop, listener: String?,
        session: Session,
        before: (ApiCall) throws -> EventLoopFuture<ByteBuffer?>? = { _ in nil }
    ) -> EventLoopFuture<ByteBuffer?> {
        guard let api = ApiKey(rawValue: header.apiKey), let handler = handlers[api] else {
            return loop.makeFailedFuture(ProtocolError.unknownApiKey(header.apiKey))
        }
        guard api.supported.contains(header.apiVersion) else {
            if api == .apiVersions {
                // Answered in v0 format with our ranges so the client can step down.
                return loop.makeSucceededFuture(
                    (try? ApiVersionsResponse.supported(errorCode: .unsupportedVersion, apis: apis).encoded(version: 0))
                        ?? ByteBuffer())
            }
            return loop.makeFailedFuture(
                ProtocolError.unsupportedVersion(api: header.apiKey, version: header.apiVersion))
        }
        let call = ApiCall(api: api, header: header, body: body, loop: loop, listener: listener, session: session)
        do {
            if let answered = try before(call) { return answered }
            return try handler(owner, call)
        } catch {
            return loop.makeFailedFuture(error)
        }
    }
}
