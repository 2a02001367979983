import KafkaProtocol

/// Kafka's ACL vocabulary, with Kafka's numbers on the wire.
public enum AclResourceType: Int8, Sendable, CaseIterable {
    case unknown = 0, any, topic, group, cluster, transactionalId, delegationToken, user

    public var kafkaName: String {
        switch self {
        case .unknown: return "UNKNOWN"
        case .any: return "ANY"
        case .topic: return "TOPIC"
        case .group: return "GROUP"
        case .cluster: return "CLUSTER"
        case .transactionalId: return "TRANSACTIONAL_ID"
        case .delegationToken: return "DELEGATION_TOKEN"
        case .user: return "USER"
        }
    }
}

public enum AclOperation: Int8, Sendable, CaseIterable {
    case unknown = 0, any, all, read, write, create, delete, alter, describe, clusterAction, describeConfigs
    case alterConfigs, idempotentWrite, createTokens, describeTokens

    public var kafkaName: String {
        switch self {
        case .unknown: return "UNKNOWN"
        case .any: return "ANY"
        case .all: return "ALL"
        case .read: return "READ"
        case .write: return "WRITE"
        case .create: return "CREATE"
        case .delete: return "DELETE"
        case .alter: return "ALTER"
        case .describe: return "DESCRIBE"
        case .clusterAction: return "CLUSTER_ACTION"
        case .describeConfigs: return "DESCRIBE_CONFIGS"
        case .alterConfigs: return "ALTER_CONFIGS"
        case .idempotentWrite: return "IDEMPOTENT_WRITE"
        case .createTokens: return "CREATE_TOKENS"
        case .describeTokens: return "DESCRIBE_TOKENS"
        }
    }
}

public enum AclPatternType: Int8, Sendable, CaseIterable {
    case unknown = 0, any, match, literal, prefixed

    public var kafkaName: String {
        switch self {
        case .unknown: return "UNKNOWN"
        case .any: return "ANY"
        case .match: return "MATCH"
        case .literal: return "LITERAL"
        case .prefixed: return "PREFIXED"
        }
    }
}

public enum AclPermission: Int8, Sendable, CaseIterable {
    case unknown = 0, any, deny, allow

    public var kafkaName: String {
        switch self {
        case .unknown: return "UNKNOWN"
        case .any: return "ANY"
        case .deny: return "DENY"
        case .allow: return "ALLOW"
        }
    }
}

/// The cluster resource's one name.
public let aclClusterResourceName = "kafka-cluster"

extension AclEntry {
    /// Why this ACL cannot be created, or nil. Bounds keep what a client can store small: the
    /// metadata holds at most ``AclIndex/maxCount`` ACLs.
    public var invalidReason: String? {
        guard let type = AclResourceType(rawValue: resourceType), ![.unknown, .any].contains(type) else {
            return "Invalid resource type \(resourceType)"
        }
        guard let pattern = AclPatternType(rawValue: patternType), [.literal, .prefixed].contains(pattern) else {
            return "Invalid pattern type \(patternType): an ACL is LITERAL or PREFIXED"
        }
        guard let op = AclOperation(rawValue: operation), ![.unknown, .any].contains(op) else {
            return "Invalid operation \(operation)"
        }
        guard let perm = AclPermission(rawValue: permissionType), [.allow, .deny].contains(perm) else {
            return "Invalid permission type \(permissionType)"
        }
        if resourceName.isEmpty { return "Resource name must not be empty" }
        if pattern == .prefixed && resourceName == "*" {
            return "A PREFIXED pattern cannot be the wildcard '*'; use LITERAL '*'"
        }
        if type == .cluster && resourceName != aclClusterResourceName {
            return "The cluster resource's name is '\(aclClusterResourceName)'"
        }
        guard let colon = principal.firstIndex(of: ":"), colon != principal.startIndex,
            principal.index(after: colon) != principal.endIndex
        else {
            return "Principal '\(principal.truncatedUTF8(toBytes: 64))' is not of the form Type:name (User:alice)"
        }
        if principal.utf8.count > 1024 { return "Principal longer than 1024 bytes" }
        if host.isEmpty || host.utf8.count > 255 { return "Host must be '*' or an address of at most 255 bytes" }
        return nil
    }

