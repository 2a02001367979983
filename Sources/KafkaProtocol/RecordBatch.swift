import NIOCore

/// Compression codecs of a record batch (attributes bits 0-2).
public enum CompressionCodec: Int16, Sendable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    public var description: String {
        switch self {
        case .none: return "none"
        case .gzip: return "gzip"
        case .snappy: return "snappy"
        case .lz4: return "lz4"
        case .zstd: return "zstd"
        }
    }
}

/// The fixed 61-byte header of a RecordBatch v2 (magic 2), read without copying the records.
///
/// Layout: baseOffset i64 @0, batchLength i32 @8 (bytes after this field), partitionLeaderEpoch
/// i32 @12, magic i8 @16, crc u32 @17 (CRC-32C of bytes 21..end), attributes i16 @21,
/// lastOffsetDelta i32 @23, baseTimestamp i64 @27, maxTimestamp i64 @35, producerId i64 @43,
/// producerEpoch i16 @51, baseSequence i32 @53, recordCount i32 @57.
public struct RecordBatchHeader: Sendable, Equatable {
    public static let size = 61
    /// Bytes before `batchLength` counts: baseOffset and batchLength themselves.
    public static let logOverhead = 12
    public static let crcOffset = 17
    public static let attributesOffset = 21

    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: Int16
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    /// Total bytes of the batch on the wire and on disk.
    public var totalSize: Int { Int(batchLength) + Self.logOverhead }
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    public var nextOffset: Int64 { lastOffset + 1 }
    public var compression: CompressionCodec? { CompressionCodec(rawValue: attributes & 0x7) }
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    public var isControl: Bool { attributes & 0x20 != 0 }
    public var usesLogAppendTime: Bool { attributes & 0x08 != 0 }
    public var hasProducerId: Bool { producerId >= 0 }
    public var lastSequence: Int32 {
        baseSequence < 0
            ? -1 : Int32(truncatingIfNeeded: (Int64(baseSequence) + Int64(lastOffsetDelta)) % (Int64(Int32.max) + 1))
    }

    /// Reads the header at `index` of `buffer` (absolute index). Returns nil if fewer than
    /// `size` bytes are there.
    public static func peek(_ buffer: ByteBuffer, at index: Int) -> RecordBatchHeader? {
        guard index >= buffer.readerIndex, index + size <= buffer.writerIndex else { return nil }
        return RecordBatchHeader(
            baseOffset: buffer.getInteger(at: index)!,
            batchLength: buffer.getInteger(at: index + 8)!,
            partitionLeaderEpoch: buffer.getInteger(at: index + 12)!,
            magic: buffer.getInteger(at: index + 16)!,
            crc: buffer.getInteger(at: index + 17)!,
            attributes: buffer.getInteger(at: index + 21)!,
            lastOffsetDelta: buffer.getInteger(at: index + 23)!,
            baseTimestamp: buffer.getInteger(at: index + 27)!,
            maxTimestamp: buffer.getInteger(at: index + 35)!,
            producerId: buffer.getInteger(at: index + 43)!,
            producerEpoch: buffer.getInteger(at: index + 51)!,
            baseSequence: buffer.getInteger(at: index + 53)!,
            recordCount: buffer.getInteger(at: index + 57)!
        )
    }
}

/// Why a batch was refused. Each maps to a Kafka error code for the produce answer.
public enum RecordBatchError: Error, Equatable, CustomStringConvertible {
    case legacyMagic(Int8)
    case truncated(needed: Int, available: Int)
    case badLength(Int32)
    case crcMismatch(stored: UInt32, computed: UInt32)
    case invalid(String)

    public var errorCode: ErrorCode {
        switch self {
        case .legacyMagic: return .unsupportedForMessageFormat
        case .crcMismatch, .truncated, .badLength: return .corruptMessage
        case .invalid: return .invalidRecord
        }
    }

    public var description: String {
        switch self {
        case .legacyMagic(let m):
            return "message format v\(m) is not supported; Tern stores RecordBatch v2 (magic 2, Kafka 0.11+ clients)"
        case .truncated(let needed, let available):
            return "record batch truncated: needs \(needed) bytes, \(available) present"
        case .badLength(let l): return "record batch length \(l) is invalid"
        case .crcMismatch(let stored, let computed):
            return "record batch CRC mismatch: stored \(stored), computed \(computed)"
        case .invalid(let why): return "invalid record batch: \(why)"
        }
    }
}

