import KafkaProtocol
import NIOCore
import Testing

/// The codec at the edges of its types: writing never traps, reading refuses what Kafka refuses.
@Suite struct LimitTests {
    @Test func writerThrowsForAStringLongerThanItsField() throws {
        for flexible in [false, true] {
            var ok = String(repeating: "a", count: 32_767)
            var w = KafkaWriter(flexible: flexible)
            try w.string(&ok, field: "name")
            var tooLong = String(repeating: "a", count: 32_768)
            #expect(throws: ProtocolError.tooLong(field: "name", length: 32_768, max: 32_767)) {
                try w.string(&tooLong, field: "name")
            }
            var optional: String? = tooLong
            #expect(throws: ProtocolError.self) { try w.nullableString(&optional, field: "name") }
        }
    }

    @Test func aFailedEncodeLeavesTheBufferAsItWas() throws {
        var response = CreateTopicsResponse()
        var t = CreateTopicsResponse.Topic()
        t.name = String(repeating: "n", count: 40_000)  // composed, never decoded: too long
        response.topics = [t]
        var b = ByteBufferAllocator().buffer(capacity: 16)
        b.writeInteger(Int32(7))
        #expect(throws: ProtocolError.self) { try response.encode(version: 0, into: &b) }
        #expect(bytes(b) == [0, 0, 0, 7])
    }

    @Test func errorMessagesAreBoundedWhenWritten() throws {
        var r = CreateTopicsResponse()
        var t = CreateTopicsResponse.Topic()
        t.name = "t"
        t.errorMessage = "Topic " + String(repeating: "é", count: 20_000) + " is invalid"  // 40 kB
        r.topics = [t]
        let back = try CreateTopicsResponse.decode(try r.encoded(version: 5), version: 5)
        let message = try #require(back.topics.first?.errorMessage)
        #expect(message.utf8.count <= 1000)
        #expect(message.hasPrefix("Topic éé") && message.hasSuffix("..."))
    }

    @Test func readerRefusesACompactStringOver32767Bytes() {
        var frame = ByteBufferAllocator().buffer(capacity: 40_010)
        var w = KafkaWriter(buffer: frame, flexible: true)
        w.writeUnsignedVarint(40_000 + 1)
        frame = w.buffer
        frame.writeRepeatingByte(UInt8(ascii: "x"), count: 40_000)
        var r = KafkaReader(frame, flexible: true)
        var s = ""
        #expect(throws: ProtocolError.tooLong(field: "name", length: 40_000, max: 32_767)) {
            try r.string(&s, field: "name")
        }
    }

    @Test func readerRefusesBytesThatAreNotUTF8() {
        // 0xFF is never UTF-8; repaired it would grow to three bytes (U+FFFD).
        var r = KafkaReader(buffer([0x00, 0x03, 0x61, 0xFF, 0x62]))
        var s = ""
        #expect(throws: ProtocolError.invalidUTF8(field: "name")) { try r.string(&s, field: "name") }
    }

    @Test func truncationKeepsWholeCharacters() {
        #expect("abc".truncatedUTF8(toBytes: 10) == "abc")
        #expect("aéé".truncatedUTF8(toBytes: 4) == "aé")  // é is two bytes: the second would not fit
        #expect("".truncatedUTF8(toBytes: 0) == "")
        let long = String(repeating: "👍", count: 10_000)
        #expect(long.boundedMessage.utf8.count <= 1000)
    }
}

/// SaslHandshake and SaslAuthenticate byte for byte (Kafka's SaslHandshakeRequest.json and
/// SaslAuthenticateRequest.json): v0/v1 plain types, v2 compact with tagged fields.
@Suite struct SaslMessageTests {
    @Test func saslAuthenticateV0AndV2Bytes() throws {
        var r = SaslAuthenticateRequest()
        r.authBytes = ByteBuffer(bytes: [0, 0x61, 0, 0x62])
        #expect(bytes(r.bytesForTest(version: 0)) == [0, 0, 0, 4, 0, 0x61, 0, 0x62])
        #expect(bytes(r.bytesForTest(version: 2)) == [5, 0, 0x61, 0, 0x62, 0])
        #expect(try SaslAuthenticateRequest.decode(r.bytesForTest(version: 1), version: 1) == r)
        var a = SaslAuthenticateResponse()
        a.errorCode = 58
        a.errorMessage = "no"
        #expect(
            bytes(a.bytesForTest(version: 1)) == [0, 58, 0, 2, 0x6E, 0x6F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func saslHandshakeBytes() throws {
        var r = SaslHandshakeRequest()
        r.mechanism = "PLAIN"
        #expect(bytes(r.bytesForTest(version: 1)) == [0, 5] + Array("PLAIN".utf8))
        var a = SaslHandshakeResponse()
        a.mechanisms = ["PLAIN"]
        #expect(bytes(a.bytesForTest(version: 1)) == [0, 0, 0, 0, 0, 1, 0, 5] + Array("PLAIN".utf8))
    }
}
