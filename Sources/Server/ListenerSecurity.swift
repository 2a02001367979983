import KafkaClient
import NIOSSL
import Security

/// A listener's security protocol (`listener.security.protocol.map`), as Kafka names them.
public enum SecurityProtocol: String, Sendable, CaseIterable {
    case plaintext = "PLAINTEXT"
    case ssl = "SSL"
    case saslPlaintext = "SASL_PLAINTEXT"
    case saslSsl = "SASL_SSL"

    public var usesTLS: Bool { self == .ssl || self == .saslSsl }
    public var usesSASL: Bool { self == .saslPlaintext || self == .saslSsl }
}

/// How one listener admits connections: its protocol, its TLS settings and its SASL users,
/// each read with Kafka's `listener.name.<listener>.` prefix first, then the plain key.
public struct ListenerSecurity: Sendable {
    public var securityProtocol: SecurityProtocol = .plaintext
    public var tls: TLSSettings? = nil
    /// `sasl.enabled.mechanisms` (Kafka's default: GSSAPI, which Tern does not have).
    public var saslMechanisms: [String] = []
    /// PLAIN's users: the `user_<name>="<password>"` entries of the listener's JAAS config.
    public var plainUsers: [String: String] = [:]
    /// `ssl.principal.mapping.rules`: how a client certificate's subject becomes its principal.
    public var principalMapping: PrincipalMapping = .standard

    public struct TLSSettings: Sendable {
        public var certificateChain: [NIOSSLCertificate]
        public var privateKey: NIOSSLPrivateKey
        public var trustRoots: [NIOSSLCertificate]
        public var clientAuth: ClientAuth
        public var minimumVersion: TLSVersion
        public var maximumVersion: TLSVersion?
        public var cipherSuites: String?

        public enum ClientAuth: String, Sendable { case none, requested, required }

        public func serverContext() throws -> NIOSSLContext {
            var c = TLSConfiguration.makeServerConfiguration(
                certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
            c.minimumTLSVersion = minimumVersion
            c.maximumTLSVersion = maximumVersion
            if let cipherSuites { c.cipherSuites = cipherSuites }
            if !trustRoots.isEmpty { c.trustRoots = .certificates(trustRoots) }
            switch clientAuth {
            case .none: c.certificateVerification = .none
            case .requested: c.certificateVerification = .optionalVerification
            case .required: c.certificateVerification = .noHostnameVerification
            }
            return try NIOSSLContext(configuration: c)
        }

        /// The same settings for connecting to a peer: its certificate checked against the trust
        /// store, this node's own certificate shown when asked.
        public func clientContext(verifyHostname: Bool) throws -> NIOSSLContext {
            var c = TLSConfiguration.makeClientConfiguration()
            c.certificateChain = certificateChain.map { .certificate($0) }
            c.privateKey = .privateKey(privateKey)
            c.minimumTLSVersion = minimumVersion
            c.maximumTLSVersion = maximumVersion
            if let cipherSuites { c.cipherSuites = cipherSuites }
            if !trustRoots.isEmpty { c.trustRoots = .certificates(trustRoots) }
            c.certificateVerification = verifyHostname ? .fullVerification : .noHostnameVerification
            return try NIOSSLContext(configuration: c)
        }
    }

    public static let supportedMechanisms = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

