import CCompression
import KafkaProtocol
import NIOCore

/// Decompresses the records section of a compressed batch, for the tools that print records
/// (the broker itself stores and serves batches as producers compressed them).
///
/// gzip, zstd and lz4 use the system's zlib, libzstd and liblz4 (Debian's -dev packages, which
/// `make` installs). snappy is decoded here, in both framings producers use: raw blocks and the
/// xerial stream of the Java client.
public enum Decompression {
    /// The records of a whole batch (header included in `batch`), decompressed when needed.
    /// `limit`: the most bytes the records section may decompress to.
    public static func records(batch: ByteBuffer, header h: RecordBatchHeader, limit: Int = maxOutputBytes) throws
        -> [Record]
    {
        var inflated = 0
        return try records(batch: batch, header: h, limit: limit, inflated: &inflated)
    }

    /// The same; `inflated` is set to the bytes the records section takes decompressed (the
    /// batch's own size less its header when it is not compressed).
    public static func records(
        batch: ByteBuffer, header h: RecordBatchHeader, limit: Int, inflated: inout Int
    ) throws -> [Record] {
        guard let codec = h.compression, codec != .none else {
            inflated = batch.readableBytes - RecordBatchHeader.size
            return try Record.decodeAll(batch: batch, header: h)
        }
        let body = batch.getBytes(
            at: batch.readerIndex + RecordBatchHeader.size, length: batch.readableBytes - RecordBatchHeader.size)!
        let plain = try decompress(codec, body, limit: limit)
        inflated = plain.count
        var buffer = ByteBufferAllocator().buffer(capacity: plain.count)
        buffer.writeBytes(plain)
        return try Record.decodeAll(records: buffer, header: h)
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        /// The data decompresses to more than the limit (rather than being damaged).
        public var exceedsLimit = false
        public init(description: String, exceedsLimit: Bool = false) {
            self.description = description
            self.exceedsLimit = exceedsLimit
        }
    }

    /// The most bytes one batch may decompress to: decompression streams and stops there, so a
    /// small batch that inflates a thousandfold costs an error, not the memory.
    public static let maxOutputBytes = 256 << 20

    public static func decompress(_ codec: CompressionCodec, _ data: [UInt8], limit: Int = maxOutputBytes) throws
        -> [UInt8]
    {
        switch codec {
        case .none: return data
        case .gzip: return try gunzip(data, limit: limit)
        case .snappy: return try unsnappy(data, limit: limit)
        case .lz4: return try unlz4(data, limit: limit)
        case .zstd: return try unzstd(data, limit: limit)
        }
    }

    static func tooLarge(_ limit: Int) -> Failure {
        Failure(description: "the batch decompresses to more than \(limit) bytes", exceedsLimit: true)
    }

    // MARK: - gzip (zlib's inflate with a gzip header)

