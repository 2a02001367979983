import NIOCore

/// IncrementalAlterConfigs (key 44), v0-1, flexible from v1: set, delete, append to or subtract
/// from single config entries of a resource (kafka-configs and AdminClient use it).
public struct IncrementalAlterConfigsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .incrementalAlterConfigs }

    public enum Operation: Int8, Sendable {
        case set = 0, delete = 1, append = 2, subtract = 3
    }

    public struct Config: Defaultable, Sendable, Equatable {
        public var name = ""
        public var operation: Int8 = 0
        public var value: String? = nil
        public init() {}
        public init(name: String, operation: Operation, value: String?) {
            self.name = name
            self.operation = operation.rawValue
            self.value = value
        }
    }

    public struct Resource: Defaultable, Sendable, Equatable {
        public var resourceType: Int8 = 0
        public var resourceName = ""
        public var configs: [Config] = []
        public init() {}
    }

    public var resources: [Resource] = []
    public var validateOnly = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&resources, field: "resources") { s, r in
            try s.int8(&r.resourceType)
            try s.string(&r.resourceName, field: "resource_name")
            try s.array(&r.configs, field: "configs") { s, c in
                try s.string(&c.name, field: "config name")
                try s.int8(&c.operation)
                try s.nullableString(&c.value, field: "config value")
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.bool(&validateOnly)
        try s.tagsIfFlexible()
    }
}

/// AlterConfigs (key 33), v0-2, flexible from v2: replaces a resource's whole set of dynamic
/// configs (names left out go back to their defaults). kafka-python's `alter_configs` uses it.
public struct AlterConfigsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .alterConfigs }

    public struct Config: Defaultable, Sendable, Equatable {
        public var name = ""
        public var value: String? = nil
        public init() {}
    }

    public struct Resource: Defaultable, Sendable, Equatable {
        public var resourceType: Int8 = 0
        public var resourceName = ""
        public var configs: [Config] = []
        public init() {}
    }

    public var resources: [Resource] = []
    public var validateOnly = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&resources, field: "resources") { s, r in
            try s.int8(&r.resourceType)
            try s.string(&r.resourceName, field: "resource_name")
            try s.array(&r.configs, field: "configs") { s, c in
                try s.string(&c.name, field: "config name")
                try s.nullableString(&c.value, field: "config value")
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.bool(&validateOnly)
        try s.tagsIfFlexible()
    }
}

/// The answer of both AlterConfigs and IncrementalAlterConfigs: one result per resource.
public struct AlterConfigsResult: Defaultable, Sendable, Equatable {
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public var resourceType: Int8 = 0
    public var resourceName = ""
    public init() {}
}

public struct IncrementalAlterConfigsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .incrementalAlterConfigs }
    public var throttleTimeMs: Int32 = 0
    public var responses: [AlterConfigsResult] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&responses, field: "responses") { s, r in try r.serde(&s) }
        try s.tagsIfFlexible()
    }
}

public struct AlterConfigsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .alterConfigs }
    public var throttleTimeMs: Int32 = 0
    public var responses: [AlterConfigsResult] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&responses, field: "responses") { s, r in try r.serde(&s) }
        try s.tagsIfFlexible()
    }
}

extension AlterConfigsResult {
    mutating func serde<S: KafkaSerde>(_ s: inout S) throws {
        try s.int16(&errorCode)
        try s.errorMessage(&errorMessage)
        try s.int8(&resourceType)
        try s.string(&resourceName, field: "resource_name")
        try s.tagsIfFlexible()
    }
}
