import ArgumentParser
import Dispatch
import Logging
import Server
import ServiceLifecycle
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

struct ServerStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server-start",
        abstract: "Run one Tern node in the foreground from a Kafka-style server.properties file."
    )

    @Argument(help: "Path of the server.properties file.")
    var configFile: String

    @Option(name: .customLong("override"), help: "key=value that replaces the file's setting (repeatable).")
    var overrides: [String] = []

    @Flag(
        name: .customLong("check"), help: "Only check the file: print the node's listeners and quorum, start nothing.")
    var check = false

    @Flag(name: .customLong("strict"), help: "With --check: an unknown configuration key is an error, not a warning.")
    var strict = false

    func validate() throws {
        for o in overrides where !o.contains("=") {
            throw ValidationError("--override expects key=value, got '\(o)'")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .info
            return h
        }
        let logger = Logger(label: "tern")
        let text: String
        do {
            text = try FileSystem.readText(configFile)
        } catch {
            throw ValidationError("cannot read config file \(configFile): \(error)")
        }
        let config: ServerConfig
        do {
            config = try ServerConfig.parse(text + "\n" + overrides.joined(separator: "\n"), source: configFile)
        } catch let e as ServerConfig.Invalid {
            printError("tern: \(e.description)")
            throw ExitCode(2)
        }
        for w in config.warnings { logger.warning("\(w)") }
        if strict && !config.unknownKeys.isEmpty {
            for u in config.unknownKeys {
                let hint = ServerConfig.suggestion(for: u.key).map { " (did you mean \($0)?)" } ?? ""
                printError("tern: \(configFile):\(u.line): unknown configuration '\(u.key)'\(hint)")
            }
            throw ExitCode(2)
        }
        if check {
            let unknown = config.unknownKeys.count
            print(
                "node.id \(config.broker.nodeId): configuration is valid"
                    + (unknown > 0
                        ? ", with \(unknown) unknown key(s) ignored (see the warnings; --strict refuses them)" : ""))
            for l in config.clientListeners {
                let kind = config.security[l.name]?.securityProtocol.rawValue ?? "PLAINTEXT"
                print(
                    "listener \(l.name): binds \(l.bindHost):\(l.port), advertised as \(l.advertisedHost):\(l.advertisedPort), \(kind)"
                )
            }
            if let c = config.controllerListener {
                print(
                    "listener \(config.controllerListenerName): binds \(c.host):\(c.port), \(config.controllerSecurity.securityProtocol.rawValue)"
                )
            }
            print(
                "controller.quorum.voters: \(config.voters.map { "\($0.id)@\($0.host):\($0.port)" }.joined(separator: ","))"
            )
            print(
                "process.roles: "
                    + (!config.isController
                        ? "broker (follows the metadata quorum as an observer)"
                        : config.voters.isEmpty || config.voters.contains(where: { $0.id == config.broker.nodeId })
                            ? "broker,controller (a voter of the metadata quorum)"
                            : "broker,controller (not among controller.quorum.voters: it follows the quorum as an observer until kafka-metadata-quorum.sh add-controller makes it a voter)")
            )
            if let rack = config.broker.rack {
                print(
                    "broker.rack: \(rack)"
                        + (config.broker.replicaSelector == .rackAware
                            ? " (consumers with client.rack read from replicas in their rack)" : ""))
            }
            print("cluster.id: \(config.clusterId ?? "(from meta.properties or new)")")
            print("log.dirs: \(config.broker.logDirs)")
            return
        }
        let server: TernServer
        do {
            server = try TernServer(config: config, logger: logger)
        } catch {
            printError("tern: node \(config.broker.nodeId) could not start: \(error)")
            throw ExitCode(1)
        }
        logger.info(
            "Tern node \(config.broker.nodeId) started: listening on \(config.listenHost):\(server.boundPort), advertised as \(config.broker.advertisedHost):\(config.broker.advertisedPort), cluster \(server.broker.clusterId), log.dirs \(config.broker.logDirs)"
        )
        // SIGTERM and SIGINT start one ordered, graceful stop of the node's services; a stop
        // that hangs is cut short after 30 s (the services are then cancelled).
        var groupConfig = ServiceGroupConfiguration(
            services: server.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfig.maximumGracefulShutdownDuration = .seconds(30)
        groupConfig.maximumCancellationDuration = .seconds(5)
        let services = ServiceGroup(configuration: groupConfig)
        let nodeId = config.broker.nodeId
        let stopped = DispatchSemaphore(value: 0)
        Task {
            defer { stopped.signal() }
            do {
                try await services.run()
            } catch {
                logger.error("node \(nodeId) stopped with an error: \(error)")
            }
            await server.closeEventLoops()
            let ms = server.stoppingForMs.map { " in \($0) ms" } ?? ""
            logger.info("Tern node \(nodeId) stopped\(ms)")
        }
        stopped.wait()
    }
}

func printError(_ message: String) {
    var stderr = StandardError()
    print(message, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + done, raw.count - done)
                if n <= 0 { break }
                done += n
            }
        }
    }
}
