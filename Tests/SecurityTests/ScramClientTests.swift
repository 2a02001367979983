import KafkaProtocol
import Testing

@testable import Security

@Suite struct ScramClientTests {
    /// RFC 7677 section 3, from the client's side: the same bytes the RFC shows.
    @Test func rfc7677ExchangeFromTheClientsSide() throws {
        var client = ScramClient(mechanism: .sha256, user: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(client.firstMessage() == Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        let final = try client.finalMessage(
            Array("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8))
        #expect(
            String(decoding: final, as: UTF8.self)
                == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        )
        try client.verify(Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))
    }

    @Test(arguments: ScramMechanism.allCases)
    func clientAndServerAgreeAndEachProvesItKnowsTheCredential(mechanism: ScramMechanism) throws {
        let credential = ScramCredential(
            mechanism: mechanism, password: "broker-secret", salt: Array("salt-of-broker".utf8), iterations: 4096)
        var server = ScramServer(mechanism: mechanism, serverNonce: "server-nonce") {
            $0 == "node,one=" ? credential : nil
        }
        var client = ScramClient(mechanism: mechanism, user: "node,one=", password: "broker-secret", nonce: "c-nonce")
        guard case .challenge(let challenge) = server.step(client.firstMessage()) else {
            Issue.record("no challenge")
            return
        }
        guard case .done(let user, let signature) = server.step(try client.finalMessage(challenge)) else {
            Issue.record("not authenticated")
            return
        }
        #expect(user == "node,one=")
        try client.verify(signature)

        // A server that does not hold the credential cannot sign: the client refuses it.
        var impostor = ScramClient(mechanism: mechanism, user: "node,one=", password: "broker-secret", nonce: "n2")
        var s2 = ScramServer(mechanism: mechanism, serverNonce: "x") { _ in credential }
        guard case .challenge(let c2) = s2.step(impostor.firstMessage()) else { return }
        _ = try impostor.finalMessage(c2)
        #expect(throws: SaslFailure.self) {
            try impostor.verify(
                Array("v=\(Base64URL.encodePadded(Array(repeating: 1, count: mechanism.hashLength)))".utf8))
        }
    }

    @Test func wrongPasswordIsRefusedByTheServer() throws {
        let credential = ScramCredential(mechanism: .sha512, password: "right", salt: [1, 2, 3], iterations: 4096)
        var server = ScramServer(mechanism: .sha512, serverNonce: "s") { _ in credential }
        var client = ScramClient(mechanism: .sha512, user: "u", password: "wrong", nonce: "c")
        guard case .challenge(let challenge) = server.step(client.firstMessage()) else { return }
        guard case .failed = server.step(try client.finalMessage(challenge)) else {
            Issue.record("a wrong password authenticated")
            return
        }
    }

    /// A hostile peer's challenge costs the client no more than a normal one and fails clearly.
    @Test func hostileChallengesFailWithoutSpendingOrTrapping() {
        let hostile = [
            "r=c-nonceX,s=AAAA,i=2147483647",  // iterations far beyond Kafka's range
            "r=c-nonceX,s=AAAA,i=-1",
            "r=c-nonceX,s=AAAA,i=0",
            "r=other,s=AAAA,i=4096",  // a nonce that does not extend the client's
            "r=c-nonce,s=AAAA,i=4096",  // no server part
            "r=c-nonceX,s=!!!,i=4096",
            "r=c-nonceX,s=,i=4096",
            "r=c-nonceX,i=4096",
            "e=unknown-user",
            "",
            String(repeating: "r", count: 5000),
        ]
        for text in hostile {
            var client = ScramClient(mechanism: .sha256, user: "u", password: "p", nonce: "c-nonce")
            _ = client.firstMessage()
            #expect(throws: SaslFailure.self, "\(text.prefix(40))") { try client.finalMessage(Array(text.utf8)) }
        }
        var client = ScramClient(mechanism: .sha256, user: "u", password: "p", nonce: "c")
        #expect(throws: SaslFailure.self) { try client.verify(Array("v=AAAA".utf8)) }
        #expect(throws: SaslFailure.self) { try client.finalMessage(Array("r=cX,s=AAAA,i=4096".utf8)) }
    }

    @Test func plainIsAuthzidUserPassword() {
        #expect(PlainClient.message(user: "a", password: "b") == [0, 97, 0, 98])
        #expect(
            PlainServer.authenticate(PlainClient.message(user: "a", password: "b")) { $0 == "a" ? "b" : nil }
                == .success("a"))
    }
}
