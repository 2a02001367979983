import NIOCore

/// DeleteRecords (key 21), v0-2; flexible from v2. Moves partitions' log start offsets forward:
/// records below the given offset are no longer readable (-1 means the high watermark).
public struct DeleteRecordsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .deleteRecords }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var offset: Int64 = 0
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var topics: [Topic] = []
    public var timeoutMs: Int32 = 30_000
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int64(&p.offset)
            try s.tagsIfFlexible()
        }
        try s.int32(&timeoutMs)
        try s.tagsIfFlexible()
    }
}

public struct DeleteRecordsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .deleteRecords }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var lowWatermark: Int64 = -1
        public var errorCode: Int16 = 0
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int64(&p.lowWatermark)
            try s.int16(&p.errorCode)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
