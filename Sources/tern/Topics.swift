import ArgumentParser
import KafkaClient
import KafkaProtocol
import Metadata

struct Topics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create, list, describe, alter and delete topics (kafka-topics.sh)."
    )

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Create a topic.") var create = false
    @Flag(help: "List topic names.") var list = false
    @Flag(help: "Describe topics and their partitions.") var describe = false
    @Flag(help: "Delete a topic.") var delete = false
    @Flag(help: "Add partitions to a topic (with --partitions).") var alter = false
    @Option(help: "Topic name.") var topic: String?
    @Option(help: "Number of partitions.") var partitions: Int32?
    @Option(name: .customLong("replication-factor"), help: "Replicas of each partition.") var replicationFactor: Int16?
    @Option(name: .customLong("config"), help: "Topic config key=value (repeatable).") var configs: [String] = []
    @Option(
        name: .customLong("replica-assignment"),
        help:
            "Replicas of each partition, chosen by hand: broker ids joined by ':' per partition, partitions by ',' (e.g. 0:1,1:2,2:0); the first available broker of each leads. With --alter, the list covers every partition and those past the current count are added."
    ) var replicaAssignment: String?
    @Flag(name: .customLong("if-not-exists")) var ifNotExists = false
    @Flag(name: .customLong("if-exists")) var ifExists = false
    @Flag(name: .customLong("exclude-internal")) var excludeInternal = false
    @Flag(
        name: .customLong("under-replicated-partitions"),
        help: "With --describe: only partitions whose ISR is smaller than their replica list.")
    var underReplicated = false
    @Flag(
        name: .customLong("unavailable-partitions"), help: "With --describe: only partitions without a live leader.")
    var unavailable = false

    func validate() throws {
        let actions = [create, list, describe, delete, alter].filter { $0 }.count
        guard actions == 1 else {
            throw ValidationError("Exactly one of --create, --list, --describe, --delete, --alter is required.")
        }
        if (create || delete || alter) && topic == nil {
            throw ValidationError("--topic is required with --create, --delete and --alter.")
        }
        if alter && partitions == nil { throw ValidationError("--alter needs --partitions N (the new, larger count).") }
        if let p = partitions, p < 1 { throw ValidationError("--partitions must be at least 1, got \(p).") }
        if let r = replicationFactor, r < 1 {
            throw ValidationError("--replication-factor must be at least 1, got \(r).")
        }
        for c in configs where !c.contains("=") { throw ValidationError("--config expects key=value, got '\(c)'.") }
        if replicaAssignment != nil {
            guard create || alter else { throw ValidationError("--replica-assignment goes with --create or --alter.") }
            if create && (partitions != nil || replicationFactor != nil) {
                throw ValidationError(
                    "--replica-assignment gives the partitions and their replicas: leave out --partitions and --replication-factor."
                )
            }
            _ = try assignment()
        }
        if (underReplicated || unavailable) && !describe {
            throw ValidationError("--under-replicated-partitions and --unavailable-partitions go with --describe.")
        }
    }

    /// `--replica-assignment` as replica lists, partition 0 first.
    func assignment() throws -> [[Int32]] {
        guard let text = replicaAssignment else { return [] }
        return try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            try part.split(separator: ":", omittingEmptySubsequences: false).map { id in
                guard let b = Int32(id.trimmingCharacters(in: .whitespaces)), b >= 0 else {
                    throw ValidationError(
                        "--replica-assignment expects broker ids joined by ':' and ',' (e.g. 0:1,1:2), got '\(text)'.")
                }
                return b
            }
        }
    }

    func run() async throws {
        let client = try KafkaClient(bootstrapServers: try connection.servers(), security: try connection.security())
        defer { Task { await client.close() } }
        try await exitingOnError(otherwise: "Error while executing topic command") {
            if create {
                try await doCreate(client)
            } else if list {
                let md = try await client.metadata(topics: nil)
                for t in md.topics.compactMap(\.name).sorted() where !(excludeInternal && t.hasPrefix("__")) {
                    print(t)
                }
            } else if describe {
                try await doDescribe(client)
            } else if delete {
                try await doDelete(client)
            } else if alter {
                var r = CreatePartitionsRequest()
                var t = CreatePartitionsRequest.Topic()
                t.name = topic!
                t.count = partitions!
                let lists = try assignment()
                if !lists.isEmpty {
                    // Kafka's tool takes the whole list and adds the partitions past the current count.
                    let current = try await client.metadata(topics: [topic!]).topics.first?.partitions.count ?? 0
                    t.assignments = lists.dropFirst(current).map {
                        var a = CreatePartitionsRequest.Assignment()
                        a.brokerIds = $0
                        return a
                    }
                }
                r.topics = [t]
                let resp = try await client.send(r, as: CreatePartitionsResponse.self)
                for res in resp.results where res.errorCode != 0 {
                    throw CLIError(
                        "Error while executing topic command: \(res.errorMessage ?? ErrorCode(rawValue: res.errorCode).name)"
                    )
                }
            }
        }
    }

    func doCreate(_ client: KafkaClient) async throws {
        var t = CreateTopicsRequest.Topic()
        t.name = topic!
        t.numPartitions = partitions ?? -1
        t.replicationFactor = replicationFactor ?? -1
        t.assignments = try assignment().enumerated().map { i, brokers in
            var a = CreateTopicsRequest.Assignment()
            a.partitionIndex = Int32(i)
            a.brokerIds = brokers
            return a
        }
        t.configs = configs.map {
            let parts = $0.split(separator: "=", maxSplits: 1)
            return .init(name: String(parts[0]), value: parts.count > 1 ? String(parts[1]) : "")
        }
        var r = CreateTopicsRequest()
        r.topics = [t]
        let resp = try await client.send(r, as: CreateTopicsResponse.self)
        for res in resp.topics {
            if res.errorCode == ErrorCode.topicAlreadyExists.rawValue && ifNotExists { continue }
            if res.errorCode != 0 {
                throw CLIError(
                    "Error while executing topic command : \(res.errorMessage ?? ErrorCode(rawValue: res.errorCode).name)"
                )
            }
            let userSet = configs.contains { $0.hasPrefix("min.insync.replicas=") }
            if !userSet, let rf = replicationFactor,
                let m = res.configs?.first(where: { $0.name == "min.insync.replicas" }), m.value == String(rf),
                m.configSource == DescribeConfigsResponse.Source.dynamicTopic.rawValue
            {
                print(
                    "WARNING: replication factor \(rf) is below the cluster's min.insync.replicas, so this topic gets min.insync.replicas=\(rf): acks=all writes need only its \(rf) replica(s), and losing \(rf == 1 ? "its broker loses its records" : "them loses its records")."
                )
            }
            print("Created topic \(res.name).")
        }
    }

    func doDelete(_ client: KafkaClient) async throws {
        let resp = try await client.send(DeleteTopicsRequest(names: [topic!]), as: DeleteTopicsResponse.self)
        for res in resp.responses where res.errorCode != 0 {
            if res.errorCode == ErrorCode.unknownTopicOrPartition.rawValue && ifExists { continue }
            throw CLIError("Error while executing topic command : Topic '\(topic!)' does not exist as expected")
        }
    }

    func doDescribe(_ client: KafkaClient) async throws {
        let md = try await client.metadata(topics: topic.map { [$0] })
        let live = Set(md.brokers.map(\.nodeId))
        var describe = DescribeConfigsRequest()
        describe.resources = md.topics.compactMap(\.name).map {
            var r = DescribeConfigsRequest.Resource()
            r.resourceType = DescribeConfigsRequest.topicResource
            r.resourceName = $0
            return r
        }
        let configs =
            describe.resources.isEmpty
            ? DescribeConfigsResponse() : try await client.send(describe, as: DescribeConfigsResponse.self)
        let lags = await replicaLags(client, md, live: live)
        for t in md.topics.sorted(by: { ($0.name ?? "") < ($1.name ?? "") }) {
            guard t.errorCode == 0, let name = t.name else {
                throw CLIError(
                    "Error while executing topic command : Topic '\(t.name ?? "?")' does not exist as expected")
            }
            if excludeInternal && name.hasPrefix("__") { continue }
            let overrides =
                configs.results.first { $0.resourceName == name }?.configs.filter {
                    $0.configSource == DescribeConfigsResponse.Source.dynamicTopic.rawValue
                }.map { "\($0.name)=\($0.value ?? "")" }.joined(separator: ",") ?? ""
            let rf = t.partitions.first?.replicaNodes.count ?? 0
            // As Kafka's tool: with a partition filter only the matching partition lines show.
            let filtered = underReplicated || unavailable
            if !filtered {
                print(
                    "Topic: \(name)\tTopicId: \(t.topicId)\tPartitionCount: \(t.partitions.count)\tReplicationFactor: \(rf)\tConfigs: \(overrides)"
                )
            }
            let minInsync = configs.results.first { $0.resourceName == name }?.configs.first {
                $0.name == "min.insync.replicas"
            }?.value.flatMap { Int($0) }
            for p in t.partitions.sorted(by: { $0.partitionIndex < $1.partitionIndex }) {
                if underReplicated && p.isrNodes.count >= p.replicaNodes.count { continue }
                if unavailable && p.leaderId >= 0 && live.contains(p.leaderId) { continue }
                let replicas = p.replicaNodes.map(String.init).joined(separator: ",")
                let isr = p.isrNodes.map(String.init).joined(separator: ",")
                print(
                    "\tTopic: \(name)\tPartition: \(p.partitionIndex)\tLeader: \(p.leaderId == -1 ? "none" : String(p.leaderId))\tReplicas: \(replicas)\tIsr: \(isr)"
                )
                let facts = PartitionHealth.Facts(
                    leader: p.leaderId, replicas: p.replicaNodes, isr: p.isrNodes, live: live,
                    lag: lags[TopicPartitionKey(topic: name, index: p.partitionIndex)] ?? [:], minInsync: minInsync)
                // Under an unhealthy partition's line (Kafka prints none), why it is so.
                if let why = PartitionHealth.explain(facts) { print("\t\t\(why)") }
            }
        }
    }
}

