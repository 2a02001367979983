import CCompression
import KafkaProtocol
import NIOCore

/// Compresses a batch's records section, for a topic whose `compression.type` names a codec
/// other than the producer's: the leader rewrites such batches as Kafka's does.
///
/// gzip, zstd and lz4 (the frame format, 64 KiB independent blocks, as Kafka's clients write it)
/// use the system's zlib, libzstd and liblz4; snappy is encoded here, in the xerial framing of
/// 32 KiB blocks that the Java client writes (librdkafka reads it too).
public enum Compression {
    /// A whole v2 batch with its records section in `codec`: decompressed (to at most `limit`
    /// bytes) and compressed again, with its length, codec bits and CRC rewritten. Offsets,
    /// timestamps and producer fields are untouched.
    public static func rewrite(
        _ batch: ByteBuffer, to codec: CompressionCodec, limit: Int = Decompression.maxOutputBytes
    )
        throws -> ByteBuffer
    {
        let size = RecordBatchHeader.size
        guard let h = RecordBatchHeader.peek(batch, at: batch.readerIndex), h.totalSize == batch.readableBytes else {
            throw Decompression.Failure(description: "not one whole record batch")
        }
        let body = batch.getBytes(at: batch.readerIndex + size, length: h.totalSize - size) ?? []
        let plain = try Decompression.decompress(h.compression ?? .none, body, limit: limit)
        let packed = try compress(codec, plain)
        // The batch length is an INT32: a body past it cannot be written as one batch.
        guard packed.count <= Int(Int32.max) - size else {
            throw Decompression.Failure(description: "the batch is too large to rewrite", exceedsLimit: true)
        }
        var out = ByteBufferAllocator().buffer(capacity: size + packed.count)
        out.writeBytes(batch.getBytes(at: batch.readerIndex, length: size)!)
        out.writeBytes(packed)
        out.setInteger(Int32(size - RecordBatchHeader.logOverhead + packed.count), at: 8)
        out.setInteger((h.attributes & ~0x07) | codec.rawValue, at: RecordBatchHeader.attributesOffset)
        let crc = CRC32C.checksum(
            out, at: RecordBatchHeader.attributesOffset, length: out.readableBytes - RecordBatchHeader.attributesOffset)
        out.setInteger(crc, at: RecordBatchHeader.crcOffset)
        return out
    }

    public static func compress(_ codec: CompressionCodec, _ data: [UInt8]) throws -> [UInt8] {
        switch codec {
        case .none: return data
        case .gzip: return try gzip(data)
        case .snappy: return snappy(data)
        case .lz4: return try lz4(data)
        case .zstd: return try zstd(data)
        }
    }

    static func gzip(_ data: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        // 16 + 15: a gzip header and the largest window; level 6, zlib's default.
        let rc = deflateInit2_(
            &stream, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw Decompression.Failure(description: "zlib would not start (error \(rc))") }
        defer { deflateEnd(&stream) }
        var input = data
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(data.count))) + 32)
        let status = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else {
            throw Decompression.Failure(description: "gzip compression failed (zlib error \(status))")
        }
        return Array(out[0..<Int(stream.total_out)])
    }

    static func zstd(_ data: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(data.count))
        let written = data.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, dst.count, src.baseAddress, src.count, 3)
            }
        }
        guard ZSTD_isError(written) == 0 else { throw Decompression.Failure(description: "zstd compression failed") }
        return Array(out[0..<written])
    }

    static func lz4(_ data: [UInt8]) throws -> [UInt8] {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.blockSizeID = LZ4F_max64KB
        prefs.frameInfo.blockMode = LZ4F_blockIndependent
        var out = [UInt8](repeating: 0, count: LZ4F_compressFrameBound(data.count, &prefs))
        let written = data.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4F_compressFrame(dst.baseAddress, dst.count, src.baseAddress, src.count, &prefs)
            }
        }
        guard LZ4F_isError(written) == 0 else { throw Decompression.Failure(description: "lz4 compression failed") }
        return Array(out[0..<written])
    }

    /// The xerial framing: its magic, version 1, compatible version 1, then each 32 KiB of input
    /// as a raw block preceded by the block's big-endian length.
    static func snappy(_ data: [UInt8]) -> [UInt8] {
        var out = Decompression.xerialMagic + [0, 0, 0, 1, 0, 0, 0, 1]
        var start = 0
        repeat {
            let block = snappyBlock(data[start..<min(start + 32_768, data.count)])
            out += [UInt8(block.count >> 24 & 0xFF), UInt8(block.count >> 16 & 0xFF)]
            out += [UInt8(block.count >> 8 & 0xFF), UInt8(block.count & 0xFF)]
            out += block
            start += 32_768
        } while start < data.count
        return out
    }

    /// One raw snappy block: the length as a varint, then literals and copies of earlier bytes
    /// (matches of 4 or more found through a hash of the next 4 bytes).
    static func snappyBlock(_ slice: ArraySlice<UInt8>) -> [UInt8] {
        let data = Array(slice)
        var out: [UInt8] = []
        out.reserveCapacity(data.count + data.count / 6 + 16)
        var n = UInt64(data.count)
        while n >= 0x80 {
            out.append(UInt8(n & 0x7F) | 0x80)
            n >>= 7
        }
        out.append(UInt8(n))
        func literal(_ from: Int, _ to: Int) {
            var start = from
            while start < to {
                let count = min(to - start, 65_536)
                let len = count - 1
                if len < 60 {
                    out.append(UInt8(len << 2))
                } else if len < 256 {
                    out.append(60 << 2)
                    out.append(UInt8(len))
                } else {
                    out.append(61 << 2)
                    out.append(UInt8(len & 0xFF))
                    out.append(UInt8(len >> 8))
                }
                out.append(contentsOf: data[start..<start + count])
                start += count
            }
        }
        func copy(_ offset: Int, _ length: Int) {
            var left = length
            while left > 0 {
                // Copies with a 2-byte offset (tag 2) hold 1 to 64 bytes.
                let count = min(left, 64)
                out.append(UInt8(((count - 1) << 2) | 2))
                out.append(UInt8(offset & 0xFF))
                out.append(UInt8(offset >> 8))
                left -= count
            }
        }
        guard data.count >= 8 else {
            literal(0, data.count)
            return out
        }
        var table = [Int](repeating: -1, count: 1 << 14)
        func load(_ i: Int) -> UInt32 {
            UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
        }
        func hash(_ v: UInt32) -> Int { Int((v &* 0x1E35_A7BD) >> 18) }
        var pending = 0
        var i = 0
        while i + 4 <= data.count {
            let v = load(i)
            let h = hash(v)
            let candidate = table[h]
            table[h] = i
            // Offsets fit 2 bytes: a match at most 65,535 bytes back.
            if candidate >= 0 && i - candidate <= 65_535 && load(candidate) == v {
                var length = 4
                while i + length < data.count && data[candidate + length] == data[i + length] { length += 1 }
                literal(pending, i)
                copy(i - candidate, length)
                i += length
                pending = i
            } else {
                i += 1
            }
        }
        literal(pending, data.count)
        return out
    }
}
