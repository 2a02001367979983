import NIOCore

/// BrokerRegistration (key 62), v0-1, flexible from v0: a broker announces itself to the active
/// controller at start-up and gets its broker epoch.
public struct BrokerRegistrationRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .brokerRegistration }

    public struct Listener: Defaultable, Sendable, Equatable {
        public var name = ""
        public var host = ""
        public var port: UInt16 = 0
        public var securityProtocol: Int16 = 0
        public init() {}
    }

    public struct Feature: Defaultable, Sendable, Equatable {
        public var name = ""
        public var minSupportedVersion: Int16 = 0
        public var maxSupportedVersion: Int16 = 0
        public init() {}
    }

    public var brokerId: Int32 = -1
    public var clusterId = ""
    public var incarnationId = KafkaUUID.zero
    public var listeners: [Listener] = []
    public var features: [Feature] = []
    public var rack: String? = nil
    public var isMigratingZkBroker = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&brokerId)
        try s.string(&clusterId, field: "cluster_id")
        try s.uuid(&incarnationId)
        try s.array(&listeners, field: "listeners") { s, l in
            try s.string(&l.name, field: "listener name")
            try s.string(&l.host, field: "host")
            var port = Int16(bitPattern: l.port)
            try s.int16(&port)
            l.port = UInt16(bitPattern: port)
            try s.int16(&l.securityProtocol)
            try s.tags()
        }
        try s.array(&features, field: "features") { s, f in
            try s.string(&f.name, field: "feature name")
            try s.int16(&f.minSupportedVersion)
            try s.int16(&f.maxSupportedVersion)
            try s.tags()
        }
        try s.nullableString(&rack, field: "rack")
        if version >= 1 { try s.bool(&isMigratingZkBroker) }
        try s.tags()
    }
}

public struct BrokerRegistrationResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .brokerRegistration }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var brokerEpoch: Int64 = -1
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.int64(&brokerEpoch)
        try s.tags()
    }
}

/// BrokerHeartbeat (key 63), v0, flexible: a registered broker's periodic sign of life, with how
/// far it has applied the metadata log and whether it wants to be fenced or shut down.
public struct BrokerHeartbeatRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .brokerHeartbeat }
    public var brokerId: Int32 = -1
    public var brokerEpoch: Int64 = -1
    public var currentMetadataOffset: Int64 = -1
    public var wantFence = false
    public var wantShutDown = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&brokerId)
        try s.int64(&brokerEpoch)
        try s.int64(&currentMetadataOffset)
        try s.bool(&wantFence)
        try s.bool(&wantShutDown)
        try s.tags()
    }
}

public struct BrokerHeartbeatResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .brokerHeartbeat }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var isCaughtUp = false
    public var isFenced = true
    public var shouldShutDown = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.bool(&isCaughtUp)
        try s.bool(&isFenced)
        try s.bool(&shouldShutDown)
        try s.tags()
    }
}
