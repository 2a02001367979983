import Broker
import KafkaClient
import KafkaProtocol

/// A `server.properties` file read and checked: every value is validated, an unknown key is a
/// warning, and a bad value stops start-up with a message naming the key, the value and what is
/// allowed.
public struct ServerConfig: Sendable {
    public var broker = BrokerConfig()
    public var listenHost = "0.0.0.0"
    public var listenPort = 9092
    /// Every client listener (all but CONTROLLER), the inter-broker one first: where it binds
    /// and the address clients that arrive on it are told. Kafka's classic Docker set-up uses
    /// two: one advertised inside the container network, one to the host.
    public var clientListeners: [ClientListener] = []
    public var socketRequestMaxBytes = 104_857_600
    /// Bytes of metadata records between two snapshots of the metadata image
    /// (`metadata.log.max.record.bytes.between.snapshots`).
    public var metadataSnapshotEveryBytes = 20 * 1024 * 1024
    /// The most requests one connection may have waiting for answers before reading pauses.
    public var maxInFlightPerConnection = 1000
    /// max.connections, max.connections.per.ip, connections.max.idle.ms, queued.max.request.bytes.
    public var connectionLimits = ConnectionLimits()
    public var warnings: [String] = []
    /// Keys no part of Tern reads, with their lines (`server-start --check --strict` refuses them).
    public var unknownKeys: [(key: String, line: Int)] = []
    /// The web console and `/metrics` (`http.listeners`, e.g. `HTTP://0.0.0.0:8080`); by default
    /// port 8080 + node id on the first client listener's address. Nil turns it off (`none`).
    public var httpListener: (host: String, port: Int)? = nil
    var httpListenerSet = false
    /// `process.roles` includes `controller`: this node is one of the voters. A broker-only node
    /// (`process.roles=broker`) follows the metadata log as an observer and binds no CONTROLLER
    /// listener.
    public var isController = true
    /// The metadata quorum's voters; empty means this node is a quorum of one.
    public var voters: [Voter] = []
    /// The CONTROLLER listener this node binds (host, port), when it has one.
    public var controllerListener: (host: String, port: Int)? = nil
    /// Shared by every node of a cluster: set with `cluster.id`, else derived from
    /// `controller.quorum.voters` so the nodes of one configuration agree without a format step.
    public var clusterId: String? = nil
    /// Each client listener's security (protocol, TLS, SASL), by listener name.
    public var security: [String: ListenerSecurity] = [:]
    /// The controller listener's name: the first of `controller.listener.names` (CONTROLLER).
    public var controllerListenerName = "CONTROLLER"
    /// The controller listener's security, as the listener serves it.
    public var controllerSecurity = ListenerSecurity()
    /// How this node connects to its peers: their inter-broker listener (replica fetches) and
    /// their controller listener (quorum RPCs, registration, forwarded admin requests).
    public var interBrokerClient = ClientSecurity.plaintext
    public var controllerClient = ClientSecurity.plaintext

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init() {}
}

extension ServerConfig {
    /// A cluster id every node computes alike from the voter list (FNV-1a over its text).
    static func derivedClusterId(from voters: [Voter]) -> String {
        let text = voters.sorted { $0.id < $1.id }.map { "\($0.id)@\($0.host):\($0.port)" }.joined(separator: ",")
        func fnv(_ seed: UInt64) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
            for byte in text.utf8 {
                h ^= UInt64(byte)
                h = h &* 0x100_0000_01b3
            }
            return h
        }
        return KafkaUUID(high: fnv(1), low: fnv(2)).description
    }
}