    /// A fixed order of ACLs (snapshots, listings): by resource pattern, then by entry.
    public static func inOrder(_ a: AclEntry, _ b: AclEntry) -> Bool {
        let l = (a.resourceType, a.resourceName, a.patternType)
        let r = (b.resourceType, b.resourceName, b.patternType)
        if l != r { return l < r }
        return (a.principal, a.host, a.operation, a.permissionType) < (
            b.principal, b.host, b.operation, b.permissionType
        )
    }

    /// Bytes this ACL holds in memory and in snapshots (its strings and a fixed part).
    var footprint: Int { resourceName.utf8.count + principal.utf8.count + host.utf8.count + 32 }

    /// Kafka's `(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)`.
    public var kafkaEntryDescription: String {
        let op = AclOperation(rawValue: operation)?.kafkaName ?? "UNKNOWN"
        let perm = AclPermission(rawValue: permissionType)?.kafkaName ?? "UNKNOWN"
        return "(principal=\(principal), host=\(host), operation=\(op), permissionType=\(perm))"
    }

    /// Kafka's `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`.
    public var kafkaPatternDescription: String {
        let t = AclResourceType(rawValue: resourceType)?.kafkaName ?? "UNKNOWN"
        let p = AclPatternType(rawValue: patternType)?.kafkaName ?? "UNKNOWN"
        return "ResourcePattern(resourceType=\(t), name=\(resourceName), patternType=\(p))"
    }
}

extension AclFilter {
    /// Why this filter is refused (DescribeAcls, DeleteAcls), or nil.
    public var invalidReason: String? {
        guard let t = AclResourceType(rawValue: resourceType), t != .unknown else {
            return "Invalid resource type filter \(resourceType)"
        }
        guard let p = AclPatternType(rawValue: patternType), p != .unknown else {
            return "Invalid pattern type filter \(patternType)"
        }
        guard let o = AclOperation(rawValue: operation), o != .unknown else {
            return "Invalid operation filter \(operation)"
        }
        guard let perm = AclPermission(rawValue: permissionType), perm != .unknown else {
            return "Invalid permission type filter \(permissionType)"
        }
        return nil
    }

    /// Whether `acl` is selected by this filter, as Kafka's AclBindingFilter matches: ANY and
    /// null match everything; MATCH selects the ACLs that would apply to the named resource
    /// (literal equal, literal '*', and prefixes of it).
    public func matches(_ acl: AclEntry) -> Bool {
        if resourceType != AclResourceType.any.rawValue && resourceType != acl.resourceType { return false }
        if let p = principal, p != acl.principal { return false }
        if let h = host, h != acl.host { return false }
        if operation != AclOperation.any.rawValue && operation != acl.operation { return false }
        if permissionType != AclPermission.any.rawValue && permissionType != acl.permissionType { return false }
        switch AclPatternType(rawValue: patternType) {
        case .any:
            return resourceName == nil || resourceName == acl.resourceName
        case .match:
            guard let name = resourceName else { return true }
            if acl.patternType == AclPatternType.literal.rawValue {
                return acl.resourceName == name || acl.resourceName == "*"
            }
            return acl.patternType == AclPatternType.prefixed.rawValue && name.hasPrefix(acl.resourceName)
        default:
            return acl.patternType == patternType && (resourceName == nil || resourceName == acl.resourceName)
        }
    }
}

/// The cluster's ACLs, indexed so that one authorization looks at the ACLs of one resource
/// only: literal names in a dictionary, prefixes by the lengths in use.
public struct AclIndex: Equatable, Sendable {
    /// The most ACLs a cluster keeps, and the most bytes they may hold together.
    public static let maxCount = 100_000
    public static let maxBytes = 64 << 20

    public private(set) var all: Set<AclEntry> = []
    public private(set) var bytes = 0
    private var literal: [Int8: [String: [AclEntry]]] = [:]
    private var prefixed: [Int8: [String: [AclEntry]]] = [:]
    /// For each resource type, how many prefixed names have each length.
    private var prefixLengths: [Int8: [Int: Int]] = [:]
    private var byPrincipal: [String: Set<AclEntry>] = [:]

    public init() {}

