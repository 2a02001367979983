import KafkaClient
import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore

/// Connections from this node to the other brokers' inter-broker listeners (with the
/// inter-broker security): one per broker, made on first use and again after a failure. The
/// transaction coordinator sends its markers through one; the web console asks leaders and
/// coordinators through another.
public final class PeerClient: Sendable {
    private let broker: Broker
    private let group: any EventLoopGroup
    private let security: ClientSecurity
    private let purpose: String
    private let connections = NIOLockedValueBox<[Int32: KafkaConnection]>([:])
    private let connecting = NIOLockedValueBox<[Int32: Task<KafkaConnection, any Error>]>([:])

    init(broker: Broker, group: any EventLoopGroup, security: ClientSecurity, purpose: String) {
        self.broker = broker
        self.group = group
        self.security = security
        self.purpose = purpose
    }

    public func send<Response: KafkaMessage>(
        _ request: some KafkaMessage & Sendable, as: Response.Type, to node: Int32, on loop: any EventLoop,
        timeoutMs: Int = 10_000
    ) -> EventLoopFuture<Response> {
        let promise = loop.makePromise(of: Response.self)
        promise.completeWithTask { [self] in try await send(request, as: Response.self, to: node, timeoutMs: timeoutMs)
        }
        return promise.futureResult
    }

    public func send<Response: KafkaMessage>(
        _ request: some KafkaMessage & Sendable, as: Response.Type, to node: Int32, timeoutMs: Int = 10_000
    ) async throws -> Response {
        let c = try await connection(node)
        do {
            return try await c.send(request, as: Response.self, timeoutMs: timeoutMs)
        } catch KafkaClientError.timedOut(let what, let ms) {
            // One slow answer: the connection stays for the requests sharing it.
            throw KafkaClientError.timedOut(what, ms)
        } catch {
            connections.withLockedValue { if $0[node] === c { $0[node] = nil } }
            await c.close()
            throw error
        }
    }

    /// The connection to `node`: the open one, the one being made (callers at the same moment
    /// share one attempt), or a new one.
    private func connection(_ node: Int32) async throws -> KafkaConnection {
        let attempt = connecting.withLockedValue { all -> Task<KafkaConnection, any Error>? in
            if let c = connections.withLockedValue({ $0[node] }), c.channel.isActive { return nil }
            if let t = all[node] { return t }
            let t = Task { try await self.connect(node) }
            all[node] = t
            return t
        }
        guard let attempt else {
            if let c = connections.withLockedValue({ $0[node] }) { return c }
            return try await connection(node)
        }
        do {
            let c = try await attempt.value
            connecting.withLockedValue { if $0[node] == attempt { $0[node] = nil } }
            return c
        } catch {
            connecting.withLockedValue { if $0[node] == attempt { $0[node] = nil } }
            throw error
        }
    }

    private func connect(_ node: Int32) async throws -> KafkaConnection {
        guard let b = broker.registry.image.brokers[node] else { throw KafkaClientError.unsupported("no node \(node)") }
        let c = try await KafkaConnection.connect(
            host: b.host, port: Int(b.port), group: group, clientId: "\(purpose)-\(broker.config.nodeId)",
            timeoutMs: 5000, security: security)
        let old = connections.withLockedValue { all -> KafkaConnection? in
            let old = all[node]
            all[node] = c
            return old
        }
        if let old, old !== c { await old.close() }
        return c
    }

    /// Closes every connection.
    public func close() async {
        for c in connections.withLockedValue({ all in
            defer { all = [:] }; return Array(all.values)
        }) {
            await c.close()
        }
    }
}
