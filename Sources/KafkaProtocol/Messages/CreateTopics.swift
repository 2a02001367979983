import NIOCore

/// CreateTopics (key 19), v0-7; flexible from v5. -1 partitions or replication factor (v4+) means
/// the broker's default.
public struct CreateTopicsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .createTopics }

    public struct Assignment: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var brokerIds: [Int32] = []
        public init() {}
    }

    public struct Config: Defaultable, Sendable, Equatable {
        public var name = ""
        public var value: String? = nil
        public init() {}
        public init(name: String, value: String?) {
            self.name = name
            self.value = value
        }
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var numPartitions: Int32 = -1
        public var replicationFactor: Int16 = -1
        public var assignments: [Assignment] = []
        public var configs: [Config] = []
        public init() {}
    }

    public var topics: [Topic] = []
    public var timeoutMs: Int32 = 60_000
    public var validateOnly = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.int32(&t.numPartitions)
            try s.int16(&t.replicationFactor)
            try s.array(&t.assignments, field: "assignments") { s, a in
                try s.int32(&a.partitionIndex)
                try s.int32Array(&a.brokerIds, field: "broker_ids")
                try s.tagsIfFlexible()
            }
            try s.array(&t.configs, field: "configs") { s, c in
                try s.string(&c.name, field: "config name")
                try s.nullableString(&c.value, field: "config value")
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.int32(&timeoutMs)
        if version >= 1 { try s.bool(&validateOnly) }
        try s.tagsIfFlexible()
    }
}

public struct CreateTopicsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .createTopics }

    public struct Config: Defaultable, Sendable, Equatable {
        public var name = ""
        public var value: String? = nil
        public var readOnly = false
        public var configSource: Int8 = -1
        public var isSensitive = false
        public init() {}
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var topicId = KafkaUUID.zero
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public var numPartitions: Int32 = -1
        public var replicationFactor: Int16 = -1
        public var configs: [Config]? = nil
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 2 { try s.int32(&throttleTimeMs) }
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            if version >= 7 { try s.uuid(&t.topicId) }
            try s.int16(&t.errorCode)
            if version >= 1 { try s.errorMessage(&t.errorMessage) }
            if version >= 5 {
                try s.int32(&t.numPartitions)
                try s.int16(&t.replicationFactor)
                try s.nullableArray(&t.configs, field: "configs") { s, c in
                    try s.string(&c.name, field: "config name")
                    try s.nullableString(&c.value, field: "config value")
                    try s.bool(&c.readOnly)
                    try s.int8(&c.configSource)
                    try s.bool(&c.isSensitive)
                    try s.tagsIfFlexible()
                }
            }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
