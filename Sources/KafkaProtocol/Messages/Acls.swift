/// An ACL as the three ACL APIs carry it: a resource pattern and who may (or may not) do what
/// on it from where. Numbers are Kafka's: resource types (2 topic, 3 group, 4 cluster,
/// 5 transactional id), pattern types (1 any, 2 match, 3 literal, 4 prefixed), operations
/// (1 any, 2 all, 3 read ... 12 idempotent write) and permissions (1 any, 2 deny, 3 allow).
public struct AclEntry: Defaultable, Sendable, Equatable, Hashable {
    public var resourceType: Int8 = 0
    public var resourceName = ""
    /// LITERAL unless the version carries it (v1+).
    public var patternType: Int8 = 3
    public var principal = ""
    public var host = ""
    public var operation: Int8 = 0
    public var permissionType: Int8 = 0
    public init() {}

    public init(
        resourceType: Int8, resourceName: String, patternType: Int8, principal: String, host: String,
        operation: Int8, permissionType: Int8
    ) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permissionType = permissionType
    }
}

/// What DescribeAcls and DeleteAcls match: a null string matches any value.
public struct AclFilter: Defaultable, Sendable, Equatable {
    public var resourceType: Int8 = 1
    public var resourceName: String? = nil
    public var patternType: Int8 = 3
    public var principal: String? = nil
    public var host: String? = nil
    public var operation: Int8 = 1
    public var permissionType: Int8 = 1
    public init() {}

    mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int8(&resourceType)
        try s.nullableString(&resourceName, field: "resource_name_filter")
        if version >= 1 { try s.int8(&patternType) }
        try s.nullableString(&principal, field: "principal_filter")
        try s.nullableString(&host, field: "host_filter")
        try s.int8(&operation)
        try s.int8(&permissionType)
    }
}

/// DescribeAcls (key 29), v0-3, flexible from v2.
public struct DescribeAclsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeAcls }
    public var filter = AclFilter()
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try filter.serde(&s, version: version)
        try s.tags()
    }
}

public struct DescribeAclsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeAcls }
    public struct Acl: Defaultable, Sendable, Equatable {
        public var principal = ""
        public var host = ""
        public var operation: Int8 = 0
        public var permissionType: Int8 = 0
        public init() {}
    }
    public struct Resource: Defaultable, Sendable, Equatable {
        public var resourceType: Int8 = 0
        public var resourceName = ""
        public var patternType: Int8 = 3
        public var acls: [Acl] = []
        public init() {}
    }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public var resources: [Resource] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.errorMessage(&errorMessage)
        try s.array(&resources, field: "resources") { s, r in
            try s.int8(&r.resourceType)
            try s.string(&r.resourceName, field: "name")
            if version >= 1 { try s.int8(&r.patternType) }
            try s.array(&r.acls, field: "acls") { s, a in
                try s.string(&a.principal, field: "principal")
                try s.string(&a.host, field: "host")
                try s.int8(&a.operation)
                try s.int8(&a.permissionType)
                try s.tags()
            }
            try s.tags()
        }
        try s.tags()
    }
}

/// CreateAcls (key 30), v0-3, flexible from v2.
public struct CreateAclsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .createAcls }
    public var creations: [AclEntry] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&creations, field: "creations") { s, c in
            try s.int8(&c.resourceType)
            try s.string(&c.resourceName, field: "resource_name")
            if version >= 1 { try s.int8(&c.patternType) }
            try s.string(&c.principal, field: "principal")
            try s.string(&c.host, field: "host")
            try s.int8(&c.operation)
            try s.int8(&c.permissionType)
            try s.tags()
        }
        try s.tags()
    }
}

public struct CreateAclsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .createAcls }
    public struct Result: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public init() {}
    }
    public var throttleTimeMs: Int32 = 0
    public var results: [Result] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&results, field: "results") { s, r in
            try s.int16(&r.errorCode)
            try s.errorMessage(&r.errorMessage)
            try s.tags()
        }
        try s.tags()
    }
}

/// DeleteAcls (key 31), v0-3, flexible from v2.
public struct DeleteAclsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .deleteAcls }
    public var filters: [AclFilter] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&filters, field: "filters") { s, f in
            try f.serde(&s, version: version)
            try s.tags()
        }
        try s.tags()
    }
}

public struct DeleteAclsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .deleteAcls }
    public struct Matching: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public var acl = AclEntry()
        public init() {}
    }
    public struct FilterResult: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public var matchingAcls: [Matching] = []
        public init() {}
    }
    public var throttleTimeMs: Int32 = 0
    public var filterResults: [FilterResult] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&filterResults, field: "filter_results") { s, f in
            try s.int16(&f.errorCode)
            try s.errorMessage(&f.errorMessage)
            try s.array(&f.matchingAcls, field: "matching_acls") { s, m in
                try s.int16(&m.errorCode)
                try s.errorMessage(&m.errorMessage)
                try s.int8(&m.acl.resourceType)
                try s.string(&m.acl.resourceName, field: "resource_name")
                if version >= 1 { try s.int8(&m.acl.patternType) }
                try s.string(&m.acl.principal, field: "principal")
                try s.string(&m.acl.host, field: "host")
                try s.int8(&m.acl.operation)
                try s.int8(&m.acl.permissionType)
                try s.tags()
            }
            try s.tags()
        }
        try s.tags()
    }
}

extension CreateAclsResponse {
    /// Every one of `count` creations answered with the same error.
    public static func failing(_ count: Int, _ code: ErrorCode, _ message: String?) -> CreateAclsResponse {
        var r = CreateAclsResponse()
        var one = Result()
        one.errorCode = code.rawValue
        one.errorMessage = message
        r.results = Array(repeating: one, count: count)
        return r
    }
}

extension DeleteAclsResponse {
    /// Every one of `count` filters answered with the same error.
    public static func failing(_ count: Int, _ code: ErrorCode, _ message: String?) -> DeleteAclsResponse {
        var r = DeleteAclsResponse()
        var one = FilterResult()
        one.errorCode = code.rawValue
        one.errorMessage = message
        r.filterResults = Array(repeating: one, count: count)
        return r
    }
}
