import NIOCore

/// DescribeTopicPartitions (key 75), v0, flexible (KIP-966): topics and their partitions in name
/// order, at most `responsePartitionLimit` partitions an answer, continued from a cursor. What
/// Kafka 3.7+ admin clients use for `describeTopics`.
public struct DescribeTopicPartitionsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeTopicPartitions }

    /// Where an answer starts or the next one should: a topic and a partition of it.
    public struct Cursor: Sendable, Equatable {
        public var topicName = ""
        public var partitionIndex: Int32 = 0
        public init(topicName: String, partitionIndex: Int32) {
            self.topicName = topicName
            self.partitionIndex = partitionIndex
        }
    }

    /// Empty: every topic.
    public var topics: [String] = []
    public var responsePartitionLimit: Int32 = 2000
    public var cursor: Cursor? = nil
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&topics, field: "topics") { s, name in
            try s.string(&name, field: "topic name")
            try s.tags()
        }
        try s.int32(&responsePartitionLimit)
        try Self.cursor(&s, &cursor)
        try s.tags()
    }

    /// A nullable struct: INT8 -1 for null, 1 before its fields.
    static func cursor<S: KafkaSerde>(_ s: inout S, _ cursor: inout Cursor?) throws {
        var marker: Int8 = cursor == nil ? -1 : 1
        try s.int8(&marker)
        guard marker >= 0 else {
            cursor = nil
            return
        }
        var c = cursor ?? Cursor(topicName: "", partitionIndex: 0)
        try s.string(&c.topicName, field: "cursor topic name")
        try s.int32(&c.partitionIndex)
        try s.tags()
        cursor = c
    }
}

public struct DescribeTopicPartitionsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeTopicPartitions }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var partitionIndex: Int32 = 0
        public var leaderId: Int32 = -1
        public var leaderEpoch: Int32 = -1
        public var replicaNodes: [Int32] = []
        public var isrNodes: [Int32] = []
        /// KIP-966's eligible leader replicas; Tern has none (null).
        public var eligibleLeaderReplicas: [Int32]? = nil
        public var lastKnownElr: [Int32]? = nil
        public var offlineReplicas: [Int32] = []
        public init() {}
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var name: String? = nil
        public var topicId = KafkaUUID.zero
        public var isInternal = false
        public var partitions: [Partition] = []
        public var topicAuthorizedOperations: Int32 = Int32.min
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public var nextCursor: DescribeTopicPartitionsRequest.Cursor? = nil
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&topics, field: "topics") { s, t in
            try s.int16(&t.errorCode)
            try s.nullableString(&t.name, field: "topic name")
            try s.uuid(&t.topicId)
            try s.bool(&t.isInternal)
            try s.array(&t.partitions, field: "partitions") { s, p in
                try s.int16(&p.errorCode)
                try s.int32(&p.partitionIndex)
                try s.int32(&p.leaderId)
                try s.int32(&p.leaderEpoch)
                try s.int32Array(&p.replicaNodes, field: "replica_nodes")
                try s.int32Array(&p.isrNodes, field: "isr_nodes")
                try s.nullableArray(&p.eligibleLeaderReplicas, field: "eligible_leader_replicas") { s, e in
                    try s.int32(&e)
                }
                try s.nullableArray(&p.lastKnownElr, field: "last_known_elr") { s, e in try s.int32(&e) }
                try s.int32Array(&p.offlineReplicas, field: "offline_replicas")
                try s.tags()
            }
            try s.int32(&t.topicAuthorizedOperations)
            try s.tags()
        }
        try DescribeTopicPartitionsRequest.cursor(&s, &nextCursor)
        try s.tags()
    }
}
