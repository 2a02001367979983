import ArgumentParser
import KafkaClient
import KafkaProtocol
import NIOCore

/// `tern consumer-groups` (`bin/kafka-consumer-groups.sh`): list, describe (offsets and lag,
/// members, state), reset offsets and delete groups, printing Kafka's tables.
struct ConsumerGroups: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer-groups",
        abstract: "List, describe, reset and delete consumer groups (as kafka-consumer-groups.sh).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "List every group.") var list = false
    @Flag(help: "Describe a group: offsets and lag (default), --members or --state.") var describe = false
    @Flag(name: .customLong("reset-offsets"), help: "Move a group's committed offsets.") var resetOffsets = false
    @Flag(help: "Delete groups that have no members.") var delete = false
    @Option(help: "The group (repeatable with --describe and --delete).") var group: [String] = []
    @Flag(name: .customLong("all-groups"), help: "Every group.") var allGroups = false
    @Flag(help: "With --describe: the members and how many partitions each has.") var members = false
    @Flag(help: "With --describe: the group's coordinator, assignor, state and size.") var state = false
    @Flag(help: "With --describe --members: each member's partitions too.") var verbose = false
    @Option(help: "With --reset-offsets: topic, or topic:0,1 for some partitions.") var topic: [String] = []
    @Flag(name: .customLong("all-topics"), help: "With --reset-offsets: every topic the group has offsets for.")
    var allTopics = false
    @Flag(name: .customLong("to-earliest")) var toEarliest = false
    @Flag(name: .customLong("to-latest")) var toLatest = false
    @Option(name: .customLong("to-offset")) var toOffset: Int64?
    @Option(name: .customLong("shift-by")) var shiftBy: Int64?
    @Flag(help: "With --reset-offsets: commit the new offsets (otherwise only show them).") var execute = false
    @Flag(name: .customLong("dry-run"), help: "With --reset-offsets: show the new offsets (the default).")
    var dryRun = false

    func validate() throws {
        guard [list, describe, resetOffsets, delete].filter({ $0 }).count == 1 else {
            throw ValidationError("Exactly one of --list, --describe, --reset-offsets, --delete is required.")
        }
        if (describe || resetOffsets || delete) && group.isEmpty && !allGroups {
            throw ValidationError("--group <name> (or --all-groups) is required.")
        }
        if resetOffsets {
            let targets = [toEarliest, toLatest, toOffset != nil, shiftBy != nil].filter { $0 }.count
            guard targets == 1 else {
                throw ValidationError(
                    "--reset-offsets needs one of --to-earliest, --to-latest, --to-offset N, --shift-by N.")
            }
            guard !topic.isEmpty || allTopics else {
                throw ValidationError("--reset-offsets needs --topic <name> or --all-topics.")
            }
            if execute && dryRun { throw ValidationError("--execute and --dry-run exclude each other.") }
        }
        if (members || state) && !describe { throw ValidationError("--members and --state go with --describe.") }
    }

    func run() async throws {
        let client = try KafkaClient(
            bootstrapServers: try connection.servers(), clientId: "consumer-groups", security: try connection.security()
        )
        do {
            if list {
                for g in try await listGroups(client) { print(g) }
            } else {
                let groups = allGroups ? try await listGroups(client) : group
                if describe {
                    // Each group on its own, as Kafka's tool does: one that cannot be described
                    // (gone since the listing) is reported, and the others still are.
                    for g in groups {
                        do { try await describeGroup(client, g) } catch let e as CLIError where allGroups {
                            printError(e.message)
                        }
                    }
                } else if resetOffsets {
                    for g in groups { try await reset(client, g) }
                } else {
                    try await deleteGroups(client, groups)
                }
            }
        } catch let e as CLIError {
            printError(e.message)
            await client.close()
            throw ExitCode(1)
        } catch {
            printError("Error: \(error)")
            await client.close()
            throw ExitCode(1)
        }
        await client.close()
    }

    // MARK: - Talking to the cluster

    func listGroups(_ client: KafkaClient) async throws -> [String] {
        let md = try await client.metadata(topics: [])
        var names = Set<String>()
        for b in md.brokers {
            let r = try await client.send(ListGroupsRequest(), toNode: b.nodeId, as: ListGroupsResponse.self)
            for g in r.groups { names.insert(g.groupId) }
        }
        return names.sorted()
    }

    func coordinator(_ client: KafkaClient, _ group: String) async throws -> (id: Int32, host: String, port: Int32) {
        var req = FindCoordinatorRequest()
        req.key = group
        req.coordinatorKeys = [group]
        var backoff = ExponentialBackoff(initialMs: 100, maxMs: 1_000)
        let giveUp = monotonicNs() + 10_000_000_000
        while monotonicNs() < giveUp {
            let r = try await client.send(req, as: FindCoordinatorResponse.self)
            let c =
                r.coordinators.first
                ?? {
                    var x = FindCoordinatorResponse.Coordinator()
                    x.nodeId = r.nodeId
                    x.host = r.host
                    x.port = r.port
                    x.errorCode = r.errorCode
                    return x
                }()
            if c.errorCode == 0 { return (c.nodeId, c.host, c.port) }
            guard ErrorCode(rawValue: c.errorCode).isRetriable else {
                throw CLIError(
                    "Error: cannot find the coordinator of group '\(group)': \(ErrorCode(rawValue: c.errorCode))")
            }
            try await Task.sleep(nanoseconds: backoff.nextNanoseconds)
        }
        throw CLIError("Error: the coordinator of group '\(group)' is not available; is the cluster healthy?")
    }

    /// Sends to the group's coordinator, finding it again while it moves or loads.
    func toCoordinator<R: KafkaMessage>(
        _ client: KafkaClient, _ group: String, _ request: some KafkaMessage, as: R.Type,
        error: @escaping (R) -> Int16
    ) async throws -> (R, (id: Int32, host: String, port: Int32)) {
        var backoff = ExponentialBackoff(initialMs: 100, maxMs: 1_000)
        let giveUp = monotonicNs() + 10_000_000_000
        while monotonicNs() < giveUp {
            let c = try await coordinator(client, group)
            let r = try await client.send(request, toNode: c.id, as: R.self)
            let code = ErrorCode(rawValue: error(r))
            if code == .notCoordinator || code == .coordinatorLoadInProgress || code == .coordinatorNotAvailable {
                try await Task.sleep(nanoseconds: backoff.nextNanoseconds)
                continue
            }
            return (r, c)
        }
        throw CLIError("Error: the coordinator of group '\(group)' did not answer; is the cluster healthy?")
    }

    struct Described {
        var state: String
        var protocolName: String
        var coordinator: (id: Int32, host: String, port: Int32)
        var members: [(id: String, host: String, clientId: String, partitions: [(String, Int32)])]
        var offsets: [String: [Int32: Int64]]
    }

    func describeOne(_ client: KafkaClient, _ group: String) async throws -> Described {
        var dg = DescribeGroupsRequest()
        dg.groups = [group]
        let (d, c) = try await toCoordinator(client, group, dg, as: DescribeGroupsResponse.self) {
            $0.groups.first?.errorCode ?? 0
        }
        guard let g = d.groups.first, g.errorCode == 0 else {
            throw CLIError(
                "Error: cannot describe group '\(group)': \(ErrorCode(rawValue: d.groups.first?.errorCode ?? -1))")
        }
        var of = OffsetFetchRequest()
        of.groupId = group
        of.topics = nil
        let (o, _) = try await toCoordinator(client, group, of, as: OffsetFetchResponse.self) { $0.errorCode }
        var offsets: [String: [Int32: Int64]] = [:]
        for t in o.topics {
            for p in t.partitions where p.committedOffset >= 0 {
                offsets[t.name, default: [:]][p.partitionIndex] = p.committedOffset
            }
        }
        let members = g.members.map { m in
            (m.memberId, m.clientHost, m.clientId, ConsumerProtocol.assignedPartitions(m.memberAssignment))
        }
        return Described(
            state: g.groupState, protocolName: g.protocolData, coordinator: c, members: members, offsets: offsets)
    }

    /// Log end offsets (or earliest, with `earliest`) of partitions, each asked of its leader.
    func listOffsets(_ client: KafkaClient, _ partitions: [(String, Int32)], earliest: Bool = false) async throws
        -> [String: [Int32: Int64]]
    {
        let md = try await client.metadata(topics: Array(Set(partitions.map(\.0))))
        var leaders: [String: [Int32: Int32]] = [:]
        for t in md.topics {
            for p in t.partitions { leaders[t.name ?? "", default: [:]][p.partitionIndex] = p.leaderId }
        }
        var out: [String: [Int32: Int64]] = [:]
        for (topic, p) in partitions {
            let x = try await client.listOffset(
                topic: topic, partition: p, leader: leaders[topic]?[p] ?? -1, earliest: earliest)
            if let x, x.errorCode == 0 { out[topic, default: [:]][p] = x.offset }
        }
        return out
    }

    // MARK: - Commands

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    func describeGroup(_ client: KafkaClient, _ group: String) async throws {
        let d = try await describeOne(client, group)
        if d.state == "Dead" && d.offsets.isEmpty {
            throw CLIError("Error: Consumer group '\(group)' does not exist.")
        }
        let gw = max(15, group.count)
        if state {
            let coord = "\(d.coordinator.host):\(d.coordinator.port) (\(d.coordinator.id))"
            let cw = max(25, coord.count)
            print("")
            print(
                [
                    Self.pad("GROUP", gw), Self.pad("COORDINATOR (ID)", cw), Self.pad("ASSIGNMENT-STRATEGY", 20),
                    Self.pad("STATE", 15), "#MEMBERS",
                ].joined(separator: " "))
            print(
                [
                    Self.pad(group, gw), Self.pad(coord, cw), Self.pad(d.protocolName, 20), Self.pad(d.state, 15),
                    String(d.members.count),
                ].joined(separator: " "))
            return
        }
        if d.members.isEmpty { print("\nConsumer group '\(group)' has no active members.") }
        if members {
            let idw = max(15, d.members.map(\.id.count).max() ?? 0)
            let hw = max(15, d.members.map(\.host.count).max() ?? 0)
            let clw = max(15, d.members.map(\.clientId.count).max() ?? 0)
            print("")
            var header = [
                Self.pad("GROUP", gw), Self.pad("CONSUMER-ID", idw), Self.pad("HOST", hw), Self.pad("CLIENT-ID", clw),
                Self.pad("#PARTITIONS", 15),
            ]
            if verbose { header.append("ASSIGNMENT") }
            print(header.joined(separator: " ").trimmingTrailingSpaces())
            for m in d.members {
                var row = [
                    Self.pad(group, gw), Self.pad(m.id, idw), Self.pad(m.host, hw), Self.pad(m.clientId, clw),
                    Self.pad(String(m.partitions.count), 15),
                ]
                if verbose {
                    let byTopic = Dictionary(grouping: m.partitions, by: \.0)
                    row.append(
                        byTopic.keys.sorted().map { t in
                            "\(t)(\(byTopic[t]!.map { String($0.1) }.joined(separator: ",")))"
                        }
                        .joined(separator: ", "))
                }
                print(row.joined(separator: " ").trimmingTrailingSpaces())
            }
            return
        }
        var owner: [String: [Int32: (id: String, host: String, clientId: String)]] = [:]
        for m in d.members { for (t, p) in m.partitions { owner[t, default: [:]][p] = (m.id, m.host, m.clientId) } }
        var keys = Set<String>()
        for (t, ps) in d.offsets { for p in ps.keys { keys.insert("\(t)\u{0}\(p)") } }
        for (t, ps) in owner { for p in ps.keys { keys.insert("\(t)\u{0}\(p)") } }
        let parts = keys.map { k -> (String, Int32) in
            let s = k.split(separator: "\u{0}", omittingEmptySubsequences: false)
            return (String(s[0]), Int32(s[1])!)
        }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        let ends = try await listOffsets(client, parts)
        let tw = max(15, parts.map(\.0.count).max() ?? 0)
        let idw = max(15, owner.values.flatMap(\.values).map(\.id.count).max() ?? 0)
        let hw = max(15, owner.values.flatMap(\.values).map(\.host.count).max() ?? 0)
        print("")
        print(
            [
                Self.pad("GROUP", gw), Self.pad("TOPIC", tw), Self.pad("PARTITION", 10), Self.pad("CURRENT-OFFSET", 15),
                Self.pad("LOG-END-OFFSET", 15), Self.pad("LAG", 15), Self.pad("CONSUMER-ID", idw), Self.pad("HOST", hw),
                "CLIENT-ID",
            ].joined(separator: " "))
        for (t, p) in parts {
            let current = d.offsets[t]?[p]
            let end = ends[t]?[p]
            let lag = current.flatMap { c in end.map { max(0, $0 - c) } }
            let o = owner[t]?[p]
            print(
                [
                    Self.pad(group, gw), Self.pad(t, tw), Self.pad(String(p), 10),
                    Self.pad(current.map(String.init) ?? "-", 15),
                    Self.pad(end.map(String.init) ?? "-", 15), Self.pad(lag.map(String.init) ?? "-", 15),
                    Self.pad(o?.id ?? "-", idw), Self.pad(o?.host ?? "-", hw), o?.clientId ?? "-",
                ].joined(separator: " "))
        }
    }

    func reset(_ client: KafkaClient, _ group: String) async throws {
        let d = try await describeOne(client, group)
        guard d.members.isEmpty else {
            throw CLIError(
                "Error: Assignments can only be reset if the group '\(group)' is inactive, but the current state is \(d.state)."
            )
        }
        var parts: [(String, Int32)] = []
        if allTopics {
            for (t, ps) in d.offsets { for p in ps.keys { parts.append((t, p)) } }
        } else {
            for spec in topic {
                let pieces = spec.split(separator: ":", maxSplits: 1).map(String.init)
                if pieces.count == 2 {
                    for p in pieces[1].split(separator: ",") {
                        guard let n = Int32(p) else { throw CLIError("Error: bad partition '\(p)' in --topic \(spec)") }
                        parts.append((pieces[0], n))
                    }
                } else {
                    let md = try await client.metadata(topics: [spec])
                    guard let t = md.topics.first, t.errorCode == 0 else {
                        throw CLIError("Error: topic '\(spec)' does not exist.")
                    }
                    for p in t.partitions { parts.append((spec, p.partitionIndex)) }
                }
            }
        }
        parts.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        let earliest = try await listOffsets(client, parts, earliest: true)
        let latest = try await listOffsets(client, parts)
        var plan: [(String, Int32, Int64)] = []
        for (t, p) in parts {
            let lo = earliest[t]?[p] ?? 0
            let hi = latest[t]?[p] ?? 0
            var target: Int64
            if toEarliest {
                target = lo
            } else if toLatest {
                target = hi
            } else if let o = toOffset {
                target = o
            } else {
                target = (d.offsets[t]?[p] ?? lo) + shiftBy!
            }
            target = min(max(target, lo), hi)
            plan.append((t, p, target))
        }
        let gw = max(15, group.count)
        let tw = max(15, plan.map(\.0.count).max() ?? 0)
        print("")
        print(
            [Self.pad("GROUP", gw), Self.pad("TOPIC", tw), Self.pad("PARTITION", 10), "NEW-OFFSET"].joined(
                separator: " "))
        for (t, p, o) in plan {
            print([Self.pad(group, gw), Self.pad(t, tw), Self.pad(String(p), 10), String(o)].joined(separator: " "))
        }
        guard execute else { return }
        var req = OffsetCommitRequest()
        req.groupId = group
        req.generationId = -1
        req.memberId = ""
        let byTopic = Dictionary(grouping: plan, by: \.0)
        req.topics = byTopic.keys.sorted().map { t in
            var ot = OffsetCommitRequest.Topic()
            ot.name = t
            ot.partitions = byTopic[t]!.map { _, p, o in
                var x = OffsetCommitRequest.Partition()
                x.partitionIndex = p
                x.committedOffset = o
                return x
            }
            return ot
        }
        let (resp, _) = try await toCoordinator(client, group, req, as: OffsetCommitResponse.self) {
            $0.topics.first?.partitions.first?.errorCode ?? 0
        }
        for t in resp.topics {
            for p in t.partitions where p.errorCode != 0 {
                throw CLIError(
                    "Error: resetting \(t.name)-\(p.partitionIndex) failed: \(ErrorCode(rawValue: p.errorCode))")
            }
        }
    }

    func deleteGroups(_ client: KafkaClient, _ groups: [String]) async throws {
        var failed: [(String, ErrorCode)] = []
        for g in groups {
            var req = DeleteGroupsRequest()
            req.groupsNames = [g]
            let (r, _) = try await toCoordinator(client, g, req, as: DeleteGroupsResponse.self) {
                $0.results.first?.errorCode ?? 0
            }
            let code = ErrorCode(rawValue: r.results.first?.errorCode ?? -1)
            if code != .none { failed.append((g, code)) }
        }
        if failed.isEmpty {
            print(
                "Deletion of requested consumer groups (\(groups.map { "'\($0)'" }.joined(separator: ", "))) was successful."
            )
            return
        }
        let lines = failed.map { g, code in
            "* Group '\(g)' could not be deleted due to: \(code == .nonEmptyGroup ? "The group is not empty." : code == .groupIdNotFound ? "The group id does not exist." : code.name)"
        }
        throw CLIError("Error: Deletion of some consumer groups failed:\n" + lines.joined(separator: "\n"))
    }
}
