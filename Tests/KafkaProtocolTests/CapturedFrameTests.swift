import Glibc
import KafkaProtocol
import NIOCore
import Testing

/// Request frames captured from real clients (kafka-python, confluent-kafka/librdkafka, aiokafka,
/// kcat) by `Tests/integration/capture_frames.py`, committed under `Captured/` as
/// `<client>-<api>-v<version>.bin` (the frame without its length prefix).
enum Captured {
    static var directory: String {
        let file = "\(#filePath)"
        return String(file[..<file.lastIndex(of: "/")!]) + "/Captured"
    }

    static func files() -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name.hasSuffix(".bin") { names.append(name) }
        }
        return names.sorted()
    }

    static func read(_ name: String) -> ByteBuffer {
        let f = fopen(directory + "/" + name, "rb")!
        defer { fclose(f) }
        var out = ByteBufferAllocator().buffer(capacity: 4096)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            out.writeBytes(chunk[0..<n])
        }
        return out
    }
}

/// Decodes a captured body with the message type of its API and returns the bytes left over
/// and whether re-encoding reproduces the body.
func decodeCaptured(_ api: ApiKey, _ body: ByteBuffer, _ v: Int16) throws -> (rest: Int, reencoded: [UInt8]) {
    func run<M: KafkaMessage>(_: M.Type) throws -> (Int, [UInt8]) {
        let (m, rest) = try M.decodeCountingRest(body, version: v)
        return (rest, bytes(m.bytesForTest(version: v)))
    }
    return try run(api.spec.request)
}

@Suite struct CapturedFrameTests {
    @Test func framesFromRealClientsAreCommitted() {
        let files = Captured.files()
        #expect(files.count >= 8, "capture_frames.py output missing from \(Captured.directory)")
        for client in ["kafka-python", "confluent-kafka", "aiokafka", "kcat"] {
            #expect(files.contains { $0.hasPrefix(client + "-") }, "no frames from \(client)")
        }
    }

    @Test(arguments: Captured.files())
    func capturedRequestDecodesCompletelyAndReEncodesIdentically(_ name: String) throws {
        var reader = KafkaReader(Captured.read(name))
        let header = try RequestHeader.decode(from: &reader)
        let api = try #require(ApiKey(rawValue: header.apiKey), "\(name): unknown API \(header.apiKey)")
        #expect(name.hasSuffix("-v\(header.apiVersion).bin"), "\(name) holds v\(header.apiVersion)")
        guard api.supported.contains(header.apiVersion) else {
            // A client's opening ApiVersions may be newer than ours; the broker answers it in v0.
            #expect(api == .apiVersions, "\(name): unsupported version of \(api)")
            return
        }
        let body = reader.buffer
        let (rest, reencoded) = try decodeCaptured(api, body, header.apiVersion)
        #expect(rest == 0, "\(name): \(rest) bytes after the message")
        #expect(reencoded == bytes(body), "\(name): re-encoding differs")
    }
}
