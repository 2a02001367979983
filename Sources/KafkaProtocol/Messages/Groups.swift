import NIOCore

/// The consumer-group RPCs of Kafka's classic protocol: JoinGroup (11), SyncGroup (14),
/// Heartbeat (12), LeaveGroup (13), OffsetCommit (8), OffsetFetch (9), ListGroups (16),
/// DescribeGroups (15) and DeleteGroups (42). Member metadata and assignments are opaque bytes
/// to the broker: clients choose the assignor and the leader computes the assignment.

/// JoinGroup (key 11), v0-9; flexible from v6. v1 adds the rebalance timeout, v4 requires a
/// known member id (KIP-394), v5 adds static membership, v7 the protocol type in the answer,
/// v8 a reason, v9 SkipAssignment.
public struct JoinGroupRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .joinGroup }

    public struct JoinProtocol: Defaultable, Sendable, Equatable {
        public var name = ""
        public var metadata = ByteBuffer()
        public init() {}
    }

    public var groupId = ""
    public var sessionTimeoutMs: Int32 = 0
    public var rebalanceTimeoutMs: Int32 = -1
    public var memberId = ""
    public var groupInstanceId: String? = nil
    public var protocolType = ""
    public var protocols: [JoinProtocol] = []
    public var reason: String? = nil
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&groupId, field: "group_id")
        try s.int32(&sessionTimeoutMs)
        if version >= 1 { try s.int32(&rebalanceTimeoutMs) }
        try s.string(&memberId, field: "member_id")
        if version >= 5 { try s.nullableString(&groupInstanceId, field: "group_instance_id") }
        try s.string(&protocolType, field: "protocol_type")
        try s.array(&protocols, field: "protocols") { s, p in
            try s.string(&p.name, field: "protocol name")
            try s.bytes(&p.metadata, field: "protocol metadata")
            try s.tagsIfFlexible()
        }
        if version >= 8 { try s.nullableString(&reason, field: "reason") }
        try s.tagsIfFlexible()
    }
}

public struct JoinGroupResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .joinGroup }

    public struct Member: Defaultable, Sendable, Equatable {
        public var memberId = ""
        public var groupInstanceId: String? = nil
        public var metadata = ByteBuffer()
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var generationId: Int32 = -1
    public var protocolType: String? = nil
    public var protocolName: String? = nil
    public var leader = ""
    public var skipAssignment = false
    public var memberId = ""
    public var members: [Member] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 2 { try s.int32(&throttleTimeMs) }
        try s.int16(&errorCode)
        try s.int32(&generationId)
        if version >= 7 {
            try s.nullableString(&protocolType, field: "protocol_type")
            try s.nullableString(&protocolName, field: "protocol_name")
        } else {
            var name = protocolName ?? ""
            try s.string(&name, field: "protocol_name")
            protocolName = name
        }
        try s.string(&leader, field: "leader")
        if version >= 9 { try s.bool(&skipAssignment) }
        try s.string(&memberId, field: "member_id")
        try s.array(&members, field: "members") { s, m in
            try s.string(&m.memberId, field: "member_id")
            if version >= 5 { try s.nullableString(&m.groupInstanceId, field: "group_instance_id") }
            try s.bytes(&m.metadata, field: "metadata")
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

/// SyncGroup (key 14), v0-5; flexible from v4. v3 adds static membership, v5 the protocol
/// type and name.
public struct SyncGroupRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .syncGroup }

    public struct Assignment: Defaultable, Sendable, Equatable {
        public var memberId = ""
        public var assignment = ByteBuffer()
        public init() {}
    }

    public var groupId = ""
    public var generationId: Int32 = -1
    public var memberId = ""
    public var groupInstanceId: String? = nil
    public var protocolType: String? = nil
    public var protocolName: String? = nil
    public var assignments: [Assignment] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&groupId, field: "group_id")
        try s.int32(&generationId)
        try s.string(&memberId, field: "member_id")
        if version >= 3 { try s.nullableString(&groupInstanceId, field: "group_instance_id") }
        if version >= 5 {
            try s.nullableString(&protocolType, field: "protocol_type")
            try s.nullableString(&protocolName, field: "protocol_name")
        }
        try s.array(&assignments, field: "assignments") { s, a in
            try s.string(&a.memberId, field: "member_id")
            try s.bytes(&a.assignment, field: "assignment")
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct SyncGroupResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .syncGroup }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var protocolType: String? = nil
    public var protocolName: String? = nil
    public var assignment = ByteBuffer()
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int32(&throttleTimeMs) }
        try s.int16(&errorCode)
        if version >= 5 {
            try s.nullableString(&protocolType, field: "protocol_type")
            try s.nullableString(&protocolName, field: "protocol_name")
        }
        try s.bytes(&assignment, field: "assignment")
        try s.tagsIfFlexible()
    }
}

