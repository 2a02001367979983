import Broker
import KafkaClient
import KafkaCompression
import KafkaProtocol
import Metadata
import NIOConcurrencyHelpers
import NIOCore

/// The console's message browser and produce form. Both go to the partition's current leader
/// over the inter-broker listener (through `PeerClient`, as any client would: Fetch up to the
/// high watermark, ListOffsets, Produce with acks=all), so what the page shows is what a
/// consumer reads, whichever node serves the page.
///
/// They act with the node's own credentials, so they are served only where an anonymous client
/// could do the same over Kafka's protocol: no authorizer, and a client listener without SASL or
/// client certificates (`ConsoleMessages.refusal`); elsewhere they answer 403 and say why.
struct ConsoleMessages: Sendable {
    let broker: Broker
    /// Why reading and producing from the page is off; nil when it is on.
    let refusal: String?

    /// Bounds on what one request may cost: records returned, bytes read while filtering,
    /// bytes of one key or value shown, bytes of a produced record.
    static let maxRecords = 500
    /// Record bytes (decompressed) one answer reads, filtering or not.
    static let maxScanBytes = 16 << 20
    static let maxShownBytes = 16 << 10
    /// The most JSON one answer carries; records past it wait for the next page.
    static let maxAnswerBytes = 4 << 20
    static let maxProduceBytes = 1 << 20
    static let maxFilterLength = 256
    /// Browses one node runs at once (each reads up to `maxScanBytes`); more answer 429.
    static let maxConcurrent = 2
    /// How long one browse reads before it answers with what it has.
    static let deadlineMs: Int64 = 5_000
    /// Browses running on this node.
    let running = NIOLockedValueBox(0)

    struct Failure: Error {
        var status: Int
        var message: String
    }

    /// The partition's leader, or a 4xx/5xx naming what is wrong.
    private func leader(_ topic: String, _ partition: Int32) throws -> Int32 {
        let image = broker.registry.image
        guard let t = image.topics[topic] else { throw Failure(status: 404, message: "no topic \(topic)") }
        guard let p = t.partitions[partition] else {
            throw Failure(status: 404, message: "\(topic) has no partition \(partition) (it has \(t.partitionCount))")
        }
        guard p.leader >= 0 else { throw Failure(status: 503, message: "\(topic)-\(partition) has no leader now") }
        return p.leader
    }

    private func peers() throws -> PeerClient {
        guard let c = broker.consolePeers.withLockedValue({ $0 }) else {
            throw Failure(status: 503, message: "this node has not started serving yet")
        }
        return c
    }

    private func listOffset(
        _ topic: String, _ partition: Int32, _ timestamp: Int64, leader: Int32, timeoutMs: Int = 5_000
    ) async throws
        -> Int64?
    {
        var lp = ListOffsetsRequest.Partition()
        lp.partitionIndex = partition
        lp.timestamp = timestamp
        var lt = ListOffsetsRequest.Topic()
        lt.name = topic
        lt.partitions = [lp]
        var r = ListOffsetsRequest()
        r.topics = [lt]
        let answer = try await peers().send(r, as: ListOffsetsResponse.self, to: leader, timeoutMs: timeoutMs)
        guard let p = answer.topics.first?.partitions.first else { return nil }
        guard p.errorCode == 0 else {
            throw Failure(status: 502, message: "ListOffsets: \(ErrorCode(rawValue: p.errorCode))")
        }
        return p.offset >= 0 ? p.offset : nil
    }

    // MARK: - Browsing

    struct Query {
        var topic = ""
        var partition: Int32 = 0
        /// beginning, end, offset or timestamp.
        var from = "end"
        var offset: Int64 = 0
        var timestamp: Int64 = 0
        var limit = 50
        var filter = ""

