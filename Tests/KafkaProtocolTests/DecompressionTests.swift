import KafkaCompression
import KafkaProtocol
import Testing

/// Known compressed forms of "hello hello hello" (made with Python's gzip, zstandard and
/// lz4.frame) and hand-built snappy blocks, decompressed as the console tools do.
@Suite struct DecompressionTests {
    let text = Array("hello hello hello".utf8)

    @Test func gzipZstdAndLz4FramesFromOtherLibrariesDecompress() throws {
        #expect(
            try Decompression.decompress(.gzip, hex("1f8b0800000000000203cb48cdc9c957c84090008088f9e511000000")) == text
        )
        #expect(try Decompression.decompress(.zstd, hex("28b52ffd20116500003068656c6c6f200100314a11")) == text)
        #expect(
            try Decompression.decompress(
                .lz4, hex("04224d1868401100000000000000e81100008068656c6c6f2068656c6c6f2068656c6c6f00000000")) == text)
    }

    @Test func snappyRawAndXerialFramedBlocksDecompress() throws {
        // length 9; literal "abc"; copy of 6 bytes from 3 back (1-byte offset form).
        let block: [UInt8] = [0x09, 0x08, 0x61, 0x62, 0x63, 0x09, 0x03]
        #expect(try Decompression.decompress(.snappy, block) == Array("abcabcabc".utf8))
        // The Java client's framing: magic, version 1, compatible 1, then [length][block].
        let framed = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7] + block
        #expect(try Decompression.decompress(.snappy, framed) == Array("abcabcabc".utf8))
    }

    @Test(arguments: [CompressionCodec.none, .gzip, .snappy, .lz4, .zstd])
    func whatTernCompressesDecompressesToTheSameBytes(_ codec: CompressionCodec) throws {
        var rng = SystemRandomNumberGenerator()
        let random = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let repetitive = Array(String(repeating: "tern record \u{1}", count: 20_000).utf8)
        // Overlapping copies (a run of one byte), the smallest inputs, and a match 65,535 back.
        let far = random[0..<70_000] + random[0..<40_000]
        for input in [[], [7], Array("abc".utf8), [UInt8](repeating: 9, count: 5_000), random, repetitive, Array(far)] {
            let packed = try Compression.compress(codec, input)
            #expect(try Decompression.decompress(codec, packed) == input)
            if codec != .none && input == repetitive { #expect(packed.count < input.count / 10) }
        }
    }

    @Test func damagedInputIsAnErrorNotACrash() {
        #expect(throws: Decompression.Failure.self) { try Decompression.decompress(.gzip, [0x1f, 0x8b, 8, 0, 1, 2]) }
        #expect(throws: Decompression.Failure.self) {
            try Decompression.decompress(.zstd, [0x28, 0xb5, 0x2f, 0xfd, 9])
        }
        #expect(throws: Decompression.Failure.self) {
            try Decompression.decompress(.lz4, [0x04, 0x22, 0x4d, 0x18, 0x00])
        }
        // A copy that reaches before the start, and a literal that runs past the end.
        #expect(throws: Decompression.Failure.self) { try Decompression.decompress(.snappy, [0x04, 0x09, 0x05]) }
        #expect(throws: Decompression.Failure.self) { try Decompression.decompress(.snappy, [0x05, 0x10, 0x61]) }
    }

    @Test func decompressionStopsAtItsBound() throws {
        // "hello hello hello" is 17 bytes: a bound of 10 stops every codec, a bound of 17 does not.
        let gzip = hex("1f8b0800000000000203cb48cdc9c957c84090008088f9e511000000")
        let zstd = hex("28b52ffd20116500003068656c6c6f200100314a11")
        let lz4 = hex("04224d1868401100000000000000e81100008068656c6c6f2068656c6c6f2068656c6c6f00000000")
        for (codec, data) in [(CompressionCodec.gzip, gzip), (.zstd, zstd), (.lz4, lz4)] {
            #expect(try Decompression.decompress(codec, data, limit: 17) == text)
            #expect(throws: Decompression.Failure.self) { try Decompression.decompress(codec, data, limit: 10) }
        }
        // A snappy block declaring 2^28 bytes is refused before anything is reserved.
        #expect(throws: Decompression.Failure.self) {
            try Decompression.decompress(.snappy, [0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x61], limit: 1 << 20)
        }
        // Copies that produce more than the block declares are refused as they go.
        #expect(throws: Decompression.Failure.self) {
            try Decompression.decompress(.snappy, [0x03, 0x08, 0x61, 0x62, 0x63, 0x09, 0x03])
        }
    }
}
