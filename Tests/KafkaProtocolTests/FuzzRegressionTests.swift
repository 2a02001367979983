import Foundation
import KafkaCompression
import KafkaProtocol
import NIOCore
import Testing

/// Every input a fuzzer ever crashed on stays here (Fuzz/regressions/<target>/), and must now
/// decode or fail with an error, never trap.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")

    static func inputs(_ target: String) -> [URL] {
        let dir = root.appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map { dir.appendingPathComponent($0) }
    }

    static func buffer(_ url: URL) throws -> ByteBuffer {
        let data = try Data(contentsOf: url)
        var b = ByteBufferAllocator().buffer(capacity: data.count)
        b.writeBytes(data)
        return b
    }

    @Test func requestInputsThatOnceCrashedNowDecodeOrFail() throws {
        for url in Self.inputs("requests") { _ = try? RequestDecoder.decode(try Self.buffer(url)) }
    }

    @Test func recordInputsThatOnceCrashedNowDecodeOrFail() throws {
        for url in Self.inputs("records") { _ = try? Decompression.countRecords(try Self.buffer(url)) }
    }

    @Test func theRequestDecoderReadsEveryCapturedClientFrame() throws {
        let captured = Self.root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/KafkaProtocolTests/Captured")
        let names = try FileManager.default.contentsOfDirectory(atPath: captured.path).filter { $0.hasSuffix(".bin") }
        #expect(names.count >= 8)
        for name in names {
            do {
                let (header, _) = try RequestDecoder.decode(try Self.buffer(captured.appendingPathComponent(name)))
                #expect(name.contains("-\(ApiKey(rawValue: header.apiKey)!)-v\(header.apiVersion)"), "\(name)")
            } catch ProtocolError.unsupportedVersion(let api, _) where api == ApiKey.apiVersions.rawValue {
                // A client asking for a newer ApiVersions than Tern's; the broker answers it in v0.
            }
        }
    }
}
