import ArgumentParser
import Broker
import KafkaClient
import KafkaProtocol
import Logging
import NIOCore
import Server
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `x` with `digits` decimals, as Java's %.Nf prints it.
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "NaN" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int64((abs(x) * scale).rounded())
    let whole = n / Int64(scale)
    var frac = String(n % Int64(scale))
    while frac.count < digits { frac = "0" + frac }
    return (x < 0 && n != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + frac : "")
}

func monotonicNs() -> UInt64 { toolClock.monotonicNs }

/// Counts what producer-perf-test sent and prints Kafka's progress lines every 5 s.
actor ProduceStats {
    let start = monotonicNs()
    let recordSize: Int
    /// Records by whole milliseconds of latency (index), for the percentiles.
    var latencyCounts: [Int] = []
    var count = 0
    var windowStart = monotonicNs()
    var windowCount = 0
    var windowLatencySum = 0.0
    var windowMax = 0.0
    var latencySum = 0.0
    var maxLatency = 0.0
    var errors = 0
    var firstError: String?

    init(recordSize: Int) { self.recordSize = recordSize }

    func record(_ n: Int, latencyMs: Double) {
        count += n
        windowCount += n
        latencySum += latencyMs * Double(n)
        windowLatencySum += latencyMs * Double(n)
        maxLatency = max(maxLatency, latencyMs)
        windowMax = max(windowMax, latencyMs)
        let bucket = min(Int(latencyMs), 3_600_000)
        if bucket >= latencyCounts.count { latencyCounts += repeatElement(0, count: bucket + 1 - latencyCounts.count) }
        latencyCounts[bucket] += n
        let now = monotonicNs()
        if now - windowStart >= 5_000_000_000 {
            let secs = Double(now - windowStart) / 1e9
            let rate = Double(windowCount) / secs
            print(
                "\(windowCount) records sent, \(fixed(rate, 1)) records/sec (\(fixed(rate * Double(recordSize) / 1_048_576, 2)) MB/sec), \(fixed(windowLatencySum / Double(max(1, windowCount)), 1)) ms avg latency, \(fixed(windowMax, 1)) ms max latency."
            )
            windowStart = now
            windowCount = 0
            windowLatencySum = 0
            windowMax = 0
        }
    }

    func failed(_ n: Int, _ why: String) {
        errors += n
        if firstError == nil { firstError = why }
    }

    func summary() -> String {
        let secs = Double(monotonicNs() - start) / 1e9
        let rate = Double(count) / secs
        let total = latencyCounts.reduce(0, +)
        func pct(_ p: Double) -> Int {
            // The latency of the record at rank floor(total * p), as a sorted list would give it.
            let rank = min(total - 1, Int(Double(total) * p))
            var seen = 0
            for (ms, c) in latencyCounts.enumerated() {
                seen += c
                if seen > rank { return ms }
            }
            return 0
        }
        return
            "\(count) records sent, \(fixed(rate, 6)) records/sec (\(fixed(rate * Double(recordSize) / 1_048_576, 2)) MB/sec), \(fixed(latencySum / Double(max(1, count)), 2)) ms avg latency, \(fixed(maxLatency, 2)) ms max latency, \(pct(0.5)) ms 50th, \(pct(0.95)) ms 95th, \(pct(0.99)) ms 99th, \(pct(0.999)) ms 99.9th."
    }
}

/// Hands out the records still to send, paced to `--throughput` when it is positive.
actor Claims {
    var left: Int
    var claimed = 0
    let perSecond: Double
    let start = monotonicNs()
    init(total: Int, perSecond: Double) {
        left = total
        self.perSecond = perSecond
    }
    /// Up to `n` records to send now, and when to send them (monotonic ns); 0 when all are out.
    func take(_ n: Int) -> (count: Int, at: UInt64) {
        let k = min(n, left)
        left -= k
        let at = perSecond > 0 ? start + UInt64(Double(claimed) / perSecond * 1e9) : 0
        claimed += k
        return (k, at)
    }
}

