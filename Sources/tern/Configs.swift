import ArgumentParser
import KafkaClient
import KafkaProtocol
import NIOCore
import Security

/// `tern configs` (`bin/kafka-configs.sh`): show and change topic configs and users' SCRAM
/// credentials, in the output format of Kafka's tool. Broker settings are shown read-only: Tern
/// takes them from server.properties.
struct Configs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "configs", abstract: "Describe or alter topic configs (as kafka-configs.sh).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Show the configs of an entity.") var describe = false
    @Flag(help: "Change the configs of an entity.") var alter = false
    @Option(name: .customLong("entity-type"), help: "topics, brokers or users.") var entityType: String?
    @Option(name: .customLong("entity-name"), help: "The topic name, broker id or user name.") var entityName: String?
    @Option(help: "Shortcut for --entity-type users --entity-name <user>.") var user: String?
    @Option(help: "Shortcut for --entity-type topics --entity-name <topic>.") var topic: String?
    @Option(help: "Shortcut for --entity-type brokers --entity-name <id>.") var broker: String?
    @Option(name: .customLong("add-config"), help: "k1=v1,k2=[v2,v3] to set.") var addConfig: String?
    @Option(name: .customLong("delete-config"), help: "k1,k2 to remove (back to the default).")
    var deleteConfig: String?
    @Flag(help: "With --describe: every config, not only the dynamic ones.") var all = false
    @Flag(name: .customLong("entity-default"), help: "With --entity-type brokers: the default of every broker.")
    var entityDefault = false

    var entity: (type: Int8, kind: String, name: String)? {
        if let user { return (-1, "user", user) }
        if entityType == "users" {
            return entityName.map { (-1, "user", $0) } ?? (describe ? (-1, "user", "") : nil)
        }
        if let topic { return (DescribeConfigsRequest.topicResource, "topic", topic) }
        if let broker { return (DescribeConfigsRequest.brokerResource, "broker", broker) }
        if entityType == "brokers" && entityDefault { return (DescribeConfigsRequest.brokerResource, "broker", "") }
        guard let entityType, let entityName else { return nil }
        return entityType == "topics"
            ? (DescribeConfigsRequest.topicResource, "topic", entityName)
            : (DescribeConfigsRequest.brokerResource, "broker", entityName)
    }

    func validate() throws {
        guard [describe, alter].filter({ $0 }).count == 1 else {
            throw ValidationError("Exactly one of --describe or --alter is required.")
        }
        if let t = entityType, !["topics", "brokers", "users"].contains(t) {
            throw ValidationError("--entity-type must be topics, brokers or users, got '\(t)'.")
        }
        if entityType != nil && entityType != "users" && entityName == nil && topic == nil && broker == nil
            && !entityDefault
        {
            throw ValidationError("--entity-name is required with --entity-type.")
        }
        if entity == nil {
            throw ValidationError("Name an entity: --topic <name>, or --entity-type topics --entity-name <name>.")
        }
        if alter {
            guard addConfig != nil || deleteConfig != nil else {
                throw ValidationError("--alter needs --add-config k=v[,k2=v2] and/or --delete-config k[,k2].")
            }
            let pairs = try Self.parseAdd(addConfig ?? "")
            if entity?.kind == "user" {
                guard entity?.name.isEmpty == false else {
                    throw ValidationError("--alter needs --entity-name <user>.")
                }
                for (k, v) in pairs { _ = try Self.scramUpsertion(k, v) }
                for k in (deleteConfig ?? "").split(separator: ",") where ScramMechanism(rawValue: String(k)) == nil {
                    throw ValidationError(
                        "--delete-config for users takes SCRAM-SHA-256 and/or SCRAM-SHA-512, got '\(k)'.")
                }
            }
        }
    }

    /// `SCRAM-SHA-256=[iterations=8192,password=alice-secret]`: the mechanism, iterations
    /// (4096 when not given) and password.
    static func scramUpsertion(_ key: String, _ value: String) throws -> (ScramMechanism, Int32, String) {
        guard let m = ScramMechanism(rawValue: key) else {
            throw ValidationError(
                "--add-config for users takes SCRAM-SHA-256=[...] or SCRAM-SHA-512=[...], got '\(key)'.")
        }
        var iterations: Int32 = 4096
        var password: String? = nil
        for part in value.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else {
                throw ValidationError("\(key): expected iterations=N,password=P, got '\(part)'.")
            }
            switch kv[0] {
            case "iterations":
                guard let n = Int32(kv[1]), ScramMechanism.iterationRange.contains(n) else {
                    throw ValidationError(
                        "\(key): iterations must be from \(ScramMechanism.iterationRange.lowerBound) to \(ScramMechanism.iterationRange.upperBound), got '\(kv[1])'."
                    )
                }
                iterations = n
            case "password": password = kv[1]
            default: throw ValidationError("\(key): unknown setting '\(kv[0])' (iterations, password).")
            }
        }
        guard let password, !password.isEmpty else { throw ValidationError("\(key): password=... is required.") }
        return (m, iterations, password)
    }

    func runUsers(_ client: KafkaClient, _ name: String) async throws {
        if describe {
            var req = DescribeUserScramCredentialsRequest()
            if !name.isEmpty {
                var u = DescribeUserScramCredentialsRequest.User()
                u.name = name
                req.users = [u]
            }
            let resp = try await client.send(req, as: DescribeUserScramCredentialsResponse.self)
            if resp.errorCode != 0 {
                throw CLIError(
                    "Error while executing config command: \(resp.errorMessage ?? ErrorCode(rawValue: resp.errorCode).name)"
                )
            }
            for r in resp.results {
                if r.errorCode == ErrorCode.resourceNotFound.rawValue { continue }
                if r.errorCode != 0 {
                    throw CLIError(
                        "Error while executing config command: \(r.errorMessage ?? ErrorCode(rawValue: r.errorCode).name)"
                    )
                }
                let infos = r.credentialInfos.compactMap { c in
                    ScramMechanism(kafkaType: c.mechanism).map { "\($0.rawValue)=iterations=\(c.iterations)" }
                }
                print("SCRAM credential configs for user-principal '\(r.user)' are \(infos.joined(separator: ", "))")
            }
            return
        }
        var req = AlterUserScramCredentialsRequest()
        var g = SystemRandomNumberGenerator()
        for (k, v) in try Self.parseAdd(addConfig ?? "") {
            let (m, iterations, password) = try Self.scramUpsertion(k, v)
            var u = AlterUserScramCredentialsRequest.Upsertion()
            u.name = name
            u.mechanism = m.kafkaType
            u.iterations = iterations
            let salt = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
            u.salt = ByteBuffer(bytes: salt)
            u.saltedPassword = ByteBuffer(bytes: m.saltedPassword(password, salt: salt, iterations: iterations))
            req.upsertions.append(u)
        }
        for k in (deleteConfig ?? "").split(separator: ",") {
            guard let m = ScramMechanism(rawValue: String(k)) else {
                throw CLIError("--delete-config for users takes SCRAM-SHA-256 and/or SCRAM-SHA-512, got '\(k)'.")
            }
            var d = AlterUserScramCredentialsRequest.Deletion()
            d.name = name
            d.mechanism = m.kafkaType
            req.deletions.append(d)
        }
        // One user's changes travel one per request: the controller refuses a user twice in one.
        var changes: [AlterUserScramCredentialsRequest] = []
        for u in req.upsertions {
            var one = AlterUserScramCredentialsRequest()
            one.upsertions = [u]
            changes.append(one)
        }
        for d in req.deletions {
            var one = AlterUserScramCredentialsRequest()
            one.deletions = [d]
            changes.append(one)
        }
        for change in changes {
            let resp = try await client.send(change, as: AlterUserScramCredentialsResponse.self)
            for r in resp.results where r.errorCode != 0 {
                throw CLIError(
                    "Error while executing config command: \(r.errorMessage ?? ErrorCode(rawValue: r.errorCode).name)")
            }
        }
        print("Completed updating config for user \(name).")
    }

    /// Splits `k1=v1,k2=[a,b]` into pairs; brackets keep a list value's commas.
    static func parseAdd(_ text: String) throws -> [(String, String)] {
        var pairs: [(String, String)] = []
        var current = ""
        var depth = 0
        for ch in text + "," {
            if ch == "[" { depth += 1 } else if ch == "]" { depth -= 1 }
            if ch == "," && depth == 0 {
                if !current.isEmpty {
                    guard let eq = current.firstIndex(of: "="), eq != current.startIndex else {
                        throw ValidationError("--add-config expects key=value, got '\(current)'.")
                    }
                    var value = String(current[current.index(after: eq)...])
                    if value.hasPrefix("[") && value.hasSuffix("]") { value = String(value.dropFirst().dropLast()) }
                    pairs.append((String(current[..<eq]), value))
                }
                current = ""
            } else {
                current.append(ch)
            }
        }
        return pairs
    }

    func run() async throws {
        let (type, kind, name) = entity!
        let client = try KafkaClient(bootstrapServers: try connection.servers(), security: try connection.security())
        defer { Task { await client.close() } }
        try await exitingOnError(otherwise: "Error while executing config command") {
            if kind == "user" {
                try await runUsers(client, name)
            } else if describe {
                var r = DescribeConfigsRequest.Resource()
                r.resourceType = type
                r.resourceName = name
                var req = DescribeConfigsRequest()
                req.resources = [r]
                let resp = try await client.send(req, as: DescribeConfigsResponse.self)
                guard let result = resp.results.first else { throw CLIError("no answer for \(kind) \(name)") }
                if result.errorCode != 0 {
                    throw CLIError(
                        "Error while executing config command: \(result.errorMessage ?? ErrorCode(rawValue: result.errorCode).name)"
                    )
                }
                let dynamic: Set<Int8> = [
                    DescribeConfigsResponse.Source.dynamicTopic.rawValue,
                    DescribeConfigsResponse.Source.dynamicBroker.rawValue,
                    DescribeConfigsResponse.Source.dynamicDefaultBroker.rawValue,
                ]
                print(
                    name.isEmpty
                        ? "\(all ? "All" : "Default") configs for brokers in the cluster are:"
                        : "\(all ? "All" : "Dynamic") configs for \(kind) \(name) are:")
                for c in result.configs.sorted(by: { $0.name < $1.name }) where all || dynamic.contains(c.configSource)
                {
                    let source =
                        switch DescribeConfigsResponse.Source(rawValue: c.configSource) {
                        case .dynamicTopic: "DYNAMIC_TOPIC_CONFIG"
                        case .dynamicBroker: "DYNAMIC_BROKER_CONFIG"
                        case .dynamicDefaultBroker: "DYNAMIC_DEFAULT_BROKER_CONFIG"
                        case .staticBroker: "STATIC_BROKER_CONFIG"
                        default: "DEFAULT_CONFIG"
                        }
                    let value = c.value ?? "null"
                    print("  \(c.name)=\(value) sensitive=false synonyms={\(source):\(c.name)=\(value)}")
                }
            } else {
                var r = IncrementalAlterConfigsRequest.Resource()
                r.resourceType = type
                r.resourceName = name
                r.configs = try Self.parseAdd(addConfig ?? "").map { .init(name: $0.0, operation: .set, value: $0.1) }
                for k in (deleteConfig ?? "").split(separator: ",") {
                    r.configs.append(.init(name: String(k), operation: .delete, value: nil))
                }
                var req = IncrementalAlterConfigsRequest()
                req.resources = [r]
                let resp = try await client.send(req, as: IncrementalAlterConfigsResponse.self)
                for res in resp.responses where res.errorCode != 0 {
                    throw CLIError(
                        "Error while executing config command: \(res.errorMessage ?? ErrorCode(rawValue: res.errorCode).name)"
                    )
                }
                print(
                    name.isEmpty
                        ? "Completed updating default config for brokers in the cluster."
                        : "Completed updating config for \(kind) \(name).")
            }
        }
    }
}
