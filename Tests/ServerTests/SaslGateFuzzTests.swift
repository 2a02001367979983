import KafkaProtocol
import NIOCore
import Raft
import Security
import Testing

@testable import Server

/// The SASL exchange with hostile input: random sequences of SaslHandshake (known and unknown
/// mechanisms, both versions), SaslAuthenticate (random bytes, SCRAM-shaped messages with extreme
/// fields, PLAIN with right and wrong passwords) and other requests before authenticating. Every
/// step gets a verdict; nothing but ApiVersions passes before authentication; after a close
/// nothing passes; only right credentials authenticate.
@Suite struct SaslGateFuzzTests {
    static let users = ["alice": "alice-secret"]
    static let credential = ScramCredential(
        mechanism: .sha256, password: "alice-secret", salt: Array("salty".utf8), iterations: 4096)

    func security() -> ListenerSecurity {
        var s = ListenerSecurity()
        s.securityProtocol = .saslPlaintext
        s.saslMechanisms = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        s.plainUsers = Self.users
        return s
    }

    func frame(_ api: ApiKey, _ v: Int16, _ m: some KafkaMessage) -> (RequestHeader, ByteBuffer) {
        (
            RequestHeader(apiKey: api.rawValue, apiVersion: v, correlationId: 1, clientId: "f"),
            (try? m.encoded(version: v)) ?? ByteBuffer()
        )
    }

    @Test func hostileSequencesGetVerdictsAndOnlyRightCredentialsAuthenticate() {
        var rng = SplitMix(seed: 2026_1202)
        var authenticated = 0
        var closed = 0
        let tokens: [[UInt8]] = [
            Array("\0alice\0alice-secret".utf8), Array("\0alice\0wrong".utf8), Array("n,,n=alice,r=abc".utf8),
            Array("n,,n=\(String(repeating: "a", count: 5000)),r=x".utf8), Array("c=biws,r=abc,p=AAAA".utf8),
            Array("n,,n=alice,r=abc,tokenauth=true".utf8), [], [0xFF, 0, 0xFE], Array(repeating: 0, count: 70_000),
        ]
        for _ in 0..<3000 {
            let gate = SaslGate(security: security()) { user, m in
                user == "alice" && m == .sha256 ? Self.credential : nil
            }
            var over = false
            var isIn = false
            for _ in 0..<(1 + Int(rng.next() % 6)) {
                let pick = rng.next() % 6
                let (header, body): (RequestHeader, ByteBuffer)
                switch pick {
                case 0:
                    var r = SaslHandshakeRequest()
                    r.mechanism =
                        ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "", "plain"][
                            Int(rng.next() % 6)]
                    (header, body) = frame(.saslHandshake, Int16(rng.next() % 2), r)
                case 1, 2:
                    var r = SaslAuthenticateRequest()
                    r.authBytes = ByteBuffer(bytes: tokens[Int(rng.next() % UInt64(tokens.count))])
                    (header, body) = frame(.saslAuthenticate, Int16(rng.next() % 3), r)
                case 3:
                    (header, body) = frame(.metadata, 1, MetadataRequest())
                case 4:
                    (header, body) = frame(.apiVersions, 0, ApiVersionsRequest())
                default:
                    // A frame whose body is cut short or random.
                    var b = ByteBuffer()
                    for _ in 0..<Int(rng.next() % 40) { b.writeInteger(UInt8(truncatingIfNeeded: rng.next())) }
                    header = RequestHeader(
                        apiKey: [17, 36, 3, 18][Int(rng.next() % 4)], apiVersion: Int16(rng.next() % 4),
                        correlationId: 2, clientId: nil)
                    body = b
                }
                let verdict =
                    gate.expectsRawToken
                    ? gate.rawToken(ByteBuffer(bytes: tokens[Int(rng.next() % UInt64(tokens.count))]))
                    : gate.filter(header, body)
                switch verdict {
                case .pass:
                    #expect(!over, "a request passed after the connection closed")
                    #expect(
                        isIn || header.apiKey == ApiKey.apiVersions.rawValue,
                        "key \(header.apiKey) passed before authentication")
                case .answer, .answerThenClose:
                    #expect(!over)
                    if case .answerThenClose = verdict { over = true }
                case .close:
                    over = true
                }
                if gate.principal != nil && !isIn {
                    isIn = true
                    authenticated += 1
                    #expect(gate.principal == "User:alice")
                }
                if over {
                    closed += 1
                    break
                }
            }
        }
        print("SASL gate fuzz: 3000 connections, \(authenticated) authenticated, \(closed) closed")
        #expect(authenticated > 0 && closed > 0)
    }
}
