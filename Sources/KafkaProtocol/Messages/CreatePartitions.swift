import NIOCore

/// CreatePartitions (key 37), v0-3; flexible from v2. Raises a topic's partition count.
public struct CreatePartitionsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .createPartitions }

    public struct Assignment: Defaultable, Sendable, Equatable {
        public var brokerIds: [Int32] = []
        public init() {}
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var count: Int32 = 0
        public var assignments: [Assignment]? = nil
        public init() {}
    }

    public var topics: [Topic] = []
    public var timeoutMs: Int32 = 30_000
    public var validateOnly = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.int32(&t.count)
            try s.nullableArray(&t.assignments, field: "assignments") { s, a in
                try s.int32Array(&a.brokerIds, field: "broker_ids")
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.int32(&timeoutMs)
        try s.bool(&validateOnly)
        try s.tagsIfFlexible()
    }
}

public struct CreatePartitionsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .createPartitions }

    public struct Result: Defaultable, Sendable, Equatable {
        public var name = ""
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var results: [Result] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&results, field: "results") { s, r in
            try s.string(&r.name, field: "topic name")
            try s.int16(&r.errorCode)
            try s.errorMessage(&r.errorMessage)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
