import KafkaProtocol
import Testing

@testable import Metadata

/// `<log.dirs>/bootstrap.records`, written by `tern storage format` and read at start-up: the
/// records come back as written, and a damaged or hostile file stops start-up with the line.
@Suite struct BootstrapRecordsTests {
    let credential = MetadataRecord.scramCredential(
        user: "broker",
        .init(
            mechanism: 2, salt: [1, 2, 3], storedKey: Array(repeating: 7, count: 64),
            serverKey: Array(repeating: 9, count: 64), iterations: 4096))

    @Test func recordsComeBackAsWritten() throws {
        let other = MetadataRecord.scramCredential(
            user: "alice, \"quoted\"",
            .init(mechanism: 1, salt: [0xFF], storedKey: [0], serverKey: [1], iterations: 16384))
        let text = try BootstrapRecords.text([credential, other])
        #expect(text.hasPrefix("#"))
        #expect(try BootstrapRecords.parse(text, source: "f") == [credential, other])
        #expect(try BootstrapRecords.parse(text.uppercased(), source: "f").count == 2)
    }

    @Test func damagedFilesAreRefusedNamingTheLine() throws {
        let good = try BootstrapRecords.text([credential])
        let cases: [(String, String)] = [
            (good + "abc\n", "f:3"),  // odd
            (good + "zz\n", "not hex"),
            (good + "00ff\n", "not a metadata record"),
            (good + String(repeating: "00", count: 5000) + "\n", "at most"),
            (try BootstrapRecords.text([.removeAcl(AclEntry())]), "only SCRAM"),
            (String(repeating: good, count: 1001), "more than 1000"),
        ]
        for (text, needle) in cases {
            do {
                _ = try BootstrapRecords.parse(text, source: "f")
                Issue.record("accepted: \(text.prefix(60))")
            } catch {
                #expect("\(error)".contains(needle), "\(error)")
            }
        }
    }
}
