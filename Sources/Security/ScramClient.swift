import KafkaProtocol

/// The client side of one SCRAM exchange (RFC 5802), as a node uses it to authenticate to a
/// peer: the first message, the proof for the server's challenge, and the check of the server's
/// signature, which proves the server knew the credential too. Pure: the nonce is handed in.
///
/// The server is a peer, not trusted further than its certificate: its challenge is read with
/// the same limits the server side applies (message size, Kafka's iteration range), so a hostile
/// one cannot make the client spend more than a normal exchange.
public struct ScramClient {
    public let mechanism: ScramMechanism
    let user: String
    let password: String
    let clientNonce: String
    private var state: State = .start

    enum State {
        case start
        case sentFirst(bare: String)
        case sentFinal(serverSignature: [UInt8])
        case finished
    }

    public init(mechanism: ScramMechanism, user: String, password: String, nonce: String) {
        self.mechanism = mechanism
        self.user = user
        self.password = password
        self.clientNonce = nonce
    }

    /// "n,,n=user,r=nonce" (the user name escaped as RFC 5802's saslname).
    public mutating func firstMessage() -> [UInt8] {
        let escaped = user.replacingAll("=", with: "=3D").replacingAll(",", with: "=2C")
        let bare = "n=\(escaped),r=\(clientNonce)"
        state = .sentFirst(bare: bare)
        return Array("n,,\(bare)".utf8)
    }

    /// The final message for the server's challenge "r=nonce,s=salt,i=iterations".
    public mutating func finalMessage(_ serverFirst: [UInt8]) throws(SaslFailure) -> [UInt8] {
        guard case .sentFirst(let bare) = state else { throw SaslFailure("SCRAM: the exchange is out of order") }
        state = .finished
        guard serverFirst.count <= ScramServer.maxMessageBytes,
            let text = String(validating: serverFirst, as: UTF8.self)
        else { throw SaslFailure("SCRAM: the server's challenge is malformed") }
        if text.hasPrefix("e=") { throw SaslFailure("SCRAM: the server refused: \(text.dropFirst(2))") }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0].hasPrefix("r="), parts[1].hasPrefix("s="), parts[2].hasPrefix("i="),
            let salt = Base64URL.decode(String(parts[1].dropFirst(2))), !salt.isEmpty, salt.count <= 256,
            let iterations = Int32(parts[2].dropFirst(2))
        else { throw SaslFailure("SCRAM: the server's challenge is malformed") }
        let nonce = String(parts[0].dropFirst(2))
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw SaslFailure("SCRAM: the server's nonce does not extend the client's")
        }
        guard ScramMechanism.iterationRange.contains(iterations) else {
            throw SaslFailure(
                "SCRAM: the server asks for \(iterations) iterations; Kafka's range is \(ScramMechanism.iterationRange)"
            )
        }
        let salted = mechanism.salted(Array(password.utf8), salt: salt, iterations: iterations)
        let clientKey = mechanism.hmac(salted, Array("Client Key".utf8))
        let storedKey = mechanism.hash(clientKey)
        let withoutProof = "c=\(Base64URL.encodePadded(Array("n,,".utf8))),r=\(nonce)"
        let authMessage = Array("\(bare),\(text),\(withoutProof)".utf8)
        let signature = mechanism.hmac(storedKey, authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        let serverKey = mechanism.hmac(salted, Array("Server Key".utf8))
        state = .sentFinal(serverSignature: mechanism.hmac(serverKey, authMessage))
        return Array("\(withoutProof),p=\(Base64URL.encodePadded(proof))".utf8)
    }

    /// Checks the server's "v=signature": only a server that holds the credential can make it.
    public mutating func verify(_ serverFinal: [UInt8]) throws(SaslFailure) {
        guard case .sentFinal(let expected) = state else { throw SaslFailure("SCRAM: the exchange is out of order") }
        state = .finished
        guard serverFinal.count <= ScramServer.maxMessageBytes,
            let text = String(validating: serverFinal, as: UTF8.self)
        else { throw SaslFailure("SCRAM: the server's final message is malformed") }
        if text.hasPrefix("e=") { throw SaslFailure("SCRAM: the server refused: \(text.dropFirst(2))") }
        guard text.hasPrefix("v="), let signature = Base64URL.decode(String(text.dropFirst(2))),
            constantTimeEqual(signature, expected)
        else { throw SaslFailure("SCRAM: the server's signature is wrong (it does not know the credential)") }
    }
}

/// PLAIN's one message (RFC 4616): authzid, user and password separated by NUL.
public enum PlainClient {
    public static func message(user: String, password: String) -> [UInt8] {
        [0] + Array(user.utf8) + [0] + Array(password.utf8)
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
