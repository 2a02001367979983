import Crypto
import KafkaProtocol

/// A SCRAM mechanism (RFC 5802 with RFC 7677's SHA-256, and SHA-512 as Kafka adds it).
public enum ScramMechanism: String, Sendable, CaseIterable {
    case sha256 = "SCRAM-SHA-256"
    case sha512 = "SCRAM-SHA-512"

    /// Kafka's numbering in DescribeUserScramCredentials and AlterUserScramCredentials.
    public var kafkaType: Int8 { self == .sha256 ? 1 : 2 }
    public init?(kafkaType: Int8) {
        switch kafkaType {
        case 1: self = .sha256
        case 2: self = .sha512
        default: return nil
        }
    }

    /// Bytes of the hash (and of a salted password).
    public var hashLength: Int { self == .sha256 ? 32 : 64 }

    /// Iterations Kafka accepts for a credential.
    public static let iterationRange: ClosedRange<Int32> = 4096...16384

    func hmac(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        let k = SymmetricKey(data: key)
        switch self {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: k))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: k))
        }
    }

    func hash(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: return Array(SHA256.hash(data: data))
        case .sha512: return Array(SHA512.hash(data: data))
        }
    }

    /// What a client sends in AlterUserScramCredentials: the password salted with Hi().
    public func saltedPassword(_ password: String, salt: [UInt8], iterations: Int32) -> [UInt8] {
        salted(Array(password.utf8), salt: salt, iterations: iterations)
    }

    /// RFC 5802's Hi(): PBKDF2 with this HMAC, one block.
    func salted(_ password: [UInt8], salt: [UInt8], iterations: Int32) -> [UInt8] {
        var u = hmac(password, salt + [0, 0, 0, 1])
        var out = u
        for _ in 1..<max(1, Int(iterations)) {
            u = hmac(password, u)
            for i in out.indices { out[i] ^= u[i] }
        }
        return out
    }
}

/// What the server keeps of a SCRAM password: never the password itself.
public struct ScramCredential: Equatable, Sendable {
    public var mechanism: ScramMechanism
    public var salt: [UInt8]
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]
    public var iterations: Int32

    public init(mechanism: ScramMechanism, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8], iterations: Int32) {
        self.mechanism = mechanism
        self.salt = salt
        self.storedKey = storedKey
        self.serverKey = serverKey
        self.iterations = iterations
    }

    /// The credential for `password`, as AlterUserScramCredentials' salted password gives it
    /// (the client salts) or from the password itself.
    public init(mechanism: ScramMechanism, saltedPassword: [UInt8], salt: [UInt8], iterations: Int32) {
        let clientKey = mechanism.hmac(saltedPassword, Array("Client Key".utf8))
        self.init(
            mechanism: mechanism, salt: salt, storedKey: mechanism.hash(clientKey),
            serverKey: mechanism.hmac(saltedPassword, Array("Server Key".utf8)), iterations: iterations)
    }

    public init(mechanism: ScramMechanism, password: String, salt: [UInt8], iterations: Int32) {
        self.init(
            mechanism: mechanism,
            saltedPassword: mechanism.salted(Array(password.utf8), salt: salt, iterations: iterations), salt: salt,
            iterations: iterations)
    }
}

/// The server side of one SCRAM exchange: the client's first message, the server's
/// challenge, the client's proof, the server's signature. Pure: the nonce and the credential
/// lookup are handed in.
public struct ScramServer {
    public enum Step: Equatable {
        case challenge([UInt8])
        /// Authenticated as `user`; `final` is the server's last message for the client.
        case done(user: String, final: [UInt8])
        case failed(String)
    }

    let mechanism: ScramMechanism
    let lookup: (String) -> ScramCredential?
    let serverNonce: String
    private var state: State = .start

    enum State {
        case start
        case sentChallenge(
            user: String, credential: ScramCredential, clientNonce: String, nonce: String, clientFirstBare: String,
            serverFirst: String, gs2Header: String)
        case finished
    }

    /// Most bytes a SCRAM message may have; real ones are a few hundred.
    public static let maxMessageBytes = 4096

    public init(mechanism: ScramMechanism, serverNonce: String, lookup: @escaping (String) -> ScramCredential?) {
        self.mechanism = mechanism
        self.serverNonce = serverNonce
        self.lookup = lookup
    }

    public mutating func step(_ message: [UInt8]) -> Step {
        guard message.count <= Self.maxMessageBytes, let text = String(validating: message, as: UTF8.self) else {
            state = .finished
            return .failed("malformed SCRAM message")
        }
        switch state {
        case .start:
            return first(text)
        case .sentChallenge(
            let user, let credential, let clientNonce, let nonce, let clientFirstBare, let serverFirst, let gs2):
            state = .finished
            return final(text, user, credential, clientNonce, nonce, clientFirstBare, serverFirst, gs2)
        case .finished:
            return .failed("the SCRAM exchange is already over")
        }
    }

