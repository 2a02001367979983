import NIOCore

/// FetchSnapshot (key 59), v0, flexible: a KRaft follower that fell behind the leader's log start
/// fetches the leader's snapshot of `__cluster_metadata-0` in chunks, by byte position.
public struct FetchSnapshotRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .fetchSnapshot }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partition: Int32 = 0
        public var currentLeaderEpoch: Int32 = -1
        public var endOffset: Int64 = -1
        public var epoch: Int32 = -1
        public var position: Int64 = 0
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var clusterId: String? = nil
    public var replicaId: Int32 = -1
    public var maxBytes: Int32 = .max
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&replicaId)
        try s.int32(&maxBytes)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partition)
            try s.int32(&p.currentLeaderEpoch)
            try s.int64(&p.endOffset)
            try s.int32(&p.epoch)
            try s.tags()  // the SnapshotId struct's own tagged fields
            try s.int64(&p.position)
            try s.tags()
        }
        var id = clusterId
        try s.tags([
            TaggedField(tag: 0, present: clusterId != nil) { s in try s.nullableString(&id, field: "cluster_id") }
        ])
        clusterId = id
    }
}

public struct FetchSnapshotResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .fetchSnapshot }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var index: Int32 = 0
        public var errorCode: Int16 = 0
        public var endOffset: Int64 = -1
        public var epoch: Int32 = -1
        public var currentLeader: FetchResponse.LeaderIdAndEpoch? = nil
        public var size: Int64 = 0
        public var position: Int64 = 0
        public var bytes = ByteBuffer()
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
            try s.int32(&p.index)
            try s.int16(&p.errorCode)
            try s.int64(&p.endOffset)
            try s.int32(&p.epoch)
            try s.tags()  // the SnapshotId struct's own tagged fields
            var leader = p.currentLeader ?? .init(leaderId: -1, leaderEpoch: -1)
            var sawLeader = false
            try s.int64(&p.size)
            try s.int64(&p.position)
            try s.bytes(&p.bytes, field: "bytes")
            try s.tags([
                TaggedField(tag: 0, present: p.currentLeader != nil) { s in
                    try s.int32(&leader.leaderId)
                    try s.int32(&leader.leaderEpoch)
                    try s.tags()
                    sawLeader = true
                }
            ])
            if s.isReading { p.currentLeader = sawLeader ? leader : nil }
        }
        try s.tags()
    }
}
