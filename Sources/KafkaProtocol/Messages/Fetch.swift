import NIOCore

/// Fetch (key 1), v0-12; flexible from v12. Tern serves topics by name (v13+ use topic ids and
/// are not advertised). Fetch sessions (v7+, KIP-227) are kept by `Broker`'s `FetchSessionCache`.
public struct FetchRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .fetch }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partition: Int32 = 0
        public var currentLeaderEpoch: Int32 = -1
        public var fetchOffset: Int64 = 0
        public var lastFetchedEpoch: Int32 = -1
        public var logStartOffset: Int64 = -1
        public var partitionMaxBytes: Int32 = 0
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public typealias ForgottenTopic = NamedTopic<Int32>

    public var replicaId: Int32 = -1
    public var maxWaitMs: Int32 = 500
    public var minBytes: Int32 = 1
    public var maxBytes: Int32 = 0x7fff_ffff
    public var isolationLevel: Int8 = 0
    public var sessionId: Int32 = 0
    public var sessionEpoch: Int32 = -1
    public var topics: [Topic] = []
    public var forgottenTopicsData: [ForgottenTopic] = []
    public var rackId = ""
    /// Tagged field 0 (v12+): sent by KRaft voters so a fetch from another cluster is refused.
    public var clusterId: String? = nil
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&replicaId)
        try s.int32(&maxWaitMs)
        try s.int32(&minBytes)
        if version >= 3 { try s.int32(&maxBytes) }
        if version >= 4 { try s.int8(&isolationLevel) }
        if version >= 7 {
            try s.int32(&sessionId)
            try s.int32(&sessionEpoch)
        }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partition)
            if version >= 9 { try s.int32(&p.currentLeaderEpoch) }
            try s.int64(&p.fetchOffset)
            if version >= 12 { try s.int32(&p.lastFetchedEpoch) }
            if version >= 5 { try s.int64(&p.logStartOffset) }
            try s.int32(&p.partitionMaxBytes)
            try s.tagsIfFlexible()
        }
        if version >= 7 {
            try s.array(&forgottenTopicsData, field: "forgotten_topics_data") { s, f in
                try s.string(&f.topic, field: "topic")
                try s.int32Array(&f.partitions, field: "partitions")
                try s.tagsIfFlexible()
            }
        }
        if version >= 11 { try s.string(&rackId, field: "rack_id") }
        if s.flexible {
            var id = clusterId
            try s.tags([
                TaggedField(tag: 0, present: clusterId != nil) { s in try s.nullableString(&id, field: "cluster_id") }
            ])
            clusterId = id
        }
    }
}

public struct FetchResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .fetch }

    public struct AbortedTransaction: Defaultable, Sendable, Equatable {
        public var producerId: Int64 = 0
        public var firstOffset: Int64 = 0
        public init() {}
    }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public var highWatermark: Int64 = -1
        public var lastStableOffset: Int64 = -1
        public var logStartOffset: Int64 = -1
        public var abortedTransactions: [AbortedTransaction]? = nil
        public var preferredReadReplica: Int32 = -1
        public var records: ByteBuffer? = nil
        /// Records to send straight from a segment file instead of `records` (never decoded).
        public var recordsFile: FileBytes? = nil
        /// Tagged field 0 (v12+): the follower's log diverges; truncate to `endOffset`.
        public var divergingEpoch: EpochEndOffset? = nil
        /// Set by a KRaft leader when the fetch offset is only in its snapshot (tag 2).
        public var snapshotId: SnapshotId? = nil
        /// Tagged field 1 (v12+): who leads, when the fetch went to the wrong node or epoch.
        public var currentLeader: LeaderIdAndEpoch? = nil
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public struct EpochEndOffset: Sendable, Equatable {
        public var epoch: Int32 = -1
        public var endOffset: Int64 = -1
        public init(epoch: Int32, endOffset: Int64) {
            self.epoch = epoch
            self.endOffset = endOffset
        }
    }

    public struct SnapshotId: Sendable, Equatable {
        public var endOffset: Int64
        public var epoch: Int32
        public init(endOffset: Int64, epoch: Int32) {
            self.endOffset = endOffset
            self.epoch = epoch
        }
    }

    public struct LeaderIdAndEpoch: Sendable, Equatable {
        public var leaderId: Int32 = -1
        public var leaderEpoch: Int32 = -1
        public init(leaderId: Int32, leaderEpoch: Int32) {
            self.leaderId = leaderId
            self.leaderEpoch = leaderEpoch
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var sessionId: Int32 = 0
    public var responses: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int32(&throttleTimeMs) }
        if version >= 7 {
            try s.int16(&errorCode)
            try s.int32(&sessionId)
        }
        try s.topics(&responses) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
            try s.int64(&p.highWatermark)
            if version >= 4 { try s.int64(&p.lastStableOffset) }
            if version >= 5 { try s.int64(&p.logStartOffset) }
            if version >= 4 {
                try s.nullableArray(&p.abortedTransactions, field: "aborted_transactions") { s, a in
                    try s.int64(&a.producerId)
                    try s.int64(&a.firstOffset)
                    try s.tagsIfFlexible()
                }
            }
            if version >= 11 { try s.int32(&p.preferredReadReplica) }
            if !s.isReading, let file = p.recordsFile {
                try s.fileBytes(file)
            } else {
                try s.nullableBytes(&p.records, field: "records")
            }
            if s.flexible {
                var diverging = p.divergingEpoch ?? EpochEndOffset(epoch: -1, endOffset: -1)
                var leader = p.currentLeader ?? LeaderIdAndEpoch(leaderId: -1, leaderEpoch: -1)
                var snapshot = p.snapshotId ?? SnapshotId(endOffset: -1, epoch: -1)
                var sawDiverging = false
                var sawLeader = false
                var sawSnapshot = false
                try s.tags([
                    TaggedField(tag: 0, present: p.divergingEpoch != nil) { s in
                        try s.int32(&diverging.epoch)
                        try s.int64(&diverging.endOffset)
                        try s.tags()
                        sawDiverging = true
                    },
                    TaggedField(tag: 1, present: p.currentLeader != nil) { s in
                        try s.int32(&leader.leaderId)
                        try s.int32(&leader.leaderEpoch)
                        try s.tags()
                        sawLeader = true
                    },
                    TaggedField(tag: 2, present: p.snapshotId != nil) { s in
                        try s.int64(&snapshot.endOffset)
                        try s.int32(&snapshot.epoch)
                        try s.tags()
                        sawSnapshot = true
                    },
                ])
                if s.isReading {
                    p.divergingEpoch = sawDiverging ? diverging : nil
                    p.currentLeader = sawLeader ? leader : nil
                    p.snapshotId = sawSnapshot ? snapshot : nil
                }
            }
        }
        try s.tagsIfFlexible()
    }
}