    /// How this node connects to a peer's listener of this name, as its own client: TLS with the
    /// listener's trust store, presenting its key store (for peers that ask for a certificate),
    /// and the SASL login of the listener's JAAS config for `mechanism`
    /// (`sasl.mechanism.inter.broker.protocol` or `sasl.mechanism.controller.protocol`).
    static func client(
        listener: String, security: ListenerSecurity, mechanismKey: String,
        mechanism: (value: String, line: Int)?, props: [String: (value: String, line: Int)], source: String,
        controller: Bool
    ) throws -> ClientSecurity {
        var out = ClientSecurity()
        let keys = ListenerKeys(listener: listener, props: props, source: source)
        let prefix = keys.prefix
        let value = keys.value
        let invalid = keys.invalid
        if let tls = security.tls {
            if let a = value("ssl.endpoint.identification.algorithm") {
                switch a.value.lowercased() {
                case "": out.verifyHostname = false
                case "https": out.verifyHostname = true
                default: throw invalid(a, "expected https (check the peer's host name, the default) or empty (do not)")
                }
            }
            do {
                out.tls = try tls.clientContext(verifyHostname: out.verifyHostname)
            } catch {
                throw ServerConfig.Invalid(
                    description: "\(source): listener \(listener): cannot make a TLS client context for peers: \(error)"
                )
            }
        }
        guard security.securityProtocol.usesSASL else { return out }
        guard let mechanism else {
            throw ServerConfig.Invalid(
                description:
                    "\(source): listener \(listener) uses \(security.securityProtocol.rawValue) and carries this node's own traffic: set \(mechanismKey) to one of its sasl.enabled.mechanisms (\(security.saslMechanisms.joined(separator: ", ")))"
            )
        }
        let name = mechanism.value.uppercased()
        let m = (value: mechanism.value, line: mechanism.line, key: mechanismKey)
        guard security.saslMechanisms.contains(name) else {
            throw invalid(
                m,
                "listener \(listener) enables \(security.saslMechanisms.joined(separator: ", ")) (sasl.enabled.mechanisms)"
            )
        }
        if controller && name.hasPrefix("SCRAM-") {
            throw invalid(
                m,
                "SCRAM credentials live in the metadata log, which the controllers replicate over this very listener: use PLAIN or SSL client certificates between controllers (as Kafka requires)"
            )
        }
        guard let jaas = value("\(name.lowercased()).sasl.jaas.config") ?? value("sasl.jaas.config") else {
            throw ServerConfig.Invalid(
                description:
                    "\(source): listener \(listener) logs in to its peers with \(name) but has no JAAS config for it: set \(prefix)\(name.lowercased()).sasl.jaas.config with username=\"…\" password=\"…\""
            )
        }
        let options: [String: String]
        do { options = try JaasConfig.options(jaas.value) } catch { throw invalid(jaas, error.why) }
        guard let user = options["username"], !user.isEmpty, let password = options["password"] else {
            throw invalid(jaas, "the node's own login needs username=\"…\" and password=\"…\"")
        }
        out.sasl = ClientSecurity.SaslLogin(mechanism: name, user: user, password: password)
        return out
    }

    /// Resolves the settings of `listener` from the security keys of a properties file.
    /// `props` holds every `ssl.*`, `sasl.*` and `listener.name.*` key with its line.
    static func resolve(
        listener: String, protocolMap: [String: SecurityProtocol], props: [String: (value: String, line: Int)],
        source: String, readFile: (String) throws -> [UInt8]
    ) throws -> (ListenerSecurity, [String]) {
        var s = ListenerSecurity()
        var warnings: [String] = []
        if let p = protocolMap[listener] {
            s.securityProtocol = p
        } else if let p = SecurityProtocol(rawValue: listener) {
            s.securityProtocol = p
        } else {
            s.securityProtocol = .plaintext
            if !protocolMap.isEmpty {
                warnings.append(
                    "\(source): listener \(listener) has no entry in listener.security.protocol.map; it serves PLAINTEXT"
                )
            }
        }
        let keys = ListenerKeys(listener: listener, props: props, source: source)
        let prefix = keys.prefix
        let value = keys.value
        let invalid = keys.invalid
        if s.securityProtocol.usesTLS {
            s.tls = try tlsSettings(
                listener: listener, value: value, invalid: invalid, source: source, readFile: readFile)
        }
        if let rules = value("ssl.principal.mapping.rules") {
            do { s.principalMapping = try PrincipalMapping.parse(rules.value) } catch {
                throw invalid(rules, "\(error)")
            }
        }
        if s.securityProtocol.usesSASL {
            let mechanisms =
                value("sasl.enabled.mechanisms").map {
                    $0.value.split(separator: ",").map { $0.trimmingCharacters(in: " \t").uppercased() }
                } ?? []
            guard let m = value("sasl.enabled.mechanisms"), !mechanisms.isEmpty else {
                throw ServerConfig.Invalid(
                    description:
                        "\(source): listener \(listener) uses \(s.securityProtocol.rawValue) but sasl.enabled.mechanisms is not set (e.g. \(prefix)sasl.enabled.mechanisms=PLAIN)"
                )
            }
            for name in mechanisms where !supportedMechanisms.contains(name) {
                throw invalid(
                    m,
                    "Tern supports \(supportedMechanisms.joined(separator: ", ")) (not GSSAPI or OAUTHBEARER)"
                )
            }
            s.saslMechanisms = mechanisms
            if mechanisms.contains("PLAIN") {
                guard let jaas = value("plain.sasl.jaas.config") ?? value("sasl.jaas.config") else {
                    throw ServerConfig.Invalid(
                        description:
                            "\(source): listener \(listener) enables PLAIN but has no JAAS config with its users (\(prefix)plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";)"
                    )
                }
                let options: [String: String]
                do { options = try JaasConfig.options(jaas.value) } catch { throw invalid(jaas, error.why) }
                for (k, v) in options where k.hasPrefix("user_") && k.count > 5 {
                    s.plainUsers[String(k.dropFirst(5))] = v
                }
                if s.plainUsers.isEmpty {
                    throw invalid(jaas, "PLAIN needs at least one user_<name>=\"<password>\" entry")
                }
            }
        }
        return (s, warnings)
    }

