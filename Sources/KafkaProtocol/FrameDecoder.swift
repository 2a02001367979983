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

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length: Int32 = buffer.getInteger(at: buffer.readerIndex) else { return .needMoreData }
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
