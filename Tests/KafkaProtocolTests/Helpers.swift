import KafkaProtocol
import NIOCore
import Testing

func buffer(_ bytes: [UInt8]) -> ByteBuffer {
    var b = ByteBufferAllocator().buffer(capacity: bytes.count)
    b.writeBytes(bytes)
    return b
}

func bytes(_ b: ByteBuffer) -> [UInt8] { Array(b.readableBytesView) }

func hex(_ s: String) -> [UInt8] {
    let clean = s.filter { !$0.isWhitespace }
    var out: [UInt8] = []
    var i = clean.startIndex
    while i < clean.endIndex {
        let j = clean.index(i, offsetBy: 2)
        out.append(UInt8(clean[i..<j], radix: 16)!)
        i = j
    }
    return out
}

/// A deterministic generator so fuzz-style tests are reproducible from their seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension KafkaMessage {
    /// `encoded(version:)` for samples that fit their fields (a throw is a test failure).
    func bytesForTest(version: Int16) -> ByteBuffer {
        do { return try encoded(version: version) } catch {
            Issue.record("encoding \(Self.self) v\(version) failed: \(error)")
            return ByteBuffer()
        }
    }
}
