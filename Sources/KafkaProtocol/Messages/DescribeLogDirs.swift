import NIOCore

/// DescribeLogDirs (key 35), v0-4; flexible from v2. What a broker holds on disk: per log
/// directory, each replica's size and how far its log end is behind the high watermark.
public struct DescribeLogDirsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeLogDirs }

    public typealias Topic = NamedTopic<Int32>

    /// Nil: every replica.
    public var topics: [Topic]? = nil
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.nullableArray(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic")
            try s.int32Array(&t.partitions, field: "partitions")
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct DescribeLogDirsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeLogDirs }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var partitionSize: Int64 = 0
        public var offsetLag: Int64 = 0
        public var isFutureKey = false
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public struct Result: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var logDir = ""
        public var topics: [Topic] = []
        /// v4+: the file system's size and free space, -1 when unknown.
        public var totalBytes: Int64 = -1
        public var usableBytes: Int64 = -1
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    /// v3+.
    public var errorCode: Int16 = 0
    public var results: [Result] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        if version >= 3 { try s.int16(&errorCode) }
        try s.array(&results, field: "results") { s, r in
            try s.int16(&r.errorCode)
            try s.string(&r.logDir, field: "log_dir")
            try s.topics(&r.topics) { s, p in
                try s.int32(&p.partitionIndex)
                try s.int64(&p.partitionSize)
                try s.int64(&p.offsetLag)
                try s.bool(&p.isFutureKey)
                try s.tagsIfFlexible()
            }
            if version >= 4 {
                try s.int64(&r.totalBytes)
                try s.int64(&r.usableBytes)
            }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
