import Broker
import KafkaClient
import KafkaProtocol
import Metadata
import Storage

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

    public struct ClientListener: Sendable, Equatable {
        public var name: String
        public var bindHost: String
        public var port: Int
        public var advertisedHost: String
        public var advertisedPort: Int
    }
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

    mutating func unknown(_ key: String, line: Int, source: String) {
        unknownKeys.append((key, line))
        let hint = Self.suggestion(for: key).map { " (did you mean \($0)?)" } ?? ""
        warnings.append("\(source):\(line): unknown configuration '\(key)' ignored\(hint)")
    }
    /// The web console and `/metrics` (`http.listeners`, e.g. `HTTP://0.0.0.0:8080`); by default
    /// port 8080 + node id on the first client listener's address. Nil turns it off (`none`).
    public var httpListener: (host: String, port: Int)? = nil
    var httpListenerSet = false
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

    /// Keys Tern reads, and keys of Kafka's that it accepts without using yet (they belong to
    /// features still to come and are not warned about).
    static let acceptedOnly: Set<String> = [
        "process.roles", "controller.quorum.bootstrap.servers",
        "num.network.threads", "num.io.threads",
        "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "num.recovery.threads.per.data.dir",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "broker.session.timeout.ms", "broker.heartbeat.interval.ms", "delete.topic.enable",
        // Re-authentication (KIP-368) is not asked of clients: sessions last as long as connections.
        "connections.max.reauth.ms",
        "ssl.keystore.password", "ssl.truststore.password",
        "ssl.protocol",
    ]

    /// Keys the parser reads (its switch's cases), for "did you mean" on a typo.
    static let readKeys: Set<String> = [
        "advertised.listeners", "allow.everyone.if.no.acl.found", "authorizer.class.name",
        "auto.create.topics.enable", "broker.id", "cluster.id", "connections.max.idle.ms",
        "controller.listener.names", "controller.quorum.voters", "default.replication.factor",
        "fetch.max.bytes", "fetch.max.wait.ms", "group.initial.rebalance.delay.ms", "group.max.size",
        "http.listeners", "inter.broker.listener.name", "listener.security.protocol.map", "listeners",
        "log.cleaner.backoff.ms", "log.cleaner.delete.retention.ms", "log.cleaner.enable",
        "log.cleaner.max.compaction.lag.ms", "log.cleaner.min.cleanable.ratio",
        "log.cleaner.min.compaction.lag.ms", "log.cleanup.policy", "log.dir", "log.dirs",
        "log.flush.interval.messages", "log.flush.interval.ms", "log.index.interval.bytes",
        "log.message.timestamp.type", "log.retention.bytes", "log.retention.check.interval.ms",
        "log.retention.hours", "log.retention.minutes", "log.retention.ms", "log.roll.hours", "log.roll.ms",
        "log.segment.bytes", "max.connections", "max.connections.per.ip", "message.max.bytes",
        "metadata.log.max.record.bytes.between.snapshots", "min.insync.replicas", "node.id", "num.partitions",
        "offsets.retention.check.interval.ms", "offsets.retention.minutes", "offsets.topic.num.partitions",
        "offsets.topic.replication.factor", "queued.max.request.bytes", "replica.fetch.wait.max.ms",
        "replica.lag.time.max.ms", "sasl.mechanism.controller.protocol", "sasl.mechanism.inter.broker.protocol",
        "socket.request.max.bytes", "super.users", "unclean.leader.election.enable", "zookeeper.connect",
    ]

    /// The known key closest to a mistyped one (at most two edits, or a third of its length
    /// for long keys), for the "unknown configuration" warning.
    public static func suggestion(for key: String) -> String? {
        let candidates = readKeys.union(acceptedOnly).union(securityKeys)
        let limit = max(2, key.count / 8)
        var best: (key: String, distance: Int)? = nil
        for k in candidates where abs(k.count - key.count) <= limit {
            let d = editDistance(Array(key.utf8), Array(k.utf8), limit: limit)
            guard d <= limit else { continue }
            if let b = best, d > b.distance || (d == b.distance && k > b.key) { continue }
            best = (k, d)
        }
        return best?.key
    }

    /// Levenshtein distance, giving up (returning limit + 1) once every path is past `limit`.
    static func editDistance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        guard a.count <= 200, b.count <= 200 else { return limit + 1 }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = Swift.min(
                    previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            if current.allSatisfy({ $0 > limit }) { return limit + 1 }
            previous = current
        }
        return previous[b.count]
    }

    /// Security keys read per listener (with `listener.name.<listener>.` first).
    static let securityKeys: Set<String> = [
        "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.certificate.chain", "ssl.keystore.key",
        "ssl.key.password", "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.certificates",
        "ssl.client.auth", "ssl.enabled.protocols", "ssl.cipher.suites", "sasl.enabled.mechanisms",
        "sasl.jaas.config", "plain.sasl.jaas.config", "scram-sha-256.sasl.jaas.config",
        "scram-sha-512.sasl.jaas.config", "ssl.endpoint.identification.algorithm", "ssl.principal.mapping.rules",
    ]

    public static func parse(
        _ text: String, source: String,
        readFile: (String) throws -> [UInt8] = { Array(try FileSystem.readText($0).utf8) }
    ) throws -> ServerConfig {
        var c = ServerConfig()
        var securityProps: [String: (value: String, line: Int)] = [:]
        var protocolMap: [String: SecurityProtocol] = [:]
        var b = BrokerConfig()
        var listeners: String? = nil
        var advertised: String? = nil
        var interBroker: String? = nil
        var controllerName = "CONTROLLER"
        var interBrokerMechanism: (value: String, line: Int)? = nil
        var controllerMechanism: (value: String, line: Int)? = nil
        var sawLogDirs = false
        var authorizerOn = false
        var superUsers = Set<String>()
        var allowEveryone = false
        // log.retention.{ms,minutes,hours} and log.roll.{ms,hours}: the most precise one wins.
        var retention: [Int64?] = [nil, nil, nil]
        var roll: [Int64?] = [nil, nil]
        for (key, value, line) in Properties.parseLines(text) {
            func bad(_ allowed: String) -> Invalid {
                Invalid(description: "\(source):\(line): invalid value '\(value)' for \(key): \(allowed)")
            }
            func int(_ range: ClosedRange<Int>) throws -> Int {
                guard let v = Int(value), range.contains(v) else {
                    throw bad("expected an integer from \(range.lowerBound) to \(range.upperBound)")
                }
                return v
            }
            func long(_ min: Int64, unitMs: Int64 = 1) throws -> Int64 {
                guard let v = Int64(value), v >= min else { throw bad("expected an integer of at least \(min)") }
                if v < 0 { return v }
                let (ms, overflow) = v.multipliedReportingOverflow(by: unitMs)
                return overflow ? Int64.max : ms
            }
            func bool() throws -> Bool {
                switch value.lowercased() {
                case "true": return true
                case "false": return false
                default: throw bad("expected true or false")
                }
            }
            switch key {
            case "node.id", "broker.id": b.nodeId = Int32(try int(0...Int(Int32.max)))
            case "listeners": listeners = value
            case "advertised.listeners": advertised = value
            case "inter.broker.listener.name": interBroker = value
            case "controller.listener.names":
                let names = value.split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
                guard let first = names.first, !first.isEmpty else {
                    throw bad("expected a listener name, e.g. CONTROLLER")
                }
                controllerName = first
                if names.count > 1 {
                    c.warnings.append(
                        "\(source):\(line): only the first of controller.listener.names is used: \(first)")
                }
            case "sasl.mechanism.inter.broker.protocol": interBrokerMechanism = (value, line)
            case "sasl.mechanism.controller.protocol": controllerMechanism = (value, line)
            case "log.dirs", "log.dir":
                guard !value.isEmpty else { throw bad("expected a directory path") }
                // Kafka allows a comma-separated list; Tern uses one directory per broker.
                b.logDirs = String(value.split(separator: ",")[0])
                if value.contains(",") {
                    c.warnings.append("\(source):\(line): only the first of log.dirs is used: \(b.logDirs)")
                }
                sawLogDirs = true
            case "num.partitions": b.numPartitions = Int32(try int(1...10_000))
            case "default.replication.factor": b.defaultReplicationFactor = Int16(try int(1...Int(Int16.max)))
            case "auto.create.topics.enable": b.autoCreateTopics = try bool()
            case "message.max.bytes": b.messageMaxBytes = try int(0...Int(Int32.max))
            case "socket.request.max.bytes": c.socketRequestMaxBytes = try int(1...Int(Int32.max))
            case "max.connections": c.connectionLimits.maxConnections = try int(1...Int(Int32.max))
            case "max.connections.per.ip": c.connectionLimits.maxConnectionsPerIp = try int(1...Int(Int32.max))
            case "connections.max.idle.ms": c.connectionLimits.idleMs = try long(-1)
            case "queued.max.request.bytes":
                // Kafka's -1 (no bound) is kept bounded: at least one largest frame, at most 2^40.
                let v = try long(-1)
                c.connectionLimits.queuedMaxRequestBytes = v < 0 ? 1 << 40 : Int(max(v, 1024))
            case "log.segment.bytes": b.logSegmentBytes = try int(14...Int(Int32.max))
            case "log.index.interval.bytes": b.logIndexIntervalBytes = try int(0...Int(Int32.max))
            case "log.flush.interval.messages": b.logFlushIntervalMessages = try int(1...Int.max)
            case "min.insync.replicas": b.minInsyncReplicas = Int32(try int(1...Int(Int32.max)))
            case "log.retention.hours": retention[2] = try long(-1, unitMs: 3_600_000)
            case "log.retention.minutes": retention[1] = try long(-1, unitMs: 60_000)
            case "log.retention.ms": retention[0] = try long(-1)
            case "log.retention.bytes": b.logRetentionBytes = try long(-1)
            case "log.retention.check.interval.ms": b.logRetentionCheckIntervalMs = try long(1)
            case "log.roll.hours": roll[1] = try long(1, unitMs: 3_600_000)
            case "log.roll.ms": roll[0] = try long(1)
            case "log.flush.interval.ms": b.logFlushIntervalMs = try long(0)
            case "log.cleanup.policy":
                guard TopicConfigs.known["cleanup.policy"]!(value) else {
                    throw bad("expected delete, compact or both")
                }
                b.logCleanupPolicy = value
            case "log.message.timestamp.type":
                guard ["CreateTime", "LogAppendTime"].contains(value) else {
                    throw bad("expected CreateTime or LogAppendTime")
                }
                b.logMessageTimestampType = value
            case "log.cleaner.min.compaction.lag.ms": b.logCleanerMinCompactionLagMs = try long(0)
            case "log.cleaner.max.compaction.lag.ms": b.logCleanerMaxCompactionLagMs = try long(1)
            case "log.cleaner.min.cleanable.ratio":
                guard let r = Double(value), (0...1).contains(r) else { throw bad("expected a ratio from 0 to 1") }
                b.logCleanerMinCleanableRatio = r
            case "log.cleaner.enable": b.logCleanerEnable = try bool()
            case "log.cleaner.backoff.ms": b.logCleanerBackoffMs = try long(1)
            case "log.cleaner.delete.retention.ms": b.logCleanerDeleteRetentionMs = try long(0)
            case "fetch.max.bytes": b.fetchMaxBytes = try int(1024...Int(Int32.max))
            case "group.max.size": b.groupMaxSize = try int(1...Int(Int32.max))
            case "replica.fetch.wait.max.ms", "fetch.max.wait.ms": b.maxFetchWaitMs = Int32(try int(0...Int(Int32.max)))
            case "controller.quorum.voters":
                c.voters = try value.split(separator: ",").map { entry in
                    let e = entry.trimmingCharacters(in: " \t\r\n")
                    let at = e.split(separator: "@", maxSplits: 1)
                    guard at.count == 2, let id = Int32(at[0]), let colon = at[1].lastIndex(of: ":"),
                        let port = Int(at[1][at[1].index(after: colon)...]), (1...65535).contains(port)
                    else {
                        throw bad(
                            "expected id@host:port entries separated by commas, e.g. 0@localhost:19092,1@localhost:19093"
                        )
                    }
                    return Voter(id: id, host: String(at[1][..<colon]), port: port)
                }
                if Set(c.voters.map(\.id)).count != c.voters.count { throw bad("a node id appears twice") }
            case "replica.lag.time.max.ms": b.replicaLagTimeMaxMs = try int(100...Int(Int32.max))
            case "unclean.leader.election.enable": b.uncleanLeaderElection = try bool()
            case "offsets.topic.num.partitions": b.offsetsTopicPartitions = Int32(try int(1...10_000))
            case "offsets.topic.replication.factor":
                b.offsetsTopicReplicationFactor = Int16(try int(1...Int(Int16.max)))
            case "group.initial.rebalance.delay.ms": b.groupInitialRebalanceDelayMs = try int(0...Int(Int32.max))
            case "offsets.retention.minutes": b.offsetsRetentionMinutes = try int(1...Int(Int32.max))
            case "offsets.retention.check.interval.ms": b.offsetsRetentionCheckIntervalMs = try int(1...Int(Int32.max))
            case "metadata.log.max.record.bytes.between.snapshots":
                c.metadataSnapshotEveryBytes = try int(1...Int(Int32.max))
            case "http.listeners":
                c.httpListenerSet = true
                if value.isEmpty || value.lowercased() == "none" {
                    c.httpListener = nil
                } else {
                    let rest = value.split(separator: ",")[0].split(separator: "://", maxSplits: 1)
                    let address = rest.count == 2 ? rest[1] : rest[0]
                    guard rest.count == 1 || rest[0].uppercased() == "HTTP", let colon = address.lastIndex(of: ":"),
                        let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port)
                    else { throw bad("expected HTTP://host:port (or none to turn the web console off)") }
                    let host = String(address[..<colon])
                    c.httpListener = (host.isEmpty ? "0.0.0.0" : host, port)
                }
            case "authorizer.class.name":
                switch value {
                case "": authorizerOn = false
                case "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                    "kafka.security.authorizer.AclAuthorizer",
                    "kafka.security.auth.SimpleAclAuthorizer":
                    authorizerOn = true
                default:
                    throw bad(
                        "Tern has one authorizer, Kafka's standard ACL authorizer: set org.apache.kafka.metadata.authorizer.StandardAuthorizer, or leave it empty for none"
                    )
                }
            case "super.users":
                for entry in value.split(separator: ";") {
                    let p = entry.trimmingCharacters(in: " \t")
                    guard let colon = p.firstIndex(of: ":"), colon != p.startIndex, p.index(after: colon) != p.endIndex
                    else { throw bad("expected principals like User:admin, separated by ';'") }
                    superUsers.insert(p)
                }
            case "allow.everyone.if.no.acl.found": allowEveryone = try bool()
            case "cluster.id":
                guard !value.isEmpty else { throw bad("expected a non-empty id") }
                c.clusterId = value
            case "listener.security.protocol.map":
                for entry in value.split(separator: ",") {
                    let kv = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: " \t") }
                    guard kv.count == 2, !kv[0].isEmpty, let p = SecurityProtocol(rawValue: kv[1].uppercased()) else {
                        throw bad("expected NAME:PROTOCOL entries (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)")
                    }
                    protocolMap[kv[0]] = p
                }
            case _ where securityKeys.contains(key):
                securityProps[key] = (value, line)
            case _ where key.hasPrefix("listener.name."):
                let rest = key.dropFirst("listener.name.".count)
                guard let dot = rest.firstIndex(of: "."), securityKeys.contains(String(rest[rest.index(after: dot)...]))
                else {
                    c.unknown(key, line: line, source: source)
                    break
                }
                securityProps[key] = (value, line)
            case "zookeeper.connect":
                throw Invalid(
                    description:
                        "\(source):\(line): zookeeper.connect is set, but Tern has no ZooKeeper: each broker runs a built-in controller (KRaft mode). Remove the line and set process.roles=broker,controller."
                )
            default:
                if !acceptedOnly.contains(key) { c.unknown(key, line: line, source: source) }
            }
        }
        if let ms = retention.compactMap({ $0 }).first { b.logRetentionMs = ms }
        if let ms = roll.compactMap({ $0 }).first { b.logRollMs = ms }
        if !sawLogDirs { c.warnings.append("\(source): log.dirs not set; using \(b.logDirs)") }
        if let listeners {
            let all = try Listener.parseList(listeners, key: "listeners", source: source).filter {
                $0.name != controllerName
            }
            guard !all.isEmpty else {
                throw Invalid(
                    description:
                        "\(source): listeners has no client listener (e.g. PLAINTEXT://localhost:9092): '\(listeners)'")
            }
            if Set(all.map(\.name)).count != all.count {
                throw Invalid(description: "\(source): listeners names a listener twice: '\(listeners)'")
            }
            let ads =
                try advertised.map {
                    try Listener.parseList($0, key: "advertised.listeners", source: source).filter {
                        $0.name != controllerName
                    }
                } ?? []
            for a in ads where !all.contains(where: { $0.name == a.name }) {
                throw Invalid(
                    description:
                        "\(source): advertised.listeners names \(a.name), which listeners does not have: '\(advertised ?? "")'"
                )
            }
            c.clientListeners = all.map { l in
                let a = ads.first { $0.name == l.name }
                let host = a?.host ?? l.host
                return ClientListener(
                    name: l.name, bindHost: l.host.isEmpty ? "0.0.0.0" : l.host, port: l.port,
                    advertisedHost: (host.isEmpty || host == "0.0.0.0") ? "localhost" : host,
                    advertisedPort: a?.port ?? l.port)
            }
            if let interBroker {
                guard let i = c.clientListeners.firstIndex(where: { $0.name == interBroker }) else {
                    throw Invalid(
                        description:
                            "\(source): inter.broker.listener.name=\(interBroker) is not one of the listeners (\(all.map(\.name).joined(separator: ", ")))"
                    )
                }
                c.clientListeners.insert(c.clientListeners.remove(at: i), at: 0)
            }
            let primary = c.clientListeners[0]
            c.listenHost = primary.bindHost
            c.listenPort = primary.port
            b.advertisedHost = primary.advertisedHost
            b.advertisedPort = Int32(primary.advertisedPort)
        }
        if let listeners,
            let controller = try Listener.parseList(listeners, key: "listeners", source: source).first(where: {
                $0.name == controllerName
            })
        {
            c.controllerListener = (controller.host.isEmpty ? "0.0.0.0" : controller.host, controller.port)
        }
        if !c.voters.isEmpty {
            guard c.voters.contains(where: { $0.id == b.nodeId }) else {
                throw Invalid(
                    description:
                        "\(source): node.id=\(b.nodeId) is not among controller.quorum.voters (\(c.voters.map(\.id)))")
            }
            guard c.voters.count == 1 || c.controllerListener != nil else {
                throw Invalid(
                    description:
                        "\(source): controller.quorum.voters names other nodes, so listeners needs a \(controllerName)://host:port entry"
                )
            }
            if c.clusterId == nil {
                c.clusterId = Self.derivedClusterId(from: c.voters)
                b.clusterIdIsDerived = true
            }
        }
        if let advertised, listeners == nil {
            if let a = try Listener.parseList(advertised, key: "advertised.listeners", source: source).first(where: {
                $0.name != controllerName
            }) {
                b.advertisedHost = a.host.isEmpty ? "localhost" : a.host
                b.advertisedPort = Int32(a.port)
            }
        }
        if c.clientListeners.isEmpty {
            c.clientListeners = [
                ClientListener(
                    name: "PLAINTEXT", bindHost: c.listenHost, port: c.listenPort, advertisedHost: b.advertisedHost,
                    advertisedPort: Int(b.advertisedPort))
            ]
        }
        b.interBrokerListener = c.clientListeners[0].name
        for l in c.clientListeners {
            let (security, warnings) = try ListenerSecurity.resolve(
                listener: l.name, protocolMap: protocolMap, props: securityProps, source: source, readFile: readFile)
            c.security[l.name] = security
            c.warnings += warnings
        }
        c.controllerListenerName = controllerName
        if c.controllerListener != nil {
            let (security, warnings) = try ListenerSecurity.resolve(
                listener: controllerName, protocolMap: protocolMap, props: securityProps, source: source,
                readFile: readFile)
            c.controllerSecurity = security
            c.warnings += warnings
            c.controllerClient = try ListenerSecurity.client(
                listener: controllerName, security: security, mechanismKey: "sasl.mechanism.controller.protocol",
                mechanism: controllerMechanism, props: securityProps, source: source, controller: true)
        }
        let inter = c.clientListeners[0].name
        c.interBrokerClient = try ListenerSecurity.client(
            listener: inter, security: c.security[inter] ?? ListenerSecurity(),
            mechanismKey: "sasl.mechanism.inter.broker.protocol", mechanism: interBrokerMechanism,
            props: securityProps, source: source, controller: false)
        if !c.httpListenerSet {
            c.httpListener = (c.clientListeners[0].bindHost, 8080 + Int(b.nodeId))
        }
        if authorizerOn {
            b.authorizer = AclAuthorizer(superUsers: superUsers, allowEveryoneIfNoAclFound: allowEveryone)
            if c.security[inter]?.securityProtocol == .plaintext && !superUsers.contains("User:ANONYMOUS") {
                c.warnings.append(
                    "\(source): followers fetch over the PLAINTEXT inter-broker listener \(inter) as User:ANONYMOUS: add it to super.users, or grant it CLUSTER_ACTION on the cluster, or replication stops"
                )
            }
            if c.controllerListener != nil, c.controllerSecurity.securityProtocol == .plaintext,
                !superUsers.contains("User:ANONYMOUS")
            {
                c.warnings.append(
                    "\(source): the nodes talk over the PLAINTEXT controller listener \(controllerName) as User:ANONYMOUS, which only super.users may do there (ACLs load from the quorum that needs it): add User:ANONYMOUS to super.users or secure the listener, or the quorum cannot form"
                )
            }
        }
        c.broker = b
        return c
    }
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

/// One entry of `listeners`: NAME://host:port.
struct Listener: Equatable {
    var name: String
    var host: String
    var port: Int

    static func parseList(_ text: String, key: String, source: String) throws -> [Listener] {
        try text.split(separator: ",").map { (raw: Substring) -> Listener in
            let entry = raw.trimmingCharacters(in: " \t\r\n")
            let parts = entry.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].hasSuffix(":"), parts[1].isEmpty else {
                throw ServerConfig.Invalid(
                    description:
                        "\(source): invalid \(key) entry '\(entry)': expected NAME://host:port, e.g. PLAINTEXT://localhost:9092"
                )
            }
            let name = String(parts[0].dropLast())
            let rest = parts[2]
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
                (0...65535).contains(port)
            else {
                throw ServerConfig.Invalid(
                    description:
                        "\(source): invalid \(key) entry '\(entry)': expected a port from 0 to 65535 after the host")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return Listener(name: name, host: host, port: port)
        }
    }
}
