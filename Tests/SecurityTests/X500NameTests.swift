import Foundation
import Security
import Testing

@Suite struct X500NameTests {
    /// A certificate made by openssl with subject "/C=US/O=Tern Test/OU=pay+ments/CN=alice, the first".
    static func makeCertificate(subject: String) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("x500-\(getpid())-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", subject, "-keyout", dir.appendingPathComponent("k.pem").path, "-outform", "DER", "-out",
            dir.appendingPathComponent("c.der").path,
        ]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return Array(try Data(contentsOf: dir.appendingPathComponent("c.der")))
    }

    @Test func subjectIsWrittenMostSpecificFirstWithRFC2253Escapes() throws {
        let der = try Self.makeCertificate(subject: "/C=US/O=Tern Test/OU=pay\\+ments/CN=alice, the first")
        #expect(X500Name.subject(ofCertificateDER: der) == "CN=alice\\, the first,OU=pay\\+ments,O=Tern Test,C=US")
    }

    @Test func unknownAttributesAreNamedByTheirOid() throws {
        let der = try Self.makeCertificate(subject: "/CN=bob/emailAddress=bob@example.com")
        let name = X500Name.subject(ofCertificateDER: der)
        #expect(name == "1.2.840.113549.1.9.1=#160f626f62406578616d706c652e636f6d,CN=bob", "\(name ?? "nil")")
    }

    @Test func damagedCertificatesGiveNoName() throws {
        let der = try Self.makeCertificate(subject: "/CN=carol")
        #expect(X500Name.subject(ofCertificateDER: der) == "CN=carol")
        for cut in stride(from: 0, to: der.count, by: 7) {
            #expect(X500Name.subject(ofCertificateDER: Array(der.prefix(cut))) == nil)
        }
        var lying = der
        lying[1] = 0x84  // a four-byte length
        lying.insert(contentsOf: [0xFF, 0xFF, 0xFF], at: 2)
        #expect(X500Name.subject(ofCertificateDER: lying) == nil)
        #expect(X500Name.subject(ofCertificateDER: []) == nil)
        #expect(X500Name.subject(ofCertificateDER: [0x30, 0x80]) == nil)
    }
}
