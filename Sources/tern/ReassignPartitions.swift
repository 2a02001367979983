import ArgumentParser
import KafkaClient
import KafkaProtocol
import Metadata
import Server
import Storage

/// `tern reassign-partitions` (`bin/kafka-reassign-partitions.sh`): proposes, starts, checks,
/// lists and cancels partition moves with Kafka's flags, JSON files and output.
struct ReassignPartitions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reassign-partitions",
        abstract: "Move partitions between brokers (as kafka-reassign-partitions.sh).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Propose a reassignment of --topics-to-move-json-file onto --broker-list.") var generate = false
    @Flag(help: "Start the reassignment in --reassignment-json-file.") var execute = false
    @Flag(help: "Say whether the reassignment in --reassignment-json-file has completed.") var verify = false
    @Flag(help: "Cancel the reassignment in --reassignment-json-file.") var cancel = false
    @Flag(help: "List the reassignments in progress.") var list = false
    @Option(
        name: .customLong("topics-to-move-json-file"),
        help: #"JSON: {"topics": [{"topic": "foo"}], "version": 1}"#)
    var topicsToMoveJsonFile: String?
    @Option(name: .customLong("broker-list"), help: "The brokers to move the topics to, as \"0,1,2\".")
    var brokerList: String?
    @Option(
        name: .customLong("reassignment-json-file"),
        help: #"JSON: {"version": 1, "partitions": [{"topic": "foo", "partition": 0, "replicas": [1, 2]}]}"#)
    var reassignmentJsonFile: String?
    @Flag(name: .customLong("additional"), help: "Start moves while others are in progress.") var additional = false
    @Option(
        help:
            "With --execute: replication throttle in B/s for the moving replicas (cleared by --verify once the moves are done)."
    )
    var throttle: Int64?
    @Flag(name: .customLong("preserve-throttles"), help: "With --verify: keep the throttles once the moves are done.")
    var preserveThrottles = false
    @Flag(
        name: .customLong("disable-rack-aware"),
        help: "Propose replicas without spreading them over the brokers' racks (broker.rack).")
    var disableRackAware = false
    @Option(help: "Milliseconds to wait for the requests (default 10000).") var timeout: Int32 = 10_000

    typealias Assignment = [(topic: String, partition: Int32, replicas: [Int32])]

    func validate() throws {
        if connection.bootstrapServer == nil { throw ValidationError("Missing required option(s): bootstrap-server") }
        let actions = [generate, execute, verify, cancel, list].filter { $0 }.count
        guard actions == 1 else {
            throw ValidationError(
                "Command must include exactly one action: --generate, --execute, --verify, --cancel, or --list")
        }
        if generate {
            var missing: [String] = []
            if topicsToMoveJsonFile == nil { missing.append("topics-to-move-json-file") }
            if brokerList == nil { missing.append("broker-list") }
            if !missing.isEmpty {
                throw ValidationError("Missing required option(s): \(missing.joined(separator: ", "))")
            }
        }
        if (execute || verify || cancel) && reassignmentJsonFile == nil {
            throw ValidationError("Missing required option(s): reassignment-json-file")
        }
        if let throttle, throttle < 1 { throw ValidationError("--throttle must be a positive number of B/s") }
    }

    // MARK: - JSON files

    /// The partitions and replicas of a reassignment file; a partition named twice is refused.
    static func parseAssignment(_ text: String) throws -> Assignment {
        var parser = JSONParser(text)
        guard case .object(let root) = try parser.document() else {
            throw CLIError("The reassignment file is not a JSON object")
        }
        guard case .array(let parts)? = root["partitions"] else {
            throw CLIError("The reassignment file is missing the \"partitions\" field")
        }
        var seen = Set<String>()
        return try parts.enumerated().map { i, p in
            guard case .object(let o) = p, case .string(let topic)? = o["topic"],
                case .number(let partition)? = o["partition"], let index = Self.int32(partition), index >= 0,
                case .array(let rs)? = o["replicas"]
            else {
                throw CLIError(
                    "partitions[\(i)] needs \"topic\" (a string), \"partition\" (a number ≥ 0) and \"replicas\" (an array of broker ids)"
                )
            }
            let replicas = try rs.map { r -> Int32 in
                guard case .number(let n) = r, let id = Self.int32(n), id >= 0 else {
                    throw CLIError("partitions[\(i)]: replicas must be broker ids (numbers ≥ 0)")
                }
                return id
            }
            if replicas.isEmpty { throw CLIError("Partition \(topic)-\(index) has an empty replica list") }
            if Set(replicas).count != replicas.count {
                throw CLIError("Partition \(topic)-\(index) has duplicate replicas: \(replicas)")
            }
            guard seen.insert("\(topic)-\(index)").inserted else {
                throw CLIError("Reassignment data contains duplicate partitions: \(topic)-\(index)")
            }
            return (topic, index, replicas)
        }
    }

    static func int32(_ d: Double) -> Int32? {
        d == d.rounded() && d >= Double(Int32.min) && d <= Double(Int32.max) ? Int32(d) : nil
    }

    static func parseTopics(_ text: String) throws -> [String] {
        var parser = JSONParser(text)
        guard case .object(let root) = try parser.document(), case .array(let ts)? = root["topics"] else {
            throw CLIError("The topics-to-move file needs a \"topics\" array")
        }
        let names = try ts.enumerated().map { i, t -> String in
            guard case .object(let o) = t, case .string(let name)? = o["topic"] else {
                throw CLIError("topics[\(i)] needs \"topic\" (a string)")
            }
            return name
        }
        if names.isEmpty { throw CLIError("The topics-to-move file names no topic") }
        return names
    }

    /// Kafka's form: {"version":1,"partitions":[{"topic":…,"partition":…,"replicas":[…],"log_dirs":[…]}]}.
    static func json(_ a: Assignment) -> String {
        let parts = a.map { e in
            "{\"topic\":\(JSON.string(e.topic)),\"partition\":\(e.partition),\"replicas\":[\(e.replicas.map(String.init).joined(separator: ","))],\"log_dirs\":[\(e.replicas.map { _ in "\"any\"" }.joined(separator: ","))]}"
        }
        return "{\"version\":1,\"partitions\":[\(parts.joined(separator: ","))]}"
    }

    /// Partitions moved onto `brokers` (sorted), each topic keeping its replication factor:
    /// replicas rotate over the brokers so leaders spread, and over `racks` where brokers have
    /// them, as a new topic's would.
    static func propose(_ current: Assignment, onto brokers: [Int32], racks: [Int32: String] = [:]) throws
        -> Assignment
    {
        var out: Assignment = []
        var start = 0
        var byTopic: [String: [(Int32, [Int32])]] = [:]
        var order: [String] = []
        for e in current {
            if byTopic[e.topic] == nil { order.append(e.topic) }
            byTopic[e.topic, default: []].append((e.partition, e.replicas))
        }
        for topic in order {
            let parts = (byTopic[topic] ?? []).sorted { $0.0 < $1.0 }
            let rf = parts.first?.1.count ?? 1
            guard rf <= brokers.count else {
                throw CLIError(
                    "Replication factor: \(rf) larger than available brokers: \(brokers.count) for topic \(topic).")
            }
            let placed = Racks.placement(
                brokers: brokers, racks: racks, count: parts.count, replicationFactor: rf, start: start)
            for (i, p) in parts.enumerated() { out.append((topic, p.0, placed[i])) }
            start += parts.count
        }
        return out
    }

    // MARK: - Actions

    func run() async throws {
        let client = try KafkaClient(
            bootstrapServers: try connection.servers(), clientId: "reassign-partitions",
            security: try connection.security())
        defer { Task { await client.close() } }
        if generate { return try await runGenerate(client) }
        if list { return try await runList(client) }
        let wanted = try await exitingOnError(otherwise: "Could not read \(reassignmentJsonFile!)") {
            try Self.parseAssignment(try FileSystem.readText(reassignmentJsonFile!))
        }
        if execute { return try await runExecute(client, wanted) }
        if verify { return try await runVerify(client, wanted) }
        try await runCancel(client, wanted)
    }

    /// Each partition's replicas now, of `topics`; a topic that does not exist stops the command.
    func current(_ client: KafkaClient, topics: [String]) async throws -> Assignment {
        let md = try await exitingOnError(otherwise: "Error while reading metadata") {
            try await client.metadata(topics: Array(Set(topics)).sorted())
        }
        var out: Assignment = []
        for t in md.topics.sorted(by: { ($0.name ?? "") < ($1.name ?? "") }) {
            let name = t.name ?? ""
            guard t.errorCode == 0 else {
                printError("Error: topic \(name): \(ErrorCode(rawValue: t.errorCode).name)")
                throw ExitCode(1)
            }
            for p in t.partitions.sorted(by: { $0.partitionIndex < $1.partitionIndex }) {
                out.append((name, p.partitionIndex, p.replicaNodes))
            }
        }
        return out
    }

    func reassignments(_ client: KafkaClient, _ topics: [ListPartitionReassignmentsRequest.Topic]?) async throws
        -> [String: ListPartitionReassignmentsResponse.Partition]
    {
        var request = ListPartitionReassignmentsRequest()
        request.timeoutMs = timeout
        request.topics = topics
        let r = try await exitingOnError(otherwise: "Error while listing reassignments") {
            try await client.send(request, as: ListPartitionReassignmentsResponse.self)
        }
        guard r.errorCode == 0 else {
            printError(
                "Error listing reassignments: \(ErrorCode(rawValue: r.errorCode).name): \(r.errorMessage ?? "")")
            throw ExitCode(1)
        }
        var out: [String: ListPartitionReassignmentsResponse.Partition] = [:]
        for t in r.topics { for p in t.partitions { out["\(t.name)-\(p.partitionIndex)"] = p } }
        return out
    }

    static func grouped(_ a: Assignment) -> [ListPartitionReassignmentsRequest.Topic] {
        NamedTopic.grouping(a.map { ($0.topic, $0.partition) })
    }

    func runGenerate(_ client: KafkaClient) async throws {
        let topics = try await exitingOnError(otherwise: "Could not read \(topicsToMoveJsonFile!)") {
            try Self.parseTopics(try FileSystem.readText(topicsToMoveJsonFile!))
        }
        let brokers = try (brokerList ?? "").split(separator: ",").map { s -> Int32 in
            guard let id = Int32(s.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                throw ValidationError("--broker-list must be broker ids separated by commas, not \(brokerList!)")
            }
            return id
        }
        guard !brokers.isEmpty, Set(brokers).count == brokers.count else {
            throw ValidationError("--broker-list names no broker, or one twice: \(brokerList!)")
        }
        let now = try await current(client, topics: topics)
        var racks: [Int32: String] = [:]
        if !disableRackAware {
            let md = try await exitingOnError(otherwise: "Could not read the brokers' racks") {
                try await client.metadata(topics: [])
            }
            for b in md.brokers { if let r = b.rack, brokers.contains(b.nodeId) { racks[b.nodeId] = r } }
        }
        let proposed = try await exitingOnError(otherwise: "Cannot propose a reassignment") {
            try Self.propose(now, onto: brokers.sorted(), racks: racks)
        }
        print("Current partition replica assignment")
        print(Self.json(now))
        print("")
        print("Proposed partition reassignment configuration")
        print(Self.json(proposed))
    }

    func runExecute(_ client: KafkaClient, _ wanted: Assignment) async throws {
        let moving = try await reassignments(client, nil)
        if !moving.isEmpty && !additional {
            printError(
                "Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one."
            )
            throw ExitCode(1)
        }
        let now = try await current(client, topics: wanted.map(\.topic))
        let known = Set(now.map { "\($0.topic)-\($0.partition)" })
        let missing = wanted.map { "\($0.topic)-\($0.partition)" }.filter { !known.contains($0) }
        if !missing.isEmpty {
            printError("Error: the following partitions do not exist: \(missing.joined(separator: ","))")
            throw ExitCode(1)
        }
        let rollback = now.filter { e in wanted.contains { $0.topic == e.topic && $0.partition == e.partition } }
        print("Current partition replica assignment\n")
        print(Self.json(rollback))
        print("\nSave this to use as the --reassignment-json-file option during rollback")
        if let throttle {
            try await setThrottles(client, rate: throttle, wanted: wanted, now: rollback)
            print(
                "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed."
            )
            print("The inter-broker throttle limit was set to \(throttle) B/s")
        }
        let failed = try await alter(client, wanted.map { ($0.topic, $0.partition, $0.replicas) })
        if !failed.isEmpty {
            print("Error reassigning partition(s):")
            for f in failed { print(f) }
            throw ExitCode(1)
        }
        print(
            "Successfully started partition reassignments for \(wanted.map { "\($0.topic)-\($0.partition)" }.joined(separator: ","))"
        )
    }

    /// Kafka's throttles for a reassignment: both rates on every broker that holds or receives a
    /// moving replica; per topic, the moving partitions' current replicas as leader-side
    /// throttled and their new replicas as follower-side throttled (added to any lists there).
    func setThrottles(_ client: KafkaClient, rate: Int64, wanted: Assignment, now: Assignment) async throws {
        var brokers = Set<Int32>()
        var leaders: [String: [String]] = [:]
        var followers: [String: [String]] = [:]
        for w in wanted {
            let current = now.first { $0.topic == w.topic && $0.partition == w.partition }?.replicas ?? []
            brokers.formUnion(current)
            brokers.formUnion(w.replicas)
            leaders[w.topic, default: []] += current.map { "\(w.partition):\($0)" }
            followers[w.topic, default: []] += w.replicas.filter { !current.contains($0) }.map {
                "\(w.partition):\($0)"
            }
        }
        try await changeConfigs(
            client,
            brokers.sorted().map { b in
                (
                    DescribeConfigsRequest.brokerResource, String(b),
                    [ReplicationThrottle.leaderRate, ReplicationThrottle.followerRate].map {
                        IncrementalAlterConfigsRequest.Config(name: $0, operation: .set, value: String(rate))
                    }
                )
            })
        try await changeConfigs(
            client,
            Set(wanted.map(\.topic)).sorted().map { t in
                var configs: [IncrementalAlterConfigsRequest.Config] = []
                if let l = leaders[t], !l.isEmpty {
                    configs.append(
                        .init(
                            name: ReplicationThrottle.leaderReplicas, operation: .append,
                            value: l.joined(separator: ",")))
                }
                if let f = followers[t], !f.isEmpty {
                    configs.append(
                        .init(
                            name: ReplicationThrottle.followerReplicas, operation: .append,
                            value: f.joined(separator: ",")))
                }
                return (DescribeConfigsRequest.topicResource, t, configs)
            }.filter { !$0.2.isEmpty })
    }

    /// One IncrementalAlterConfigs; any resource refused ends the tool with its reason.
    func changeConfigs(_ client: KafkaClient, _ changes: [(Int8, String, [IncrementalAlterConfigsRequest.Config])])
        async throws
    {
        guard !changes.isEmpty else { return }
        var request = IncrementalAlterConfigsRequest()
        request.resources = changes.map { type, name, configs in
            var r = IncrementalAlterConfigsRequest.Resource()
            r.resourceType = type
            r.resourceName = name
            r.configs = configs
            return r
        }
        let r = try await exitingOnError(otherwise: "Error while setting the replication throttles") {
            try await client.send(request, as: IncrementalAlterConfigsResponse.self)
        }
        for res in r.responses where res.errorCode != 0 {
            printError(
                "Error while setting the replication throttles on \(res.resourceType == DescribeConfigsRequest.brokerResource ? "broker" : "topic") \(res.resourceName): \(ErrorCode(rawValue: res.errorCode).name): \(res.errorMessage ?? "")"
            )
            throw ExitCode(1)
        }
    }

    /// Sends the moves; the lines of those that failed.
    func alter(_ client: KafkaClient, _ moves: [(String, Int32, [Int32]?)]) async throws -> [String] {
        var request = AlterPartitionReassignmentsRequest()
        request.timeoutMs = timeout
        request.topics = NamedTopic.grouping(moves.map { ($0.0, .init($0.1, $0.2)) })
        let r = try await exitingOnError(otherwise: "Error while sending the reassignment") {
            try await client.send(request, as: AlterPartitionReassignmentsResponse.self)
        }
        if r.errorCode != 0 {
            return ["\(ErrorCode(rawValue: r.errorCode).name): \(r.errorMessage ?? "")"]
        }
        return r.responses.flatMap { t in
            t.partitions.filter { $0.errorCode != 0 }.map {
                "\(t.name)-\($0.partitionIndex): \(ErrorCode(rawValue: $0.errorCode).name): \($0.errorMessage ?? "")"
            }
        }
    }

    func runVerify(_ client: KafkaClient, _ wanted: Assignment) async throws {
        let moving = try await reassignments(client, Self.grouped(wanted))
        let now = try await current(client, topics: wanted.map(\.topic))
        print("Status of partition reassignment:")
        var done = true
        for w in wanted {
            let name = "\(w.topic)-\(w.partition)"
            if moving[name] != nil {
                done = false
                print("Reassignment of partition \(name) is still in progress.")
                continue
            }
            let replicas = now.first { $0.topic == w.topic && $0.partition == w.partition }?.replicas ?? []
            if replicas == w.replicas {
                print("Reassignment of partition \(name) is completed.")
            } else {
                print(
                    "There is no active reassignment of partition \(name), but replica set is \(replicas.map(String.init).joined(separator: ",")) rather than \(w.replicas.map(String.init).joined(separator: ","))."
                )
            }
        }
        if done && !preserveThrottles {
            let brokers = try await exitingOnError(otherwise: "Could not list the brokers") {
                try await client.metadata(topics: []).brokers.map(\.nodeId).sorted()
            }
            let topics = Set(wanted.map(\.topic)).sorted()
            print("\nClearing broker-level throttles on brokers \(brokers.map(String.init).joined(separator: ","))")
            try await changeConfigs(
                client,
                brokers.map { b in
                    (
                        DescribeConfigsRequest.brokerResource, String(b),
                        [ReplicationThrottle.leaderRate, ReplicationThrottle.followerRate].map {
                            IncrementalAlterConfigsRequest.Config(name: $0, operation: .delete, value: nil)
                        }
                    )
                })
            print("Clearing topic-level throttles on topic \(topics.joined(separator: ","))")
            try await changeConfigs(
                client,
                topics.map { t in
                    (
                        DescribeConfigsRequest.topicResource, t,
                        [ReplicationThrottle.leaderReplicas, ReplicationThrottle.followerReplicas].map {
                            IncrementalAlterConfigsRequest.Config(name: $0, operation: .delete, value: nil)
                        }
                    )
                })
        }
    }

    func runCancel(_ client: KafkaClient, _ wanted: Assignment) async throws {
        let moving = try await reassignments(client, Self.grouped(wanted))
        let active = wanted.filter { moving["\($0.topic)-\($0.partition)"] != nil }
        guard !active.isEmpty else {
            print("None of the specified partition reassignments are active.")
            return
        }
        let failed = try await alter(client, active.map { ($0.topic, $0.partition, nil) })
        if !failed.isEmpty {
            print("Error cancelling partition reassignment(s):")
            for f in failed { print(f) }
            throw ExitCode(1)
        }
        print(
            "Successfully cancelled partition reassignments for: \(active.map { "\($0.topic)-\($0.partition)" }.joined(separator: ","))"
        )
    }

    func runList(_ client: KafkaClient) async throws {
        let moving = try await reassignments(client, nil)
        guard !moving.isEmpty else {
            print("No partition reassignments found.")
            return
        }
        print("Current partition reassignments:")
        func ids(_ l: [Int32]) -> String { l.map(String.init).joined(separator: ",") }
        for (name, p) in moving.sorted(by: { $0.key < $1.key }) {
            print(
                "\(name): replicas: \(ids(p.replicas)). adding: \(ids(p.addingReplicas)). removing: \(ids(p.removingReplicas))."
            )
        }
    }
}
