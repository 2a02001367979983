import ArgumentParser
import KafkaClient
import KafkaProtocol
import Server
import Storage

/// `kafka-metadata-quorum.sh add-controller / remove-controller` (KIP-853): change the quorum's
/// voters while the cluster serves, one at a time.
extension MetadataQuorum {
    struct AddController: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-controller",
            abstract:
                "Make a running controller a voter. --command-config names its server.properties (node.id and its CONTROLLER listener are read there); it must already follow the quorum."
        )
        @ParentCommand var parent: MetadataQuorum
        @Option(
            name: .customLong("bootstrap-server"), help: "host:port of a broker (also accepted before the command).")
        var bootstrapServer: String?

        func run() async throws {
            guard let path = parent.connection.commandConfig else {
                throw ValidationError(
                    "add-controller reads the new controller's node.id and CONTROLLER listener from --command-config <its server.properties>"
                )
            }
            let config: ServerConfig
            do {
                config = try ServerConfig.parse(try FileSystem.readText(path), source: path)
            } catch {
                printError("Could not read the new controller's configuration: \(error)")
                throw ExitCode(1)
            }
            guard config.isController, let listener = config.controllerListener else {
                printError(
                    "\(path) does not describe a controller: add-controller needs process.roles=broker,controller and a \(config.controllerListenerName)://host:port listener"
                )
                throw ExitCode(1)
            }
            guard listener.host != "0.0.0.0", !listener.host.isEmpty, let port = UInt16(exactly: listener.port) else {
                printError(
                    "\(path): the \(config.controllerListenerName) listener binds every address; name the host the other controllers reach it at (listeners=\(config.controllerListenerName)://host:\(listener.port))"
                )
                throw ExitCode(1)
            }
            var request = AddRaftVoterRequest()
            request.voterId = config.broker.nodeId
            request.listeners = [.init(name: config.controllerListenerName, host: listener.host, port: port)]
            let response = try await parent.send(
                request, as: AddRaftVoterResponse.self, to: bootstrapServer, what: "adding controller")
            if response.errorCode != 0 {
                printError(
                    "Error while adding controller \(config.broker.nodeId): \(ErrorCode(rawValue: response.errorCode).name): \(response.errorMessage ?? "")"
                )
                throw ExitCode(1)
            }
            print(
                "Added controller \(config.broker.nodeId) with directory id \(request.voterDirectoryId) and endpoints: \(config.controllerListenerName)://\(listener.host):\(listener.port)"
            )
        }
    }

    struct RemoveController: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-controller", abstract: "Remove a voter from the metadata quorum.")
        @ParentCommand var parent: MetadataQuorum
        @Option(
            name: .customLong("bootstrap-server"), help: "host:port of a broker (also accepted before the command).")
        var bootstrapServer: String?
        @Option(name: .customLong("controller-id"), help: "The node id of the voter to remove.") var controllerId: Int32
        @Option(
            name: .customLong("controller-directory-id"),
            help: "Accepted for Kafka's scripts: Tern's voters have no directory ids.")
        var controllerDirectoryId: String?

        func validate() throws {
            guard controllerId >= 0 else {
                throw ValidationError("--controller-id needs a node id (0 or more), not \(controllerId)")
            }
        }

        func run() async throws {
            var request = RemoveRaftVoterRequest()
            request.voterId = controllerId
            let response = try await parent.send(
                request, as: RemoveRaftVoterResponse.self, to: bootstrapServer,
                what: "removing controller \(controllerId)")
            if response.errorCode != 0 {
                printError(
                    "Error while removing controller \(controllerId): \(ErrorCode(rawValue: response.errorCode).name): \(response.errorMessage ?? "")"
                )
                throw ExitCode(1)
            }
            print(
                "Removed KRaft controller \(controllerId) with directory id \(controllerDirectoryId ?? "\(KafkaUUID.zero)")"
            )
        }
    }
}

extension MetadataQuorum {
    /// One request to the cluster (`--bootstrap-server` before or after the command); a failure
    /// to send ends the tool with "Error while <what>".
    func send<R: KafkaMessage>(_ request: some KafkaMessage, as: R.Type, to bootstrapServer: String?, what: String)
        async throws -> R
    {
        guard let servers = bootstrapServer ?? connection.bootstrapServer else {
            throw ValidationError("Missing required option --bootstrap-server host:port")
        }
        let client = try KafkaClient(
            bootstrapServers: servers, clientId: "metadata-quorum", security: try connection.security())
        defer { Task { await client.close() } }
        return try await exitingOnError(otherwise: "Error while \(what)") {
            try await client.send(request, as: R.self, timeoutMs: 40_000)
        }
    }
}