        init(_ q: [String: String]) throws {
            func number<T: FixedWidthInteger>(_ key: String, _ type: T.Type) throws -> T? {
                guard let s = q[key], !s.isEmpty else { return nil }
                guard let v = T(s) else { throw Failure(status: 400, message: "\(key)=\(s) is not a number") }
                return v
            }
            guard let t = q["topic"], !t.isEmpty else { throw Failure(status: 400, message: "topic is required") }
            topic = t
            partition = try number("partition", Int32.self) ?? 0
            from = q["from"] ?? (q["offset"] != nil ? "offset" : "end")
            guard ["beginning", "end", "offset", "timestamp"].contains(from) else {
                throw Failure(status: 400, message: "from=\(from): one of beginning, end, offset, timestamp")
            }
            offset = try number("offset", Int64.self) ?? 0
            timestamp = try number("timestamp", Int64.self) ?? 0
            limit = try number("limit", Int.self) ?? 50
            guard (1...ConsoleMessages.maxRecords).contains(limit) else {
                throw Failure(status: 400, message: "limit=\(limit): 1 to \(ConsoleMessages.maxRecords)")
            }
            filter = q["q"] ?? ""
            guard filter.utf8.count <= ConsoleMessages.maxFilterLength else {
                throw Failure(
                    status: 400, message: "the filter is longer than \(ConsoleMessages.maxFilterLength) bytes")
            }
        }
    }

    /// Records of one partition as JSON: from an offset, a timestamp, the beginning or the last
    /// `limit` before the end; with a filter, only records whose key or value contains it
    /// (reading on for at most `maxScanBytes`; `next` says where to go on).
    func browse(_ q: Query) async throws -> String {
        if let refusal { throw Failure(status: 403, message: refusal) }
        let admitted = running.withLockedValue { n -> Bool in
            guard n < Self.maxConcurrent else { return false }
            n += 1
            return true
        }
        guard admitted else {
            throw Failure(status: 429, message: "\(Self.maxConcurrent) browses are running on this node; try again")
        }
        defer { running.withLockedValue { $0 -= 1 } }
        let deadline = broker.clock.monotonicMs + Self.deadlineMs
        // What is left of the deadline, for each request to the leader.
        func left() -> Int { Int(max(1, deadline - broker.clock.monotonicMs)) }
        let leader = try leader(q.topic, q.partition)
        let start =
            try await listOffset(
                q.topic, q.partition, ListOffsetsRequest.earliestTimestamp, leader: leader, timeoutMs: left()) ?? 0
        let end =
            try await listOffset(
                q.topic, q.partition, ListOffsetsRequest.latestTimestamp, leader: leader, timeoutMs: left()) ?? 0
        var position: Int64
        switch q.from {
        case "beginning": position = start
        case "offset": position = min(max(q.offset, start), end)
        case "timestamp":
            position =
                try await listOffset(q.topic, q.partition, max(0, q.timestamp), leader: leader, timeoutMs: left())
                ?? end
        default: position = q.filter.isEmpty ? max(start, end - Int64(q.limit)) : start
        }
        let first = position
        var records: [String] = []
        var answerBytes = 0
        var scanned = 0
        let needle = Array(q.filter.utf8)
        let peers = try peers()
        func full() -> Bool { records.count >= q.limit || answerBytes >= Self.maxAnswerBytes }
        while !full(), scanned < Self.maxScanBytes, position < end, broker.clock.monotonicMs < deadline {
            var fp = FetchRequest.Partition()
            fp.partition = q.partition
            fp.fetchOffset = position
            fp.partitionMaxBytes = 1 << 20
            var ft = FetchRequest.Topic()
            ft.topic = q.topic
            ft.partitions = [fp]
            var r = FetchRequest()
            r.maxWaitMs = 0
            r.minBytes = 1
            r.maxBytes = 1 << 20
            r.topics = [ft]
            let answer = try await peers.send(r, as: FetchResponse.self, to: leader, timeoutMs: left())
            guard let pr = answer.responses.first?.partitions.first else { break }
            guard pr.errorCode == 0 else {
                throw Failure(status: 502, message: "Fetch: \(ErrorCode(rawValue: pr.errorCode))")
            }
            guard var data = pr.records, data.readableBytes > 0 else { break }
            var moved = false
            while !full(), scanned < Self.maxScanBytes, let h = RecordBatchHeader.peek(data, at: data.readerIndex),
                h.totalSize <= data.readableBytes, h.totalSize >= RecordBatchHeader.size
            {
                guard let batch = data.readSlice(length: h.totalSize) else { break }
                // Past this batch, or (when the page is full inside it) just past the last
                // record returned, so `next` goes on where this answer stopped; not past it at
                // all when it is left for the next answer.
                var taken: Int64? = nil
                var leftForNext = false
                defer {
                    // `taken` is a record's own offset (its delta is the producer's): never past the batch.
                    let next = full() ? min(taken.map { $0 &+ 1 } ?? h.nextOffset, h.nextOffset) : h.nextOffset
                    if !leftForNext && next > position {
                        position = next
                        moved = true
                    }
                }
                if h.isControl || h.nextOffset <= position { continue }
                let decoded: [Record]
                do {
                    // The budget counts what batches inflate to, not what they weigh on disk.
                    var inflated = 0
                    decoded = try Decompression.records(
                        batch: batch, header: h, limit: Self.maxScanBytes - scanned, inflated: &inflated)
                    scanned += RecordBatchHeader.size + inflated
                } catch {
                    let overBudget = (error as? Decompression.Failure)?.exceedsLimit == true
                    if overBudget && scanned > 0 {
                        // What is left of this answer's budget is too little: the next answer
                        // starts at this batch with a whole one.
                        leftForNext = true
                        scanned = Self.maxScanBytes
                        break
                    }
                    // Damaged, or larger than any answer reads: say so, and go on past it.
                    scanned += overBudget ? Self.maxScanBytes : batch.readableBytes
                    let why =
                        overBudget
                        ? "the batch inflates past the \(Self.maxScanBytes) bytes the browser reads at once"
                        : "batch unreadable: \(error)"
                    records.append(JSON.object([("offset", "\(h.baseOffset)"), ("error", JSON.string(why))]))
                    continue
                }
                for rec in decoded where rec.offset >= position && rec.offset < h.nextOffset && !full() {
                    if !needle.isEmpty && !Self.contains(rec.key, needle) && !Self.contains(rec.value, needle) {
                        continue
                    }
                    let json = Self.json(rec, batch: h)
                    records.append(json)
                    answerBytes += json.utf8.count
                    taken = rec.offset
                }
            }
            if !moved { break }
        }
        return JSON.object([
            ("topic", JSON.string(q.topic)), ("partition", "\(q.partition)"), ("leader", "\(leader)"),
            ("logStartOffset", "\(start)"), ("highWatermark", "\(end)"), ("start", "\(first)"),
            ("next", "\(position)"), ("scannedBytes", "\(scanned)"), ("records", JSON.array(records)),
        ])
    }

