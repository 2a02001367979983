import CCompression
import KafkaProtocol
import NIOCore

/// Message sets of magic 0 and 1, what producers send in Produce v0-v2 (librdkafka with
/// `api.version.request=false` and `broker.version.fallback` below 0.11): turned into one v2
/// batch, as Kafka 3.x does on the way in, so that the log holds v2 batches only.
///
/// Each message is `offset int64, size int32, crc uint32 (CRC-32 of the rest), magic int8,
/// attributes int8, [timestamp int64 when magic 1], key bytes, value bytes`; a compressed
/// message's value is a whole message set of the inner messages, compressed.
public enum LegacyMessageSet {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The smallest message: crc, magic, attributes, key length, value length.
    static let minimumMessage = 4 + 1 + 1 + 4 + 4

    /// Whether `records` starts with a message of magic 0 or 1.
    public static func isLegacy(_ records: ByteBuffer) -> Bool {
        guard let magic: Int8 = records.getInteger(at: records.readerIndex + 16) else { return false }
        return magic == 0 || magic == 1
    }

    /// One v2 batch with every message of `records`: magic 0 messages get no timestamp (-1),
    /// magic 1 messages keep theirs (a LogAppendTime wrapper's for its inner messages). The
    /// batch is compressed with the wrappers' codec when every message came in one; otherwise
    /// it is uncompressed. Inner message sets decompress to at most `limit` bytes in all.
    public static func upConvert(_ records: ByteBuffer, limit: Int = Decompression.maxOutputBytes) throws
        -> ByteBuffer
    {
        var builder = RecordBatchBuilder()
        var codecs: Set<Int8> = []
        var budget = limit
        try walk(Array(records.readableBytesView), nested: false, budget: &budget) { key, value, timestamp, codec in
            builder.append(key: key, value: value, timestamp: timestamp)
            codecs.insert(codec)
        }
        guard builder.count > 0 else { throw Failure(description: "the message set holds no message") }
        let batch = builder.build()
        guard codecs.count == 1, let only = codecs.first, only != 0,
            let codec = CompressionCodec(rawValue: Int16(only))
        else { return batch }
        return try Compression.rewrite(batch, to: codec)
    }

    static func walk(
        _ bytes: [UInt8], nested: Bool, budget: inout Int,
        _ message: ([UInt8]?, [UInt8]?, Int64, Int8) throws -> Void
    ) throws {
        var i = 0
        func int32(_ at: Int) -> Int32 {
            Int32(
                bitPattern: UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8
                    | UInt32(bytes[at + 3]))
        }
        func int64(_ at: Int) -> Int64 { Int64(int32(at)) << 32 | Int64(UInt32(bitPattern: int32(at + 4))) }
        while i < bytes.count {
            guard bytes.count - i >= 12 else {
                throw Failure(description: "a message set ends inside a message header")
            }
            let size = Int(int32(i + 8))
            let start = i + 12
            guard size >= minimumMessage, size <= bytes.count - start else {
                throw Failure(description: "a message of \(size) bytes does not fit the message set")
            }
            let end = start + size
            let stored = UInt32(bitPattern: int32(start))
            let computed = bytes.withUnsafeBufferPointer { buf in
                UInt32(crc32(0, buf.baseAddress! + start + 4, uInt(size - 4)))
            }
            guard stored == computed else {
                throw Failure(description: "a message's CRC is \(stored), its bytes give \(computed)")
            }
            let magic = Int8(bitPattern: bytes[start + 4])
            let attributes = Int8(bitPattern: bytes[start + 5])
            guard magic == 0 || magic == 1 else { throw Failure(description: "a message of magic \(magic)") }
            var p = start + 6
            var timestamp: Int64 = -1
            if magic == 1 {
                guard end - p >= 8 + 8 else { throw Failure(description: "a magic 1 message is too short") }
                timestamp = int64(p)
                p += 8
            }
            func bytesField() throws -> [UInt8]? {
                guard end - p >= 4 else { throw Failure(description: "a message ends inside a length") }
                let n = Int(int32(p))
                p += 4
                if n < 0 { return nil }
                guard n <= end - p else { throw Failure(description: "a message's field of \(n) bytes runs past it") }
                defer { p += n }
                return Array(bytes[p..<p + n])
            }
            let key = try bytesField()
            let value = try bytesField()
            let codecBits = attributes & 0x07
            if codecBits == 0 {
                try message(key, value, timestamp, 0)
            } else {
                guard !nested else { throw Failure(description: "a compressed message inside a compressed message") }
                guard let codec = CompressionCodec(rawValue: Int16(codecBits)), let value else {
                    throw Failure(description: "a compressed message with codec \(codecBits) and no value")
                }
                let inner: [UInt8]
                do {
                    inner = try Decompression.decompress(codec, value, limit: budget)
                } catch {
                    throw Failure(
                        description: "a \(codec) message set cannot be decompressed (\(error))"
                            + (codec == .lz4 && magic == 0
                                ? "; magic 0 lz4 frames carry a wrong header checksum that Tern does not read" : ""))
                }
                budget -= inner.count
                // A LogAppendTime wrapper (magic 1, attribute bit 3) gives its time to every message.
                let wrapperTime = magic == 1 && attributes & 0x08 != 0 ? timestamp : nil
                try walk(inner, nested: true, budget: &budget) { k, v, t, _ in
                    try message(k, v, wrapperTime ?? t, codecBits)
                }
            }
            i = end
        }
    }
}
