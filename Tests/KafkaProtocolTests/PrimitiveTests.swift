import KafkaProtocol
import NIOCore
import Testing

@Suite struct PrimitiveTests {
    @Test func crc32cMatchesPublishedCheckValues() {
        // RFC 3720 (iSCSI) B.4 test vectors and the standard "123456789" check value.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func crc32cIsIncrementalAcrossSplits() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = CRC32C.checksum(data)
        for split in [1, 7, 8, 9, 500, 999] {
            let first = data[..<split].withUnsafeBytes { CRC32C.checksum($0) }
            let both = data[split...].withUnsafeBytes { CRC32C.checksum($0, initial: first) }
            #expect(both == whole, "split at \(split)")
        }
    }

    @Test func zigzagVarintsMatchKafkaEncoding() throws {
        let cases: [(Int32, [UInt8])] = [
            (0, [0x00]), (-1, [0x01]), (1, [0x02]), (63, [0x7E]), (-64, [0x7F]), (64, [0x80, 0x01]),
            (300, [0xD8, 0x04]), (Int32.max, [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
            (Int32.min, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        ]
        for (value, encoded) in cases {
            var w = KafkaWriter()
            w.writeVarint(value)
            #expect(bytes(w.buffer) == encoded, "encode \(value)")
            var r = KafkaReader(buffer(encoded))
            #expect(try r.varint() == value, "decode \(value)")
        }
    }

    @Test func varlongsRoundTripAtExtremes() throws {
        for value: Int64 in [0, -1, 1, 1_700_000_000_000, -1_700_000_000_000, .max, .min] {
            var w = KafkaWriter()
            w.writeVarlong(value)
            var r = KafkaReader(w.buffer)
            #expect(try r.varlong() == value)
            #expect(r.remaining == 0)
        }
    }

    @Test func overlongVarintIsRejectedNotTrapped() {
        var r = KafkaReader(buffer([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
        #expect(throws: ProtocolError.malformedVarint) { try r.unsignedVarint() }
    }

    @Test func compactAndClassicStringsUseTheirOwnLengthEncodings() throws {
        var classic = KafkaWriter(flexible: false)
        var s = "abc"
        try classic.string(&s, field: "s")
        #expect(bytes(classic.buffer) == [0x00, 0x03, 0x61, 0x62, 0x63])
        var compact = KafkaWriter(flexible: true)
        try compact.string(&s, field: "s")
        #expect(bytes(compact.buffer) == [0x04, 0x61, 0x62, 0x63])
        var null: String? = nil
        var cn = KafkaWriter(flexible: true)
        try cn.nullableString(&null, field: "s")
        #expect(bytes(cn.buffer) == [0x00])
        var nn = KafkaWriter(flexible: false)
        try nn.nullableString(&null, field: "s")
        #expect(bytes(nn.buffer) == [0xFF, 0xFF])
    }

    @Test func stringLongerThanFrameThrowsTruncated() {
        var r = KafkaReader(buffer([0x7F, 0xFF, 0x61]))
        var s = ""
        #expect(throws: ProtocolError.self) { try r.string(&s, field: "s") }
    }

    @Test func hugeArrayCountIsRefusedBeforeAllocating() {
        var r = KafkaReader(buffer([0x7F, 0xFF, 0xFF, 0xFF, 0x00]))
        var a: [Int32] = []
        #expect(throws: ProtocolError.invalidLength(field: "a", value: Int(Int32.max))) {
            try r.int32Array(&a, field: "a")
        }
    }

    @Test func unknownTaggedFieldsAreSkipped() throws {
        // Two tagged fields: tag 0 with 2 bytes, tag 5 with 1 byte, then an int8 after.
        var r = KafkaReader(buffer([0x02, 0x00, 0x02, 0xAA, 0xBB, 0x05, 0x01, 0xCC, 0x07]), flexible: true)
        try r.tags()
        var x: Int8 = 0
        try r.int8(&x)
        #expect(x == 7)
    }

    @Test func uuidPrintsAsKafkaBase64() throws {
        let id = KafkaUUID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
        #expect(id.description.count == 22)
        #expect(KafkaUUID(base64: id.description) == id)
        #expect(KafkaUUID.zero.description == "AAAAAAAAAAAAAAAAAAAAAA")
        #expect(KafkaUUID(base64: "not valid!") == nil)
    }
}
