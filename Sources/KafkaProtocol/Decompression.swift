import Glibc
import NIOCore

/// Decompresses the records section of a compressed batch, for the tools that print records
/// (the broker itself stores and serves batches as producers compressed them).
///
/// gzip, zstd and lz4 use the system's zlib, libzstd and liblz4, loaded when first needed (the
/// run-time libraries are on every Debian system; no headers are needed to build). snappy is
/// decoded here, in both framings producers use: raw blocks and the xerial stream of the Java
/// client.
public enum Decompression {
    /// The records of a whole batch (header included in `batch`), decompressed when needed.
    public static func records(batch: ByteBuffer, header h: RecordBatchHeader) throws -> [Record] {
        guard let codec = h.compression, codec != .none else { return try Record.decodeAll(batch: batch, header: h) }
        let body = batch.getBytes(
            at: batch.readerIndex + RecordBatchHeader.size, length: batch.readableBytes - RecordBatchHeader.size)!
        let plain = try decompress(codec, body)
        var buffer = ByteBufferAllocator().buffer(capacity: plain.count)
        buffer.writeBytes(plain)
        return try Record.decodeAll(records: buffer, header: h)
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
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
        Failure(description: "the batch decompresses to more than \(limit) bytes")
    }

    // MARK: - Loading the system libraries