    /// Whether `needle` occurs in `haystack`: Knuth-Morris-Pratt, linear in both (a naive
    /// search of a 256-byte needle in "aaa…" data would compare 256 times per byte).
    static func contains(_ haystack: [UInt8]?, _ needle: [UInt8]) -> Bool {
        guard let h = haystack, h.count >= needle.count else { return false }
        if needle.isEmpty { return true }
        var fail = [Int](repeating: 0, count: needle.count)
        var k = 0
        for i in 1..<max(1, needle.count) where needle.count > 1 {
            while k > 0 && needle[i] != needle[k] { k = fail[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            fail[i] = k
        }
        var matched = 0
        for b in h {
            while matched > 0 && b != needle[matched] { matched = fail[matched - 1] }
            if b == needle[matched] { matched += 1 }
            if matched == needle.count { return true }
        }
        return false
    }

    /// Bytes for the page: their size, their text when they are UTF-8, and base64 (the page
    /// shows hex from it); at most `maxShownBytes` of them.
    static func bytes(_ b: [UInt8]?) -> String {
        guard let b else { return "null" }
        let shown = Array(b.prefix(maxShownBytes))
        var fields = [("size", "\(b.count)"), ("base64", JSON.string(base64(shown)))]
        if let text = String(validating: shown, as: UTF8.self) { fields.append(("text", JSON.string(text))) }
        if shown.count < b.count { fields.append(("truncated", "true")) }
        return JSON.object(fields)
    }

    /// At most this many headers of a record are shown.
    static let maxHeadersShown = 32

    static func json(_ r: Record, batch h: RecordBatchHeader) -> String {
        JSON.object([
            ("offset", "\(r.offset)"), ("timestamp", "\(r.timestamp)"),
            ("timestampType", JSON.string(h.attributes & 0x08 != 0 ? "LogAppendTime" : "CreateTime")),
            ("key", bytes(r.key)), ("value", bytes(r.value)),
            (
                "headers",
                JSON.array(
                    r.headers.prefix(maxHeadersShown).map {
                        JSON.object([("key", JSON.string(String($0.0.prefix(256)))), ("value", bytes($0.1))])
                    })
            ),
            ("headerCount", "\(r.headers.count)"),
            ("transactional", h.isTransactional ? "true" : "false"),
        ])
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let n = b0 << 16 | b1 << 8 | b2
            out.append(table[Int(n >> 18 & 63)])
            out.append(table[Int(n >> 12 & 63)])
            out.append(i + 1 < bytes.count ? table[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? table[Int(n & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Producing

    /// Produces one record from the page's form (`application/x-www-form-urlencoded`: topic,
    /// partition (empty: by key, or the first partition without one), key, value, and headers as
    /// `name: value` lines), with acks=all; answers where it landed.
    func produce(_ form: [String: String]) async throws -> String {
        if let refusal { throw Failure(status: 403, message: refusal) }
        guard let topic = form["topic"], !topic.isEmpty else {
            throw Failure(status: 400, message: "topic is required")
        }
        guard let t = broker.registry.image.topics[topic] else {
            throw Failure(status: 404, message: "no topic \(topic)")
        }
        let key = form["key"].flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        let value = Array((form["value"] ?? "").utf8)
        var headers: [(String, [UInt8]?)] = []
        for line in (form["headers"] ?? "").split(whereSeparator: \.isNewline) where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw Failure(status: 400, message: "header line \"\(line)\" is not name: value")
            }
            let name = String(line[..<colon]).trimmingSpaces
            guard !name.isEmpty else { throw Failure(status: 400, message: "a header without a name") }
            headers.append((name, Array(String(line[line.index(after: colon)...]).trimmingSpaces.utf8)))
        }
        let size = (key?.count ?? 0) + value.count + headers.reduce(0) { $0 + $1.0.utf8.count + ($1.1?.count ?? 0) }
        guard size <= Self.maxProduceBytes else {
            throw Failure(
                status: 413, message: "the record is \(size) bytes; the page sends at most \(Self.maxProduceBytes)")
        }
        let partition: Int32
        if let p = form["partition"], !p.isEmpty {
            guard let n = Int32(p) else { throw Failure(status: 400, message: "partition=\(p) is not a number") }
            partition = n
        } else if let key {
            partition = Partitioner.partition(forKey: key, count: Int(t.partitionCount))
        } else {
            partition = 0
        }
        let leader = try leader(topic, partition)
        var b = RecordBatchBuilder()
        b.append(key: key, value: value, headers: headers, timestamp: broker.clock.wallMs)
        var pd = ProduceRequest.PartitionData()
        pd.index = partition
        pd.records = b.build()
        var r = ProduceRequest()
        r.acks = -1
        r.timeoutMs = 10_000
        r.topics = [.init(name: topic, partitions: [pd])]
        let answer = try await peers().send(r, as: ProduceResponse.self, to: leader, timeoutMs: 15_000)
        guard let pr = answer.responses.first?.partitions.first else {
            throw Failure(status: 502, message: "the leader's answer named no partition")
        }
        guard pr.errorCode == 0 else {
            throw Failure(
                status: 502,
                message: "Produce: \(ErrorCode(rawValue: pr.errorCode))\(pr.errorMessage.map { ": \($0)" } ?? "")")
        }
        return JSON.object([
            ("topic", JSON.string(topic)), ("partition", "\(partition)"), ("offset", "\(pr.baseOffset)"),
        ])
    }

    /// Whether the page may read and write records, from the node's configuration.
    static func refusal(authorizer: Bool, anonymousListener: Bool) -> String? {
        if authorizer {
            return
                "the message browser is off: this cluster has an ACL authorizer, and the page would act with the node's own rights"
        }
        if !anonymousListener {
            return
                "the message browser is off: every client listener authenticates (SASL or client certificates), and the page would act with the node's own rights"
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}

/// Query strings and form bodies (`application/x-www-form-urlencoded`).
enum FormDecoding {
    static func decode(_ s: Substring) -> [String: String] {
        var out: [String: String] = [:]
        for pair in s.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[percentDecoded(parts[0])] = parts.count > 1 ? percentDecoded(parts[1]) : ""
        }
        return out
    }

    static func percentDecoded(_ s: Substring) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%"), it.count >= 2, let h = hex(it[it.startIndex]),
                let l = hex(it[it.startIndex + 1])
            {
                bytes.append(h << 4 | l)
                it.removeFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
