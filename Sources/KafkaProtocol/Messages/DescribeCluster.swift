import NIOCore

/// DescribeCluster (key 60), v0-1, flexible: the cluster id, the controller and the live brokers
/// (what admin clients' `describe_cluster` shows).
public struct DescribeClusterRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeCluster }
    public var includeClusterAuthorizedOperations = false
    public var endpointType: Int8 = 1
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.bool(&includeClusterAuthorizedOperations)
        if version >= 1 { try s.int8(&endpointType) }
        try s.tags()
    }
}

public struct DescribeClusterResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeCluster }

    public struct Broker: Defaultable, Sendable, Equatable {
        public var brokerId: Int32 = -1
        public var host = ""
        public var port: Int32 = -1
        public var rack: String? = nil
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public var endpointType: Int8 = 1
    public var clusterId = ""
    public var controllerId: Int32 = -1
    public var brokers: [Broker] = []
    public var clusterAuthorizedOperations: Int32 = Int32.min
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.errorMessage(&errorMessage)
        if version >= 1 { try s.int8(&endpointType) }
        try s.string(&clusterId, field: "cluster_id")
        try s.int32(&controllerId)
        try s.array(&brokers, field: "brokers") { s, b in
            try s.int32(&b.brokerId)
            try s.string(&b.host, field: "host")
            try s.int32(&b.port)
            try s.nullableString(&b.rack, field: "rack")
            try s.tags()
        }
        try s.int32(&clusterAuthorizedOperations)
        try s.tags()
    }
}
