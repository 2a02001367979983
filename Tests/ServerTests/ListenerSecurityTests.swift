import Testing

@testable import Server

/// Security settings as Kafka writes them: each protocol resolved per listener, and every bad
/// value stopping start-up with a message that names the key and says what is expected.
@Suite struct ListenerSecurityTests {
    let base = "log.dirs=/tmp/x\nlisteners=PLAINTEXT://:9092,SASL_PLAINTEXT://:9093,OTHER://:9094\n"
    let jaas =
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"a\" user_admin=\"a\" user_alice=\"alice-secret\";"

    func parse(_ extra: String) throws -> ServerConfig {
        try ServerConfig.parse(base + extra, source: "s") { path in throw Missing(path: path) }
    }
    struct Missing: Error { var path: String }

    @Test func protocolsAndPlainUsersAreReadPerListener() throws {
        let c = try parse(
            """
            listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,OTHER:PLAINTEXT
            listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
            listener.name.sasl_plaintext.plain.sasl.jaas.config=\(jaas)
            """)
        #expect(c.security["PLAINTEXT"]?.securityProtocol == .plaintext)
        let sasl = try #require(c.security["SASL_PLAINTEXT"])
        #expect(sasl.securityProtocol == .saslPlaintext)
        #expect(sasl.saslMechanisms == ["PLAIN", "SCRAM-SHA-512"])
        #expect(sasl.plainUsers == ["admin": "a", "alice": "alice-secret"])
        #expect(c.security["OTHER"]?.securityProtocol == .plaintext)
    }

    @Test func everyBadSettingStopsStartUpNamingItsKey() {
        let cases: [(String, String)] = [
            ("listener.security.protocol.map=SASL_PLAINTEXT:KERBEROS", "listener.security.protocol.map"),
            ("listener.security.protocol.map=nocolon", "listener.security.protocol.map"),
            ("", "sasl.enabled.mechanisms"),  // SASL_PLAINTEXT by its name, no mechanisms
            ("sasl.enabled.mechanisms=GSSAPI", "GSSAPI"),
            ("sasl.enabled.mechanisms=PLAIN", "jaas"),
            ("sasl.enabled.mechanisms=PLAIN\nsasl.jaas.config=PlainLoginModule required user_a=\"b\"", "';'"),
            ("sasl.enabled.mechanisms=PLAIN\nsasl.jaas.config=PlainLoginModule required username=\"x\";", "user_"),
            ("sasl.enabled.mechanisms=PLAIN\nsasl.jaas.config=PlainLoginModule maybe user_a=\"b\";", "required"),
            ("sasl.enabled.mechanisms=PLAIN\nsasl.jaas.config=M required user_a=\"b;", "unterminated"),
            ("listener.security.protocol.map=OTHER:SSL\nsasl.enabled.mechanisms=SCRAM-SHA-256", "keystore"),
            (
                "listener.security.protocol.map=OTHER:SSL\nsasl.enabled.mechanisms=PLAIN\nsasl.jaas.config=\(jaas)\nssl.keystore.type=JKS",
                "PEM"
            ),
            (
                "listener.security.protocol.map=OTHER:SSL\nsasl.enabled.mechanisms=PLAIN\nsasl.jaas.config=\(jaas)\nssl.keystore.location=/nonexistent.pem",
                "cannot read"
            ),
            ("listener.security.protocol.map=CONTROLLER:SSL,SASL_PLAINTEXT:PLAINTEXT", "CONTROLLER"),
        ]
        for (extra, needle) in cases {
            do {
                _ = try parse(extra)
                Issue.record("accepted: \(extra)")
            } catch {
                #expect("\(error)".contains(needle), "\(extra): \(error)")
            }
        }
    }

    @Test func theAuthorizerSettingsAreKafkas() throws {
        let plain = "listener.security.protocol.map=SASL_PLAINTEXT:PLAINTEXT\n"
        #expect(try parse(plain).broker.authorizer == nil)
        let on = try parse(
            plain + """
                authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
                super.users=User:admin; User:CN=broker,O=Tern
                allow.everyone.if.no.acl.found=true
                """)
        #expect(on.broker.authorizer?.superUsers == ["User:admin", "User:CN=broker,O=Tern"])
        #expect(on.broker.authorizer?.allowEveryoneIfNoAclFound == true)
        #expect(on.warnings.contains { $0.contains("User:ANONYMOUS") }, "followers would be refused: \(on.warnings)")
        let anonymous = try parse(
            plain + "authorizer.class.name=kafka.security.authorizer.AclAuthorizer\nsuper.users=User:ANONYMOUS")
        #expect(!anonymous.warnings.contains { $0.contains("User:ANONYMOUS") })
        #expect(
            try parse(plain + "authorizer.class.name=kafka.security.authorizer.AclAuthorizer").broker.authorizer != nil)
        for (extra, needle) in [
            ("authorizer.class.name=com.example.Custom", "authorizer.class.name"),
            ("super.users=admin", "super.users"),
            ("super.users=User:", "super.users"),
            ("allow.everyone.if.no.acl.found=yes", "allow.everyone.if.no.acl.found"),
        ] {
            do {
                _ = try parse(plain + extra)
                Issue.record("accepted: \(extra)")
            } catch {
                #expect("\(error)".contains(needle), "\(extra): \(error)")
            }
        }
    }

    @Test func jaasOptionsParse() throws {
        #expect(
            try JaasConfig.options("M required a=\"x y\" b=z;") == ["a": "x y", "b": "z"])
        #expect(try JaasConfig.options("M required;") == [:])
    }
}
