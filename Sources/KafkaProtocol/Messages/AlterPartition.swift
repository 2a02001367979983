import NIOCore

/// AlterPartition (key 56), v0-1, flexible: a partition leader asks the active controller to
/// change the ISR (shrink a lagging follower out, take a caught-up one back in).
public struct AlterPartitionRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .alterPartition }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var leaderEpoch: Int32 = 0
        public var newIsr: [Int32] = []
        public var leaderRecoveryState: Int8 = 0
        public var partitionEpoch: Int32 = 0
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var brokerId: Int32 = -1
    public var brokerEpoch: Int64 = -1
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&brokerId)
        try s.int64(&brokerEpoch)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int32(&p.leaderEpoch)
            try s.int32Array(&p.newIsr, field: "new_isr")
            if version >= 1 { try s.int8(&p.leaderRecoveryState) }
            try s.int32(&p.partitionEpoch)
            try s.tags()
        }
        try s.tags()
    }
}

public struct AlterPartitionResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .alterPartition }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public var leaderId: Int32 = -1
        public var leaderEpoch: Int32 = -1
        public var isr: [Int32] = []
        public var leaderRecoveryState: Int8 = 0
        public var partitionEpoch: Int32 = -1
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
            try s.int32(&p.leaderId)
            try s.int32(&p.leaderEpoch)
            try s.int32Array(&p.isr, field: "isr")
            if version >= 1 { try s.int8(&p.leaderRecoveryState) }
            try s.int32(&p.partitionEpoch)
            try s.tags()
        }
        try s.tags()
    }
}