extension Topics {
    /// For partitions with replicas out of the ISR: each live such replica's lag behind the high
    /// watermark, from DescribeLogDirs to its broker (a broker that cannot be asked is left out,
    /// and the explanation says less).
    func replicaLags(_ client: KafkaClient, _ md: MetadataResponse, live: Set<Int32>) async
        -> [TopicPartitionKey: [Int32: Int64]]
    {
        var wanted: [Int32: [String: [Int32]]] = [:]
        for t in md.topics where t.errorCode == 0 {
            guard let name = t.name else { continue }
            for p in t.partitions {
                for r in p.replicaNodes where !p.isrNodes.contains(r) && live.contains(r) {
                    wanted[r, default: [:]][name, default: []].append(p.partitionIndex)
                }
            }
        }
        var lags: [TopicPartitionKey: [Int32: Int64]] = [:]
        for (broker, topics) in wanted.sorted(by: { $0.key < $1.key }) {
            var request = DescribeLogDirsRequest()
            request.topics = topics.sorted { $0.key < $1.key }.map { .init(name: $0.key, partitions: $0.value) }
            guard let r = try? await client.send(request, toNode: broker, as: DescribeLogDirsResponse.self) else {
                continue
            }
            for d in r.results {
                for t in d.topics {
                    for p in t.partitions {
                        lags[TopicPartitionKey(topic: t.name, index: p.partitionIndex), default: [:]][broker] =
                            p.offsetLag
                    }
                }
            }
        }
        return lags
    }
}

/// Runs a tool's work: a `CLIError` prints its message, any other error `otherwise: error`, and
/// both end the tool with exit status 1.
func exitingOnError<T>(otherwise: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let e as CLIError {
        printError(e.message)
        throw ExitCode(1)
    } catch {
        printError("\(otherwise): \(error)")
        throw ExitCode(1)
    }
}

struct CLIError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// One partition of one topic, as a dictionary key.
struct TopicPartitionKey: Hashable {
    var topic: String
    var index: Int32
}
