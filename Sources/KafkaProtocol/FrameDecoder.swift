import NIOCore

/// Splits a byte stream into Kafka frames: a 4-byte big-endian length, then that many bytes.
/// The length is checked against `socket.request.max.bytes` before anything is allocated.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public struct FrameTooLarge: Error, CustomStringConvertible {
        public var size: Int
        public var max: Int
        public var description: String {
            size < 0
                ? "negative frame length \(size)"
                : "frame of \(size) bytes is larger than socket.request.max.bytes=\(max)"
        }
    }

    public let maxFrameBytes: Int

    public init(maxFrameBytes: Int) { self.maxFrameBytes = maxFrameBytes }

    /// The peer speaks HTTP, not Kafka: a client pointed at a web console or a proxy's port.
    public struct SpeaksHTTP: Error, CustomStringConvertible {
        public var description: String {
            "the server answered in HTTP, not Kafka's protocol: this is a web port (Tern's console listens on 8080-8082), not a broker listener (9092-9094)"
        }
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length: Int32 = buffer.getInteger(at: buffer.readerIndex) else { return .needMoreData }
        // "HTTP" read as a length is 1.2 GB: no Kafka frame, but the start of an HTTP answer.
        if length == 0x4854_5450, buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self) == UInt8(ascii: "/") {
            throw SpeaksHTTP()
        }
        guard length >= 0, Int(length) <= maxFrameBytes else {
            throw FrameTooLarge(size: Int(length), max: maxFrameBytes)
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A partial frame at close is dropped; whole frames still in the buffer are handled.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
