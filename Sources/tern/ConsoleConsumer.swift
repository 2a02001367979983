import ArgumentParser
import Dispatch
import KafkaClient
import KafkaCompression
import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

struct ConsoleConsumer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console-consumer",
        abstract: "Print a topic's records to standard output (kafka-console-consumer.sh)."
    )

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Topic to read.") var topic: String
    @Flag(name: .customLong("from-beginning"), help: "Start at the earliest offset instead of the end.")
    var fromBeginning = false
    @Option(help: "Read only this partition.") var partition: Int32?
    @Option(help: "Start offset with --partition: a number, earliest or latest.") var offset: String?
    @Option(name: .customLong("max-messages"), help: "Exit after this many records.") var maxMessages: Int?
    @Option(name: .customLong("timeout-ms"), help: "Exit when no record arrives for this long.") var timeoutMs: Int?
    @Option(
        name: .customLong("property"), help: "print.key, print.partition, print.offset, print.timestamp, key.separator."
    ) var properties: [String] = []
    @Option(help: "Read as a member of this consumer group: its partitions, from its committed offsets.")
    var group: String?

    func validate() throws {
        _ = try parseProperties(properties, option: "--property")
        if offset != nil && partition == nil { throw ValidationError("--offset needs --partition.") }
        if let o = offset, o != "earliest", o != "latest", Int64(o) == nil {
            throw ValidationError("--offset must be a number, earliest or latest; got '\(o)'.")
        }
        if group != nil && (partition != nil || offset != nil) {
            throw ValidationError("--group reads the partitions the group assigns: leave out --partition and --offset.")
        }
        if let m = maxMessages, m < 1 { throw ValidationError("--max-messages must be at least 1.") }
    }

    func run() async throws {
        StopRequest.install()
        let props = try parseProperties(properties, option: "--property")
        let printKey = props["print.key"] == "true"
        let printPartition = props["print.partition"] == "true"
        let printOffset = props["print.offset"] == "true"
        let printTimestamp = props["print.timestamp"] == "true"
        let keySeparator = props["key.separator"] ?? "\t"
        let client = try KafkaClient(
            bootstrapServers: try connection.servers(), clientId: "console-consumer",
            security: try connection.security())
        func line(_ rec: Record, _ partition: Int32) -> String {
            var line = ""
            if printTimestamp { line += "CreateTime:\(rec.timestamp)\t" }
            if printPartition { line += "Partition:\(partition)\t" }
            if printOffset { line += "Offset:\(rec.offset)\t" }
            if printKey { line += (rec.key.map { String(decoding: $0, as: UTF8.self) } ?? "null") + keySeparator }
            return line + (rec.value.map { String(decoding: $0, as: UTF8.self) } ?? "null")
        }
        if let group {
            do {
                let printed = try await consumeInGroup(client, group: group, line: line)
                fflush(nil)
                printError("Processed a total of \(printed) messages")
            } catch let e as CLIError {
                printError("tern console-consumer: \(e.message)")
                await client.close()
                throw ExitCode(1)
            }
            await client.close()
            return
        }
        let md = try await client.metadata(topics: [topic])
        guard let t = md.topics.first, t.errorCode == 0 else {
            printError("tern console-consumer: topic \(topic) does not exist")
            throw ExitCode(1)
        }
        let partitions = t.partitions.map(\.partitionIndex).filter { partition == nil || $0 == partition }.sorted()
        guard !partitions.isEmpty else {
            printError("tern console-consumer: topic \(topic) has no partition \(partition ?? -1)")
            throw ExitCode(1)
        }
        let leaders = Dictionary(uniqueKeysWithValues: t.partitions.map { ($0.partitionIndex, $0.leaderId) })
        var positions: [Int32: Int64] = [:]
        for p in partitions {
            if let o = offset, let n = Int64(o) {
                positions[p] = n
                continue
            }
            let earliest = offset == "earliest" || (offset == nil && fromBeginning)
            positions[p] =
                try await client.listOffset(topic: topic, partition: p, leader: leaders[p] ?? -1, earliest: earliest)?
                .offset ?? 0
        }
        var printed = 0
        var lastRecordAt = nowMs()
        let reader = TopicReader(
            client: client, topic: topic, partitions: partitions, positions: positions, leaders: leaders)
        outer: while !StopRequest.requested {
            defer { fflush(nil) }  // each poll's records reach a pipe or file at once
            for b in try await reader.poll() {
                if b.header.isControl { continue }
                for rec in try Decompression.records(batch: b.bytes, header: b.header)
                where rec.offset >= positions[b.partition]! {
                    print(line(rec, b.partition))
                    printed += 1
                    lastRecordAt = nowMs()
                    if let m = maxMessages, printed >= m { break outer }
                }
            }
            if let timeout = timeoutMs, nowMs() - lastRecordAt >= Int64(timeout) { break }
        }
        fflush(nil)
        printError("Processed a total of \(printed) messages")
        await client.close()
    }
}

