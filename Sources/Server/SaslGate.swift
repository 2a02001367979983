import KafkaProtocol
import NIOCore
import Security

/// One connection's SASL state on a SASL_PLAINTEXT or SASL_SSL listener. Until the client has
/// authenticated, only ApiVersions, SaslHandshake and SaslAuthenticate are answered; anything
/// else closes the connection (as Kafka does). A failed authentication is answered with
/// SASL_AUTHENTICATION_FAILED and the connection is closed after that answer.
final class SaslGate {
    enum Verdict {
        /// Not a SASL request, and the connection is authenticated: the broker answers.
        case pass
        /// Answered here.
        case answer(ByteBuffer)
        /// Answered here; the connection closes once the answer is written.
        case answerThenClose(ByteBuffer)
        /// Closes at once, with the reason logged.
        case close(String)
    }

    private enum State {
        case start
        /// SaslHandshake v1 named this mechanism: SaslAuthenticate requests follow.
        case handshaken(String)
        /// A SCRAM exchange after its first step.
        case scram(ScramServer)
        /// SaslHandshake v0: the next frame is a raw PLAIN token, not a Kafka request.
        case rawToken(String)
        case authenticated(String)
        case failed
    }

    private let security: ListenerSecurity
    /// A user's SCRAM credential from the committed metadata image.
    private let scramCredential: (String, ScramMechanism) -> ScramCredential?
    private var state = State.start
    /// The authenticated user ("User:<name>" as Kafka's principal), nil until then.
    private(set) var principal: String?

    init(security: ListenerSecurity, scramCredential: @escaping (String, ScramMechanism) -> ScramCredential?) {
        self.security = security
        self.scramCredential = scramCredential
    }

    var expectsRawToken: Bool {
        if case .rawToken = state { return true }
        return false
    }

    func filter(_ header: RequestHeader, _ body: ByteBuffer) -> Verdict {
        let api = ApiKey(rawValue: header.apiKey)
        let v = header.apiVersion
        switch (state, api) {
        case (.authenticated, .saslHandshake), (.authenticated, .saslAuthenticate):
            // KIP-368 re-authentication is not offered (session lifetime 0).
            return .close("SASL request after authentication (re-authentication is not supported)")
        case (.authenticated, _):
            return .pass
        case (.failed, _):
            return .close("request after a failed SASL authentication")
        case (_, .apiVersions):
            return .pass
        case (.start, .saslHandshake) where header.apiVersion == 0 && !(requestedMechanism(body, v) == "PLAIN"):
            // v0 sends raw tokens after the handshake; Tern takes them for PLAIN only (SCRAM
            // clients all use v1).
            var r = SaslHandshakeResponse()
            r.mechanisms = security.saslMechanisms.filter { $0 == "PLAIN" }
            r.errorCode = ErrorCode.unsupportedSaslMechanism.rawValue
            state = .failed
            return encode(r, v, close: true)
        case (.start, .saslHandshake):
            guard ApiKey.saslHandshake.supported.contains(v),
                let request = try? SaslHandshakeRequest.decode(body, version: v)
            else {
                return .close("unreadable SaslHandshake v\(v)")
            }
            var r = SaslHandshakeResponse()
            r.mechanisms = security.saslMechanisms
            let mechanism = request.mechanism.uppercased()
            if security.saslMechanisms.contains(mechanism) {
                state = v == 0 ? .rawToken(mechanism) : .handshaken(mechanism)
            } else {
                r.errorCode = ErrorCode.unsupportedSaslMechanism.rawValue
                state = .failed
            }
            return encode(r, v, close: r.errorCode != 0)
        case (.scram, .saslAuthenticate):
            return scramStep(body, v)
        case (.handshaken(let mechanism), .saslAuthenticate) where mechanism.hasPrefix("SCRAM-"):
            return scramStep(body, v)
        case (.handshaken(let mechanism), .saslAuthenticate):
            guard ApiKey.saslAuthenticate.supported.contains(v),
                let request = try? SaslAuthenticateRequest.decode(body, version: v)
            else { return .close("unreadable SaslAuthenticate v\(v)") }
            var r = SaslAuthenticateResponse()
            switch authenticate(mechanism, Array(request.authBytes.readableBytesView)) {
            case .success(let user):
                state = .authenticated(user)
                principal = "User:\(user)"
                return encode(r, v, close: false)
            case .failure(let why):
                state = .failed
                r.errorCode = ErrorCode.saslAuthenticationFailed.rawValue
                r.errorMessage = why.description
                return encode(r, v, close: true)
            }
        default:
            state = .failed
            let name = api.map { "\($0)" } ?? "key \(header.apiKey)"
            return .close("unexpected \(name) request before SASL authentication completed")
        }
    }

    /// The raw token after SaslHandshake v0: answered with a length-prefixed raw token (empty
    /// for PLAIN), or the connection closes.
    func rawToken(_ frame: ByteBuffer) -> Verdict {
        guard case .rawToken(let mechanism) = state else { return .close("unexpected raw SASL token") }
        switch authenticate(mechanism, Array(frame.readableBytesView)) {
        case .success(let user):
            state = .authenticated(user)
            principal = "User:\(user)"
            var b = ByteBuffer()
            b.writeInteger(Int32(0))
            return .answer(b)
        case .failure(let why):
            state = .failed
            return .close("SASL authentication failed: \(why)")
        }
    }

    /// One SaslAuthenticate of a SCRAM exchange: the first gets the challenge, the second the
    /// server's signature (or the failure).
    private func scramStep(_ body: ByteBuffer, _ v: Int16) -> Verdict {
        guard ApiKey.saslAuthenticate.supported.contains(v),
            let request = try? SaslAuthenticateRequest.decode(body, version: v)
        else { return .close("unreadable SaslAuthenticate v\(v)") }
        var server: ScramServer
        if case .scram(let s) = state {
            server = s
        } else if case .handshaken(let name) = state, let m = ScramMechanism(rawValue: name) {
            let lookup = scramCredential
            server = ScramServer(mechanism: m, serverNonce: scramNonce()) { lookup($0, m) }
        } else {
            return .close("unexpected SASL state")
        }
        var r = SaslAuthenticateResponse()
        switch server.step(Array(request.authBytes.readableBytesView)) {
        case .challenge(let bytes):
            state = .scram(server)
            r.authBytes = ByteBuffer(bytes: bytes)
            return encode(r, v, close: false)
        case .done(let user, let final):
            state = .authenticated(user)
            principal = "User:\(user)"
            r.authBytes = ByteBuffer(bytes: final)
            return encode(r, v, close: false)
        case .failed(let why):
            state = .failed
            r.errorCode = ErrorCode.saslAuthenticationFailed.rawValue
            r.errorMessage = why
            return encode(r, v, close: true)
        }
    }

    private func requestedMechanism(_ body: ByteBuffer, _ v: Int16) -> String? {
        (try? SaslHandshakeRequest.decode(body, version: v))?.mechanism.uppercased()
    }

    private func authenticate(_ mechanism: String, _ token: [UInt8]) -> Result<String, SaslFailure> {
        switch mechanism {
        case "PLAIN":
            let users = security.plainUsers
            return PlainServer.authenticate(token) { users[$0] }
        default: return .failure(SaslFailure("mechanism \(mechanism) is not enabled"))
        }
    }

    private func encode(_ message: some KafkaMessage, _ v: Int16, close: Bool) -> Verdict {
        guard let b = try? message.encoded(version: v) else { return .close("could not encode a SASL answer") }
        return close ? .answerThenClose(b) : .answer(b)
    }
}
