import KafkaProtocol
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Bytes of a file to send as they are (a Fetch response's records straight from a log
/// segment), without reading them into memory: the server writes them with sendfile. The slice
/// owns a duplicate of the file's descriptor, so the segment may be deleted or replaced while
/// the bytes are on their way.
/// Sendable without a lock: every field is set once, and the descriptor is only read from.
public final class FileSlice: @unchecked Sendable, ExternalBytes {
    public let descriptor: Int32
    public let position: Int
    public let length: Int

    /// Duplicates `descriptor`; nil when the system refuses.
    public init?(duplicating descriptor: Int32, position: Int, length: Int) {
        let fd = dup(descriptor)
        guard fd >= 0 else { return nil }
        self.descriptor = fd
        self.position = position
        self.length = length
    }

    deinit { close(descriptor) }

    /// The bytes, read into memory (for encoders that cannot send a file).
    public func read() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
            var done = 0
            while done < length {
                let n = pread(descriptor, raw.baseAddress! + done, length - done, off_t(position + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
            return done
        }
        return buffer
    }
}
