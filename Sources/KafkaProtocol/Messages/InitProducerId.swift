import NIOCore

/// InitProducerId (key 22), v0-4; flexible from v2. Gives an idempotent producer its id and epoch.
public struct InitProducerIdRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .initProducerId }
    public var transactionalId: String? = nil
    public var transactionTimeoutMs: Int32 = 60_000
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.nullableString(&transactionalId, field: "transactional_id")
        try s.int32(&transactionTimeoutMs)
        if version >= 3 {
            try s.int64(&producerId)
            try s.int16(&producerEpoch)
        }
        try s.tagsIfFlexible()
    }
}

public struct InitProducerIdResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .initProducerId }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = 0
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.int64(&producerId)
        try s.int16(&producerEpoch)
        try s.tagsIfFlexible()
    }
}
