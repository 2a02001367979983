import ArgumentParser
import KafkaClient
import KafkaProtocol
import Server
import Storage

@main
struct Tern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "A Kafka-compatible event-streaming broker, and the tools to use it.",
        version: ternVersion,
        subcommands: [
            ServerStart.self, Cluster.self, Topics.self, ConsoleProducer.self, ConsoleConsumer.self,
            MetadataQuorum.self, Configs.self, ConsumerGroups.self, DumpLog.self, ProducerPerfTest.self,
            ConsumerPerfTest.self, LogPerfTest.self, DeleteRecords.self, LeaderElection.self, LogDirs.self,
            ReassignPartitions.self, Acls.self, ClusterTool.self, Transactions.self,
            StorageTool.self, Version.self,
        ]
    )

    static func main() async {
        await main(Array(kafkaStyleArguments(CommandLine.arguments.dropFirst())))
    }

    /// Kafka's tools take long options with one dash too (`-topic`, `-list`, `-describe`, as old
    /// tutorials write them): those become `--topic` and so on. A dash and one letter stays a
    /// short option (`-t`), and negative numbers (`--offset -2`) stay values.
    static func kafkaStyleArguments<S: Sequence<String>>(_ args: S) -> [String] {
        args.map { arg in
            let u = Array(arg.utf8)
            guard u.count > 2, u[0] == UInt8(ascii: "-"), u[1] != UInt8(ascii: "-"),
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(u[1] | 0x20),
                !arg.contains("=")
            else { return arg }
            return "-" + arg
        }
    }
}

/// This build's version, shown by `tern version` and `tern --version`.
let ternVersion = "0.3.0"

/// `tern version`: the version, and which Kafka APIs (and versions) the broker speaks, so a user
/// can tell at a glance whether a client's request versions are covered.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Tern's version and the Kafka APIs it serves.")

    @Flag(help: "Also list each Kafka API with the versions served.") var apis = false

    func run() {
        print("Tern \(ternVersion)")
        guard apis else { return }
        for api in ApiKey.clientListener.sorted(by: { $0.rawValue < $1.rawValue }) {
            print("  \(api.description)(\(api.rawValue)): \(api.supported.lowerBound) to \(api.supported.upperBound)")
        }
    }
}

/// Options every client tool shares, spelled as Kafka's tools spell them.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("bootstrap-server"), help: "host:port of one or more brokers, comma-separated.")
    var bootstrapServer: String?

    @Option(name: .customLong("zookeeper"), help: .hidden)
    var zookeeper: String?

    @Option(
        name: [
            .customLong("command-config"), .customLong("producer.config"), .customLong("consumer.config"),
            .customLong("admin.config"),
        ],
        help:
            "A client properties file for a secured listener: security.protocol, ssl.truststore.location, sasl.mechanism, sasl.jaas.config."
    )
    var commandConfig: String?

    /// The connection's TLS and SASL, from --command-config (PLAINTEXT without one).
    func security() throws -> ClientSecurity {
        guard let path = commandConfig else { return .plaintext }
        let text: String
        do { text = try FileSystem.readText(path) } catch {
            throw ValidationError("cannot read --command-config \(path): \(error)")
        }
        do { return try ClientProperties.security(text, source: path) } catch let e as ClientProperties.Invalid {
            throw ValidationError(e.description)
        }
    }

    func validate() throws {
        if zookeeper != nil {
            throw ValidationError(
                "Tern has no ZooKeeper: its brokers run a built-in controller. Use --bootstrap-server localhost:9092 instead of --zookeeper."
            )
        }
    }

    func servers() throws -> String {
        guard let s = bootstrapServer else {
            throw ValidationError("Missing required option --bootstrap-server host:port")
        }
        return s
    }
}
