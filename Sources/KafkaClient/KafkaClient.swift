import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A small Kafka client for Tern's tools: bootstrap, metadata, and requests routed to the
/// broker that leads a partition.
public actor KafkaClient {
    public let bootstrap: [(host: String, port: Int)]
    let group: any EventLoopGroup
    let clientId: String
    let security: ClientSecurity
    private var connections: [Int32: KafkaConnection] = [:]
    private var bootstrapConnection: KafkaConnection?
    public private(set) var lastMetadata: MetadataResponse?

    public init(
        bootstrapServers: String, clientId: String = "tern-cli",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, security: ClientSecurity = .plaintext
    ) throws {
        var servers: [(String, Int)] = []
        for entry in bootstrapServers.split(separator: ",") {
            let e = entry.trimmingCharacters(in: " ")
            guard let colon = e.lastIndex(of: ":"), let port = Int(e[e.index(after: colon)...]),
                (1...65535).contains(port),
                colon > e.startIndex
            else { throw KafkaClientError.badBootstrap(bootstrapServers) }
            servers.append((String(e[..<colon]), port))
        }
        guard !servers.isEmpty else { throw KafkaClientError.badBootstrap(bootstrapServers) }
        bootstrap = servers
        self.group = group
        self.clientId = clientId
        self.security = security
    }

    /// A connection to any bootstrap server that answers.
    public func any() async throws -> KafkaConnection {
        if let c = bootstrapConnection, c.channel.isActive { return c }
        var tried: [String] = []
        for (host, port) in bootstrap {
            do {
                let c = try await KafkaConnection.connect(
                    host: host, port: port, group: group, clientId: clientId, security: security)
                bootstrapConnection = c
                return c
            } catch {
                tried.append("\(host):\(port) (\(KafkaClientError.reason(error)))")
            }
        }
        // A TLS or SASL listener closes a connection that speaks plaintext to it.
        let hint =
            security.tls == nil && tried.contains(where: { $0.hasSuffix("closed)") })
            ? " A listener with TLS or SASL closes plaintext connections: give the tool its client settings with --command-config FILE (security.protocol, ssl.truststore.location, sasl.mechanism, sasl.jaas.config)."
            : ""
        throw KafkaClientError.unsupported(
            "could not reach any bootstrap server: tried \(tried.joined(separator: ", ")). Is the broker running and is the address right?\(hint)"
        )
    }

    public func connection(toNode node: Int32) async throws -> KafkaConnection {
        if let c = connections[node], c.channel.isActive { return c }
        if lastMetadata == nil { _ = try await metadata(topics: []) }
        guard let b = lastMetadata?.brokers.first(where: { $0.nodeId == node }) else { return try await any() }
        let c = try await KafkaConnection.connect(
            host: b.host, port: Int(b.port), group: group, clientId: clientId, security: security)
        connections[node] = c
        return c
    }

    /// Metadata for `topics` (nil for all), without creating topics.
    public func metadata(topics: [String]?) async throws -> MetadataResponse {
        var request = MetadataRequest()
        request.topics = topics?.map { MetadataRequest.Topic(name: $0) }
        request.allowAutoTopicCreation = false
        let c = try await any()
        // v0 has no way to ask for no topics; everything from v1 does.
        let response = try await c.send(request, as: MetadataResponse.self)
        lastMetadata = response
        return response
    }

    public func send<Response: KafkaMessage>(_ request: some KafkaMessage, as: Response.Type, timeoutMs: Int = 30_000)
        async throws -> Response
    {
        try await any().send(request, as: Response.self, timeoutMs: timeoutMs)
    }

    public func send<Response: KafkaMessage>(
        _ request: some KafkaMessage, toNode node: Int32, as: Response.Type, timeoutMs: Int = 30_000
    ) async throws -> Response {
        try await connection(toNode: node).send(request, as: Response.self, timeoutMs: timeoutMs)
    }

    public func close() async {
        for c in connections.values { await c.close() }
        await bootstrapConnection?.close()
        connections = [:]
        bootstrapConnection = nil
    }
}

/// Kafka's default partitioner for keyed records: murmur2 of the key, made positive, modulo the
/// partition count, so Tern's tools place keys where the Java client would.
public enum Partitioner {
    public static func murmur2(_ data: [UInt8]) -> Int32 {
        let length = data.count
        let seed: UInt32 = 0x9747_b28c
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = seed ^ UInt32(truncatingIfNeeded: length)
        let length4 = length / 4
        for i in 0..<length4 {
            let i4 = i * 4
            var k =
                UInt32(data[i4]) | UInt32(data[i4 + 1]) << 8 | UInt32(data[i4 + 2]) << 16 | UInt32(data[i4 + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let rest = length % 4
        let tail = length & ~3
        if rest == 3 { h ^= UInt32(data[tail + 2]) << 16 }
        if rest >= 2 { h ^= UInt32(data[tail + 1]) << 8 }
        if rest >= 1 {
            h ^= UInt32(data[tail])
            h = h &* m
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    public static func partition(forKey key: [UInt8], count: Int) -> Int32 {
        Int32((Int(murmur2(key)) & 0x7fff_ffff) % count)
    }
}
