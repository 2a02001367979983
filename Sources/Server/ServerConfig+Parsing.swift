import Broker
import KafkaProtocol
import Metadata
import Storage

extension ServerConfig {
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
            case "compression.type":
                guard TopicConfigs.known["compression.type"]!(value) else {
                    throw bad("expected producer, uncompressed, gzip, snappy, lz4 or zstd")
                }
                b.compressionType = value
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
            case "max.incremental.fetch.session.cache.slots": b.fetchSessionSlots = try int(0...100_000)
            case "group.max.size": b.groupMaxSize = try int(1...Int(Int32.max))
            case "replica.fetch.wait.max.ms", "fetch.max.wait.ms": b.maxFetchWaitMs = Int32(try int(0...Int(Int32.max)))
            case "broker.rack":
                // Kafka takes any string; one that a Metadata answer and a log line can carry.
                guard (1...255).contains(value.utf8.count), value.unicodeScalars.allSatisfy({ $0.value >= 0x20 })
                else { throw bad("expected a rack name of 1 to 255 printable characters") }
                b.rack = value
            case "replica.selector.class":
                guard let selector = ReplicaSelector(className: value) else {
                    throw bad(
                        "expected \(ReplicaSelector.rackAwareClass) (consumers with client.rack read from a replica in their rack) or \(ReplicaSelector.leaderClass)"
                    )
                }
                b.replicaSelector = selector
            case "process.roles":
                let roles = value.split(separator: ",").map { $0.trimmingCharacters(in: " \t\r\n") }
                guard !roles.isEmpty, roles.allSatisfy({ ["broker", "controller"].contains($0) }) else {
                    throw bad("expected broker or broker,controller")
                }
                guard roles.contains("broker") else {
                    throw bad(
                        "every Tern node serves clients, so a controller-only node is not offered: use broker,controller for a voter, broker for a node that only follows the quorum"
                    )
                }
                c.isController = roles.contains("controller")
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
            case "auto.leader.rebalance.enable": b.autoLeaderRebalance = try bool()
            case "leader.imbalance.per.broker.percentage": b.leaderImbalancePercent = try int(0...100)
            case "leader.imbalance.check.interval.seconds":
                b.leaderImbalanceCheckIntervalSeconds = try int(1...Int(Int32.max))
            case "offsets.topic.num.partitions": b.offsetsTopicPartitions = Int32(try int(1...10_000))
            case "offsets.topic.replication.factor":
                b.offsetsTopicReplicationFactor = Int16(try int(1...Int(Int16.max)))
            case "transaction.state.log.num.partitions": b.transactionTopicPartitions = Int32(try int(1...10_000))
            case "transaction.state.log.replication.factor":
                b.transactionTopicReplicationFactor = Int16(try int(1...Int(Int16.max)))
            case "transaction.state.log.min.isr": b.transactionTopicMinIsr = Int16(try int(1...Int(Int16.max)))
            case "transaction.max.timeout.ms": b.transactionMaxTimeoutMs = Int32(try int(1...Int(Int32.max)))
            case "transactional.id.expiration.ms": b.transactionalIdExpirationMs = Int64(try int(1...Int(Int32.max)))
            case "transaction.abort.timed.out.transaction.cleanup.interval.ms":
                b.transactionAbortCheckIntervalMs = try int(1...Int(Int32.max))
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
        if !c.isController {
            guard !c.voters.isEmpty else {
                throw Invalid(
                    description:
                        "\(source): process.roles=broker joins an existing quorum, so controller.quorum.voters must name its voters"
                )
            }
            guard !c.voters.contains(where: { $0.id == b.nodeId }) else {
                throw Invalid(
                    description:
                        "\(source): node.id=\(b.nodeId) is among controller.quorum.voters (\(c.voters.map(\.id))), so process.roles must be broker,controller"
                )
            }
            c.controllerListener = nil
        }
        if !c.voters.isEmpty {
            // A controller outside the voters follows the quorum as an observer until
            // `kafka-metadata-quorum.sh add-controller` makes it one (KIP-853): the voters then
            // reach it on its CONTROLLER listener.
            guard !c.isController || c.voters.contains(where: { $0.id == b.nodeId }) || c.controllerListener != nil
            else {
                throw Invalid(
                    description:
                        "\(source): node.id=\(b.nodeId) is not among controller.quorum.voters (\(c.voters.map(\.id))): a controller that joins them with kafka-metadata-quorum.sh add-controller needs a \(controllerName)://host:port entry in listeners; a node that only follows the quorum sets process.roles=broker"
                )
            }
            guard !c.isController || c.voters.count == 1 || c.controllerListener != nil else {
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
