import ArgumentParser
import KafkaClient
import KafkaProtocol
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The tools' clock: the same one a node reads.
let toolClock = SystemClock()

func nowMs() -> Int64 { toolClock.wallMs }

/// `--property k=v` pairs as Kafka's console tools take them.
func parseProperties(_ list: [String], option: String) throws -> [String: String] {
    var out: [String: String] = [:]
    for p in list {
        let parts = p.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw ValidationError("\(option) expects key=value, got '\(p)'") }
        out[String(parts[0])] = String(parts[1])
    }
    return out
}

struct ConsoleProducer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console-producer",
        abstract: "Send each line of standard input as a record (kafka-console-producer.sh)."
    )

    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("broker-list"), help: "Old name of --bootstrap-server.") var brokerList: String?
    @Option(help: "Topic to write to.") var topic: String
    @Option(name: .customLong("property"), help: "parse.key=true, key.separator=<sep> (default TAB).") var properties:
        [String] = []
    @Option(name: .customLong("producer-property"), help: "acks=all|1|0 (default all).") var producerProperties:
        [String] = []
    @Option(name: .customLong("request-required-acks"), help: "Same as --producer-property acks=.") var requiredAcks:
        String?
    @Option(name: .customLong("batch-size"), help: "Records per request when input is piped.") var batchSize = 1000

    func acks() throws -> Int16 {
        let raw =
            try requiredAcks ?? parseProperties(producerProperties, option: "--producer-property")["acks"] ?? "all"
        switch raw {
        case "all", "-1": return -1
        case "1": return 1
        case "0": return 0
        default: throw ValidationError("acks must be all, -1, 1 or 0, got '\(raw)'")
        }
    }

    func validate() throws {
        _ = try acks()
        _ = try parseProperties(properties, option: "--property")
        if connection.bootstrapServer == nil && brokerList == nil {
            throw ValidationError("Missing required option --bootstrap-server host:port")
        }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() async throws {
        let props = try parseProperties(properties, option: "--property")
        let parseKey = props["parse.key"] == "true"
        let separator = props["key.separator"] ?? "\t"
        let acks = try acks()
        let client = try KafkaClient(
            bootstrapServers: connection.bootstrapServer ?? brokerList!, clientId: "console-producer",
            security: try connection.security())
        var request = MetadataRequest()
        request.topics = [MetadataRequest.Topic(name: topic)]
        request.allowAutoTopicCreation = true
        var md = try await client.send(request, as: MetadataResponse.self)
        if md.topics.first?.errorCode == ErrorCode.leaderNotAvailable.rawValue {
            md = try await client.send(request, as: MetadataResponse.self)
        }
        guard let t = md.topics.first, t.errorCode == 0, !t.partitions.isEmpty else {
            let code = ErrorCode(rawValue: md.topics.first?.errorCode ?? ErrorCode.unknownTopicOrPartition.rawValue)
            printError("tern console-producer: topic \(topic) is not available: \(code)")
            throw ExitCode(1)
        }
        let leaders = Dictionary(uniqueKeysWithValues: t.partitions.map { ($0.partitionIndex, $0.leaderId) })
        let count = t.partitions.count
        let interactive = isatty(0) != 0
        var pending: [Int32: RecordBatchBuilder] = [:]
        var pendingCount = 0
        var sticky: Int32 = 0
        var sent = 0

        func flush() async throws {
            for (partition, builder) in pending.sorted(by: { $0.key < $1.key }) where builder.count > 0 {
                var r = ProduceRequest()
                r.acks = acks
                r.timeoutMs = 30_000
                r.topics = [.init(name: topic, partitions: [.init(index: partition, records: builder.build())])]
                let node = leaders[partition] ?? -1
                if acks == 0 {
                    // No answer comes for acks=0; send and move on.
                    let c = try await client.connection(toNode: node)
                    _ = c
                    _ = try? await c.send(r, as: ProduceResponse.self, timeoutMs: 1)
                    continue
                }
                let resp = try await client.send(r, toNode: node, as: ProduceResponse.self)
                for tr in resp.responses {
                    for pr in tr.partitions where pr.errorCode != 0 {
                        throw CLIError(
                            "Error when sending message to topic \(topic) partition \(pr.index): \(ErrorCode(rawValue: pr.errorCode))\(pr.errorMessage.map { " " + $0 } ?? "")"
                        )
                    }
                }
                sent += builder.count
            }
            pending = [:]
            pendingCount = 0
            sticky = (sticky + 1) % Int32(count)
        }

        do {
            while let line = readLine(strippingNewline: true) {
                var key: [UInt8]? = nil
                var value = Array(line.utf8)
                if parseKey {
                    guard let range = findSeparator(value, Array(separator.utf8)) else {
                        throw CLIError("No key separator found on line: \(line)")
                    }
                    key = Array(value[..<range.lowerBound])
                    value = Array(value[range.upperBound...])
                }
                let partition = key.map { Partitioner.partition(forKey: $0, count: count) } ?? sticky
                pending[partition, default: RecordBatchBuilder()].append(key: key, value: value, timestamp: nowMs())
                pendingCount += 1
                if interactive || pendingCount >= batchSize { try await flush() }
            }
            try await flush()
        } catch let e as CLIError {
            printError(e.message)
            await client.close()
            throw ExitCode(1)
        }
        await client.close()
    }

    func findSeparator(_ bytes: [UInt8], _ sep: [UInt8]) -> Range<Int>? {
        guard !sep.isEmpty, bytes.count >= sep.count else { return nil }
        for i in 0...(bytes.count - sep.count) where Array(bytes[i..<(i + sep.count)]) == sep {
            return i..<(i + sep.count)
        }
        return nil
    }
}
