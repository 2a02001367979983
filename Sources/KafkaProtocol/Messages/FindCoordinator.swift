import NIOCore

/// FindCoordinator (key 10), v0-4; flexible from v3; v4 batches keys. Key type 0 is a consumer
/// group, 1 a transactional id.
public struct FindCoordinatorRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .findCoordinator }
    public static let groupKeyType: Int8 = 0
    public static let transactionKeyType: Int8 = 1

    public var key = ""
    public var keyType: Int8 = 0
    public var coordinatorKeys: [String] = []
    public init() {}

    /// The keys asked about, whatever the version.
    public var keys: [String] { coordinatorKeys.isEmpty ? [key] : coordinatorKeys }

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version <= 3 { try s.string(&key, field: "key") }
        if version >= 1 { try s.int8(&keyType) }
        if version >= 4 { try s.stringArray(&coordinatorKeys, field: "coordinator_keys") }
        try s.tagsIfFlexible()
    }
}

public struct FindCoordinatorResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .findCoordinator }

    public struct Coordinator: Defaultable, Sendable, Equatable {
        public var key = ""
        public var nodeId: Int32 = -1
        public var host = ""
        public var port: Int32 = -1
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    /// v0-3 answer one key in these fields; v4 answers each key in `coordinators`.
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public var nodeId: Int32 = -1
    public var host = ""
    public var port: Int32 = -1
    public var coordinators: [Coordinator] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int32(&throttleTimeMs) }
        if version <= 3 {
            try s.int16(&errorCode)
            if version >= 1 { try s.errorMessage(&errorMessage) }
            try s.int32(&nodeId)
            try s.string(&host, field: "host")
            try s.int32(&port)
        } else {
            try s.array(&coordinators, field: "coordinators") { s, c in
                try s.string(&c.key, field: "key")
                try s.int32(&c.nodeId)
                try s.string(&c.host, field: "host")
                try s.int32(&c.port)
                try s.int16(&c.errorCode)
                try s.errorMessage(&c.errorMessage)
                try s.tagsIfFlexible()
            }
        }
        try s.tagsIfFlexible()
    }
}
