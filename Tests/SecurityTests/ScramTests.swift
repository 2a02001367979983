import KafkaProtocol
import Testing

@testable import Security

@Suite struct ScramTests {
    /// RFC 7677 section 3: user "user", password "pencil", the exchange byte for byte.
    @Test func rfc7677ExchangeVerifiesAndSignsAsTheRfcShows() throws {
        let salt = try #require(Base64URL.decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
        let credential = ScramCredential(mechanism: .sha256, password: "pencil", salt: salt, iterations: 4096)
        var server = ScramServer(mechanism: .sha256, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0") {
            $0 == "user" ? credential : nil
        }
        let challenge = server.step(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        #expect(
            challenge
                == .challenge(
                    Array("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8)
                ))
        let final = server.step(
            Array(
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                    .utf8))
        #expect(final == .done(user: "user", final: Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8)))
    }

    @Test func aWrongProofFailsAndTheExchangeIsOver() throws {
        let salt = try #require(Base64URL.decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
        let credential = ScramCredential(mechanism: .sha256, password: "other", salt: salt, iterations: 4096)
        var server = ScramServer(mechanism: .sha256, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0") { _ in credential }
        _ = server.step(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        let final = server.step(
            Array(
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                    .utf8))
        guard case .failed = final else { Issue.record("a wrong password was accepted: \(final)"); return }
        guard case .failed = server.step([1, 2, 3]) else {
            Issue.record("a message after the end was accepted"); return
        }
    }

    @Test func hostileFirstMessagesFailWithoutTrapping() {
        let cases: [[UInt8]] = [
            [], Array("n,,".utf8), Array("p=tls-unique,,n=u,r=x".utf8), Array("n,,n=,r=x".utf8),
            Array("n,,n=a=ZZ,r=x".utf8), Array("n,,n=u,r=".utf8), Array("n,a=other,n=u,r=x".utf8),
            Array("n,,n=u,r=x,tokenauth=true".utf8), [0xFF, 0xFE], [UInt8](repeating: 0x61, count: 100_000),
            Array("n,,n=nobody,r=x".utf8),
        ]
        for c in cases {
            var server = ScramServer(mechanism: .sha512, serverNonce: "s") { _ in nil }
            guard case .failed = server.step(c) else {
                Issue.record("accepted \(c.prefix(40))")
                continue
            }
        }
    }

    @Test func saslNamesUnescape() {
        #expect(ScramServer.unescape("a=2Cb=3Dc") == "a,b=c")
        #expect(ScramServer.unescape("a=2") == nil)
        #expect(ScramServer.unescape("plain") == "plain")
    }

    @Test func plainChecksUserAndPassword() {
        let users = ["alice": "alice-secret"]
        #expect(PlainServer.authenticate(Array("\0alice\0alice-secret".utf8)) { users[$0] } == .success("alice"))
        #expect(PlainServer.authenticate(Array("alice\0alice\0alice-secret".utf8)) { users[$0] } == .success("alice"))
        for bad in ["\0alice\0wrong", "\0bob\0alice-secret", "bob\0alice\0alice-secret", "alice-secret", "\0\0x"] {
            guard case .failure = PlainServer.authenticate(Array(bad.utf8), password: { users[$0] }) else {
                Issue.record("accepted \(bad)")
                continue
            }
        }
    }
}

@Suite struct ScramCompatibilityTests {
    /// librdkafka before 2.6.1 sends "r=<client nonce><client nonce + server nonce>"; its proof is
    /// over that text, so it verifies. Any other nonce is refused.
    @Test func librdkafkasRepeatedClientNonceIsAcceptedAndNothingElse() throws {
        let salt: [UInt8] = Array("salt-salt".utf8)
        let m = ScramMechanism.sha512
        let credential = ScramCredential(mechanism: m, password: "pw", salt: salt, iterations: 4096)
        for (echo, accepted) in [
            ("cnoncecnonceSNONCE", true), ("cnonceSNONCE", true), ("SNONCE", false),
            ("xcnonceSNONCE", false),
        ] {
            var server = ScramServer(mechanism: m, serverNonce: "SNONCE") { _ in credential }
            guard case .challenge = server.step(Array("n,,n=u,r=cnonce".utf8)) else {
                Issue.record("no challenge")
                return
            }
            let serverFirst = "r=cnonceSNONCE,s=\(Base64URL.encodePadded(salt)),i=4096"
            let withoutProof = "c=biws,r=\(echo)"
            let salted = m.salted(Array("pw".utf8), salt: salt, iterations: 4096)
            let clientKey = m.hmac(salted, Array("Client Key".utf8))
            let signature = m.hmac(m.hash(clientKey), Array("n=u,r=cnonce,\(serverFirst),\(withoutProof)".utf8))
            let proof = zip(clientKey, signature).map { $0 ^ $1 }
            let step = server.step(Array("\(withoutProof),p=\(Base64URL.encodePadded(proof))".utf8))
            if case .done(let user, _) = step {
                #expect(accepted && user == "u", "\(echo) accepted")
            } else {
                #expect(!accepted, "\(echo) refused: \(step)")
            }
        }
    }
}