/// Heartbeat (key 12), v0-4; flexible from v4; v3 adds static membership.
public struct HeartbeatRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .heartbeat }
    public var groupId = ""
    public var generationId: Int32 = -1
    public var memberId = ""
    public var groupInstanceId: String? = nil
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&groupId, field: "group_id")
        try s.int32(&generationId)
        try s.string(&memberId, field: "member_id")
        if version >= 3 { try s.nullableString(&groupInstanceId, field: "group_instance_id") }
        try s.tagsIfFlexible()
    }
}

public struct HeartbeatResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .heartbeat }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int32(&throttleTimeMs) }
        try s.int16(&errorCode)
        try s.tagsIfFlexible()
    }
}

/// LeaveGroup (key 13), v0-5; flexible from v4. v3 leaves several members at once (by id or
/// instance id); v5 adds a reason per member.
public struct LeaveGroupRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .leaveGroup }

    public struct Member: Defaultable, Sendable, Equatable {
        public var memberId = ""
        public var groupInstanceId: String? = nil
        public var reason: String? = nil
        public init() {}
    }

    public var groupId = ""
    /// v0-2: the one member leaving.
    public var memberId = ""
    public var members: [Member] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&groupId, field: "group_id")
        if version <= 2 {
            try s.string(&memberId, field: "member_id")
        } else {
            try s.array(&members, field: "members") { s, m in
                try s.string(&m.memberId, field: "member_id")
                try s.nullableString(&m.groupInstanceId, field: "group_instance_id")
                if version >= 5 { try s.nullableString(&m.reason, field: "reason") }
                try s.tagsIfFlexible()
            }
        }
        try s.tagsIfFlexible()
    }
}

public struct LeaveGroupResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .leaveGroup }

    public struct Member: Defaultable, Sendable, Equatable {
        public var memberId = ""
        public var groupInstanceId: String? = nil
        public var errorCode: Int16 = 0
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var members: [Member] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int32(&throttleTimeMs) }
        try s.int16(&errorCode)
        if version >= 3 {
            try s.array(&members, field: "members") { s, m in
                try s.string(&m.memberId, field: "member_id")
                try s.nullableString(&m.groupInstanceId, field: "group_instance_id")
                try s.int16(&m.errorCode)
                try s.tagsIfFlexible()
            }
        }
        try s.tagsIfFlexible()
    }
}

