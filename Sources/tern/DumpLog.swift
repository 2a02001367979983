import ArgumentParser
import KafkaCompression
import KafkaProtocol
import NIOCore
import Storage

/// `tern dump-log` (`bin/kafka-dump-log.sh`): prints a segment's batches (and with
/// --print-data-log its records) in the format of Kafka's tool, or an index's entries, and ends
/// with a health line: every batch's CRC checked, offsets in order, and where damage starts.
struct DumpLog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-log", abstract: "Print the batches of log segments and the entries of their indexes.")

    @Option(help: "Comma-separated .log, .index or .timeindex files.") var files: String
    @Flag(name: .customLong("print-data-log"), help: "Also print every record's key and value.") var printDataLog =
        false
    @Flag(name: .customLong("deep-iteration"), help: "Same as --print-data-log for uncompressed batches.")
    var deepIteration = false

    func run() throws {
        var damaged = false
        for path in files.split(separator: ",").map(String.init) {
            print("Dumping \(path)")
            let data: ByteBuffer
            do {
                let f = try DataFile(path: path, create: false)
                data = try f.read(at: 0, length: try f.size())
            } catch {
                printError("Could not read \(path): \(error)")
                throw ExitCode(1)
            }
            let name = path.split(separator: "/").last.map(String.init) ?? path
            let base = Int64(name.split(separator: ".").first ?? "") ?? 0
            if path.hasSuffix(".log") {
                damaged = !dumpSegment(data, base: base) || damaged
            } else if path.hasSuffix(".timeindex") {
                let entries = dumpEntries(data, size: 12, base: base) { b, i in
                    (b.getInteger(at: i, as: Int64.self)!, base + Int64(b.getInteger(at: i + 8, as: UInt32.self)!))
                } line: {
                    "timestamp: \($0.0) offset: \($0.1)"
                }
                let problem = entries.indices.dropFirst().first {
                    entries[$0].0 < entries[$0 - 1].0 || entries[$0].1 < entries[$0 - 1].1
                }.map { "entry \($0) goes back in time or offset" }
                damaged = !health(entries.count, problem) || damaged
            } else if path.hasSuffix(".index") {
                let entries = dumpEntries(data, size: 8, base: base) { b, i in
                    (
                        base + Int64(b.getInteger(at: i, as: UInt32.self)!),
                        Int(b.getInteger(at: i + 4, as: UInt32.self)!)
                    )
                } line: {
                    "offset: \($0.0) position: \($0.1)"
                }
                damaged =
                    !health(entries.count, indexProblem(entries, logPath: String(path.dropLast(6)) + ".log")) || damaged
            } else {
                printError("\(path): not a .log, .index or .timeindex file")
                throw ExitCode(1)
            }
        }
        if damaged { throw ExitCode(2) }
    }

    /// Prints an index's entries, up to the first all-zero entry after the first (preallocated
    /// index files end in zeros), and returns them.
    func dumpEntries<Entry>(
        _ data: ByteBuffer, size: Int, base: Int64, _ entry: (ByteBuffer, Int) -> Entry, line: (Entry) -> String
    ) -> [Entry] {
        var i = data.readerIndex
        var out: [Entry] = []
        while i + size <= data.writerIndex {
            if !out.isEmpty, data.getBytes(at: i, length: size)!.allSatisfy({ $0 == 0 }) { break }
            out.append(entry(data, i))
            print(line(out.last!))
            i += size
        }
        if (data.writerIndex - i) % size != 0 {
            print("(\((data.writerIndex - i) % size) trailing bytes: a torn entry)")
        }
        return out
    }

    /// What is wrong with an offset index, checked against its segment: entries in order, each
    /// pointing at the start of the batch with its offset. Nil when it is sound.
    func indexProblem(_ entries: [(offset: Int64, position: Int)], logPath: String) -> String? {
        for (i, (a, b)) in zip(entries, entries.dropFirst()).enumerated()
        where b.offset <= a.offset || b.position <= a.position {
            return "entry \(i + 1) is out of order"
        }
        guard let log = try? DataFile(path: logPath, create: false), let size = try? log.size() else { return nil }
        for (i, e) in entries.enumerated() {
            guard e.position < size, let head = try? log.read(at: e.position, length: RecordBatchHeader.size),
                let h = RecordBatchHeader.peek(head, at: head.readerIndex), h.baseOffset == e.offset
            else { return "entry \(i) (offset \(e.offset)) does not point at its batch in \(logPath)" }
        }
        return nil
    }

    /// Prints the health line of an index; false when it is damaged.
    func health(_ count: Int, _ problem: String?) -> Bool {
        if let problem {
            print(
                "Health: DAMAGED: \(count) entries; \(problem) (the broker rebuilds it from the log at its next start)")
            return false
        }
        print("Health: \(count) entries, in order")
        return true
    }

    /// Prints each batch; returns false when the segment has a damaged or torn part.
    func dumpSegment(_ data: ByteBuffer, base: Int64) -> Bool {
        print("Log starting offset: \(base)")
        var position = data.readerIndex
        var batches = 0
        var records = 0
        var expected = base
        var firstOffset: Int64? = nil
        var problem: String? = nil
        while position < data.writerIndex {
            let available = data.writerIndex - position
            guard let h = RecordBatchHeader.peek(data, at: position), h.magic == 2,
                h.batchLength >= Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead), h.totalSize <= available
            else {
                problem = "torn or unreadable batch header at position \(position) (\(available) bytes left)"
                break
            }
            let computed = CRC32C.checksum(
                data, at: position + RecordBatchHeader.attributesOffset,
                length: h.totalSize - RecordBatchHeader.attributesOffset)
            let valid = computed == h.crc
            let timeKind = h.usesLogAppendTime ? "LogAppendTime" : "CreateTime"
            print(
                "baseOffset: \(h.baseOffset) lastOffset: \(h.lastOffset) count: \(h.recordCount) baseSequence: \(h.baseSequence) lastSequence: \(h.lastSequence) producerId: \(h.producerId) producerEpoch: \(h.producerEpoch) partitionLeaderEpoch: \(h.partitionLeaderEpoch) isTransactional: \(h.isTransactional) isControl: \(h.isControl) deleteHorizonMs: OptionalLong.empty position: \(position) \(timeKind): \(h.maxTimestamp) size: \(h.totalSize) magic: \(h.magic) compresscodec: \(h.compression?.description ?? "unknown") crc: \(h.crc) isvalid: \(valid)"
            )
            guard valid else {
                problem =
                    "CRC mismatch in the batch at position \(position) (offset \(h.baseOffset)): stored \(h.crc), computed \(computed)"
                break
            }
            if h.baseOffset < expected {
                problem = "offset \(h.baseOffset) at position \(position) goes back (expected at least \(expected))"
                break
            }
            if printDataLog || deepIteration {
                let batch = data.getSlice(at: position, length: h.totalSize)!
                do {
                    for (i, r) in try Decompression.records(batch: batch, header: h).enumerated() {
                        let seq = h.baseSequence < 0 ? -1 : h.baseSequence + Int32(i)
                        var line =
                            "| offset: \(r.offset) \(timeKind): \(r.timestamp) keySize: \(r.key.map { $0.count } ?? -1) valueSize: \(r.value.map { $0.count } ?? -1) sequence: \(seq) headerKeys: [\(r.headers.map(\.0).joined(separator: ","))]"
                        if printDataLog {
                            if let k = r.key { line += " key: \(String(decoding: k, as: UTF8.self))" }
                            line += " payload: \(r.value.map { String(decoding: $0, as: UTF8.self) } ?? "null")"
                        }
                        print(line)
                    }
                } catch {
                    print("| records not shown: \(error)")
                }
            }
            firstOffset = firstOffset ?? h.baseOffset
            expected = h.nextOffset
            batches += 1
            records += Int(h.recordCount)
            position += h.totalSize
        }
        let span = firstOffset.map { " at offsets \($0)..\(expected - 1)" } ?? ""
        if let problem {
            print(
                "Health: DAMAGED: \(problem); \(batches) good batches (\(records) records)\(span) before it, \(data.writerIndex - position) bytes from position \(position) on are not readable"
            )
            return false
        }
        print("Health: ok: \(batches) batches, \(records) records\(span), every CRC valid, \(data.writerIndex) bytes")
        return true
    }
}