    /// `gs2-header client-first-message-bare`: "n,,n=user,r=nonce".
    private mutating func first(_ text: String) -> Step {
        state = .finished
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 4, parts[0] == "n" || parts[0] == "y" else {
            return .failed("SCRAM: the client's first message is malformed (channel binding is not supported)")
        }
        guard parts[1].isEmpty || parts[1].hasPrefix("a=") else { return .failed("SCRAM: malformed authzid") }
        guard parts[2].hasPrefix("n="), parts[3].hasPrefix("r="), parts[3].count > 2 else {
            return .failed("SCRAM: the client's first message has no user name or nonce")
        }
        guard let user = Self.unescape(String(parts[2].dropFirst(2))), !user.isEmpty else {
            return .failed("SCRAM: malformed user name")
        }
        if parts[1].hasPrefix("a="), Self.unescape(String(parts[1].dropFirst(2))) != user {
            return .failed("SCRAM: an authorization id other than the user is not supported")
        }
        // Extensions (parts 4...): Kafka's tokenauth=true asks for delegation tokens, which Tern
        // does not have.
        if parts.dropFirst(4).contains(where: { $0.hasPrefix("tokenauth=") }) {
            return .failed("SCRAM: delegation tokens are not supported")
        }
        guard let credential = lookup(user) else {
            return .failed(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism.rawValue)"
            )
        }
        let clientNonce = String(parts[3].dropFirst(2))
        let nonce = clientNonce + serverNonce
        let serverFirst = "r=\(nonce),s=\(Base64URL.encodePadded(credential.salt)),i=\(credential.iterations)"
        let gs2 = parts[0] + "," + parts[1] + ","
        let bare = parts[2...].joined(separator: ",")
        state = .sentChallenge(
            user: user, credential: credential, clientNonce: clientNonce, nonce: nonce, clientFirstBare: bare,
            serverFirst: serverFirst, gs2Header: gs2)
        return .challenge(Array(serverFirst.utf8))
    }

    /// "c=biws,r=nonce,p=proof".
    private func final(
        _ text: String, _ user: String, _ credential: ScramCredential, _ clientNonce: String, _ nonce: String,
        _ clientFirstBare: String, _ serverFirst: String, _ gs2: String
    ) -> Step {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3, parts[0].hasPrefix("c="), parts[1].hasPrefix("r="), let proofPart = parts.last,
            proofPart.hasPrefix("p=")
        else { return .failed("SCRAM: the client's final message is malformed") }
        guard Base64URL.decode(String(parts[0].dropFirst(2))) == Array(gs2.utf8) else {
            return .failed("SCRAM: channel binding does not match the first message")
        }
        // librdkafka before 2.6.1 sends its client nonce once more in front of the combined one
        // (librdkafka#4895); Kafka 3.8.1-3.9 accept that too. It still carries the whole server
        // nonce, so it proves as much.
        let echoed = String(parts[1].dropFirst(2))
        guard echoed == nonce || echoed == clientNonce + nonce else {
            return .failed("SCRAM: the nonce does not match the server's")
        }
        guard let proof = Base64URL.decode(String(proofPart.dropFirst(2))), proof.count == credential.storedKey.count
        else { return .failed("SCRAM: malformed proof") }
        let withoutProof = parts.dropLast().joined(separator: ",")
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let signature = mechanism.hmac(credential.storedKey, authMessage)
        let clientKey = zip(proof, signature).map { $0 ^ $1 }
        guard constantTimeEqual(mechanism.hash(clientKey), credential.storedKey) else {
            return .failed(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism.rawValue)"
            )
        }
        let serverSignature = mechanism.hmac(credential.serverKey, authMessage)
        return .done(user: user, final: Array("v=\(Base64URL.encodePadded(serverSignature))".utf8))
    }

    /// saslname: "=2C" is ",", "=3D" is "="; any other "=" is malformed.
    static func unescape(_ s: String) -> String? {
        guard s.contains("=") else { return s }
        var out = ""
        var rest = Substring(s)
        while let i = rest.firstIndex(of: "=") {
            out += rest[..<i]
            let code = rest[rest.index(after: i)...].prefix(2)
            switch code {
            case "2C": out += ","
            case "3D": out += "="
            default: return nil
            }
            rest = rest[rest.index(i, offsetBy: 3)...]
        }
        return out + rest
    }
}

/// A SCRAM nonce, client's or server's: 24 random bytes in base64 (printable and without commas,
/// as SCRAM needs).
public func scramNonce() -> String {
    var g = SystemRandomNumberGenerator()
    return Base64URL.encodePadded((0..<24).map { _ in UInt8.random(in: 0...255, using: &g) })
}

/// Compares without stopping at the first difference, so the time taken tells nothing.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in a.indices { diff |= a[i] ^ b[i] }
    return diff == 0
}

/// PLAIN (RFC 4616): "authzid NUL user NUL password", checked against the listener's users.
public enum PlainServer {
    public static let maxMessageBytes = 1024

    /// The user, or why it is refused. `password(user)` gives the configured password.
    public static func authenticate(_ message: [UInt8], password: (String) -> String?) -> Result<String, SaslFailure> {
        guard message.count <= maxMessageBytes else { return .failure(SaslFailure("PLAIN: message too long")) }
        let parts = message.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let authz = String(validating: parts[0], as: UTF8.self),
            let user = String(validating: parts[1], as: UTF8.self), !user.isEmpty
        else { return .failure(SaslFailure("PLAIN: malformed message (expected authzid NUL user NUL password)")) }
        guard authz.isEmpty || authz == user else {
            return .failure(SaslFailure("PLAIN: an authorization id other than the user is not supported"))
        }
        guard let expected = password(user), constantTimeEqual(Array(parts[2]), Array(expected.utf8)) else {
            return .failure(SaslFailure("Authentication failed: Invalid username or password"))
        }
        return .success(user)
    }
}

public struct SaslFailure: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
