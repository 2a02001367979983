import CCRC32C
import NIOCore

/// CRC-32C (Castagnoli), the checksum of RecordBatch v2.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        tern_crc32c(initial, bytes.baseAddress, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// The checksum of `length` readable bytes of `buffer` starting at `index`.
    public static func checksum(_ buffer: ByteBuffer, at index: Int, length: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { raw in
            let start = index - buffer.readerIndex
            return checksum(UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)]))
        }
    }
}
