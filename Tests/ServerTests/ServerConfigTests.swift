import KafkaProtocol
import Testing

@testable import Server

@Suite struct ServerConfigTests {
    @Test func aTypoIsWarnedWithTheKeyItMeant() throws {
        let c = try ServerConfig.parse(
            "node.id=0\nlog.dirs=/tmp/x\nnum.partitons=3\nauto.create.topic.enable=false\nlistener.name.ssl.ssl.keystore.locaton=x\nfoo.bar=1\n",
            source: "s.properties")
        #expect(
            c.unknownKeys.map(\.key) == [
                "num.partitons", "auto.create.topic.enable", "listener.name.ssl.ssl.keystore.locaton", "foo.bar",
            ])
        #expect(
            c.warnings.contains(
                "s.properties:3: unknown configuration 'num.partitons' ignored (did you mean num.partitions?)"))
        #expect(
            c.warnings.contains {
                $0.contains("'auto.create.topic.enable' ignored (did you mean auto.create.topics.enable?)")
            })
        #expect(c.warnings.contains("s.properties:6: unknown configuration 'foo.bar' ignored"))
        #expect(ServerConfig.suggestion(for: String(repeating: "x", count: 5_000)) == nil)
        #expect(ServerConfig.suggestion(for: "") == nil)
    }

    /// Every key offered as a suggestion is one the parser reads: none of them gives an
    /// "unknown configuration" warning, whatever its value.
    @Test func everySuggestedKeyIsRead() {
        for key in ServerConfig.readKeys.sorted() {
            if let c = try? ServerConfig.parse("\(key)=@@\n", source: "s") {
                #expect(!c.unknownKeys.contains { $0.key == key }, "\(key)")
            }
        }
    }

    @Test func kafkaStylePropertiesAreRead() throws {
        let c = try ServerConfig.parse(
            """
            # a comment
            node.id=2
            process.roles=broker,controller
            listeners=PLAINTEXT://localhost:9094,CONTROLLER://localhost:19094
            log.dirs=/tmp/x
            num.partitions=3
            auto.create.topics.enable=false
            socket.request.max.bytes=1000
            """, source: "s.properties")
        #expect(c.broker.nodeId == 2)
        #expect(c.listenPort == 9094)
        #expect(c.broker.advertisedHost == "localhost")
        #expect(c.broker.numPartitions == 3)
        #expect(c.broker.autoCreateTopics == false)
        #expect(c.socketRequestMaxBytes == 1000)
        #expect(c.warnings.isEmpty)
    }

    @Test func storageAndConsoleSettingsAreRead() throws {
        let c = try ServerConfig.parse(
            """
            node.id=1
            listeners=PLAINTEXT://127.0.0.1:9093
            log.dirs=/tmp/x
            log.retention.hours=2
            log.retention.minutes=30
            log.retention.bytes=1000000
            log.roll.hours=1
            log.cleanup.policy=compact
            log.cleaner.backoff.ms=500
            log.flush.interval.ms=1000
            compression.type=zstd
            """, source: "s.properties")
        #expect(c.broker.logRetentionMs == 30 * 60_000)  // minutes win over hours, as in Kafka
        #expect(c.broker.logRetentionBytes == 1_000_000)
        #expect(c.broker.logRollMs == 3_600_000)
        #expect(c.broker.logCleanupPolicy == "compact")
        #expect(c.broker.logCleanerBackoffMs == 500)
        #expect(c.broker.logFlushIntervalMs == 1000)
        let log = c.broker.logConfig(overrides: ["retention.ms": "-1", "cleanup.policy": "compact,delete"])
        #expect(log.retentionMs == -1 && log.compactPolicy && log.deletePolicy && log.retentionBytes == 1_000_000)
        // compression.type: the broker's for topics without one, the topic's where it is set.
        #expect(log.compression == .zstd)
        #expect(c.broker.logConfig(overrides: ["compression.type": "producer"]).compression == nil)
        #expect(
            c.broker.logConfig(overrides: ["compression.type": "uncompressed"]).compression == CompressionCodec.none)
        #expect(c.httpListener! == ("127.0.0.1", 8081))  // 8080 + node id on the client listener's address
        #expect(c.broker.fetchSessionSlots == 1_000)
        let noSessions = try ServerConfig.parse("max.incremental.fetch.session.cache.slots=0\n", source: "s")
        #expect(noSessions.broker.fetchSessionSlots == 0 && noSessions.unknownKeys.isEmpty)
        let off = try ServerConfig.parse("http.listeners=none\nlog.dirs=/tmp/x\n", source: "s")
        #expect(off.httpListener == nil)
        let moved = try ServerConfig.parse("http.listeners=HTTP://:9999\nlog.dirs=/tmp/x\n", source: "s")
        #expect(moved.httpListener! == ("0.0.0.0", 9999))
        for bad in [
            "http.listeners=HTTPS://x:1", "http.listeners=HTTP://x", "log.retention.ms=soon",
            "log.cleanup.policy=shred", "compression.type=brotli",
            "max.incremental.fetch.session.cache.slots=-1", "max.incremental.fetch.session.cache.slots=100001",
            "max.incremental.fetch.session.cache.slots=2147483648",
        ] {
            #expect(throws: (any Error).self, "\(bad)") { try ServerConfig.parse(bad + "\n", source: "s") }
        }
    }

    @Test func badValueNamesTheKeyTheValueAndWhatIsAllowed() {
        do {
            _ = try ServerConfig.parse("num.partitions=lots\n", source: "s.properties")
            Issue.record("accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("num.partitions"))
            #expect(text.contains("lots"))
            #expect(text.contains("integer from 1"))
            #expect(text.contains("s.properties:1"))
        }
    }

    @Test func booleanMustBeTrueOrFalse() {
        #expect(throws: ServerConfig.Invalid.self) {
            try ServerConfig.parse("auto.create.topics.enable=yes", source: "f")
        }
    }

    @Test func unknownKeyIsAWarningNotAnError() throws {
        let c = try ServerConfig.parse("log.dirs=/tmp/a\nnot.a.real.key=1\n", source: "f")
        #expect(c.warnings.contains { $0.contains("not.a.real.key") })
    }

    @Test func zookeeperConnectExplainsThatThereIsNoZooKeeper() {
        do {
            _ = try ServerConfig.parse("zookeeper.connect=localhost:2181", source: "f")
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("no ZooKeeper"))
        }
    }

    @Test func brokerOnlyNodesFollowTheVotersAndBindNoControllerListener() throws {
        let voters = "controller.quorum.voters=0@h:19092,1@h:19093,2@h:19094"
        let c = try ServerConfig.parse(
            "process.roles=broker\nnode.id=3\n\(voters)\nlisteners=PLAINTEXT://:9095,CONTROLLER://:19095\n",
            source: "f")
        #expect(!c.isController && c.controllerListener == nil && c.voters.count == 3)
        #expect(c.clusterId == ServerConfig.derivedClusterId(from: c.voters))  // the voters' own cluster
        let voter = try ServerConfig.parse(
            "process.roles=controller,broker\nnode.id=1\n\(voters)\nlisteners=PLAINTEXT://:9093,CONTROLLER://:19093\n",
            source: "f")
        #expect(voter.isController && voter.controllerListener != nil)
        // A controller outside the voters (to be added with add-controller) binds its listener.
        let joining = try ServerConfig.parse(
            "node.id=3\n\(voters)\nlisteners=PLAINTEXT://:9095,CONTROLLER://:19095\n", source: "f")
        #expect(joining.isController && joining.controllerListener?.port == 19095)
        let refused: [(String, String)] = [
            ("process.roles=broker\nnode.id=1\n\(voters)\nlisteners=PLAINTEXT://:9093", "must be broker,controller"),
            ("process.roles=broker\nnode.id=3\nlisteners=PLAINTEXT://:9093", "must name its voters"),
            ("process.roles=controller\nnode.id=1\n\(voters)", "controller-only"),
            ("process.roles=\nnode.id=1", "expected broker"),
            ("process.roles=broker,zookeeper\nnode.id=1", "expected broker"),
            ("node.id=3\n\(voters)\nlisteners=PLAINTEXT://:9093", "process.roles=broker"),
            ("node.id=3\n\(voters)\nlisteners=PLAINTEXT://:9093", "add-controller needs a CONTROLLER://host:port"),
        ]
        expectRefused(refused)
    }

    @Test func brokerRackAndReplicaSelectorAreReadAndCheckedWithTheirReason() throws {
        let c = try ServerConfig.parse(
            "broker.rack=eu-west-1a\nreplica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector\n",
            source: "f")
        #expect(c.broker.rack == "eu-west-1a" && c.broker.replicaSelector == .rackAware)
        #expect(!c.warnings.contains { $0.contains("rack") || $0.contains("selector") }, "\(c.warnings)")
        let plain = try ServerConfig.parse("node.id=1\n", source: "f")
        #expect(plain.broker.rack == nil && plain.broker.replicaSelector == .leader)
        let refused: [(String, String)] = [
            ("broker.rack=", "1 to 255 printable"),
            ("broker.rack=\(String(repeating: "r", count: 256))", "1 to 255 printable"),
            ("broker.rack=a\u{7}b", "1 to 255 printable"),
            ("replica.selector.class=com.example.Nearest", "RackAwareReplicaSelector"),
        ]
        expectRefused(refused)
    }

    @Test func listenerWithoutPortIsRefused() {
        #expect(throws: ServerConfig.Invalid.self) {
            try ServerConfig.parse("listeners=PLAINTEXT://localhost", source: "f")
        }
        #expect(throws: ServerConfig.Invalid.self) { try ServerConfig.parse("listeners=localhost:9092", source: "f") }
    }

    @Test func severalClientListenersEachWithTheirAdvertisedAddress() throws {
        let c = try ServerConfig.parse(
            """
            node.id=0
            listeners=INTERNAL://0.0.0.0:29092,EXTERNAL://0.0.0.0:9092,CONTROLLER://0.0.0.0:19092
            advertised.listeners=INTERNAL://tern-0:29092,EXTERNAL://localhost:9092
            inter.broker.listener.name=INTERNAL
            controller.quorum.voters=0@tern-0:19092
            log.dirs=/tmp/x
            """, source: "s.properties")
        #expect(c.clientListeners.map(\.name) == ["INTERNAL", "EXTERNAL"])
        #expect(c.clientListeners.map(\.advertisedHost) == ["tern-0", "localhost"])
        #expect(c.broker.advertisedHost == "tern-0" && c.broker.advertisedPort == 29092)
        #expect(c.listenHost == "0.0.0.0" && c.listenPort == 29092)
        let external = try ServerConfig.parse(
            "node.id=0\nlisteners=A://:1,B://:2\ninter.broker.listener.name=B\nlog.dirs=/tmp/x\n", source: "s")
        #expect(external.clientListeners.map(\.name) == ["B", "A"])
        #expect(external.clientListeners.map(\.advertisedHost) == ["localhost", "localhost"])
        for (text, message) in [
            ("listeners=A://:1,A://:2", "names a listener twice"),
            ("listeners=A://:1\nadvertised.listeners=B://h:1", "which listeners does not have"),
            ("listeners=A://:1\ninter.broker.listener.name=C", "is not one of the listeners"),
        ] {
            #expect(throws: ServerConfig.Invalid.self) {
                try ServerConfig.parse("node.id=0\nlog.dirs=/x\n" + text, source: "s")
            }
            do {
                _ = try ServerConfig.parse("node.id=0\nlog.dirs=/x\n" + text, source: "s")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
}

/// Each config text is refused with an error that contains its reason.
func expectRefused(_ cases: [(text: String, why: String)]) {
    for (text, why) in cases {
        do {
            _ = try ServerConfig.parse(text, source: "f")
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".contains(why), "\(error)")
        }
    }
}