    private static func symbol<T>(_ library: String, _ name: String, as: T.Type) throws -> T {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            throw Failure(description: "\(library) is not installed: cannot decompress (\(String(cString: dlerror())))")
        }
        guard let sym = dlsym(handle, name) else { throw Failure(description: "\(library) has no \(name)") }
        return unsafeBitCast(sym, to: T.self)
    }

    // MARK: - gzip (zlib's inflate with a gzip header)

    /// zlib's z_stream, field for field (LP64).
    struct ZStream {
        var nextIn: UnsafeMutablePointer<UInt8>? = nil
        var availIn: UInt32 = 0
        var totalIn: UInt = 0
        var nextOut: UnsafeMutablePointer<UInt8>? = nil
        var availOut: UInt32 = 0
        var totalOut: UInt = 0
        var msg: UnsafeMutablePointer<CChar>? = nil
        var state: OpaquePointer? = nil
        var zalloc: OpaquePointer? = nil
        var zfree: OpaquePointer? = nil
        var opaque: OpaquePointer? = nil
        var dataType: Int32 = 0
        var adler: UInt = 0
        var reserved: UInt = 0
    }

    typealias InflateInit2 = @convention(c) (UnsafeMutableRawPointer, Int32, UnsafePointer<CChar>, Int32) -> Int32
    typealias Inflate = @convention(c) (UnsafeMutableRawPointer, Int32) -> Int32
    typealias InflateEnd = @convention(c) (UnsafeMutableRawPointer) -> Int32

    static func gunzip(_ data: [UInt8], limit: Int = maxOutputBytes) throws -> [UInt8] {
        let lib = "libz.so.1"
        let initFn = try symbol(lib, "inflateInit2_", as: InflateInit2.self)
        let inflate = try symbol(lib, "inflate", as: Inflate.self)
        let end = try symbol(lib, "inflateEnd", as: InflateEnd.self)
        var input = data
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var stream = ZStream()
        return try input.withUnsafeMutableBufferPointer { inBuf in
            stream.nextIn = inBuf.baseAddress
            stream.availIn = UInt32(inBuf.count)
            // 16 + 15: a gzip header and the largest window.
            let rc = withUnsafeMutablePointer(to: &stream) { s in
                initFn(UnsafeMutableRawPointer(s), 16 + 15, "1.2.11", Int32(MemoryLayout<ZStream>.size))
            }
            guard rc == 0 else { throw Failure(description: "zlib would not start (error \(rc))") }
            defer { _ = withUnsafeMutablePointer(to: &stream) { end(UnsafeMutableRawPointer($0)) } }
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { outBuf -> (Int32, Int) in
                    stream.nextOut = outBuf.baseAddress
                    stream.availOut = UInt32(outBuf.count)
                    let status = withUnsafeMutablePointer(to: &stream) { inflate(UnsafeMutableRawPointer($0), 0) }
                    return (status, outBuf.count - Int(stream.availOut))
                }
                out += chunk[0..<produced]
                guard out.count <= limit else { throw tooLarge(limit) }
                if status == 1 { return out }  // Z_STREAM_END
                guard status == 0 else { throw Failure(description: "gzip data is damaged (zlib error \(status))") }
                if produced == 0 && stream.availIn == 0 { throw Failure(description: "gzip data ends early") }
            }
        }
    }

    // MARK: - zstd (libzstd's streaming decoder)

    struct ZstdIn {
        var src: UnsafeRawPointer?
        var size: Int
        var pos: Int
    }
    struct ZstdOut {
        var dst: UnsafeMutableRawPointer?
        var size: Int
        var pos: Int
    }
    typealias ZstdCreate = @convention(c) () -> OpaquePointer?
    typealias ZstdFree = @convention(c) (OpaquePointer?) -> Int
    typealias ZstdStream = @convention(c) (OpaquePointer?, UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int
    typealias ZstdIsError = @convention(c) (Int) -> UInt32

    static func unzstd(_ data: [UInt8], limit: Int = maxOutputBytes) throws -> [UInt8] {
        let lib = "libzstd.so.1"
        let create = try symbol(lib, "ZSTD_createDCtx", as: ZstdCreate.self)
        let free = try symbol(lib, "ZSTD_freeDCtx", as: ZstdFree.self)
        let step = try symbol(lib, "ZSTD_decompressStream", as: ZstdStream.self)
        let isError = try symbol(lib, "ZSTD_isError", as: ZstdIsError.self)
        guard let ctx = create() else { throw Failure(description: "libzstd would not start") }
        defer { _ = free(ctx) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return try data.withUnsafeBytes { src in
            var input = ZstdIn(src: src.baseAddress, size: src.count, pos: 0)
            while true {
                var lastResult = 0
                let produced = try chunk.withUnsafeMutableBytes { dst -> Int in
                    var output = ZstdOut(dst: dst.baseAddress, size: dst.count, pos: 0)
                    lastResult = withUnsafeMutablePointer(to: &output) { o in
                        withUnsafeMutablePointer(to: &input) { i in
                            step(ctx, UnsafeMutableRawPointer(o), UnsafeMutableRawPointer(i))
                        }
                    }
                    if isError(lastResult) != 0 { throw Failure(description: "zstd data is damaged") }
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

    typealias Lz4Create = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> Int
    typealias Lz4Free = @convention(c) (OpaquePointer?) -> Int
    typealias Lz4Decompress =
        @convention(c) (
            OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>, UnsafeRawPointer?,
            UnsafeMutablePointer<Int>,
            UnsafeRawPointer?
        ) -> Int
    typealias Lz4IsError = @convention(c) (Int) -> UInt32

    static func unlz4(_ data: [UInt8], limit: Int = maxOutputBytes) throws -> [UInt8] {
        let lib = "liblz4.so.1"
        let create = try symbol(lib, "LZ4F_createDecompressionContext", as: Lz4Create.self)
        let free = try symbol(lib, "LZ4F_freeDecompressionContext", as: Lz4Free.self)
        let step = try symbol(lib, "LZ4F_decompress", as: Lz4Decompress.self)
        let isError = try symbol(lib, "LZ4F_isError", as: Lz4IsError.self)
        var ctx: OpaquePointer? = nil
        guard isError(create(&ctx, 100)) == 0 else { throw Failure(description: "liblz4 would not start") }
        defer { _ = free(ctx) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return try data.withUnsafeBytes { src in
            var offset = 0
            while true {
                var hint = 0
                let produced = try chunk.withUnsafeMutableBytes { dst -> Int in
                    var dstSize = dst.count
                    var srcSize = src.count - offset
                    hint = step(ctx, dst.baseAddress, &dstSize, src.baseAddress! + offset, &srcSize, nil)
                    if isError(hint) != 0 { throw Failure(description: "lz4 data is damaged") }
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
        guard data.count >= 16, Array(data[0..<8]) == xerialMagic else { return try snappyBlock(data[...]) }
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
}