public enum RecordBatches {
    /// Walks the batches of a produce request's records field, checking each header and CRC.
    /// Returns the headers with their absolute start indexes, or the first problem found.
    public static func validate(_ records: ByteBuffer) -> Result<
        [(index: Int, header: RecordBatchHeader)], RecordBatchError
    > {
        var out: [(Int, RecordBatchHeader)] = []
        var index = records.readerIndex
        let end = records.writerIndex
        if index == end { return .failure(.invalid("no record batch in the request")) }
        while index < end {
            let available = end - index
            if available >= 17, let magic: Int8 = records.getInteger(at: index + 16), magic != 2 {
                return .failure(.legacyMagic(magic))
            }
            guard let h = RecordBatchHeader.peek(records, at: index) else {
                return .failure(.truncated(needed: RecordBatchHeader.size, available: available))
            }
            guard h.batchLength >= Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead) else {
                return .failure(.badLength(h.batchLength))
            }
            guard h.totalSize <= available else {
                return .failure(.truncated(needed: h.totalSize, available: available))
            }
            let crcStart = index + RecordBatchHeader.attributesOffset
            let computed = CRC32C.checksum(
                records, at: crcStart, length: h.totalSize - RecordBatchHeader.attributesOffset)
            guard computed == h.crc else { return .failure(.crcMismatch(stored: h.crc, computed: computed)) }
            guard h.recordCount >= 0, h.lastOffsetDelta >= 0 else {
                return .failure(.invalid("record count \(h.recordCount), last offset delta \(h.lastOffsetDelta)"))
            }
            guard h.compression != nil else {
                return .failure(.invalid("unknown compression codec \(h.attributes & 7)"))
            }
            out.append((index, h))
            index += h.totalSize
        }
        return .success(out)
    }
}

/// One record inside a batch.
public struct Record: Sendable, Equatable {
    public var offset: Int64
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [(String, [UInt8]?)]

    public init(
        offset: Int64 = 0, timestamp: Int64 = 0, key: [UInt8]?, value: [UInt8]?, headers: [(String, [UInt8]?)] = []
    ) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }

    public static func == (a: Record, b: Record) -> Bool {
        a.offset == b.offset && a.timestamp == b.timestamp && a.key == b.key && a.value == b.value
            && a.headers.count == b.headers.count
            && zip(a.headers, b.headers).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// Decodes the records of an uncompressed batch.
    public static func decodeAll(batch: ByteBuffer, header h: RecordBatchHeader) throws -> [Record] {
        var r = KafkaReader(batch)
        r.buffer.moveReaderIndex(forwardBy: RecordBatchHeader.size)
        var out: [Record] = []
        out.reserveCapacity(Int(min(h.recordCount, 100_000)))
        for _ in 0..<max(0, Int(h.recordCount)) {
            out.append(try decode(&r, header: h))
        }
        return out
    }

    /// Decodes the records section of a batch (already decompressed) into records.
    public static func decodeAll(records: ByteBuffer, header h: RecordBatchHeader) throws -> [Record] {
        var r = KafkaReader(records)
        var out: [Record] = []
        for _ in 0..<max(0, Int(h.recordCount)) { out.append(try decode(&r, header: h)) }
        return out
    }

    static func decode(_ r: inout KafkaReader, header h: RecordBatchHeader) throws -> Record {
        let length = Int(try r.varint())
        guard length >= 0, length <= r.remaining else {
            throw ProtocolError.truncated(field: "record", needed: length, available: r.remaining)
        }
        var inner = KafkaReader(r.buffer.readSlice(length: length)!)
        var attributes: Int8 = 0
        try inner.int8(&attributes)
        let timestampDelta = try inner.varlong()
        let offsetDelta = try inner.varint()
        let key = try readVarBytes(&inner, "record key")
        let value = try readVarBytes(&inner, "record value")
        let headerCount = Int(try inner.varint())
        guard headerCount >= 0, headerCount <= inner.remaining else {
            throw ProtocolError.invalidLength(field: "record headers", value: headerCount)
        }
        var headers: [(String, [UInt8]?)] = []
        for _ in 0..<headerCount {
            guard let k = try readVarBytes(&inner, "header key") else {
                throw ProtocolError.invalidLength(field: "header key", value: -1)
            }
            headers.append((String(decoding: k, as: UTF8.self), try readVarBytes(&inner, "header value")))
        }
        return Record(
            // Both deltas come from the producer: wrapping, not trapping, on hostile extremes
            // (a base timestamp of Int64.max with a delta of 1 is a valid batch on the wire).
            offset: h.baseOffset &+ Int64(offsetDelta), timestamp: h.baseTimestamp &+ timestampDelta, key: key,
            value: value,
            headers: headers)
    }

    static func readVarBytes(_ r: inout KafkaReader, _ field: StaticString) throws -> [UInt8]? {
        let n = Int(try r.varint())
        if n < 0 { return nil }
        guard n <= r.remaining else {
            throw ProtocolError.truncated(field: "\(field)", needed: n, available: r.remaining)
        }
        return r.buffer.readBytes(length: n)
    }
}

