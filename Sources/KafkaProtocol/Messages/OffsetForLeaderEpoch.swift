import NIOCore

/// OffsetForLeaderEpoch (key 23), v0-4; flexible from v4. A consumer (KIP-320) or a follower
/// asks where a leader epoch ends in the leader's log, to find records it holds that the leader
/// does not (a truncation after a leader change).
public struct OffsetForLeaderEpochRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .offsetForLeaderEpoch }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partition: Int32 = 0
        public var currentLeaderEpoch: Int32 = -1
        public var leaderEpoch: Int32 = 0
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    /// -1 for a consumer; before v3 the field is absent and means -2 (a debugging client).
    public var replicaId: Int32 = -2
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 3 { try s.int32(&replicaId) }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partition)
            if version >= 2 { try s.int32(&p.currentLeaderEpoch) }
            try s.int32(&p.leaderEpoch)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct OffsetForLeaderEpochResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .offsetForLeaderEpoch }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var partition: Int32 = 0
        public var leaderEpoch: Int32 = -1
        public var endOffset: Int64 = -1
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 2 { try s.int32(&throttleTimeMs) }
        try s.topics(&topics) { s, p in
            try s.int16(&p.errorCode)
            try s.int32(&p.partition)
            if version >= 1 { try s.int32(&p.leaderEpoch) }
            try s.int64(&p.endOffset)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