    static func tlsSettings(
        listener: String, value: (String) -> (value: String, line: Int, key: String)?,
        invalid: ((value: String, line: Int, key: String), String) -> ServerConfig.Invalid, source: String,
        readFile: (String) throws -> [UInt8]
    ) throws -> TLSSettings {
        let prefix = "listener.name.\(listener.lowercased())."
        if let t = value("ssl.keystore.type"), t.value.uppercased() != "PEM" {
            throw invalid(
                t, "Tern reads PEM key stores (ssl.keystore.type=PEM); convert a JKS or PKCS12 store with openssl")
        }
        if let t = value("ssl.truststore.type"), t.value.uppercased() != "PEM" {
            throw invalid(t, "Tern reads PEM trust stores (ssl.truststore.type=PEM)")
        }
        let password = value("ssl.key.password")?.value
        func file(_ v: (value: String, line: Int, key: String)) throws -> [UInt8] {
            do { return try readFile(v.value) } catch { throw invalid(v, "cannot read the file: \(error)") }
        }
        func key(_ bytes: [UInt8], _ v: (value: String, line: Int, key: String)) throws -> NIOSSLPrivateKey {
            do {
                if let password {
                    return try NIOSSLPrivateKey(bytes: bytes, format: .pem) { set in set(Array(password.utf8)) }
                }
                return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
            } catch {
                throw invalid(
                    v,
                    "no readable PEM private key\(password == nil ? " (an encrypted key needs ssl.key.password)" : " (is ssl.key.password right?)"): \(error)"
                )
            }
        }
        func certificates(_ bytes: [UInt8], _ v: (value: String, line: Int, key: String)) throws -> [NIOSSLCertificate]
        {
            let certs = (try? NIOSSLCertificate.fromPEMBytes(bytes)) ?? []
            guard !certs.isEmpty else { throw invalid(v, "no PEM certificate in it") }
            return certs
        }
        var chain: [NIOSSLCertificate]
        var privateKey: NIOSSLPrivateKey
        if let location = value("ssl.keystore.location") {
            let bytes = try file(location)
            chain = try certificates(bytes, location)
            privateKey = try key(bytes, location)
        } else if let c = value("ssl.keystore.certificate.chain"), let k = value("ssl.keystore.key") {
            chain = try certificates(Array(c.value.utf8), c)
            privateKey = try key(Array(k.value.utf8), k)
        } else {
            throw ServerConfig.Invalid(
                description:
                    "\(source): listener \(listener) uses TLS but has no key store: set \(prefix)ssl.keystore.location to a PEM file with the key and its certificate chain (ssl.keystore.type=PEM), or ssl.keystore.certificate.chain and ssl.keystore.key"
            )
        }
        var trust: [NIOSSLCertificate] = []
        if let t = value("ssl.truststore.location") {
            trust = try certificates(try file(t), t)
        } else if let t = value("ssl.truststore.certificates") {
            trust = try certificates(Array(t.value.utf8), t)
        }
        var clientAuth = TLSSettings.ClientAuth.none
        if let a = value("ssl.client.auth") {
            guard let v = TLSSettings.ClientAuth(rawValue: a.value.lowercased()) else {
                throw invalid(a, "expected none, requested or required")
            }
            clientAuth = v
            if v != .none && trust.isEmpty {
                throw invalid(a, "checking client certificates needs a trust store (ssl.truststore.location)")
            }
        }
        var versions: [TLSVersion] = [.tlsv12, .tlsv13]
        if let p = value("ssl.enabled.protocols") {
            versions = try p.value.split(separator: ",").map { name in
                switch name.trimmingCharacters(in: " \t").uppercased() {
                case "TLSV1.2": return .tlsv12
                case "TLSV1.3": return .tlsv13
                case "TLSV1.1": return .tlsv11
                case "TLSV1": return .tlsv1
                default: throw invalid(p, "expected TLSv1.2 and/or TLSv1.3")
                }
            }
            guard !versions.isEmpty else { throw invalid(p, "expected TLSv1.2 and/or TLSv1.3") }
        }
        let order: [TLSVersion] = [.tlsv1, .tlsv11, .tlsv12, .tlsv13]
        let indexes = versions.compactMap { order.firstIndex(of: $0) }
        guard let lowest = indexes.min(), let highest = indexes.max() else {
            throw ServerConfig.Invalid(description: "\(source): listener \(listener): no TLS version enabled")
        }
        var ciphers: String? = nil
        if let c = value("ssl.cipher.suites"), !c.value.isEmpty {
            // Kafka names suites as IANA does (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); BoringSSL
            // takes OpenSSL's names, and it sets TLS 1.3's suites itself.
            ciphers = try c.value.split(separator: ",").map { name -> String in
                let n = name.trimmingCharacters(in: " \t")
                guard let o = ianaToOpenSSL[n] ?? (ianaToOpenSSL.values.contains(n) ? n : nil) else {
                    throw invalid(
                        c, "unknown cipher suite \(n) (known: \(ianaToOpenSSL.keys.sorted().joined(separator: ", ")))")
                }
                return o
            }.joined(separator: ":")
        }
        return TLSSettings(
            certificateChain: chain, privateKey: privateKey, trustRoots: trust, clientAuth: clientAuth,
            minimumVersion: order[lowest], maximumVersion: order[highest], cipherSuites: ciphers)
    }

