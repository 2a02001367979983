import NIOCore

/// AlterPartitionReassignments (key 45), v0, flexible (KIP-455): moves partitions to new replica
/// sets, or (null replicas) cancels a reassignment in progress.
public struct AlterPartitionReassignmentsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .alterPartitionReassignments }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        /// The target replicas, preferred leader first; nil cancels.
        public var replicas: [Int32]? = nil
        public init() {}
        public init(_ index: Int32, _ replicas: [Int32]?) {
            partitionIndex = index
            self.replicas = replicas
        }
    }

    public typealias Topic = NamedTopic<Partition>

    public var timeoutMs: Int32 = 60_000
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&timeoutMs)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.nullableArray(&p.replicas, field: "replicas") { s, e in try s.int32(&e) }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct AlterPartitionReassignmentsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .alterPartitionReassignments }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public var responses: [Topic] = []
    public init() {}

    /// The whole request refused with `code` (and each partition it names).
    public static func refusing(_ request: AlterPartitionReassignmentsRequest, _ code: ErrorCode, _ message: String)
        -> Self
    {
        var r = Self()
        r.errorCode = code.rawValue
        r.errorMessage = message
        r.responses = request.topics.map { .failing($0, code.rawValue, message) }
        return r
    }

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.errorMessage(&errorMessage)
        try s.topics(&responses) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
            try s.errorMessage(&p.errorMessage)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

/// ListPartitionReassignments (key 46), v0, flexible: the reassignments in progress.
public struct ListPartitionReassignmentsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listPartitionReassignments }

    public typealias Topic = NamedTopic<Int32>

    public var timeoutMs: Int32 = 60_000
    /// Nil: every partition with a reassignment in progress.
    public var topics: [Topic]? = nil
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&timeoutMs)
        try s.nullableArray(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.int32Array(&t.partitions, field: "partition_indexes")
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct ListPartitionReassignmentsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listPartitionReassignments }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        /// Every replica now: the target's and those still to be removed.
        public var replicas: [Int32] = []
        public var addingReplicas: [Int32] = []
        public var removingReplicas: [Int32] = []
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.errorMessage(&errorMessage)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int32Array(&p.replicas, field: "replicas")
            try s.int32Array(&p.addingReplicas, field: "adding_replicas")
            try s.int32Array(&p.removingReplicas, field: "removing_replicas")
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
