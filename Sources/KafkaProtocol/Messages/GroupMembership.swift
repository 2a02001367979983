import NIOCore

/// The consumer-group membership RPCs of Kafka's classic protocol: JoinGroup (11), SyncGroup (14),
/// Heartbeat (12) and LeaveGroup (13). Member metadata and assignments are opaque bytes to the
/// broker: clients choose the assignor and the leader computes the assignment.

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
