import ArgumentParser
import Foundation
import KafkaClient
import KafkaProtocol

/// `tern transactions` (`bin/kafka-transactions.sh`): list the transactional ids the coordinators
/// know, describe one, and describe the producers of a partition, printing Kafka's tables.
struct Transactions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transactions",
        abstract: "List and describe transactions and producers (as kafka-transactions.sh).",
        discussion: "Commands: list, describe --transactional-id ID, describe-producers --topic T --partition P.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "list, describe or describe-producers.") var command: String
    @Option(name: .customLong("transactional-id"), help: "With describe: the transactional id.")
    var transactionalId: String?
    @Option(help: "With describe-producers: the topic.") var topic: String?
    @Option(help: "With describe-producers: the partition.") var partition: Int32?
    @Option(name: .customLong("broker-id"), help: "With describe-producers: ask this broker, not the leader.")
    var brokerId: Int32?
    @Option(name: .customLong("duration-filter"), help: "With list: only transactions open at least this many ms.")
    var durationFilter: Int64?

    func validate() throws {
        switch command {
        case "list": break
        case "describe":
            guard transactionalId != nil else { throw ValidationError("describe needs --transactional-id.") }
        case "describe-producers":
            guard topic != nil, partition != nil else {
                throw ValidationError("describe-producers needs --topic and --partition.")
            }
        default:
            throw ValidationError("Unknown command '\(command)': use list, describe or describe-producers.")
        }
    }

    func run() async throws {
        let client = try KafkaClient(
            bootstrapServers: try connection.servers(), clientId: "transactions", security: try connection.security())
        do {
            switch command {
            case "list": try await list(client)
            case "describe": try await describe(client, transactionalId!)
            default: try await describeProducers(client, topic!, partition!)
            }
        } catch let e as CLIError {
            printError(e.message)
            await client.close()
            throw ExitCode(1)
        }
        await client.close()
    }

    /// Kafka's table: each column padded to its widest cell, cells followed by a tab.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return ([headers] + rows).map { row in
            row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) + "\t" }
                .joined()
        }.joined(separator: "\n")
    }

    /// Every broker lists the ids it coordinates.
    func list(_ client: KafkaClient) async throws {
        let brokers = try await client.metadata(topics: []).brokers.map(\.nodeId).sorted()
        var request = ListTransactionsRequest()
        request.durationFilter = durationFilter ?? -1
        var rows: [[String]] = []
        for b in brokers {
            let r = try await client.send(request, toNode: b, as: ListTransactionsResponse.self)
            guard r.errorCode == 0 else {
                throw CLIError(
                    "Error: broker \(b) could not list its transactions: \(ErrorCode(rawValue: r.errorCode))")
            }
            rows += r.transactionStates.map {
                [$0.transactionalId, String(b), String($0.producerId), $0.transactionState]
            }
        }
        print(Self.table(["TransactionalId", "Coordinator", "ProducerId", "TransactionState"], rows))
    }

    func describe(_ client: KafkaClient, _ id: String) async throws {
        var find = FindCoordinatorRequest()
        find.keyType = FindCoordinatorRequest.transactionKeyType
        find.key = id
        find.coordinatorKeys = [id]
        var backoff = ExponentialBackoff(initialMs: 100, maxMs: 1_000)
        let giveUp = Date().addingTimeInterval(15)
        while Date() < giveUp {
            let f = try await client.send(find, as: FindCoordinatorResponse.self)
            let node = f.coordinators.first?.nodeId ?? f.nodeId
            let code = ErrorCode(rawValue: f.coordinators.first?.errorCode ?? f.errorCode)
            if code == .none {
                var request = DescribeTransactionsRequest()
                request.transactionalIds = [id]
                let r = try await client.send(request, toNode: node, as: DescribeTransactionsResponse.self)
                guard let s = r.transactionStates.first else { throw CLIError("Error: no answer for \(id)") }
                let e = ErrorCode(rawValue: s.errorCode)
                if e == .none {
                    let start = s.transactionStartTimeMs >= 0 ? String(s.transactionStartTimeMs) : "None"
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    let duration = s.transactionStartTimeMs >= 0 ? String(now - s.transactionStartTimeMs) : "None"
                    let partitions = s.topics.flatMap { t in t.partitions.map { "\(t.topic)-\($0)" } }
                    print(
                        Self.table(
                            [
                                "CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
                                "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs",
                                "TopicPartitions",
                            ],
                            [
                                [
                                    String(node), id, String(s.producerId), String(s.producerEpoch), s.transactionState,
                                    String(s.transactionTimeoutMs), start, duration, partitions.joined(separator: ","),
                                ]
                            ]))
                    return
                }
                guard e.isRetriable || e == .notCoordinator else {
                    throw CLIError("Failed to describe transaction state of transactional-id `\(id)`: \(e)")
                }
            } else if !code.isRetriable {
                throw CLIError("Error: cannot find the coordinator of transactional-id `\(id)`: \(code)")
            }
            try await Task.sleep(nanoseconds: backoff.nextNanoseconds)
        }
        throw CLIError("Error: the coordinator of transactional-id `\(id)` did not answer; is the cluster healthy?")
    }

    func describeProducers(_ client: KafkaClient, _ topic: String, _ partition: Int32) async throws {
        let md = try await client.metadata(topics: [topic])
        guard let t = md.topics.first(where: { $0.name == topic }), t.errorCode == 0,
            let p = t.partitions.first(where: { $0.partitionIndex == partition })
        else { throw CLIError("Error: topic-partition \(topic)-\(partition) does not exist") }
        let node = brokerId ?? p.leaderId
        var request = DescribeProducersRequest()
        var rt = DescribeProducersRequest.Topic()
        rt.name = topic
        rt.partitionIndexes = [partition]
        request.topics = [rt]
        let r = try await client.send(request, toNode: node, as: DescribeProducersResponse.self)
        guard let answer = r.topics.first?.partitions.first else { throw CLIError("Error: no answer from \(node)") }
        guard answer.errorCode == 0 else {
            throw CLIError(
                "Failed to describe producers for partition \(topic)-\(partition) on broker \(node): \(ErrorCode(rawValue: answer.errorCode))"
            )
        }
        let rows = answer.activeProducers.map {
            [
                String($0.producerId), String($0.producerEpoch), String($0.coordinatorEpoch), String($0.lastSequence),
                String($0.lastTimestamp), $0.currentTxnStartOffset >= 0 ? String($0.currentTxnStartOffset) : "None",
            ]
        }
        print(
            Self.table(
                [
                    "ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp",
                    "CurrentTransactionStartOffset",
                ], rows))
    }
}
