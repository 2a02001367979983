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
            // The node's own login to its peers.
            (
                "inter.broker.listener.name=SASL_PLAINTEXT\nsasl.enabled.mechanisms=PLAIN\nsasl.jaas.config=\(jaas)",
                "set sasl.mechanism.inter.broker.protocol"
            ),
            (
                "inter.broker.listener.name=SASL_PLAINTEXT\nsasl.enabled.mechanisms=PLAIN\nsasl.jaas.config=\(jaas)\nsasl.mechanism.inter.broker.protocol=SCRAM-SHA-256",
                "sasl.enabled.mechanisms"
            ),
            (
                "inter.broker.listener.name=SASL_PLAINTEXT\nsasl.enabled.mechanisms=SCRAM-SHA-256\nsasl.mechanism.inter.broker.protocol=SCRAM-SHA-256",
                "scram-sha-256.sasl.jaas.config"
            ),
            (
                "inter.broker.listener.name=SASL_PLAINTEXT\nsasl.enabled.mechanisms=SCRAM-SHA-256\nsasl.mechanism.inter.broker.protocol=SCRAM-SHA-256\nlistener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=ScramLoginModule required username=\"b\";",
                "password"
            ),
            (
                "listeners=PLAINTEXT://:9092,CONTROLLER://:9095\ncontroller.quorum.voters=0@localhost:9095,1@localhost:9096\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\nsasl.enabled.mechanisms=SCRAM-SHA-512\nsasl.mechanism.controller.protocol=SCRAM-SHA-512\nlistener.name.controller.scram-sha-512.sasl.jaas.config=ScramLoginModule required username=\"b\" password=\"c\";",
                "SCRAM credentials live in the metadata log"
            ),
            ("controller.listener.names=", "controller.listener.names"),
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

    @Test func theNodesOwnLoginsComeFromTheirListenersJaasConfigs() throws {
        let c = try parse(
            """
            inter.broker.listener.name=SASL_PLAINTEXT
            sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
            sasl.jaas.config=\(jaas)
            sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
            listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="b-secret";
            """)
        #expect(c.clientListeners.first?.name == "SASL_PLAINTEXT")
        #expect(c.interBrokerClient.sasl == .init(mechanism: "SCRAM-SHA-512", user: "broker", password: "b-secret"))
        #expect(c.interBrokerClient.tls == nil)
        #expect(c.controllerClient.sasl == nil)

        // A controller listener of another name, with PLAIN between the controllers.
        let k = try ServerConfig.parse(
            """
            log.dirs=/tmp/x
            listeners=PLAINTEXT://:9092,CTRL://127.0.0.1:9095
            controller.listener.names=CTRL
            controller.quorum.voters=0@127.0.0.1:9095,1@127.0.0.1:9096
            listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CTRL:SASL_PLAINTEXT
            listener.name.ctrl.sasl.enabled.mechanisms=PLAIN
            listener.name.ctrl.plain.sasl.jaas.config=\(jaas)
            sasl.mechanism.controller.protocol=PLAIN
            """, source: "s")
        #expect(k.clientListeners.map(\.name) == ["PLAINTEXT"])
        #expect(k.controllerListenerName == "CTRL")
        #expect(k.controllerListener?.port == 9095)
        #expect(k.controllerSecurity.securityProtocol == .saslPlaintext)
        #expect(k.controllerSecurity.plainUsers["alice"] == "alice-secret")
        #expect(k.controllerClient.sasl == .init(mechanism: "PLAIN", user: "admin", password: "a"))
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
