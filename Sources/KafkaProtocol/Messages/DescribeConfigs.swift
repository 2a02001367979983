import NIOCore

/// DescribeConfigs (key 32), v0-4; flexible from v4. Resource type 2 is a topic, 4 a broker.
public struct DescribeConfigsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeConfigs }
    public static let topicResource: Int8 = 2
    public static let brokerResource: Int8 = 4

    public struct Resource: Defaultable, Sendable, Equatable {
        public var resourceType: Int8 = 0
        public var resourceName = ""
        public var configurationKeys: [String]? = nil
        public init() {}
    }

    public var resources: [Resource] = []
    public var includeSynonyms = false
    public var includeDocumentation = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&resources, field: "resources") { s, r in
            try s.int8(&r.resourceType)
            try s.string(&r.resourceName, field: "resource_name")
            try s.nullableArray(&r.configurationKeys, field: "configuration_keys") { s, k in
                try s.string(&k, field: "configuration key")
            }
            try s.tagsIfFlexible()
        }
        if version >= 1 { try s.bool(&includeSynonyms) }
        if version >= 3 { try s.bool(&includeDocumentation) }
        try s.tagsIfFlexible()
    }
}

public struct DescribeConfigsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeConfigs }

    /// Kafka's config sources: 1 dynamic topic, 4 static broker config, 5 default.
    public enum Source: Int8, Sendable {
        case unknown = 0
        case dynamicTopic = 1
        case dynamicBroker = 2
        case dynamicDefaultBroker = 3
        case staticBroker = 4
        case defaultConfig = 5
    }

    public struct Synonym: Defaultable, Sendable, Equatable {
        public var name = ""
        public var value: String? = nil
        public var source: Int8 = 0
        public init() {}
    }

    public struct Config: Defaultable, Sendable, Equatable {
        public var name = ""
        public var value: String? = nil
        public var readOnly = false
        public var isDefault = false
        public var configSource: Int8 = -1
        public var isSensitive = false
        public var synonyms: [Synonym] = []
        public var configType: Int8 = 0
        public var documentation: String? = nil
        public init() {}
    }

    public struct Result: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public var resourceType: Int8 = 0
        public var resourceName = ""
        public var configs: [Config] = []
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var results: [Result] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&results, field: "results") { s, r in
            try s.int16(&r.errorCode)
            try s.errorMessage(&r.errorMessage)
            try s.int8(&r.resourceType)
            try s.string(&r.resourceName, field: "resource_name")
            try s.array(&r.configs, field: "configs") { s, c in
                try s.string(&c.name, field: "config name")
                try s.nullableString(&c.value, field: "config value")
                try s.bool(&c.readOnly)
                if version == 0 { try s.bool(&c.isDefault) }
                if version >= 1 { try s.int8(&c.configSource) }
                try s.bool(&c.isSensitive)
                if version >= 1 {
                    try s.array(&c.synonyms, field: "synonyms") { s, y in
                        try s.string(&y.name, field: "synonym name")
                        try s.nullableString(&y.value, field: "synonym value")
                        try s.int8(&y.source)
                        try s.tagsIfFlexible()
                    }
                }
                if version >= 3 {
                    try s.int8(&c.configType)
                    try s.nullableString(&c.documentation, field: "documentation")
                }
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
