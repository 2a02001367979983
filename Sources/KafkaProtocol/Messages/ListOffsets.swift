import NIOCore

/// ListOffsets (key 2), v0-9; flexible from v6; v7-9 have v6's fields and name more special
/// timestamps. -2 asks for the earliest offset, -1 for the latest (the high watermark for
/// consumers), -3 (v7, KIP-734) for the record with the largest timestamp, -4 (v8, KIP-405) for
/// the earliest local offset, -5 (v9, KIP-1005) for the last tiered one; any value from 0 for
/// the first record at or after it.
public struct ListOffsetsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listOffsets }
    public static let latestTimestamp: Int64 = -1
    public static let earliestTimestamp: Int64 = -2
    public static let maxTimestamp: Int64 = -3
    public static let earliestLocalTimestamp: Int64 = -4
    public static let latestTieredTimestamp: Int64 = -5

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var currentLeaderEpoch: Int32 = -1
        public var timestamp: Int64 = -1
        public var maxNumOffsets: Int32 = 1
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var replicaId: Int32 = -1
    public var isolationLevel: Int8 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&replicaId)
        if version >= 2 { try s.int8(&isolationLevel) }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            if version >= 4 { try s.int32(&p.currentLeaderEpoch) }
            try s.int64(&p.timestamp)
            if version == 0 { try s.int32(&p.maxNumOffsets) }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct ListOffsetsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listOffsets }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public var oldStyleOffsets: [Int64] = []
        public var timestamp: Int64 = -1
        public var offset: Int64 = -1
        public var leaderEpoch: Int32 = -1
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 2 { try s.int32(&throttleTimeMs) }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
            if version == 0 {
                try s.array(&p.oldStyleOffsets, field: "old_style_offsets") { s, o in try s.int64(&o) }
            } else {
                try s.int64(&p.timestamp)
                try s.int64(&p.offset)
            }
            if version >= 4 { try s.int32(&p.leaderEpoch) }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
