import ArgumentParser

@main
struct Tern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "A Kafka-compatible event-streaming broker, and the tools to use it.",
        subcommands: [
            ServerStart.self, Cluster.self, Topics.self, ConsoleProducer.self, ConsoleConsumer.self,
            MetadataQuorum.self,
        ]
    )
}

/// Options every client tool shares, spelled as Kafka's tools spell them.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("bootstrap-server"), help: "host:port of one or more brokers, comma-separated.")
    var bootstrapServer: String?

    @Option(name: .customLong("zookeeper"), help: .hidden)
    var zookeeper: String?

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
