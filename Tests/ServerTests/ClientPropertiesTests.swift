import KafkaClient
import Testing

@testable import Server

/// Kafka client properties files (`--command-config`) read into a tool's connection settings.
@Suite struct ClientPropertiesTests {
    func parse(_ text: String) throws -> ClientSecurity {
        try ClientProperties.security(text, source: "c") { path in throw Missing(path: path) }
    }
    struct Missing: Error { var path: String }

    @Test func saslLoginsComeFromJaasOrLibrdkafkasKeys() throws {
        #expect(try parse("").sasl == nil)
        #expect(try parse("").tls == nil)
        let jaas = try parse(
            """
            security.protocol=SASL_PLAINTEXT
            sasl.mechanism=SCRAM-SHA-512
            sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="s3cret";
            """)
        #expect(jaas.sasl == .init(mechanism: "SCRAM-SHA-512", user: "admin", password: "s3cret"))
        let rd = try parse("security.protocol=sasl_plaintext\nsasl.mechanism=plain\nsasl.username=a\nsasl.password=b")
        #expect(rd.sasl == .init(mechanism: "PLAIN", user: "a", password: "b"))
    }

    @Test func badSettingsNameTheirKey() {
        let cases: [(String, String)] = [
            ("security.protocol=KERBEROS", "security.protocol"),
            ("security.protocol=SASL_PLAINTEXT", "needs sasl.mechanism"),
            ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI", "sasl.mechanism"),
            ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN", "needs a login"),
            ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=x required a=\"b\"", "';'"),
            ("security.protocol=SSL\nssl.truststore.type=JKS", "PEM"),
            ("security.protocol=SSL\nssl.truststore.location=/nope.pem", "cannot read"),
            ("security.protocol=SSL\nssl.truststore.certificates=garbage", "no PEM certificate"),
            ("security.protocol=SSL\nssl.endpoint.identification.algorithm=maybe", "https"),
        ]
        for (text, needle) in cases {
            do {
                _ = try parse(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(needle), "\(text): \(error)")
            }
        }
    }
}
