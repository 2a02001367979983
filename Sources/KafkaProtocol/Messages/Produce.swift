import NIOCore

/// Produce (key 0), v0-10; flexible from v9. v10 (KIP-951) is v9 with the current leader and its
/// address in the answer to a partition this broker does not lead. The records field holds
/// RecordBatch v2 (v3+), or in v0-2 a legacy message set of magic 0/1 (which the broker converts).
public struct ProduceRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .produce }

    public struct PartitionData: Defaultable, Sendable, Equatable {
        public var index: Int32 = 0
        public var records: ByteBuffer? = nil
        public init() {}
        public init(index: Int32, records: ByteBuffer?) {
            self.index = index
            self.records = records
        }
    }

    public typealias TopicData = NamedTopic<PartitionData>

    public var transactionalId: String? = nil
    public var acks: Int16 = -1
    public var timeoutMs: Int32 = 30_000
    public var topics: [TopicData] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 3 { try s.nullableString(&transactionalId, field: "transactional_id") }
        try s.int16(&acks)
        try s.int32(&timeoutMs)
        try s.topics(&topics) { s, p in
            try s.int32(&p.index)
            try s.nullableBytes(&p.records, field: "records")
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct ProduceResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .produce }

    public struct RecordError: Defaultable, Sendable, Equatable {
        public var batchIndex: Int32 = 0
        public var message: String? = nil
        public init() {}
    }

    public struct PartitionResponse: Defaultable, Sendable, Equatable {
        public var index: Int32 = 0
        public var errorCode: Int16 = 0
        public var baseOffset: Int64 = -1
        public var logAppendTimeMs: Int64 = -1
        public var logStartOffset: Int64 = -1
        public var recordErrors: [RecordError] = []
        public var errorMessage: String? = nil
        /// Tagged field 0 (v10+, KIP-951): who leads the partition, when this broker does not.
        public var currentLeader: FetchResponse.LeaderIdAndEpoch? = nil
        public init() {}
    }

    /// Where a broker named in `currentLeader` listens (KIP-951), so the client need not wait for
    /// a metadata refresh to send there.
    public struct NodeEndpoint: Defaultable, Sendable, Equatable {
        public var nodeId: Int32 = 0
        public var host = ""
        public var port: Int32 = 0
        public var rack: String? = nil
        public init() {}
    }

    public typealias TopicResponse = NamedTopic<PartitionResponse>

    public var responses: [TopicResponse] = []
    public var throttleTimeMs: Int32 = 0
    /// Tagged field 0 (v10+).
    public var nodeEndpoints: [NodeEndpoint] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.topics(&responses) { s, p in
            try s.int32(&p.index)
            try s.int16(&p.errorCode)
            try s.int64(&p.baseOffset)
            if version >= 2 { try s.int64(&p.logAppendTimeMs) }
            if version >= 5 { try s.int64(&p.logStartOffset) }
            if version >= 8 {
                try s.array(&p.recordErrors, field: "record_errors") { s, e in
                    try s.int32(&e.batchIndex)
                    if !s.isReading { e.message = e.message?.boundedMessage }
                    try s.nullableString(&e.message, field: "batch_index_error_message")
                    try s.tagsIfFlexible()
                }
                try s.errorMessage(&p.errorMessage)
            }
            if version >= 10 {
                var leader = p.currentLeader ?? .init(leaderId: -1, leaderEpoch: -1)
                var sawLeader = false
                try s.tags([
                    TaggedField(tag: 0, present: p.currentLeader != nil) { s in
                        try s.int32(&leader.leaderId)
                        try s.int32(&leader.leaderEpoch)
                        try s.tags()
                        sawLeader = true
                    }
                ])
                if s.isReading { p.currentLeader = sawLeader ? leader : nil }
            } else {
                try s.tagsIfFlexible()
            }
        }
        if version >= 1 { try s.int32(&throttleTimeMs) }
        if version >= 10 {
            var endpoints = nodeEndpoints
            try s.tags([
                TaggedField(tag: 0, present: !endpoints.isEmpty) { s in
                    try s.array(&endpoints, field: "node_endpoints") { s, e in
                        try s.int32(&e.nodeId)
                        try s.string(&e.host, field: "host")
                        try s.int32(&e.port)
                        try s.nullableString(&e.rack, field: "rack")
                        try s.tags()
                    }
                }
            ])
            if s.isReading { nodeEndpoints = endpoints }
        } else {
            try s.tagsIfFlexible()
        }
    }
}
