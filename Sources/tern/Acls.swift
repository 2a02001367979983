import ArgumentParser
import Foundation
import KafkaClient
import KafkaProtocol
import Metadata

/// `tern acls` (`bin/kafka-acls.sh`): add, list and remove ACLs with Kafka's tool's options and
/// output, so scripts written for kafka-acls.sh keep working.
struct Acls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acls", abstract: "Add, list or remove ACLs (as kafka-acls.sh).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Add the ACLs described.") var add = false
    @Flag(help: "Remove the ACLs described.") var remove = false
    @Flag(help: "List ACLs (of the resources named, or all).") var list = false
    @Option(name: .customLong("allow-principal"), help: "Principal to allow (User:alice); repeatable.")
    var allowPrincipal: [String] = []
    @Option(name: .customLong("deny-principal"), help: "Principal to deny; repeatable.") var denyPrincipal: [String] =
        []
    @Option(name: .customLong("allow-host"), help: "Host to allow from (default *); repeatable.")
    var allowHost: [String] = []
    @Option(name: .customLong("deny-host"), help: "Host to deny from (default *); repeatable.") var denyHost: [String] =
        []
    @Option(help: "Operation: Read, Write, Create, Delete, Alter, Describe, ClusterAction, All, ...; repeatable.")
    var operation: [String] = []
    @Option(help: "Topic name (or * for every topic); repeatable.") var topic: [String] = []
    @Option(help: "Consumer group (or *); repeatable.") var group: [String] = []
    @Option(name: .customLong("transactional-id"), help: "Transactional id (or *); repeatable.")
    var transactionalId: [String] = []
    @Flag(help: "The cluster resource.") var cluster = false
    @Option(
        name: .customLong("resource-pattern-type"),
        help: "literal (default), prefixed, or for --list and --remove any or match.")
    var resourcePatternType = "literal"
    @Option(help: "With --list: only this principal's ACLs.") var principal: String?
    @Flag(help: "Convenience: WRITE, DESCRIBE and CREATE on the topics.") var producer = false
    @Flag(help: "Convenience: READ and DESCRIBE on the topics, READ on the groups.") var consumer = false
    @Flag(help: "With --producer: IDEMPOTENT_WRITE on the cluster.") var idempotent = false
    @Flag(help: "Do not ask before removing.") var force = false

    static let operationNames: [String: AclOperation] = Dictionary(
        uniqueKeysWithValues: AclOperation.allCases.filter { ![.unknown, .any].contains($0) }.map {
            ($0.kafkaName.replacingOccurrences(of: "_", with: "").lowercased(), $0)
        })

    var pattern: AclPatternType? {
        switch resourcePatternType.lowercased() {
        case "literal": return .literal
        case "prefixed": return .prefixed
        case "any": return .any
        case "match": return .match
        default: return nil
        }
    }

    /// (resource type, name) of each resource named.
    var resources: [(AclResourceType, String)] {
        topic.map { (.topic, $0) } + group.map { (.group, $0) } + transactionalId.map { (.transactionalId, $0) }
            + (cluster ? [(.cluster, aclClusterResourceName)] : [])
    }

    func validate() throws {
        guard [add, remove, list].filter({ $0 }).count == 1 else {
            throw ValidationError("Exactly one of --add, --remove or --list is required.")
        }
        guard let pattern else {
            throw ValidationError(
                "--resource-pattern-type must be literal, prefixed, any or match, got '\(resourcePatternType)'.")
        }
        if add && ![.literal, .prefixed].contains(pattern) {
            throw ValidationError("--add takes --resource-pattern-type literal or prefixed.")
        }
        for op in operation where Self.operationNames[op.replacingOccurrences(of: "_", with: "").lowercased()] == nil {
            throw ValidationError(
                "Unknown operation '\(op)': use Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All."
            )
        }
        if add || remove {
            if resources.isEmpty {
                throw ValidationError("Name a resource: --topic, --group, --transactional-id or --cluster.")
            }
            if add && allowPrincipal.isEmpty && denyPrincipal.isEmpty {
                throw ValidationError("--add needs --allow-principal and/or --deny-principal.")
            }
            if add && operation.isEmpty && !producer && !consumer {
                throw ValidationError("--add needs --operation (or --producer / --consumer).")
            }
            if consumer && group.isEmpty { throw ValidationError("--consumer needs --group.") }
        }
        for p in allowPrincipal + denyPrincipal + (principal.map { [$0] } ?? []) {
            guard let colon = p.firstIndex(of: ":"), colon != p.startIndex, p.index(after: colon) != p.endIndex else {
                throw ValidationError("Principal '\(p)' must be of the form Type:name, e.g. User:alice.")
            }
        }
    }

    /// The ACLs --add or --remove describe: each principal × host × operation × resource.
    func entries() -> [AclEntry] {
        let ops = operation.compactMap { Self.operationNames[$0.replacingOccurrences(of: "_", with: "").lowercased()] }
        var out: [AclEntry] = []
        for (type, name) in resources {
            var typeOps = ops
            if producer && type == .topic { typeOps += [.write, .describe, .create] }
            if producer && idempotent && type == .cluster { typeOps += [.idempotentWrite] }
            if consumer && type == .topic { typeOps += [.read, .describe] }
            if consumer && type == .group { typeOps += [.read] }
            var seen = Set<Int8>()
            typeOps = typeOps.filter { seen.insert($0.rawValue).inserted }
            for (principals, hosts, permission) in [
                (allowPrincipal, allowHost.isEmpty ? ["*"] : allowHost, AclPermission.allow),
                (denyPrincipal, denyHost.isEmpty ? ["*"] : denyHost, AclPermission.deny),
            ] {
                for p in principals {
                    for h in hosts {
                        for op in typeOps {
                            out.append(
                                AclEntry(
                                    resourceType: type.rawValue, resourceName: name,
                                    patternType: (pattern ?? .literal).rawValue, principal: p, host: h,
                                    operation: op.rawValue, permissionType: permission.rawValue))
                        }
                    }
                }
            }
        }
        return out
    }

    func filters() -> [AclFilter] {
        let named =
            resources.isEmpty ? [(AclResourceType.any, nil as String?)] : resources.map { ($0.0, $0.1 as String?) }
        return named.map { type, name in
            var f = AclFilter()
            f.resourceType = type.rawValue
            f.resourceName = name
            f.patternType = (resources.isEmpty ? .any : (pattern ?? .literal)).rawValue
            f.principal = principal
            return f
        }
    }

    static func printGrouped(_ heading: String, _ acls: [AclEntry]) {
        var byPattern: [String: [AclEntry]] = [:]
        var order: [String] = []
        for a in acls.sorted(by: AclEntry.inOrder) {
            let key = a.kafkaPatternDescription
            if byPattern[key] == nil { order.append(key) }
            byPattern[key, default: []].append(a)
        }
        for key in order {
            print("\(heading) `\(key)`: ")
            for a in byPattern[key] ?? [] { print(" \t\(a.kafkaEntryDescription) ") }
            print("")
        }
    }

    func describe(_ client: KafkaClient, _ filter: AclFilter) async throws -> [AclEntry] {
        var req = DescribeAclsRequest()
        req.filter = filter
        let resp = try await client.send(req, as: DescribeAclsResponse.self)
        if resp.errorCode != 0 {
            throw CLIError(
                "Error while executing ACL command: \(resp.errorMessage ?? ErrorCode(rawValue: resp.errorCode).name)")
        }
        return resp.resources.flatMap { r in
            r.acls.map {
                AclEntry(
                    resourceType: r.resourceType, resourceName: r.resourceName, patternType: r.patternType,
                    principal: $0.principal, host: $0.host, operation: $0.operation, permissionType: $0.permissionType)
            }
        }
    }

    func current(_ client: KafkaClient) async throws {
        for (type, name) in resources {
            var f = AclFilter()
            f.resourceType = type.rawValue
            f.resourceName = name
            f.patternType = (pattern ?? .literal).rawValue
            Self.printGrouped("Current ACLs for resource", try await describe(client, f))
        }
    }

    func run() async throws {
        let client = try KafkaClient(bootstrapServers: try connection.servers(), security: try connection.security())
        defer { Task { await client.close() } }
        try await exitingOnError(otherwise: "Error while executing ACL command") {
            if list {
                var all: [AclEntry] = []
                for f in filters() { all += try await describe(client, f) }
                Self.printGrouped("Current ACLs for resource", all)
            } else if add {
                let wanted = entries()
                Self.printGrouped("Adding ACLs for resource", wanted)
                for chunk in stride(from: 0, to: wanted.count, by: ControllerDecisions.maxAclsPerRequest) {
                    var req = CreateAclsRequest()
                    req.creations = Array(
                        wanted[chunk..<min(wanted.count, chunk + ControllerDecisions.maxAclsPerRequest)])
                    let resp = try await client.send(req, as: CreateAclsResponse.self)
                    for r in resp.results where r.errorCode != 0 {
                        throw CLIError(
                            "Error while executing ACL command: \(r.errorMessage ?? ErrorCode(rawValue: r.errorCode).name)"
                        )
                    }
                }
                try await current(client)
            } else {
                var filters: [AclFilter] = []
                let described = entries()
                if described.isEmpty {
                    // No principal or operation given: every ACL of the named resources.
                    filters = self.filters()
                } else {
                    filters = described.map {
                        var f = AclFilter()
                        f.resourceType = $0.resourceType
                        f.resourceName = $0.resourceName
                        f.patternType = $0.patternType
                        f.principal = $0.principal
                        f.host = $0.host
                        f.operation = $0.operation
                        f.permissionType = $0.permissionType
                        return f
                    }
                }
                if !force {
                    let what = resources.map { "\($0.0.kafkaName) \($0.1)" }.joined(separator: ", ")
                    print("Are you sure you want to remove ACLs from \(what)? (y/n)")
                    guard readLine()?.lowercased().hasPrefix("y") == true else { return }
                }
                for chunk in stride(from: 0, to: filters.count, by: ControllerDecisions.maxAclsPerRequest) {
                    var req = DeleteAclsRequest()
                    req.filters = Array(
                        filters[chunk..<min(filters.count, chunk + ControllerDecisions.maxAclsPerRequest)])
                    let resp = try await client.send(req, as: DeleteAclsResponse.self)
                    for r in resp.filterResults where r.errorCode != 0 {
                        throw CLIError(
                            "Error while executing ACL command: \(r.errorMessage ?? ErrorCode(rawValue: r.errorCode).name)"
                        )
                    }
                    Self.printGrouped(
                        "Removing ACLs for resource", resp.filterResults.flatMap { $0.matchingAcls.map(\.acl) })
                }
                try await current(client)
            }
        }
    }
}
