/// A consumer group's committed offsets: OffsetCommit (8), OffsetFetch (9) and OffsetDelete (47).

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

    public typealias Topic = NamedTopic<Partition>

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
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int64(&p.committedOffset)
            if version >= 6 { try s.int32(&p.committedLeaderEpoch) }
            if version == 1 { try s.int64(&p.commitTimestamp) }
            try s.nullableString(&p.committedMetadata, field: "committed_metadata")
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

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 3 { try s.int32(&throttleTimeMs) }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
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

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public var errorCode: Int16 = 0
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 3 { try s.int32(&throttleTimeMs) }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int64(&p.committedOffset)
            if version >= 5 { try s.int32(&p.committedLeaderEpoch) }
            try s.nullableString(&p.metadata, field: "metadata")
            try s.int16(&p.errorCode)
            try s.tagsIfFlexible()
        }
        if version >= 2 { try s.int16(&errorCode) }
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

    public typealias Topic = NamedTopic<Partition>

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