    /// Equal when they hold the same ACLs, whatever order they were added in.
    public static func == (a: AclIndex, b: AclIndex) -> Bool { a.all == b.all }

    public var count: Int { all.count }

    mutating func insert(_ acl: AclEntry) {
        guard all.insert(acl).inserted else { return }
        bytes += acl.footprint
        byPrincipal[acl.principal, default: []].insert(acl)
        if acl.patternType == AclPatternType.prefixed.rawValue {
            prefixed[acl.resourceType, default: [:]][acl.resourceName, default: []].append(acl)
            prefixLengths[acl.resourceType, default: [:]][acl.resourceName.utf8.count, default: 0] += 1
        } else {
            literal[acl.resourceType, default: [:]][acl.resourceName, default: []].append(acl)
        }
    }

    mutating func remove(_ acl: AclEntry) {
        guard all.remove(acl) != nil else { return }
        bytes -= acl.footprint
        byPrincipal[acl.principal]?.remove(acl)
        if byPrincipal[acl.principal]?.isEmpty == true { byPrincipal[acl.principal] = nil }
        let prefix = acl.patternType == AclPatternType.prefixed.rawValue
        func drop(_ table: inout [Int8: [String: [AclEntry]]]) {
            table[acl.resourceType]?[acl.resourceName]?.removeAll { $0 == acl }
            if table[acl.resourceType]?[acl.resourceName]?.isEmpty == true {
                table[acl.resourceType]?[acl.resourceName] = nil
            }
        }
        if prefix {
            drop(&prefixed)
            let n = acl.resourceName.utf8.count
            prefixLengths[acl.resourceType]?[n, default: 1] -= 1
            if prefixLengths[acl.resourceType]?[n] == 0 { prefixLengths[acl.resourceType]?[n] = nil }
        } else {
            drop(&literal)
        }
    }

    /// The ACLs `filter` can match, taken from the index when it names a resource or a
    /// principal, else all of them; each still to be checked with `filter.matches`. DeleteAcls
    /// and DescribeAcls take up to 1,000 filters against up to 100,000 ACLs: a filter for one
    /// topic or one user looks at that topic's or user's ACLs only.
    public func candidates(for filter: AclFilter) -> [AclEntry] {
        if let name = filter.resourceName {
            let types: Set<Int8> =
                filter.resourceType == AclResourceType.any.rawValue
                ? Set(literal.keys).union(prefixed.keys) : [filter.resourceType]
            var out: [AclEntry] = []
            for t in types {
                switch AclPatternType(rawValue: filter.patternType) {
                case .literal: out += literal[t]?[name] ?? []
                case .prefixed: out += prefixed[t]?[name] ?? []
                case .match: out += AclResourceType(rawValue: t).map { applying(to: $0, name: name) } ?? []
                default: out += (literal[t]?[name] ?? []) + (prefixed[t]?[name] ?? [])
                }
            }
            return out
        }
        if let principal = filter.principal { return Array(byPrincipal[principal] ?? []) }
        return Array(all)
    }

    /// Every ACL that applies to the resource: literal on its name, literal '*', and prefixed
    /// on any prefix of its name.
    public func applying(to type: AclResourceType, name: String) -> [AclEntry] {
        var out: [AclEntry] = []
        if let l = literal[type.rawValue] {
            out += l[name] ?? []
            if name != "*" { out += l["*"] ?? [] }
        }
        if let lengths = prefixLengths[type.rawValue], let table = prefixed[type.rawValue] {
            let utf8 = Array(name.utf8)
            for n in lengths.keys where n <= utf8.count {
                if let p = String(validating: utf8[0..<n], as: UTF8.self), let acls = table[p] { out += acls }
            }
        }
        return out
    }
}

/// Kafka's standard authorizer's decision, as a pure function of the ACLs: super users may do
/// anything; a matching DENY wins over any ALLOW; READ, WRITE, DELETE and ALTER imply
/// DESCRIBE, and ALTER_CONFIGS implies DESCRIBE_CONFIGS; a resource with no ACLs at all is
/// open only when `allow.everyone.if.no.acl.found` is true.
public struct AclAuthorizer: Sendable, Equatable {
    public var superUsers: Set<String>
    public var allowEveryoneIfNoAclFound: Bool

