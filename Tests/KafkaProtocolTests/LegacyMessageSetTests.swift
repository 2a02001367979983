import KafkaCompression
import KafkaProtocol
import NIOCore
import Testing

/// Magic 0/1 message sets (Produce v0-v2) become one v2 batch.
@Suite struct LegacyMessageSetTests {
    /// CRC-32 (IEEE), bit by bit: what a legacy message's crc field holds.
    func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    func field(_ b: [UInt8]?) -> [UInt8] { b.map { be(Int32($0.count)) + $0 } ?? be(Int32(-1)) }

    /// One entry of a message set: offset, size, then the message with its CRC.
    func message(
        magic: Int8, attributes: Int8 = 0, timestamp: Int64 = 0, key: String?, value: [UInt8]?, offset: Int64 = 0
    ) -> [UInt8] {
        var body = [UInt8(bitPattern: magic), UInt8(bitPattern: attributes)]
        if magic == 1 { body += be(timestamp) }
        body += field(key.map { Array($0.utf8) }) + field(value)
        let msg = be(crc32(body)) + body
        return be(offset) + be(Int32(msg.count)) + msg
    }

    func buffer(_ bytes: [UInt8]) -> ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: bytes.count)
        b.writeBytes(bytes)
        return b
    }

    func records(_ batch: ByteBuffer) throws -> (RecordBatchHeader, [Record]) {
        let h = try #require(RecordBatchHeader.peek(batch, at: batch.readerIndex))
        guard case .success = RecordBatches.validate(batch) else {
            Issue.record("the converted batch does not validate")
            return (h, [])
        }
        return (h, try Decompression.records(batch: batch, header: h))
    }

    @Test func magic0MessagesGetNoTimestampAndMagic1KeepTheirs() throws {
        let v0 =
            message(magic: 0, key: "a", value: Array("1".utf8)) + message(magic: 0, key: nil, value: nil, offset: 1)
        #expect(LegacyMessageSet.isLegacy(buffer(v0)))
        let (h0, r0) = try records(LegacyMessageSet.upConvert(buffer(v0)))
        #expect(h0.magic == 2 && h0.recordCount == 2 && h0.compression == CompressionCodec.none)
        #expect(r0.map(\.timestamp) == [-1, -1])
        #expect(r0[0].key == Array("a".utf8) && r0[0].value == Array("1".utf8))
        #expect(r0[1].key == nil && r0[1].value == nil)
        let v1 = message(magic: 1, timestamp: 1_700_000_000_000, key: "k", value: Array("v".utf8))
        let (_, r1) = try records(LegacyMessageSet.upConvert(buffer(v1)))
        #expect(r1.map(\.timestamp) == [1_700_000_000_000])
    }

    @Test func aGzipWrapperBecomesAGzipBatchAndALogAppendTimeWrapperGivesItsTime() throws {
        let inner =
            message(magic: 1, timestamp: 5, key: "x", value: Array("one".utf8))
            + message(magic: 1, timestamp: 6, key: "y", value: Array("two".utf8), offset: 1)
        let packed = try Compression.compress(.gzip, inner)
        let wrapper = message(magic: 1, attributes: 1, timestamp: 6, key: nil, value: packed, offset: 1)
        let (h, r) = try records(LegacyMessageSet.upConvert(buffer(wrapper)))
        #expect(h.compression == .gzip)
        #expect(r.map { String(decoding: $0.value!, as: UTF8.self) } == ["one", "two"])
        #expect(r.map(\.timestamp) == [5, 6])
        let stamped = message(magic: 1, attributes: 1 | 0x08, timestamp: 99, key: nil, value: packed, offset: 1)
        #expect(try records(LegacyMessageSet.upConvert(buffer(stamped))).1.map(\.timestamp) == [99, 99])
    }

    @Test func damagedOrHostileMessageSetsAreErrors() throws {
        let good = message(magic: 0, key: "a", value: Array("1".utf8))
        var badCrc = good
        badCrc[badCrc.count - 1] ^= 0xFF
        let inner = message(magic: 0, key: nil, value: Array("deep".utf8))
        let gz = message(magic: 0, attributes: 1, key: nil, value: try Compression.compress(.gzip, inner))
        let nested = message(magic: 0, attributes: 1, key: nil, value: try Compression.compress(.gzip, gz))
        let bomb = message(
            magic: 0, attributes: 4, key: nil,
            value: try Compression.compress(
                .zstd, message(magic: 0, key: nil, value: [UInt8](repeating: 0, count: 1 << 20))))
        var hugeField = good
        hugeField.replaceSubrange(good.count - 5..<good.count - 1, with: be(Int32.max))
        for (name, bytes) in [
            ("bad crc", badCrc), ("truncated", Array(good.dropLast(3))), ("nested compression", nested),
            ("a field longer than its message", hugeField), ("empty", []),
            ("a size of Int32.max", be(Int64(0)) + be(Int32.max) + Array(good.dropFirst(12))),
        ] {
            #expect(throws: LegacyMessageSet.Failure.self, "\(name)") { try LegacyMessageSet.upConvert(buffer(bytes)) }
        }
        #expect(throws: LegacyMessageSet.Failure.self) { try LegacyMessageSet.upConvert(buffer(bomb), limit: 1 << 16) }
        #expect(try records(LegacyMessageSet.upConvert(buffer(gz))).1.count == 1)
    }
}
