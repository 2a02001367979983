import ArgumentParser
import KafkaClient
import KafkaProtocol
import Server
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `tern cluster up|down|status`: the local cluster described by `config/server-N.properties`,
/// run in the background with a pid file and a log file per node under the run directory.
struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Start, stop and inspect the local cluster of config/server-N.properties.",
        subcommands: [Up.self, Down.self, Status.self]
    )

    struct Options: ParsableArguments {
        @Option(name: .customLong("config-dir"), help: "Directory holding server-N.properties.") var configDir =
            "config"
        @Option(name: .customLong("run-dir"), help: "Where pid and log files go.") var runDir = "logs"
    }

    struct Node {
        var id: Int32
        var configPath: String
        var config: ServerConfig
        var pidPath: String
        var logPath: String

        var bootstrap: String { "\(config.broker.advertisedHost):\(config.broker.advertisedPort)" }
    }

    static func nodes(_ o: Options) throws -> [Node] {
        guard let names = try? FileSystem.list(o.configDir) else {
            throw ValidationError("cannot read --config-dir \(o.configDir)")
        }
        let files = names.filter { $0.hasPrefix("server-") && $0.hasSuffix(".properties") }
        guard !files.isEmpty else { throw ValidationError("no server-N.properties files in \(o.configDir)") }
        return try files.map { f in
            let path = o.configDir + "/" + f
            let c = try ServerConfig.parse(try FileSystem.readText(path), source: path)
            return Node(
                id: c.broker.nodeId, configPath: path, config: c, pidPath: "\(o.runDir)/node-\(c.broker.nodeId).pid",
                logPath: "\(o.runDir)/node-\(c.broker.nodeId).log")
        }.sorted { $0.id < $1.id }
    }

    /// The node's process: the one `cluster up` started (its pid file), or one started another
    /// way (`kafka-server-start.sh`), found by the pid in its log.dirs' `.lock`.
    static func pid(of node: Node) -> pid_t? {
        for path in [node.pidPath, node.config.broker.logDirs + "/.lock"] {
            guard let text = try? FileSystem.readText(path), let pid = pid_t(text.filter(\.isNumber)), pid > 0
            else { continue }
            // A child of this command that has not exited yet counts as running: just after
            // posix_spawn its command line can still be this command's (it has not exec'd yet).
            let waited = waitpid(pid, nil, WNOHANG)
            if waited == 0 { return pid }
            if waited == -1 && errno == ECHILD && kill(pid, 0) == 0 && isTern(pid) { return pid }
        }
        return nil
    }

    /// Whether the process runs `tern server-start` (a pid from an old file may be reused).
    static func isTern(_ pid: pid_t) -> Bool {
        // /proc files have no size: read them with read(2), not the sized readers.
        let fd = open("/proc/\(pid)/cmdline", O_RDONLY)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 8192)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return false }  // an exited child not yet reaped has no command line
        return String(decoding: buf[..<n].map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains("server-start")
    }

    /// Whether the node's client listener accepts a TCP connection.
    static func listening(_ node: Node) -> Bool {
        let host = node.config.broker.advertisedHost
        let port = node.config.broker.advertisedPort
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else { return false }
        defer { freeaddrinfo(res) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd >= 0 {
                defer { close(fd) }
                if connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return true }
            }
            ai = a.pointee.ai_next
        }
        return false
    }

    /// Whether every node answers Kafka requests on its own client listener (a process that
    /// registered and then failed to open its port does not).
    static func allAnswer(_ nodes: [Node]) async -> Bool {
        for n in nodes {
            guard Cluster.pid(of: n) != nil, Cluster.listening(n),
                let client = try? KafkaClient(
                    bootstrapServers: n.bootstrap, clientId: "tern-cluster", security: n.config.interBrokerClient)
            else { return false }
            let md = try? await client.metadata(topics: [])
            await client.close()
            guard md?.brokers.contains(where: { $0.nodeId == n.id }) == true else { return false }
        }
        return true
    }

    /// The nodes named on the command line (all when none is).
    static func chosen(_ nodes: [Node], _ ids: [Int32]) throws -> [Node] {
        guard !ids.isEmpty else { return nodes }
        for id in ids where !nodes.contains(where: { $0.id == id }) {
            throw ValidationError("no node \(id) in the cluster's configs (nodes \(nodes.map(\.id)))")
        }
        return nodes.filter { ids.contains($0.id) }
    }

    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0
            ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }

    /// Starts `tern server-start <config>` in its own session, output appended to the log file.
    static func spawn(_ node: Node) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, node.logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26+): the node gets its own session, so closing the
        // terminal that ran `cluster up` does not stop it.
        posix_spawnattr_setflags(&attributes, Int16(0x80))
        let exe = executablePath()
        let args = [exe, "server-start", node.configPath]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, &attributes, &argv, environ)
        guard rc == 0 else { throw CLIError("could not start node \(node.id): \(String(cString: strerror(rc)))") }
        try FileSystem.writeTextAtomically("\(pid)\n", to: node.pidPath)
        return pid
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start every node and wait until the cluster answers.")
        @OptionGroup var options: Options
        @Option(name: .customLong("timeout-ms"), help: "How long to wait for the cluster.") var timeoutMs = 60_000
        @Argument(help: "Only these nodes (ids); all when none is named.") var only: [Int32] = []

        func run() async throws {
            let all = try Cluster.nodes(options)
            let nodes = try Cluster.chosen(all, only)
            try FileSystem.makeDirectories(options.runDir)
            for n in nodes {
                if let pid = Cluster.pid(of: n) {
                    print("node \(n.id) is already running (pid \(pid))")
                    continue
                }
                let pid = try Cluster.spawn(n)
                print("started node \(n.id) (pid \(pid)): clients \(n.bootstrap), log \(n.logPath)")
            }
            print("waiting for the cluster to elect a controller and register every broker...")
            let deadline = nowMs() + Int64(timeoutMs)
            let bootstrap = all.map(\.bootstrap).joined(separator: ",")
            var lastReport = ""
            while nowMs() < deadline {
                for n in nodes where Cluster.pid(of: n) == nil {
                    printError("node \(n.id) exited during start-up; last lines of \(n.logPath):")
                    let text = (try? FileSystem.readText(n.logPath)) ?? ""
                    printError(text.split(separator: "\n").suffix(5).joined(separator: "\n"))
                    throw ExitCode(1)
                }
                // Up: each node's process runs, its client listener answers, and it is registered.
                if let (controller, brokers) = await Cluster.probe(bootstrap, all),
                    nodes.allSatisfy({ brokers.contains($0.id) }), await Cluster.allAnswer(nodes)
                {
                    if !only.isEmpty {
                        print(
                            "node(s) \(nodes.map(\.id)) up: brokers registered \(brokers), active controller node \(controller)"
                        )
                        return
                    }
                    print("cluster is up: \(brokers.count) brokers \(brokers), active controller node \(controller)")
                    print("bootstrap servers: \(bootstrap)")
                    print(
                        "stop it with: tern cluster down\(options.configDir == "config" ? "" : " --config-dir \(options.configDir)")"
                    )
                    return
                } else if let (controller, brokers) = await Cluster.probe(bootstrap, nodes) {
                    let report = "  controller \(controller), brokers registered so far: \(brokers)"
                    if report != lastReport { print(report) }
                    lastReport = report
                }
                try await Task.sleep(nanoseconds: 250_000_000)
            }
            printError("the cluster did not come up within \(timeoutMs) ms; see the logs in \(options.runDir)")
            throw ExitCode(1)
        }
    }

    /// The active controller and the registered, unfenced brokers, or nil when nobody answers.
    /// It connects as the nodes connect to each other (their inter-broker listener's TLS and
    /// login), so a secured cluster is seen as well as a PLAINTEXT one.
    static func probe(_ bootstrap: String, _ nodes: [Node]) async -> (Int32, [Int32])? {
        guard
            let client = try? KafkaClient(
                bootstrapServers: bootstrap, clientId: "tern-cluster",
                security: nodes.first?.config.interBrokerClient ?? .plaintext)
        else { return nil }
        defer { Task { await client.close() } }
        var t = DescribeQuorumRequest.Topic()
        t.topicName = "__cluster_metadata"
        t.partitions = [0]
        var req = DescribeQuorumRequest()
        req.topics = [t]
        guard let q = try? await client.send(req, as: DescribeQuorumResponse.self, timeoutMs: 2000),
            let p = q.topics.first?.partitions.first, p.leaderId >= 0,
            let md = try? await client.metadata(topics: [])
        else { return nil }
        return (p.leaderId, md.brokers.map(\.nodeId).sorted())
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every node (SIGTERM, then SIGKILL after 20 s).")
        @OptionGroup var options: Options
        @Argument(help: "Only these nodes (ids); all when none is named.") var only: [Int32] = []

        func run() async throws {
            let nodes = try Cluster.chosen(try Cluster.nodes(options), only)
            var running: [(Node, pid_t)] = []
            for n in nodes {
                if let pid = Cluster.pid(of: n) {
                    kill(pid, SIGTERM)
                    running.append((n, pid))
                    print("stopping node \(n.id) (pid \(pid))")
                } else {
                    print("node \(n.id) is not running")
                }
            }
            let deadline = nowMs() + 20_000
            while nowMs() < deadline && running.contains(where: { kill($0.1, 0) == 0 }) {
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            for (n, pid) in running {
                if kill(pid, 0) == 0 {
                    kill(pid, SIGKILL)
                    print("node \(n.id) did not stop within 20 s: killed")
                }
                try? FileSystem.remove(n.pidPath)
            }
            print(only.isEmpty ? "cluster stopped" : "node(s) \(nodes.map(\.id)) stopped")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show each node's process, role and address.")
        @OptionGroup var options: Options
        @Argument(help: "Only these nodes (ids); all when none is named.") var only: [Int32] = []

        func run() async throws {
            let all = try Cluster.nodes(options)
            let nodes = try Cluster.chosen(all, only)
            let bootstrap = all.map(\.bootstrap).joined(separator: ",")
            let probe = await Cluster.probe(bootstrap, all)
            print("NODE  PID      STATE    ROLE         CLIENTS")
            for n in nodes {
                let pid = Cluster.pid(of: n)
                let state =
                    pid == nil
                    ? "stopped" : (probe?.1.contains(n.id) == true && Cluster.listening(n) ? "serving" : "starting")
                let role = pid == nil ? "-" : (probe?.0 == n.id ? "controller" : "broker")
                func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(1, w - s.count)) }
                print(
                    pad(String(n.id), 6) + pad(pid.map { String($0) } ?? "-", 9) + pad(state, 9) + pad(role, 13)
                        + n.bootstrap)
            }
            if probe == nil {
                print("no node answers with a quorum leader: fewer than a majority of the \(nodes.count) voters are up")
            }
        }
    }
}