/// `tern producer-perf-test` (`bin/kafka-producer-perf-test.sh`): sends records as fast as the
/// cluster takes them (or at `--throughput`), five requests in flight per partition, and prints
/// Kafka's progress and summary lines.
struct ProducerPerfTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "producer-perf-test",
        abstract: "Measure produce throughput and latency (as kafka-producer-perf-test.sh).")

    @Option(help: "Topic to write.") var topic: String
    @Option(name: .customLong("num-records"), help: "Records to send.") var numRecords: Int
    @Option(name: .customLong("record-size"), help: "Bytes per record value.") var recordSize: Int
    @Option(parsing: .unconditional, help: "Records per second to aim at; -1 for no limit.") var throughput: Double
    @Option(
        name: .customLong("producer-props"), parsing: .upToNextOption,
        help: "bootstrap.servers=..., acks=..., batch.size=...")
    var producerProps: [String] = []
    @Option(
        name: .customLong("bootstrap-server"), help: "host:port (instead of bootstrap.servers in --producer-props).")
    var bootstrapServer: String?
    @Option(
        name: [.customLong("producer.config"), .customLong("command-config")],
        help:
            "A producer properties file: bootstrap.servers, acks, batch.size, and security.protocol, ssl.*, sasl.* for a secured listener; --producer-props override it."
    )
    var producerConfig: String?

    /// The producer's settings: the --producer.config file's, then --producer-props over them;
    /// and the same as properties text, for the connection's TLS and SASL.
    func settings() throws -> (props: [String: String], text: String) {
        var text = ""
        if let path = producerConfig {
            do { text = try FileSystem.readText(path) } catch {
                throw ValidationError("cannot read --producer.config \(path): \(error)")
            }
        }
        var props: [String: String] = [:]
        for (k, v, _) in Properties.parseLines(text) { props[k] = v }
        let overrides = try parseProperties(producerProps, option: "--producer-props")
        props.merge(overrides) { _, new in new }
        text += "\n" + producerProps.joined(separator: "\n")
        return (props, text)
    }

    func validate() throws {
        let props = try settings().props
        if bootstrapServer == nil && props["bootstrap.servers"] == nil {
            throw ValidationError(
                "Name the cluster: --bootstrap-server host:port or --producer-props bootstrap.servers=host:port")
        }
        if numRecords < 1 { throw ValidationError("--num-records must be at least 1.") }
        if recordSize < 0 { throw ValidationError("--record-size must not be negative.") }
        if let a = props["acks"], !["all", "-1", "0", "1"].contains(a) {
            throw ValidationError("acks must be all, -1, 1 or 0, got '\(a)'")
        }
    }

    func run() async throws {
        let (props, text) = try settings()
        let security: ClientSecurity
        do { security = try ClientProperties.security(text, source: producerConfig ?? "--producer-props") } catch let e
            as ClientProperties.Invalid
        {
            throw ValidationError(e.description)
        }
        let acks: Int16 = ["1": 1, "0": 0][props["acks"] ?? "all"] ?? -1
        let batchBytes = max(Int(props["batch.size"] ?? "") ?? 16384, recordSize + 100)
        let perBatch = max(1, batchBytes / max(1, recordSize + 12))
        guard let servers = bootstrapServer ?? props["bootstrap.servers"] else {
            throw ValidationError(
                "Name the cluster: --bootstrap-server host:port or --producer-props bootstrap.servers=host:port")
        }
        let client = try KafkaClient(
            bootstrapServers: servers, clientId: "producer-perf-test",
            security: security)
        do {
            var request = MetadataRequest()
            request.topics = [MetadataRequest.Topic(name: topic)]
            request.allowAutoTopicCreation = true
            var md = try await client.send(request, as: MetadataResponse.self)
            for _ in 0..<20
            where md.topics.first.map({ $0.errorCode != 0 || $0.partitions.contains { $0.leaderId < 0 } }) ?? true {
                try await Task.sleep(nanoseconds: 250_000_000)
                md = try await client.send(request, as: MetadataResponse.self)
            }
            guard let t = md.topics.first, t.errorCode == 0, !t.partitions.isEmpty else {
                throw CLIError(
                    "topic \(topic) is not available: \(ErrorCode(rawValue: md.topics.first?.errorCode ?? 3))")
            }
            var value = [UInt8](repeating: 0, count: recordSize)
            for i in value.indices { value[i] = UInt8(65 + Int.random(in: 0..<26)) }
            let stats = ProduceStats(recordSize: recordSize)
            let claims = Claims(total: numRecords, perSecond: throughput)
            let leaders = LeaderMap(t.partitions.map { ($0.partitionIndex, $0.leaderId) })
            let topic = self.topic
            let payload = value
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in t.partitions.map(\.partitionIndex) {
                    for _ in 0..<5 {
                        group.addTask {
                            // A batch of the same size is built again only when its timestamp is
                            // 100 ms old, so that the load costs this process little per record
                            // and the brokers, not the tool, are what is measured.
                            var cached: (count: Int, ms: Int64, batch: ByteBuffer)?
                            while true {
                                let (n, at) = await claims.take(perBatch)
                                if n == 0 { return }
                                let now = monotonicNs()
                                if at > now { try await Task.sleep(nanoseconds: at - now) }
                                let ts = nowMs()
                                let batch: ByteBuffer
                                if let c = cached, c.count == n, ts - c.ms < 100 {
                                    batch = c.batch
                                } else {
                                    var b = RecordBatchBuilder()
                                    for _ in 0..<n { b.append(key: nil, value: payload, timestamp: ts) }
                                    batch = b.build()
                                    cached = (n, ts, batch)
                                }
                                var r = ProduceRequest()
                                r.acks = acks
                                r.timeoutMs = 30_000
                                r.topics = [.init(name: topic, partitions: [.init(index: p, records: batch)])]
                                let sent = monotonicNs()
                                var attempt = 0
                                var backoff = ExponentialBackoff(initialMs: 100, maxMs: 1_000)
                                while true {
                                    attempt += 1
                                    do {
                                        let resp = try await client.send(
                                            r, toNode: await leaders.get(p), as: ProduceResponse.self)
                                        let code = resp.responses.first?.partitions.first?.errorCode ?? 0
                                        if code == 0 {
                                            await stats.record(n, latencyMs: Double(monotonicNs() - sent) / 1e6)
                                            break
                                        }
                                        if attempt >= 10 || !TopicReader.leaderErrors.contains(code) {
                                            await stats.failed(n, "\(ErrorCode(rawValue: code))")
                                            break
                                        }
                                    } catch {
                                        if attempt >= 10 {
                                            await stats.failed(n, "\(error)")
                                            break
                                        }
                                    }
                                    try await Task.sleep(nanoseconds: backoff.nextNanoseconds)
                                    await leaders.refresh(client, topic: topic)
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            print(await stats.summary())
            let errors = await stats.errors
            if errors > 0 {
                printError("\(errors) records failed; first error: \(await stats.firstError ?? "?")")
                await client.close()
                throw ExitCode(1)
            }
        } catch let e as CLIError {
            printError(e.message)
            await client.close()
            throw ExitCode(1)
        }
        await client.close()
    }
}

/// Partition leaders, refreshed from Metadata after a leader change.
actor LeaderMap {
    var leaders: [Int32: Int32]
    init(_ pairs: [(Int32, Int32)]) { leaders = Dictionary(uniqueKeysWithValues: pairs) }
    func get(_ p: Int32) -> Int32 { leaders[p] ?? -1 }
    func refresh(_ client: KafkaClient, topic: String) async {
        leaders.merge(await client.currentLeaders(of: topic)) { _, new in new }
    }
}

/// `tern consumer-perf-test` (`bin/kafka-consumer-perf-test.sh`): reads `--messages` records
/// from the beginning of every partition and prints Kafka's CSV summary.
struct ConsumerPerfTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer-perf-test", abstract: "Measure consume throughput (as kafka-consumer-perf-test.sh).")

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Topic to read.") var topic: String
    @Option(help: "Records to read.") var messages: Int
    @Option(help: "Give up when no record arrives for this many ms.") var timeout: Int = 10_000
    @Option(help: "Accepted for compatibility; reads go without a group.") var group: String?

    func validate() throws {
        if messages < 1 { throw ValidationError("--messages must be at least 1.") }
    }

    static func stamp(_ ms: Int64) -> String {
        var t = time_t(ms / 1000)
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let millis = ms % 1000
        let m = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)):\(m)"
    }

    func run() async throws {
        let client = try KafkaClient(
            bootstrapServers: try connection.servers(), clientId: "consumer-perf-test",
            security: try connection.security())
        do {
            let md = try await client.metadata(topics: [topic])
            guard let t = md.topics.first, t.errorCode == 0 else { throw CLIError("topic \(topic) does not exist") }
            let partitions = t.partitions.map(\.partitionIndex).sorted()
            var positions: [Int32: Int64] = [:]
            for p in t.partitions {
                positions[p.partitionIndex] =
                    try await client.listOffset(
                        topic: topic, partition: p.partitionIndex, leader: p.leaderId, earliest: true)?.offset ?? 0
            }
            let reader = TopicReader(
                client: client, topic: topic, partitions: partitions, positions: positions,
                leaders: Dictionary(uniqueKeysWithValues: t.partitions.map { ($0.partitionIndex, $0.leaderId) }))
            reader.maxWaitMs = 100
            let startMs = nowMs()
            let start = monotonicNs()
            var records = 0
            var bytes = 0
            var lastData = monotonicNs()
            while records < messages && monotonicNs() - lastData < UInt64(timeout) * 1_000_000 {
                for b in try await reader.poll() where !b.header.isControl {
                    let skip = max(0, positions[b.partition]! - b.header.baseOffset)
                    let n = min(
                        messages - records, Int(b.header.recordCount) - Int(min(skip, Int64(b.header.recordCount))))
                    records += n
                    bytes += b.header.totalSize * n / max(1, Int(b.header.recordCount))
                    lastData = monotonicNs()
                }
            }
            let secs = max(0.001, Double(monotonicNs() - start) / 1e9)
            let mb = Double(bytes) / 1_048_576
            print(
                "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
            )
            print(
                "\(Self.stamp(startMs)), \(Self.stamp(nowMs())), \(fixed(mb, 4)), \(fixed(mb / secs, 4)), \(records), \(fixed(Double(records) / secs, 4)), 0, \(Int(secs * 1000)), \(fixed(mb / secs, 4)), \(fixed(Double(records) / secs, 4))"
            )
            if records < messages {
                printError(
                    "WARNING: Exiting before consuming the expected number of messages: timeout (\(timeout) ms) exceeded."
                )
            }
        } catch let e as CLIError {
            printError(e.message)
            await client.close()
            throw ExitCode(1)
        }
        await client.close()
    }
}

/// `tern log-perf-test`: the storage layer alone, without a network or a broker. Appends
/// batches of one size to a fresh partition log (CRC checks, offsets and indexes as a produce
/// does), fsyncs at the end, then reads the whole log back in fetch-sized chunks.
struct LogPerfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log-perf-test",
        abstract: "Measure the storage layer alone: append and read MB/s of a partition log on disk.")

    @Option(help: "An empty or missing directory to write the log in (removed afterwards).") var dir: String
    @Option(help: "Bytes per record batch.") var batchBytes: Int = 1024
    @Option(help: "Total bytes to append.") var totalBytes: Int = 1 << 30
    @Option(help: "Bytes per read, as a fetch's partition max bytes.") var readBytes: Int = 1 << 20
    @Flag(help: "Keep the log directory (to compare reads of its files with other tools).") var keep = false

    func validate() throws {
        if batchBytes < 128 { throw ValidationError("--batch-bytes must be at least 128.") }
        if totalBytes < batchBytes { throw ValidationError("--total-bytes must be at least --batch-bytes.") }
        if FileSystem.exists(dir) && !((try? FileSystem.list(dir))?.isEmpty ?? false) {
            throw ValidationError("--dir \(dir) is not empty; give a new directory.")
        }
    }

    func run() throws {
        var config = LogConfig()
        config.maxMessageBytes = max(config.maxMessageBytes, batchBytes + 1024)
        let log = try PartitionLog(
            directory: dir, config: config, clock: toolClock,
            logger: Logger(label: "log-perf-test", factory: { _ in SwiftLogNoOpLogHandler() }))
        defer { if !keep { try? FileSystem.removeTree(dir) } }
        // One batch of one record whose value fills the batch; appended again and again (the log
        // rewrites only the offset and epoch fields, outside the CRC).
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: [UInt8](repeating: 0x61, count: batchBytes - 61 - 10), timestamp: nowMs())
        let batch = builder.build()
        let count = totalBytes / batch.readableBytes
        var start = monotonicNs()
        for i in 0..<count {
            if case .failure(let e) = log.append(records: batch, leaderEpoch: 0) {
                throw CLIError("append \(i) failed: \(e.message)")
            }
        }
        try log.flush()
        let appendSecs = Double(monotonicNs() - start) / 1e9
        let bytes = Double(count * batch.readableBytes)
        log.setHighWatermark(log.logEndOffset, nowMs: 0)
        start = monotonicNs()
        var offset: Int64 = 0
        var read = 0
        while offset < log.logEndOffset, let data = try log.read(from: offset, maxBytes: readBytes),
            data.readableBytes > 0
        {
            read += data.readableBytes
            // The next read starts after the last batch: walk the lengths, then read its header.
            var cursor = data.readerIndex
            var last = cursor
            while let length = data.getInteger(at: cursor + 8, as: Int32.self),
                cursor + Int(length) + 12 <= data.writerIndex
            {
                last = cursor
                cursor += Int(length) + 12
            }
            guard let h = RecordBatchHeader.peek(data, at: last) else { break }
            offset = h.nextOffset
        }
        let readSecs = Double(monotonicNs() - start) / 1e9
        print("batch.bytes, batches, append.MB, append.MB.sec, read.MB, read.MB.sec")
        print(
            "\(batch.readableBytes), \(count), \(fixed(bytes / 1_048_576, 1)), \(fixed(bytes / 1_048_576 / appendSecs, 1)), \(fixed(Double(read) / 1_048_576, 1)), \(fixed(Double(read) / 1_048_576 / readSecs, 1))"
        )
    }
}
