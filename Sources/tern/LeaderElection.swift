import ArgumentParser
import KafkaClient
import KafkaProtocol
import Storage

/// `tern leader-election` (`bin/kafka-leader-election.sh`): moves leadership back to preferred
/// replicas, or gives leaderless partitions a live replica, with Kafka's flags and output.
struct LeaderElection: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leader-election",
        abstract: "Elect partition leaders: preferred replicas, or unclean (as kafka-leader-election.sh).")

    @OptionGroup var connection: ConnectionOptions
    @Option(
        name: .customLong("election-type"),
        help: "PREFERRED (back to the first replica) or UNCLEAN (a live replica for a partition without a leader).")
    var electionType: String?
    @Flag(name: .customLong("all-topic-partitions"), help: "Every partition of the cluster.")
    var allTopicPartitions = false
    @Option(help: "One topic (with --partition).") var topic: String?
    @Option(help: "The partition of --topic.") var partition: Int32?
    @Option(
        name: .customLong("path-to-json-file"),
        help: #"JSON: {"partitions": [{"topic": "foo", "partition": 1}, {"topic": "bar", "partition": 2}]}"#)
    var pathToJsonFile: String?

    /// (topic, partition) pairs from the JSON file's text; a pair named twice is refused.
    static func parse(_ text: String) throws -> [(String, Int32)] {
        var parser = JSONParser(text)
        guard case .object(let root) = try parser.document() else {
            throw CLIError("Replica election data is empty")
        }
        guard case .array(let parts)? = root["partitions"] else {
            throw CLIError("Replica election data is missing \"partitions\" field")
        }
        let pairs = try parts.enumerated().map { i, p -> (String, Int32) in
            guard case .object(let o) = p, case .string(let topic)? = o["topic"],
                case .number(let partition)? = o["partition"], partition >= 0, partition <= Double(Int32.max),
                partition == partition.rounded()
            else { throw CLIError("partitions[\(i)] needs \"topic\" (a string) and \"partition\" (a number ≥ 0)") }
            return (topic, Int32(partition))
        }
        var seen = Set<String>()
        let twice = pairs.map { "\($0.0)-\($0.1)" }.filter { !seen.insert($0).inserted }
        if !twice.isEmpty {
            throw CLIError(
                "Replica election data contains duplicate partitions: \(Set(twice).sorted().joined(separator: ","))")
        }
        return pairs
    }

    func validate() throws {
        var missing: [String] = []
        if connection.bootstrapServer == nil { missing.append("bootstrap-server") }
        if electionType == nil { missing.append("election-type") }
        if !missing.isEmpty { throw ValidationError("Missing required option(s): \(missing.joined(separator: ", "))") }
        guard ["PREFERRED", "UNCLEAN"].contains(electionType!.uppercased()) else {
            throw ValidationError("--election-type must be PREFERRED or UNCLEAN, not \(electionType!)")
        }
        let chosen = [topic != nil, allTopicPartitions, pathToJsonFile != nil].filter { $0 }.count
        if chosen != 1 {
            throw ValidationError(
                "One and only one of the following options is required: topic, all-topic-partitions, path-to-json-file")
        }
        if topic != nil && partition == nil { throw ValidationError("Missing required option(s): partition") }
        if topic == nil && partition != nil {
            throw ValidationError("Option partition is only allowed if topic is used")
        }
    }

    func run() async throws {
        let type = electionType!.uppercased()
        var request = ElectLeadersRequest()
        request.electionType = type == "UNCLEAN" ? ElectLeadersRequest.unclean : ElectLeadersRequest.preferred
        if let topic, let partition {
            request.topicPartitions = [.init(name: topic, partitions: [partition])]
        } else if let pathToJsonFile {
            let pairs = try await exitingOnError(otherwise: "Could not read \(pathToJsonFile)") {
                try Self.parse(try FileSystem.readText(pathToJsonFile))
            }
            request.topicPartitions = NamedTopic.grouping(pairs)
        }
        let client = try KafkaClient(
            bootstrapServers: try connection.servers(), clientId: "leader-election", security: try connection.security()
        )
        defer { Task { await client.close() } }
        let response = try await exitingOnError(otherwise: "Error while making request") {
            try await client.send(request, as: ElectLeadersResponse.self)
        }
        if response.errorCode == ErrorCode.clusterAuthorizationFailed.rawValue {
            print("Not authorized to perform leader election")
            throw ExitCode(1)
        }
        var succeeded: [String] = []
        var noop: [String] = []
        var failed: [(String, ErrorCode, String?)] = []
        for t in response.replicaElectionResults {
            for p in t.partitions {
                let name = "\(t.name)-\(p.partitionId)"
                switch ErrorCode(rawValue: p.errorCode) {
                case .none: succeeded.append(name)
                case .electionNotNeeded: noop.append(name)
                default: failed.append((name, ErrorCode(rawValue: p.errorCode), p.errorMessage))
                }
            }
        }
        if !succeeded.isEmpty {
            print(
                "Successfully completed leader election (\(type)) for partitions \(succeeded.joined(separator: ", "))")
        }
        if !noop.isEmpty { print("Valid replica already elected for partitions \(noop.joined(separator: ", "))") }
        for (name, code, message) in failed {
            print("Error completing leader election (\(type)) for partition: \(name): \(code.name): \(message ?? "")")
        }
        if !failed.isEmpty {
            printError("\(failed.count) replica(s) could not be elected")
            throw ExitCode(1)
        }
    }
}