/// Ctrl-C or SIGTERM asks the console consumer to stop: it finishes the records in hand, prints
/// Kafka's "Processed a total of N messages", commits and leaves its group, then exits.
enum StopRequest {
    private static let flag = NIOLockedValueBox(false)
    /// The signal sources, kept alive for the process's life; written once, by `install`, at
    /// start-up before any task runs (DispatchSourceSignal is not Sendable on Linux).
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    static var requested: Bool { flag.withLockedValue { $0 } }

    static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if flag.withLockedValue({ was in
                    defer { was = true }; return was
                }) {
                    exit(130)  // a second Ctrl-C: stop now
                }
            }
            source.resume()
            sources.append(source)
        }
    }
}

extension ConsoleConsumer {
    /// Reads as a group member: the partitions the group assigns, from the group's committed
    /// offsets (or, without one, the earliest with --from-beginning, else the latest). Offsets
    /// are committed every second and at the end; a rebalance is joined when a heartbeat asks
    /// for it.
    func consumeInGroup(_ client: KafkaClient, group: String, line: (Record, Int32) -> String) async throws -> Int {
        let member = GroupMember(client: client, group: group, topic: topic)
        let md = try await client.metadata(topics: [topic])
        guard let t = md.topics.first, t.errorCode == 0 else { throw CLIError("topic \(topic) does not exist") }
        var printed = 0
        var lastRecordAt = nowMs()
        var consumed: [Int32: Int64] = [:]
        var committedUpTo: [Int32: Int64] = [:]
        defer { _ = consumed }
        outer: while true {
            let partitions = try await member.join()
            let committed = try await member.committed(partitions)
            var positions: [Int32: Int64] = [:]
            var leaders: [Int32: Int32] = [:]
            let fresh = try await client.metadata(topics: [topic])
            for p in fresh.topics.first?.partitions ?? [] { leaders[p.partitionIndex] = p.leaderId }
            for p in partitions {
                if let c = committed[p] {
                    positions[p] = c
                    continue
                }
                positions[p] =
                    try await client.listOffset(
                        topic: topic, partition: p, leader: leaders[p] ?? -1, earliest: fromBeginning)?.offset ?? 0
            }
            consumed = consumed.filter { partitions.contains($0.key) }
            let reader = TopicReader(
                client: client, topic: topic, partitions: partitions, positions: positions, leaders: leaders)
            var lastBeat = nowMs()
            while true {
                defer { fflush(nil) }
                if StopRequest.requested { break outer }
                if partitions.isEmpty {
                    try await Task.sleep(nanoseconds: 500_000_000)
                } else {
                    for b in try await reader.poll() where !b.header.isControl {
                        for rec in try Decompression.records(batch: b.bytes, header: b.header)
                        where rec.offset >= positions[b.partition]! {
                            print(line(rec, b.partition))
                            printed += 1
                            lastRecordAt = nowMs()
                            consumed[b.partition] = rec.offset + 1
                            if let m = maxMessages, printed >= m { break outer }
                        }
                    }
                }
                if let timeout = timeoutMs, nowMs() - lastRecordAt >= Int64(timeout) { break outer }
                if nowMs() - lastBeat >= 1000 {
                    lastBeat = nowMs()
                    let pending = consumed.filter { committedUpTo[$0.key] != $0.value }
                    if try await member.commit(pending) == .none { committedUpTo.merge(pending) { _, new in new } }
                    if try await member.heartbeat() != .none { continue outer }  // rejoin
                }
            }
        }
        let pending = consumed.filter { committedUpTo[$0.key] != $0.value }
        _ = try? await member.commit(pending)
        await member.leave()
        return printed
    }
}
