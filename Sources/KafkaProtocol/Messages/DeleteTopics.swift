import NIOCore

/// DeleteTopics (key 20), v0-6; flexible from v4. v6 names topics by name or id.
public struct DeleteTopicsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .deleteTopics }

    public struct TopicState: Defaultable, Sendable, Equatable {
        public var name: String? = nil
        public var topicId = KafkaUUID.zero
        public init() {}
    }

    /// v6 form; for v0-5 only `name` is used.
    public var topics: [TopicState] = []
    public var timeoutMs: Int32 = 30_000
    public init() {}

    public init(names: [String]) {
        topics = names.map {
            var t = TopicState()
            t.name = $0
            return t
        }
    }

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 6 {
            try s.array(&topics, field: "topics") { s, t in
                try s.nullableString(&t.name, field: "topic name")
                try s.uuid(&t.topicId)
                try s.tagsIfFlexible()
            }
        } else {
            var names = topics.map { $0.name ?? "" }
            try s.stringArray(&names, field: "topic_names")
            if s.isReading { self = DeleteTopicsRequest(names: names) }
        }
        try s.int32(&timeoutMs)
        try s.tagsIfFlexible()
    }
}

public struct DeleteTopicsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .deleteTopics }

    public struct Result: Defaultable, Sendable, Equatable {
        public var name: String? = nil
        public var topicId = KafkaUUID.zero
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var responses: [Result] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int32(&throttleTimeMs) }
        try s.array(&responses, field: "responses") { s, r in
            if version >= 6 {
                try s.nullableString(&r.name, field: "topic name")
                try s.uuid(&r.topicId)
            } else {
                var n = r.name ?? ""
                try s.string(&n, field: "topic name")
                r.name = n
            }
            try s.int16(&r.errorCode)
            if version >= 5 { try s.errorMessage(&r.errorMessage) }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
