import ArgumentParser
import KafkaProtocol
import Metadata
import Security
import Server
import Storage

/// `tern storage` (`bin/kafka-storage.sh`): Kafka's storage tool. Tern needs no format step to
/// start, but `format` is how a new cluster gets its first SCRAM credentials (`--add-scram`)
/// and a cluster id of its own (`-t`), as in Kafka's KRaft quick start.
struct StorageTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Format a node's log directory, with a cluster id and SCRAM credentials (as kafka-storage.sh).",
        subcommands: [Format.self, RandomUUID.self])

    struct RandomUUID: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "random-uuid", abstract: "Print a new cluster id.")
        /// Never one that starts with '-' (as Kafka's), which a command line would read as an option.
        func run() {
            var id = KafkaUUID.random().description
            while id.hasPrefix("-") { id = KafkaUUID.random().description }
            print(id)
        }
    }

    struct Format: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write meta.properties and the bootstrap records into the node's log directory.")

        @Option(
            name: [.customShort("t"), .customLong("cluster-id")], help: "The cluster id (tern storage random-uuid).")
        var clusterId: String

        @Option(name: [.customShort("c"), .customLong("config")], help: "The node's server.properties.")
        var config: String

        @Option(
            name: [.customShort("S"), .customLong("add-scram")],
            help:
                "A SCRAM credential: 'SCRAM-SHA-256=[name=alice,password=alice-secret]' (iterations=N optional; repeatable)."
        )
        var addScram: [String] = []

        @Flag(
            name: [.customShort("g"), .customLong("ignore-formatted")], help: "Leave a formatted directory as it is.")
        var ignoreFormatted = false

        @Flag(
            name: [.customShort("s"), .customLong("standalone")],
            help: "Accepted for Kafka's scripts; the voters come from the configuration.")
        var standalone = false

        func validate() throws {
            guard let id = KafkaUUID(base64: clusterId), id != .zero else {
                throw ValidationError(
                    "Cluster ID string \(clusterId) does not appear to be a valid UUID: make one with 'tern storage random-uuid'."
                )
            }
            for s in addScram { _ = try Self.credential(s) }
        }

        /// `SCRAM-SHA-256=[name=alice,password=alice-secret,iterations=8192]` as a metadata record,
        /// salted here so that no password is written.
        static func credential(_ text: String) throws -> MetadataRecord {
            guard let eq = text.firstIndex(of: "="), text.hasSuffix("]"),
                text[text.index(after: eq)...].hasPrefix("[")
            else {
                throw ValidationError("--add-scram expects MECHANISM=[name=...,password=...], got '\(text)'.")
            }
            let name = String(text[..<eq]).trimmingCharacters(in: " ")
            guard let m = ScramMechanism(rawValue: name) else {
                throw ValidationError("--add-scram: unknown mechanism '\(name)' (SCRAM-SHA-256 or SCRAM-SHA-512).")
            }
            var user: String? = nil
            var password: String? = nil
            var iterations: Int32 = 4096
            for part in text[text.index(eq, offsetBy: 2)..<text.index(before: text.endIndex)].split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map {
                    var v = $0.trimmingCharacters(in: " ")
                    if v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
                    return v
                }
                guard kv.count == 2 else { throw ValidationError("--add-scram: expected key=value, got '\(part)'.") }
                switch kv[0] {
                case "name": user = kv[1]
                case "password": password = kv[1]
                case "iterations":
                    guard let n = Int32(kv[1]), ScramMechanism.iterationRange.contains(n) else {
                        throw ValidationError(
                            "--add-scram: iterations must be from \(ScramMechanism.iterationRange.lowerBound) to \(ScramMechanism.iterationRange.upperBound), got '\(kv[1])'."
                        )
                    }
                    iterations = n
                default:
                    throw ValidationError("--add-scram: unknown setting '\(kv[0])' (name, password, iterations).")
                }
            }
            guard let user, !user.isEmpty, user.utf8.count <= 1024 else {
                throw ValidationError("--add-scram: name=... is required (at most 1,024 bytes).")
            }
            guard let password, !password.isEmpty else {
                throw ValidationError("--add-scram: password=... is required.")
            }
            var g = SystemRandomNumberGenerator()
            let salt = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
            let c = ScramCredential(mechanism: m, password: password, salt: salt, iterations: iterations)
            return .scramCredential(
                user: user,
                .init(
                    mechanism: m.kafkaType, salt: c.salt, storedKey: c.storedKey, serverKey: c.serverKey,
                    iterations: iterations))
        }

        func run() throws {
            let server: ServerConfig
            do {
                server = try ServerConfig.parse(try FileSystem.readText(config), source: config)
            } catch let e as ServerConfig.Invalid {
                printError("tern: \(e.description)")
                throw ExitCode(2)
            } catch {
                printError("tern: cannot read \(config): \(error)")
                throw ExitCode(2)
            }
            if let set = server.clusterId, !server.broker.clusterIdIsDerived, set != clusterId {
                printError("\(config) sets cluster.id=\(set), but -t gives \(clusterId): use one id.")
                throw ExitCode(1)
            }
            let dir = server.broker.logDirs
            let meta = dir + "/meta.properties"
            if FileSystem.exists(meta) {
                if ignoreFormatted {
                    print("All of the log directories are already formatted.")
                    return
                }
                printError(
                    "Log directory \(dir) is already formatted. Use --ignore-formatted to ignore this directory and format the others."
                )
                throw ExitCode(1)
            }
            let records = try addScram.map(Self.credential)
            try FileSystem.makeDirectories(dir)
            if !records.isEmpty {
                try FileSystem.writeTextAtomically(
                    try BootstrapRecords.text(records), to: dir + "/" + BootstrapRecords.fileName)
            }
            try FileSystem.writeTextAtomically(
                "#Written by tern storage format\nversion=1\ncluster.id=\(clusterId)\nnode.id=\(server.broker.nodeId)\n",
                to: meta)
            print("Formatting metadata directory \(dir) with cluster.id \(clusterId).")
            if !records.isEmpty {
                print("The first active controller will write \(records.count) SCRAM credential(s).")
            }
        }
    }
}
