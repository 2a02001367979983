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
