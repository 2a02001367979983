import NIOCore

/// Listing, describing and deleting consumer groups: ListGroups (16), DescribeGroups (15) and
/// DeleteGroups (42).

/// ListGroups (key 16), v0-5; flexible from v3; v4 filters by state and answers with it, v5
/// (KIP-848) by type ("classic", "consumer", "share").
public struct ListGroupsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listGroups }
    public var statesFilter: [String] = []
    public var typesFilter: [String] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 4 { try s.stringArray(&statesFilter, field: "states_filter") }
        if version >= 5 { try s.stringArray(&typesFilter, field: "types_filter") }
        try s.tagsIfFlexible()
    }
}

public struct ListGroupsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listGroups }

    public struct Group: Defaultable, Sendable, Equatable {
        public var groupId = ""
        public var protocolType = ""
        public var groupState = ""
        /// v5: "classic" for every group of the JoinGroup protocol.
        public var groupType = ""
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var groups: [Group] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int32(&throttleTimeMs) }
        try s.int16(&errorCode)
        try s.array(&groups, field: "groups") { s, g in
            try s.string(&g.groupId, field: "group_id")
            try s.string(&g.protocolType, field: "protocol_type")
            if version >= 4 { try s.string(&g.groupState, field: "group_state") }
            if version >= 5 { try s.string(&g.groupType, field: "group_type") }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

/// DescribeGroups (key 15), v0-5; flexible from v5; v3 adds authorized operations, v4 static
/// membership.
public struct DescribeGroupsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeGroups }
    public var groups: [String] = []
    public var includeAuthorizedOperations = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.stringArray(&groups, field: "groups")
        if version >= 3 { try s.bool(&includeAuthorizedOperations) }
        try s.tagsIfFlexible()
    }
}

public struct DescribeGroupsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeGroups }

    public struct Member: Defaultable, Sendable, Equatable {
        public var memberId = ""
        public var groupInstanceId: String? = nil
        public var clientId = ""
        public var clientHost = ""
        public var memberMetadata = ByteBuffer()
        public var memberAssignment = ByteBuffer()
        public init() {}
    }

    public struct Group: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var groupId = ""
        public var groupState = ""
        public var protocolType = ""
        public var protocolData = ""
        public var members: [Member] = []
        public var authorizedOperations: Int32 = Int32.min
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var groups: [Group] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int32(&throttleTimeMs) }
        try s.array(&groups, field: "groups") { s, g in
            try s.int16(&g.errorCode)
            try s.string(&g.groupId, field: "group_id")
            try s.string(&g.groupState, field: "group_state")
            try s.string(&g.protocolType, field: "protocol_type")
            try s.string(&g.protocolData, field: "protocol_data")
            try s.array(&g.members, field: "members") { s, m in
                try s.string(&m.memberId, field: "member_id")
                if version >= 4 { try s.nullableString(&m.groupInstanceId, field: "group_instance_id") }
                try s.string(&m.clientId, field: "client_id")
                try s.string(&m.clientHost, field: "client_host")
                try s.bytes(&m.memberMetadata, field: "member_metadata")
                try s.bytes(&m.memberAssignment, field: "member_assignment")
                try s.tagsIfFlexible()
            }
            if version >= 3 { try s.int32(&g.authorizedOperations) }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

/// DeleteGroups (key 42), v0-2; flexible from v2.
public struct DeleteGroupsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .deleteGroups }
    public var groupsNames: [String] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.stringArray(&groupsNames, field: "groups_names")
        try s.tagsIfFlexible()
    }
}

public struct DeleteGroupsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .deleteGroups }

    public struct Result: Defaultable, Sendable, Equatable {
        public var groupId = ""
        public var errorCode: Int16 = 0
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var results: [Result] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&results, field: "results") { s, r in
            try s.string(&r.groupId, field: "group_id")
            try s.int16(&r.errorCode)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
