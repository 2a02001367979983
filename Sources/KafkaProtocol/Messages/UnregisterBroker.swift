/// UnregisterBroker (key 64), v0, flexible: removes a broker's registration from the cluster's
/// metadata (`kafka-cluster.sh unregister`). Forwarded to the active controller.
public struct UnregisterBrokerRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .unregisterBroker }
    public var brokerId: Int32 = 0
    public init() {}
    public init(brokerId: Int32) { self.brokerId = brokerId }

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&brokerId)
        try s.tags()
    }
}

public typealias UnregisterBrokerResponse = ErrorOnlyResponse<UnregisterBrokerRequest>

/// A response that is a throttle time, an error code and a message, and nothing else (v0,
/// flexible): UnregisterBroker's, AddRaftVoter's and RemoveRaftVoter's.
public struct ErrorOnlyResponse<Request: KafkaMessage>: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { Request.apiKey }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public init() {}
    public init(_ code: ErrorCode, _ message: String?) {
        errorCode = code.rawValue
        errorMessage = message
    }

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.errorMessage(&errorMessage)
        try s.tags()
    }
}
