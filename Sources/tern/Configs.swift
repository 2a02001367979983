import ArgumentParser
import KafkaClient
import KafkaProtocol

/// `tern configs` (`bin/kafka-configs.sh`): show and change topic configs, in the output format
/// of Kafka's tool. Broker settings are shown read-only: Tern takes them from server.properties.
struct Configs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "configs", abstract: "Describe or alter topic configs (as kafka-configs.sh).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Show the configs of an entity.") var describe = false
    @Flag(help: "Change the configs of an entity.") var alter = false
    @Option(name: .customLong("entity-type"), help: "topics or brokers.") var entityType: String?
    @Option(name: .customLong("entity-name"), help: "The topic name or broker id.") var entityName: String?
    @Option(help: "Shortcut for --entity-type topics --entity-name <topic>.") var topic: String?
    @Option(help: "Shortcut for --entity-type brokers --entity-name <id>.") var broker: String?
    @Option(name: .customLong("add-config"), help: "k1=v1,k2=[v2,v3] to set.") var addConfig: String?
    @Option(name: .customLong("delete-config"), help: "k1,k2 to remove (back to the default).")
    var deleteConfig: String?
    @Flag(help: "With --describe: every config, not only the dynamic ones.") var all = false

    var entity: (type: Int8, kind: String, name: String)? {
        if let topic { return (DescribeConfigsRequest.topicResource, "topic", topic) }
        if let broker { return (DescribeConfigsRequest.brokerResource, "broker", broker) }
        guard let entityType, let entityName else { return nil }
        return entityType == "topics"
            ? (DescribeConfigsRequest.topicResource, "topic", entityName)
            : (DescribeConfigsRequest.brokerResource, "broker", entityName)
    }

    func validate() throws {
        guard [describe, alter].filter({ $0 }).count == 1 else {
            throw ValidationError("Exactly one of --describe or --alter is required.")
        }
        if let t = entityType, !["topics", "brokers"].contains(t) {
            throw ValidationError("--entity-type must be topics or brokers, got '\(t)'.")
        }
        if entityType != nil && entityName == nil && topic == nil && broker == nil {
            throw ValidationError("--entity-name is required with --entity-type.")
        }
        if entity == nil {
            throw ValidationError("Name an entity: --topic <name>, or --entity-type topics --entity-name <name>.")
        }
        if alter {
            guard addConfig != nil || deleteConfig != nil else {
                throw ValidationError("--alter needs --add-config k=v[,k2=v2] and/or --delete-config k[,k2].")
            }
            if entity?.kind == "broker" {
                throw ValidationError(
                    "Tern has no dynamic broker configs: set them in the broker's server.properties and restart it.")
            }
            _ = try Self.parseAdd(addConfig ?? "")
        }
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
        let client = try KafkaClient(bootstrapServers: try connection.servers())
        defer { Task { await client.close() } }
        do {
            if describe {
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
                let dynamic = DescribeConfigsResponse.Source.dynamicTopic.rawValue
                print("\(all ? "All" : "Dynamic") configs for \(kind) \(name) are:")
                for c in result.configs.sorted(by: { $0.name < $1.name }) where all || c.configSource == dynamic {
                    let source =
                        switch DescribeConfigsResponse.Source(rawValue: c.configSource) {
                        case .dynamicTopic: "DYNAMIC_TOPIC_CONFIG"
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
                print("Completed updating config for \(kind) \(name).")
            }
        } catch let e as CLIError {
            printError(e.message)
            throw ExitCode(1)
        } catch {
            printError("Error while executing config command: \(error)")
            throw ExitCode(1)
        }
    }
}
