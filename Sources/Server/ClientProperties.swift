import Broker
import KafkaClient
import NIOSSL
import Storage

/// A Kafka client properties file (`--command-config`, `--producer.config`, `--consumer.config`)
/// as the connection settings of Tern's tools: `security.protocol`, the `ssl.*` trust and key
/// stores (PEM), `sasl.mechanism` with `sasl.jaas.config`, and librdkafka's spellings of the same
/// (`ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`, `sasl.username`,
/// `sasl.password`). Other client settings are for other programs and ignored.
public enum ClientProperties {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public static func security(
        _ text: String, source: String,
        readFile: (String) throws -> [UInt8] = { Array(try FileSystem.readText($0).utf8) }
    ) throws -> ClientSecurity {
        var p: [String: (value: String, line: Int)] = [:]
        for (k, v, line) in Properties.parseLines(text) { p[k] = (v, line) }
        func bad(_ key: String, _ why: String) -> Invalid {
            Invalid(
                description: "\(source):\(p[key]?.line ?? 0): invalid value '\(p[key]?.value ?? "")' for \(key): \(why)"
            )
        }
        func file(_ key: String) throws -> [UInt8]? {
            guard let v = p[key]?.value else { return nil }
            do { return try readFile(v) } catch { throw bad(key, "cannot read the file: \(error)") }
        }
        let name = p["security.protocol"]?.value.uppercased() ?? "PLAINTEXT"
        guard let proto = SecurityProtocol(rawValue: name) else {
            throw bad("security.protocol", "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
        }
        var out = ClientSecurity()
        if proto.usesTLS {
            for key in ["ssl.truststore.type", "ssl.keystore.type"]
            where p[key].map({ $0.value.uppercased() != "PEM" }) ?? false {
                throw bad(key, "Tern's tools read PEM files (convert a JKS or PKCS12 store with openssl)")
            }
            var c = TLSConfiguration.makeClientConfiguration()
            let trust =
                try file("ssl.truststore.location") ?? file("ssl.ca.location")
                ?? p["ssl.truststore.certificates"].map { Array($0.value.utf8) }
            if let trust {
                guard let certs = try? NIOSSLCertificate.fromPEMBytes(trust), !certs.isEmpty else {
                    throw bad(
                        p["ssl.truststore.location"] != nil ? "ssl.truststore.location" : "ssl.ca.location",
                        "no PEM certificate in it")
                }
                c.trustRoots = .certificates(certs)
            }
            let password = p["ssl.key.password"]?.value
            func key(_ bytes: [UInt8], _ k: String) throws -> NIOSSLPrivateKey {
                do {
                    if let password {
                        return try NIOSSLPrivateKey(bytes: bytes, format: .pem) { set in set(Array(password.utf8)) }
                    }
                    return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
                } catch { throw bad(k, "no readable PEM private key (an encrypted one needs ssl.key.password)") }
            }
            if let store = try file("ssl.keystore.location") {
                c.certificateChain = ((try? NIOSSLCertificate.fromPEMBytes(store)) ?? []).map { .certificate($0) }
                c.privateKey = .privateKey(try key(store, "ssl.keystore.location"))
            } else if let cert = try file("ssl.certificate.location"), let k = try file("ssl.key.location") {
                c.certificateChain = ((try? NIOSSLCertificate.fromPEMBytes(cert)) ?? []).map { .certificate($0) }
                c.privateKey = .privateKey(try key(k, "ssl.key.location"))
            }
            switch p["ssl.endpoint.identification.algorithm"]?.value.lowercased() ?? "https" {
            case "https": out.verifyHostname = true
            case "", "none": out.verifyHostname = false
            default: throw bad("ssl.endpoint.identification.algorithm", "expected https or empty")
            }
            c.certificateVerification = out.verifyHostname ? .fullVerification : .noHostnameVerification
            do { out.tls = try NIOSSLContext(configuration: c) } catch {
                throw Invalid(description: "\(source): cannot set up TLS: \(error)")
            }
        }
        if proto.usesSASL {
            guard let m = p["sasl.mechanism"]?.value.uppercased() else {
                throw Invalid(
                    description:
                        "\(source): security.protocol=\(name) needs sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
                )
            }
            guard ListenerSecurity.supportedMechanisms.contains(m) else {
                throw bad("sasl.mechanism", "Tern's tools speak PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512")
            }
            var user = p["sasl.username"]?.value
            var password = p["sasl.password"]?.value
            if let jaas = p["sasl.jaas.config"] {
                let options: [String: String]
                do { options = try JaasConfig.options(jaas.value) } catch { throw bad("sasl.jaas.config", error.why) }
                user = options["username"] ?? user
                password = options["password"] ?? password
            }
            guard let user, !user.isEmpty, let password else {
                throw Invalid(
                    description:
                        "\(source): SASL needs a login: sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"…\" password=\"…\";"
                )
            }
            out.sasl = .init(mechanism: m, user: user, password: password)
        }
        return out
    }
}