    public init(superUsers: Set<String> = [], allowEveryoneIfNoAclFound: Bool = false) {
        self.superUsers = superUsers
        self.allowEveryoneIfNoAclFound = allowEveryoneIfNoAclFound
    }

    public func authorize(
        principal: String, host: String, _ operation: AclOperation, _ type: AclResourceType, _ name: String,
        acls: AclIndex
    ) -> Bool {
        if superUsers.contains(principal) { return true }
        let applying = acls.applying(to: type, name: name)
        if applying.isEmpty { return allowEveryoneIfNoAclFound }
        var allowed = false
        for acl in applying {
            guard acl.principal == principal || acl.principal == "User:*" else { continue }
            guard acl.host == host || acl.host == "*" else { continue }
            let op = acl.operation
            if acl.permissionType == AclPermission.deny.rawValue {
                if op == AclOperation.all.rawValue || op == operation.rawValue { return false }
            } else if acl.permissionType == AclPermission.allow.rawValue && !allowed {
                allowed = op == AclOperation.all.rawValue || op == operation.rawValue || Self.implies(op, operation)
            }
        }
        return allowed
    }

    /// Whether an ALLOW for `granted` also allows `asked`.
    static func implies(_ granted: Int8, _ asked: AclOperation) -> Bool {
        switch asked {
        case .describe:
            return [AclOperation.read, .write, .delete, .alter].map(\.rawValue).contains(granted)
        case .describeConfigs:
            return granted == AclOperation.alterConfigs.rawValue
        default:
            return false
        }
    }
}

extension ControllerDecisions {
    /// The most ACLs one CreateAcls may create and the most filters one DeleteAcls may apply.
    public static let maxAclsPerRequest = 1_000

    /// CreateAcls: each creation's error (nil when it is created or already exists) and the
    /// records for the new ones. Refused whole when the cluster would pass its ACL bounds.
    public static func createAcls(_ creations: [AclEntry], image: MetadataImage) -> (
        records: [MetadataRecord], errors: [ControllerError?]
    ) {
        var errors: [ControllerError?] = []
        var fresh: [AclEntry] = []
        var seen = Set<AclEntry>()
        for (i, c) in creations.enumerated() {
            if i >= maxAclsPerRequest {
                errors.append(
                    ControllerError(.invalidRequest, "At most \(maxAclsPerRequest) ACLs per CreateAcls request"))
            } else if let why = c.invalidReason {
                errors.append(ControllerError(.invalidRequest, why))
            } else {
                errors.append(nil)
                if !image.acls.all.contains(c) && seen.insert(c).inserted { fresh.append(c) }
            }
        }
        let bytes = fresh.reduce(0) { $0 + $1.footprint }
        if image.acls.count + fresh.count > AclIndex.maxCount || image.acls.bytes + bytes > AclIndex.maxBytes {
            let full = ControllerError(
                .policyViolation,
                "The cluster keeps at most \(AclIndex.maxCount) ACLs of \(AclIndex.maxBytes >> 20) MiB together; it has \(image.acls.count)"
            )
            return ([], errors.map { $0 ?? full })
        }
        return (fresh.map { .acl($0) }, errors)
    }

    /// DeleteAcls: for each filter, its error or the ACLs it matched; and the records that
    /// remove every matched ACL once.
    public static func deleteAcls(_ filters: [AclFilter], image: MetadataImage) -> (
        records: [MetadataRecord], results: [Result<[AclEntry], ControllerError>]
    ) {
        var results: [Result<[AclEntry], ControllerError>] = []
        var removed = Set<AclEntry>()
        var order: [AclEntry] = []
        for (i, f) in filters.enumerated() {
            if i >= maxAclsPerRequest {
                results.append(
                    .failure(
                        ControllerError(.invalidRequest, "At most \(maxAclsPerRequest) filters per DeleteAcls request"))
                )
                continue
            }
            if let why = f.invalidReason {
                results.append(.failure(ControllerError(.invalidRequest, why)))
                continue
            }
            let matched = image.acls.candidates(for: f).filter { f.matches($0) }.sorted(by: AclEntry.inOrder)
            for m in matched where removed.insert(m).inserted { order.append(m) }
            results.append(.success(matched))
        }
        return (order.map { .removeAcl($0) }, results)
    }
}