/// Builds an uncompressed RecordBatch v2, as a producer would.
public struct RecordBatchBuilder {
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1
    public var baseSequence: Int32 = -1
    /// Batch attributes beyond the timestamp type and codec: 0x10 transactional, 0x20 control.
    public var attributes: Int16 = 0
    private var records: [Record] = []

    public init() {}

    public var count: Int { records.count }

    public mutating func append(key: [UInt8]?, value: [UInt8]?, headers: [(String, [UInt8]?)] = [], timestamp: Int64) {
        records.append(
            Record(offset: Int64(records.count), timestamp: timestamp, key: key, value: value, headers: headers))
    }

    public func build(baseOffset: Int64 = 0) -> ByteBuffer {
        let baseTimestamp = records.first?.timestamp ?? 0
        let header = RecordBatchHeader(
            baseOffset: baseOffset, batchLength: 0, partitionLeaderEpoch: -1,  // the broker sets the epoch
            magic: 2, crc: 0, attributes: attributes, lastOffsetDelta: Int32(max(0, records.count - 1)),
            baseTimestamp: baseTimestamp, maxTimestamp: records.map(\.timestamp).max() ?? baseTimestamp,
            producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence,
            recordCount: Int32(records.count))
        return Self.encode(header, records, offsetsFrom: 0)
    }

    /// Re-encodes a batch with only `records` (a subset of its records, with their original
    /// offsets and timestamps), uncompressed: the log cleaner's output. The base offset, last
    /// offset delta, leader epoch, producer fields and timestamp type stay those of `original`, so
    /// offsets and producer state are unchanged.
    public static func rebuild(_ original: RecordBatchHeader, keeping records: [Record]) -> ByteBuffer {
        var header = original
        header.attributes = original.attributes & ~0x7
        header.baseTimestamp = records.first?.timestamp ?? original.baseTimestamp
        if !original.usesLogAppendTime {
            header.maxTimestamp = records.map(\.timestamp).max() ?? header.baseTimestamp
        }
        header.recordCount = Int32(records.count)
        return encode(header, records, offsetsFrom: original.baseOffset)
    }

    /// A batch with `header`'s fields (the length and CRC computed here) and `records`, each
    /// record's offset delta taken from `offsetsFrom`.
    static func encode(_ h: RecordBatchHeader, _ records: [Record], offsetsFrom base: Int64) -> ByteBuffer {
        var body = KafkaWriter(buffer: ByteBufferAllocator().buffer(capacity: 64 + records.count * 32))
        for rec in records {
            var one = KafkaWriter(buffer: ByteBufferAllocator().buffer(capacity: 32))
            one.buffer.writeInteger(Int8(0))
            one.writeVarlong(rec.timestamp - h.baseTimestamp)
            one.writeVarint(Int32(truncatingIfNeeded: rec.offset - base))
            writeVarBytes(&one, rec.key)
            writeVarBytes(&one, rec.value)
            one.writeVarint(Int32(rec.headers.count))
            for (k, v) in rec.headers {
                writeVarBytes(&one, Array(k.utf8))
                writeVarBytes(&one, v)
            }
            body.writeVarint(Int32(one.buffer.readableBytes))
            body.buffer.writeBuffer(&one.buffer)
        }
        var out = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + body.buffer.readableBytes)
        out.writeInteger(h.baseOffset)
        out.writeInteger(Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + body.buffer.readableBytes))
        out.writeInteger(h.partitionLeaderEpoch)
        out.writeInteger(Int8(2))
        out.writeInteger(UInt32(0))  // crc, filled below
        out.writeInteger(h.attributes)
        out.writeInteger(h.lastOffsetDelta)
        out.writeInteger(h.baseTimestamp)
        out.writeInteger(h.maxTimestamp)
        out.writeInteger(h.producerId)
        out.writeInteger(h.producerEpoch)
        out.writeInteger(h.baseSequence)
        out.writeInteger(Int32(records.count))
        out.writeBuffer(&body.buffer)
        let crc = CRC32C.checksum(
            out, at: out.readerIndex + RecordBatchHeader.attributesOffset,
            length: out.readableBytes - RecordBatchHeader.attributesOffset)
        out.setInteger(crc, at: out.readerIndex + RecordBatchHeader.crcOffset)
        return out
    }

    static func writeVarBytes(_ w: inout KafkaWriter, _ bytes: [UInt8]?) {
        guard let bytes else {
            w.writeVarint(-1)
            return
        }
        w.writeVarint(Int32(bytes.count))
        w.buffer.writeBytes(bytes)
    }
}