    static let ianaToOpenSSL: [String: String] = [
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
        "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    ]
}

/// A listener's security keys: `listener.name.<listener>.<key>` first, then `<key>`, each with the
/// line it came from, and the error that names it.
struct ListenerKeys {
    let prefix: String
    let props: [String: (value: String, line: Int)]
    let source: String

    init(listener: String, props: [String: (value: String, line: Int)], source: String) {
        prefix = "listener.name.\(listener.lowercased())."
        self.props = props
        self.source = source
    }

    func value(_ key: String) -> (value: String, line: Int, key: String)? {
        if let v = props[prefix + key] { return (v.value, v.line, prefix + key) }
        if let v = props[key] { return (v.value, v.line, key) }
        return nil
    }

    func invalid(_ v: (value: String, line: Int, key: String), _ why: String) -> ServerConfig.Invalid {
        ServerConfig.Invalid(description: "\(source):\(v.line): invalid value '\(v.value)' for \(v.key): \(why)")
    }
}

/// A JAAS configuration line as Kafka writes it:
/// `<LoginModule class> required key="value" key2="value2";`.
enum JaasConfig {
    struct Malformed: Error { var why: String }

    static func options(_ text: String) throws(Malformed) -> [String: String] {
        var t = Substring(text.trimmingCharacters(in: " \t"))
        guard t.hasSuffix(";") else { throw Malformed(why: "a JAAS config ends with ';'") }
        t = t.dropLast()
        let words = t.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard words.count >= 2, ["required", "requisite", "sufficient", "optional"].contains(words[1].lowercased())
        else { throw Malformed(why: "expected '<LoginModule> required key=\"value\" …;'") }
        var rest = words.count == 3 ? words[2] : ""
        var out: [String: String] = [:]
        while true {
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
            if rest.isEmpty { return out }
            guard let eq = rest.firstIndex(of: "=") else {
                throw Malformed(why: "expected key=\"value\" after the flag")
            }
            let key = String(rest[..<eq]).trimmingCharacters(in: " \t")
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                guard let close = rest.firstIndex(of: "\"") else {
                    throw Malformed(why: "unterminated quoted value of \(key)")
                }
                value = String(rest[..<close])
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            guard !key.isEmpty else { throw Malformed(why: "an option without a name") }
            out[key] = value
        }
    }
}
