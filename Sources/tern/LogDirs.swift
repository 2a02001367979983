import ArgumentParser
import KafkaClient
import KafkaProtocol
import Server

/// `tern log-dirs --describe` (`bin/kafka-log-dirs.sh`): what each broker holds on disk, per
/// replica, in Kafka's JSON.
struct LogDirs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log-dirs", abstract: "Describe the brokers' log directories (as kafka-log-dirs.sh --describe).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Describe the log directories (the only action).") var describe = false
    @Option(name: .customLong("broker-list"), help: "Comma-separated broker ids (default: every broker).")
    var brokerList: String?
    @Option(name: .customLong("topic-list"), help: "Comma-separated topics (default: every topic).")
    var topicList: String?

    func validate() throws {
        guard describe else { throw ValidationError("Command must include exactly one action: --describe") }
        guard connection.bootstrapServer != nil else {
            throw ValidationError("Missing required argument \"[bootstrap-server]\"")
        }
    }

    func run() async throws {
        let topics = topicList.map { $0.split(separator: ",").map(String.init).filter { !$0.isEmpty } }
        let client = try KafkaClient(
            bootstrapServers: try connection.servers(), clientId: "log-dirs", security: try connection.security())
        defer { Task { await client.close() } }
        try await exitingOnError(otherwise: "Error while describing log directories") {
            let cluster = Set(try await client.metadata(topics: []).brokers.map(\.nodeId))
            var brokers = cluster
            if let brokerList {
                let asked = try Set(
                    brokerList.split(separator: ",").map {
                        guard let id = Int32($0.trimmingCharacters(in: " ")) else {
                            throw CLIError("--broker-list needs broker ids separated by commas, not \(brokerList)")
                        }
                        return id
                    })
                let missing = asked.subtracting(cluster)
                if !missing.isEmpty {
                    throw CLIError(
                        "ERROR: The given brokers do not exist from --broker-list: \(missing.sorted().map(String.init).joined(separator: ",")). Current existent brokers: \(cluster.sorted().map(String.init).joined(separator: ","))"
                    )
                }
                brokers = asked
            }
            let order = brokers.sorted()
            print("Querying brokers for log directories information")
            var request = DescribeLogDirsRequest()
            if let topics {
                let md = try await client.metadata(topics: topics)
                request.topics = md.topics.compactMap { t in
                    t.name.map { .init(name: $0, partitions: t.partitions.map(\.partitionIndex)) }
                }
            }
            var parts: [String] = []
            for b in order {
                let r = try await client.send(request, toNode: b, as: DescribeLogDirsResponse.self)
                if r.errorCode != 0 { throw CLIError("broker \(b): \(ErrorCode(rawValue: r.errorCode))") }
                let dirs = r.results.map { d -> String in
                    let error = d.errorCode == 0 ? "null" : JSON.string("\(ErrorCode(rawValue: d.errorCode))")
                    let partitions = d.topics.flatMap { t in
                        t.partitions.map {
                            "{\"partition\":\(JSON.string("\(t.name)-\($0.partitionIndex)")),\"size\":\($0.partitionSize),\"offsetLag\":\($0.offsetLag),\"isFuture\":\($0.isFutureKey)}"
                        }
                    }
                    return
                        "{\"logDir\":\(JSON.string(d.logDir)),\"error\":\(error),\"partitions\":[\(partitions.joined(separator: ","))]}"
                }
                parts.append("{\"broker\":\(b),\"logDirs\":[\(dirs.joined(separator: ","))]}")
            }
            print("Received log directory information from brokers \(order.map(String.init).joined(separator: ","))")
            print("{\"version\":1,\"brokers\":[\(parts.joined(separator: ","))]}")
        }
    }
}