    static func gunzip(_ data: [UInt8], limit: Int = maxOutputBytes) throws -> [UInt8] {
        var input = data
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var stream = z_stream()
        return try input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            // 16 + 15: a gzip header and the largest window.
            let rc = inflateInit2_(&stream, 16 + 15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else { throw Failure(description: "zlib would not start (error \(rc))") }
            defer { inflateEnd(&stream) }
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { outBuf -> (Int32, Int) in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, outBuf.count - Int(stream.avail_out))
                }
                out += chunk[0..<produced]
                guard out.count <= limit else { throw tooLarge(limit) }
                if status == Z_STREAM_END { return out }
                guard status == Z_OK else { throw Failure(description: "gzip data is damaged (zlib error \(status))") }
                if produced == 0 && stream.avail_in == 0 { throw Failure(description: "gzip data ends early") }
            }
        }
    }

    // MARK: - zstd (libzstd's streaming decoder)

    static func unzstd(_ data: [UInt8], limit: Int = maxOutputBytes) throws -> [UInt8] {
        guard let ctx = ZSTD_createDCtx() else { throw Failure(description: "libzstd would not start") }
        defer { ZSTD_freeDCtx(ctx) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return try data.withUnsafeBytes { src in
            var input = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            while true {
                var lastResult = 0
                let produced = try chunk.withUnsafeMutableBytes { dst -> Int in
                    var output = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                    lastResult = ZSTD_decompressStream(ctx, &output, &input)
                    if ZSTD_isError(lastResult) != 0 { throw Failure(description: "zstd data is damaged") }
                    return output.pos
                }
                out += chunk[0..<produced]
                guard out.count <= limit else { throw tooLarge(limit) }
                if input.pos >= input.size && produced < chunk.count {
                    guard lastResult == 0 else { throw Failure(description: "zstd data ends early") }
                    return out
                }
            }
        }
    }

    // MARK: - lz4 (liblz4's frame decoder)

    static func unlz4(_ data: [UInt8], limit: Int = maxOutputBytes) throws -> [UInt8] {
        var ctx: OpaquePointer? = nil
        guard LZ4F_isError(LZ4F_createDecompressionContext(&ctx, UInt32(LZ4F_VERSION))) == 0 else {
            throw Failure(description: "liblz4 would not start")
        }
        defer { LZ4F_freeDecompressionContext(ctx) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return try data.withUnsafeBytes { src in
            var offset = 0
            while true {
                var hint = 0
                let produced = try chunk.withUnsafeMutableBytes { dst -> Int in
                    var dstSize = dst.count
                    var srcSize = src.count - offset
                    hint = LZ4F_decompress(ctx, dst.baseAddress, &dstSize, src.baseAddress! + offset, &srcSize, nil)
                    if LZ4F_isError(hint) != 0 { throw Failure(description: "lz4 data is damaged") }
                    offset += srcSize
                    return dstSize
                }
                out += chunk[0..<produced]
                guard out.count <= limit else { throw tooLarge(limit) }
                if hint == 0 { return out }  // the frame is complete
                if offset >= src.count && produced == 0 { throw Failure(description: "lz4 data ends early") }
            }
        }
    }

    // MARK: - snappy

    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]

    /// Raw snappy, or the xerial framing (magic, version, compatible version, then blocks each
    /// preceded by its big-endian length).
    static func unsnappy(_ data: [UInt8], limit: Int = maxOutputBytes) throws -> [UInt8] {
        guard data.count >= 16, Array(data[0..<8]) == xerialMagic else {
            return try snappyBlock(data[...], limit: limit)
        }
        var out: [UInt8] = []
        var i = 16
        while i < data.count {
            guard i + 4 <= data.count else { throw Failure(description: "snappy stream ends inside a block length") }
            let n = Int(data[i]) << 24 | Int(data[i + 1]) << 16 | Int(data[i + 2]) << 8 | Int(data[i + 3])
            i += 4
            guard n >= 0, i + n <= data.count else { throw Failure(description: "snappy block runs past the data") }
            out += try snappyBlock(data[i..<i + n], limit: limit - out.count)
            i += n
        }
        return out
    }

    static func snappyBlock(_ data: ArraySlice<UInt8>, limit: Int = maxOutputBytes) throws -> [UInt8] {
        var i = data.startIndex
        func byte() throws -> Int {
            guard i < data.endIndex else { throw Failure(description: "snappy data ends early") }
            defer { i += 1 }
            return Int(data[i])
        }
        var length = 0
        var shift = 0
        while true {
            let b = try byte()
            length |= (b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
            guard shift <= 28 else { throw Failure(description: "snappy length is too long") }
        }
        guard length <= limit else { throw tooLarge(limit) }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        while i < data.endIndex {
            let tag = try byte()
            switch tag & 3 {
            case 0:
                var n = tag >> 2
                if n >= 60 {
                    let extra = n - 59
                    n = 0
                    for k in 0..<extra { n |= try byte() << (8 * k) }
                }
                n += 1
                guard i + n <= data.endIndex else { throw Failure(description: "snappy literal runs past the data") }
                out += data[i..<i + n]
                i += n
            default:
                let n: Int
                let offset: Int
                switch tag & 3 {
                case 1:
                    n = 4 + ((tag >> 2) & 7)
                    offset = ((tag >> 5) << 8) | (try byte())
                case 2:
                    n = (tag >> 2) + 1
                    offset = try byte() | (try byte() << 8)
                default:
                    n = (tag >> 2) + 1
                    offset = try byte() | (try byte() << 8) | (try byte() << 16) | (try byte() << 24)
                }
                guard offset > 0, offset <= out.count else {
                    throw Failure(description: "snappy copy reaches before the start")
                }
                let start = out.count - offset
                for k in 0..<n { out.append(out[start + k]) }
            }
            guard out.count <= length else {
                throw Failure(description: "snappy data gives more than the \(length) bytes it declares")
            }
        }
        guard out.count == length else {
            throw Failure(description: "snappy data gives \(out.count) bytes, expected \(length)")
        }
        return out
    }

    /// Checks every batch of a records field and decodes every record (decompressing when
    /// needed), as the broker and the tools do; returns the number of records.
    public static func countRecords(_ buffer: ByteBuffer) throws -> Int {
        switch RecordBatches.validate(buffer) {
        case .failure(let e): throw e
        case .success(let batches):
            var n = 0
            for (index, h) in batches {
                n += try records(batch: buffer.getSlice(at: index, length: h.totalSize)!, header: h).count
            }
            return n
        }
    }
}
