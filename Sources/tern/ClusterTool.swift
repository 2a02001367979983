import ArgumentParser
import KafkaClient
import KafkaProtocol

/// `tern cluster-tool` (`bin/kafka-cluster.sh`): the cluster's id, and removing a broker's
/// registration, with Kafka's subcommands and output.
struct ClusterTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-tool", abstract: "The cluster id, and unregistering brokers (as kafka-cluster.sh).",
        subcommands: [ClusterId.self, Unregister.self])

    struct ClusterId: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cluster-id", abstract: "Print the cluster's id.")
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            guard connection.bootstrapServer != nil else {
                throw ValidationError("Missing required argument \"[bootstrap-server]\"")
            }
        }

        func run() async throws {
            let client = try KafkaClient(
                bootstrapServers: try connection.servers(), clientId: "cluster-tool",
                security: try connection.security())
            defer { Task { await client.close() } }
            let md = try await exitingOnError(otherwise: "Error while getting the cluster id") {
                try await client.metadata(topics: [])
            }
            print("Cluster ID: \(md.clusterId ?? "")")
        }
    }

    struct Unregister: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a broker's registration; its replicas stay assigned to it until reassigned.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The id of the broker to unregister.") var id: Int32

        func validate() throws {
            guard connection.bootstrapServer != nil else {
                throw ValidationError("Missing required argument \"[bootstrap-server]\"")
            }
            guard id >= 0 else { throw ValidationError("--id needs a broker id (0 or more), not \(id)") }
        }

        func run() async throws {
            let client = try KafkaClient(
                bootstrapServers: try connection.servers(), clientId: "cluster-tool",
                security: try connection.security())
            defer { Task { await client.close() } }
            let r = try await exitingOnError(otherwise: "Error while unregistering broker \(id)") {
                try await client.send(UnregisterBrokerRequest(brokerId: id), as: UnregisterBrokerResponse.self)
            }
            guard r.errorCode == 0 else {
                let code = ErrorCode(rawValue: r.errorCode)
                printError("Error while unregistering broker \(id): \(code.name): \(r.errorMessage ?? "")")
                throw ExitCode(1)
            }
            print("Broker \(id) is no longer registered.")
        }
    }
}