/// OffsetCommit (key 8), v0-8; flexible from v8. v1 adds generation, member and a per-partition
/// timestamp (v1 only), v2-4 a retention time, v6 the leader epoch, v7 static membership.
public struct OffsetCommitRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .offsetCommit }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var committedOffset: Int64 = 0
        public var committedLeaderEpoch: Int32 = -1
        public var commitTimestamp: Int64 = -1
        public var committedMetadata: String? = nil
        public init() {}
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var partitions: [Partition] = []
        public init() {}
    }

    public var groupId = ""
    public var generationId: Int32 = -1
    public var memberId = ""
    public var groupInstanceId: String? = nil
    public var retentionTimeMs: Int64 = -1
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&groupId, field: "group_id")
        if version >= 1 {
            try s.int32(&generationId)
            try s.string(&memberId, field: "member_id")
        }
        if version >= 7 { try s.nullableString(&groupInstanceId, field: "group_instance_id") }
        if (2...4).contains(version) { try s.int64(&retentionTimeMs) }
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.array(&t.partitions, field: "partitions") { s, p in
                try s.int32(&p.partitionIndex)
                try s.int64(&p.committedOffset)
                if version >= 6 { try s.int32(&p.committedLeaderEpoch) }
                if version == 1 { try s.int64(&p.commitTimestamp) }
                try s.nullableString(&p.committedMetadata, field: "committed_metadata")
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct OffsetCommitResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .offsetCommit }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public init() {}
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var partitions: [Partition] = []
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 3 { try s.int32(&throttleTimeMs) }
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.array(&t.partitions, field: "partitions") { s, p in
                try s.int32(&p.partitionIndex)
                try s.int16(&p.errorCode)
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

/// OffsetFetch (key 9), v0-7; flexible from v6. v2 allows null topics (all of the group's) and
/// adds a top-level error, v5 the leader epoch, v7 RequireStable.
public struct OffsetFetchRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .offsetFetch }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var partitionIndexes: [Int32] = []
        public init() {}
    }

    public var groupId = ""
    public var topics: [Topic]? = []
    public var requireStable = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&groupId, field: "group_id")
        try s.nullableArray(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.int32Array(&t.partitionIndexes, field: "partition_indexes")
            try s.tagsIfFlexible()
        }
        if version >= 7 { try s.bool(&requireStable) }
        try s.tagsIfFlexible()
    }
}

public struct OffsetFetchResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .offsetFetch }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var committedOffset: Int64 = -1
        public var committedLeaderEpoch: Int32 = -1
        public var metadata: String? = ""
        public var errorCode: Int16 = 0
        public init() {}
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var partitions: [Partition] = []
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public var errorCode: Int16 = 0
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 3 { try s.int32(&throttleTimeMs) }
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.array(&t.partitions, field: "partitions") { s, p in
                try s.int32(&p.partitionIndex)
                try s.int64(&p.committedOffset)
                if version >= 5 { try s.int32(&p.committedLeaderEpoch) }
                try s.nullableString(&p.metadata, field: "metadata")
                try s.int16(&p.errorCode)
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        if version >= 2 { try s.int16(&errorCode) }
        try s.tagsIfFlexible()
    }
}

/// ListGroups (key 16), v0-4; flexible from v3; v4 filters by state and answers with it.
public struct ListGroupsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listGroups }
    public var statesFilter: [String] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 4 { try s.stringArray(&statesFilter, field: "states_filter") }
        try s.tagsIfFlexible()
    }
}

public struct ListGroupsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listGroups }

    public struct Group: Defaultable, Sendable, Equatable {
        public var groupId = ""
        public var protocolType = ""
        public var groupState = ""
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

/// OffsetDelete (key 47), v0: removes a group's committed offsets for some partitions, refused
/// per partition (GROUP_SUBSCRIBED_TO_TOPIC) while members consume the topic.
public struct OffsetDeleteRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .offsetDelete }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var partitionIndexes: [Int32] = []
        public init() {}
    }

    public var groupId = ""
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&groupId, field: "group_id")
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            // A partition is a struct of one field here: the same bytes as an INT32 array.
            try s.int32Array(&t.partitionIndexes, field: "partitions")
        }
    }
}

public struct OffsetDeleteResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .offsetDelete }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public init() {}
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var partitions: [Partition] = []
        public init() {}
    }

    public var errorCode: Int16 = 0
    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int16(&errorCode)
        try s.int32(&throttleTimeMs)
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.array(&t.partitions, field: "partitions") { s, p in
                try s.int32(&p.partitionIndex)
                try s.int16(&p.errorCode)
            }
        }
    }
}
