import KafkaProtocol
import NIOCore
import NIOSSL
import Security

/// How a connection proves itself to a broker and checks the broker: TLS (with the trust roots
/// and, for mutual TLS, the certificate it presents) and a SASL login. Nodes use it for their
/// own traffic (replica fetches, quorum RPCs, forwarded requests); tools for secured listeners.
public struct ClientSecurity: Sendable {
    /// TLS to the broker; nil for PLAINTEXT and SASL_PLAINTEXT.
    public var tls: NIOSSLContext?
    /// Whether the broker's certificate must name the address dialled
    /// (`ssl.endpoint.identification.algorithm=https`, Kafka's default).
    public var verifyHostname = true
    /// SASL after ApiVersions; nil for PLAINTEXT and SSL.
    public var sasl: SaslLogin?

    public struct SaslLogin: Sendable, Equatable {
        /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
        public var mechanism: String
        public var user: String
        public var password: String
        public init(mechanism: String, user: String, password: String) {
            self.mechanism = mechanism
            self.user = user
            self.password = password
        }
    }

    public init(tls: NIOSSLContext? = nil, verifyHostname: Bool = true, sasl: SaslLogin? = nil) {
        self.tls = tls
        self.verifyHostname = verifyHostname
        self.sasl = sasl
    }

    public static let plaintext = ClientSecurity()

    /// The name to send as SNI and to check the certificate against: a host name, never an IP
    /// address (those are checked against the certificate's IP entries by the socket's address).
    func serverHostname(for host: String) -> String? {
        guard verifyHostname else { return nil }
        let isIP =
            host.contains(":") || host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
        return isIP ? nil : host
    }
}

extension KafkaConnection {
    /// SaslHandshake and SaslAuthenticate on a fresh connection, as Kafka's clients do after
    /// ApiVersions. A refusal ends with the broker's error code and message.
    func authenticate(_ login: ClientSecurity.SaslLogin, timeoutMs: Int) async throws {
        var handshake = SaslHandshakeRequest()
        handshake.mechanism = login.mechanism
        let shaken = try await send(
            handshake, version: min(1, try version(for: .saslHandshake)), as: SaslHandshakeResponse.self,
            timeoutMs: timeoutMs)
        guard shaken.errorCode == 0 else {
            throw KafkaClientError.kafka(
                ErrorCode(rawValue: shaken.errorCode),
                "\(address) does not offer SASL \(login.mechanism) (it offers \(shaken.mechanisms.joined(separator: ", ")))"
            )
        }
        let v = try version(for: .saslAuthenticate)
        func round(_ bytes: [UInt8]) async throws -> [UInt8] {
            var request = SaslAuthenticateRequest()
            request.authBytes = ByteBuffer(bytes: bytes)
            let r = try await send(request, version: v, as: SaslAuthenticateResponse.self, timeoutMs: timeoutMs)
            guard r.errorCode == 0 else {
                throw KafkaClientError.kafka(
                    ErrorCode(rawValue: r.errorCode),
                    "\(address) refused \(login.mechanism) login of \(login.user): \(r.errorMessage ?? "")")
            }
            return Array(r.authBytes.readableBytesView)
        }
        if let mechanism = ScramMechanism(rawValue: login.mechanism) {
            var scram = ScramClient(
                mechanism: mechanism, user: login.user, password: login.password,
                nonce: scramNonce())
            let challenge = try await round(scram.firstMessage())
            let signature = try await round(try scram.finalMessage(challenge))
            do { try scram.verify(signature) } catch {
                throw KafkaClientError.unsupported("\(address): \(error)")
            }
        } else if login.mechanism == "PLAIN" {
            _ = try await round(PlainClient.message(user: login.user, password: login.password))
        } else {
            throw KafkaClientError.unsupported(
                "SASL mechanism \(login.mechanism) is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
        }
    }
}
