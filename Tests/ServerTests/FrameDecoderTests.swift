import KafkaProtocol
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite struct FrameDecoderTests {
    func frame(_ body: [UInt8]) -> ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: body.count + 4)
        b.writeInteger(Int32(body.count))
        b.writeBytes(body)
        return b
    }

    @Test func framesSurviveEverySplitAndBatching() throws {
        let bodies: [[UInt8]] = [[], [1], [1, 2, 3], Array(repeating: 9, count: 300)]
        let pairs = bodies.map { (frame($0), [ByteBuffer(bytes: $0)]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { FrameDecoder(maxFrameBytes: 1000) }
    }

    @Test func oversizedLengthIsRefusedBeforeReadingTheBody() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameBytes: 100)))
        var b = ByteBufferAllocator().buffer(capacity: 4)
        b.writeInteger(Int32(0x7FFF_FFFF))
        #expect(throws: FrameDecoder.FrameTooLarge.self) { try channel.writeInbound(b) }
    }

    @Test func negativeLengthIsRefused() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameBytes: 100)))
        var b = ByteBufferAllocator().buffer(capacity: 4)
        b.writeInteger(Int32(-5))
        #expect(throws: FrameDecoder.FrameTooLarge.self) { try channel.writeInbound(b) }
    }
}
