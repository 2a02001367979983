import NIOCore

/// The KRaft quorum RPCs (KIP-595) on the CONTROLLER listener. Each names topic
/// `__cluster_metadata` partition 0; the structs keep Kafka's nesting so the bytes match the
/// published specs. All are flexible from v0 (Vote, DescribeQuorum) or v1 (Begin/EndQuorumEpoch).

/// Vote (key 52), v0-2. v1 adds voter and directory ids; v2 adds `preVote` (KIP-996).
public struct VoteRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .vote }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var candidateEpoch: Int32 = 0
        public var candidateId: Int32 = 0
        public var candidateDirectoryId = KafkaUUID.zero
        public var voterDirectoryId = KafkaUUID.zero
        public var lastOffsetEpoch: Int32 = 0
        public var lastOffset: Int64 = 0
        public var preVote = false
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var clusterId: String? = nil
    public var voterId: Int32 = -1
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.nullableString(&clusterId, field: "cluster_id")
        if version >= 1 { try s.int32(&voterId) }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int32(&p.candidateEpoch)
            try s.int32(&p.candidateId)
            if version >= 1 {
                try s.uuid(&p.candidateDirectoryId)
                try s.uuid(&p.voterDirectoryId)
            }
            try s.int32(&p.lastOffsetEpoch)
            try s.int64(&p.lastOffset)
            if version >= 2 { try s.bool(&p.preVote) }
            try s.tags()
        }
        try s.tags()
    }
}

/// The per-partition answer shape shared by Vote, BeginQuorumEpoch and EndQuorumEpoch.
public struct QuorumPartitionResult: Defaultable, Sendable, Equatable {
    public var partitionIndex: Int32 = 0
    public var errorCode: Int16 = 0
    public var leaderId: Int32 = -1
    public var leaderEpoch: Int32 = -1
    public var voteGranted = false
    public init() {}
}

public typealias QuorumTopicResult = NamedTopic<QuorumPartitionResult>

public struct VoteResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .vote }
    public var errorCode: Int16 = 0
    public var topics: [QuorumTopicResult] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try QuorumTopicResult.serde(&s, errorCode: &errorCode, topics: &topics, voteGranted: true)
    }
}

/// BeginQuorumEpoch (key 53) and EndQuorumEpoch (key 54), v0-1: a leader announcing itself
/// and a leader resigning.
public struct BeginQuorumEpochRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .beginQuorumEpoch }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var voterDirectoryId = KafkaUUID.zero
        public var leaderId: Int32 = -1
        public var leaderEpoch: Int32 = -1
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public struct Endpoint: Defaultable, Sendable, Equatable {
        public var name = ""
        public var host = ""
        public var port: Int16 = 0
        public init() {}
    }

    public var clusterId: String? = nil
    public var voterId: Int32 = -1
    public var topics: [Topic] = []
    public var leaderEndpoints: [Endpoint] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.nullableString(&clusterId, field: "cluster_id")
        if version >= 1 { try s.int32(&voterId) }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            if version >= 1 { try s.uuid(&p.voterDirectoryId) }
            try s.int32(&p.leaderId)
            try s.int32(&p.leaderEpoch)
            try s.tagsIfFlexible()
        }
        if version >= 1 {
            try s.array(&leaderEndpoints, field: "leader_endpoints") { s, e in
                try s.string(&e.name, field: "name")
                try s.string(&e.host, field: "host")
                try s.int16(&e.port)  // uint16 on the wire: same bytes
                try s.tagsIfFlexible()
            }
        }
        try s.tagsIfFlexible()
    }
}

public struct BeginQuorumEpochResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .beginQuorumEpoch }
    public var errorCode: Int16 = 0
    public var topics: [QuorumTopicResult] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try QuorumTopicResult.serde(&s, errorCode: &errorCode, topics: &topics, voteGranted: false)
    }
}

public struct EndQuorumEpochRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .endQuorumEpoch }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var leaderId: Int32 = -1
        public var leaderEpoch: Int32 = -1
        public var preferredSuccessors: [Int32] = []
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var clusterId: String? = nil
    public var topics: [Topic] = []
    public init() {}

    /// v0 only: v1 replaces successors with candidate directory ids, which Tern does not use.
    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.nullableString(&clusterId, field: "cluster_id")
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int32(&p.leaderId)
            try s.int32(&p.leaderEpoch)
            try s.int32Array(&p.preferredSuccessors, field: "preferred_successors")
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct EndQuorumEpochResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .endQuorumEpoch }
    public var errorCode: Int16 = 0
    public var topics: [QuorumTopicResult] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try QuorumTopicResult.serde(&s, errorCode: &errorCode, topics: &topics, voteGranted: false)
    }
}

/// DescribeQuorum (key 55), v0-1: the quorum's leader, epoch, high watermark and each voter's
/// and observer's log end, as `kafka-metadata-quorum describe` prints them.
public struct DescribeQuorumRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeQuorum }

    public typealias Topic = NamedTopic<Int32>

    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.topics(&topics) { s, p in
            try s.int32(&p)
            try s.tags()
        }
        try s.tags()
    }
}

public struct DescribeQuorumResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeQuorum }

    public struct ReplicaState: Defaultable, Sendable, Equatable {
        public var replicaId: Int32 = -1
        public var logEndOffset: Int64 = -1
        public var lastFetchTimestamp: Int64 = -1
        public var lastCaughtUpTimestamp: Int64 = -1
        public init() {}
    }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public var leaderId: Int32 = -1
        public var leaderEpoch: Int32 = -1
        public var highWatermark: Int64 = -1
        public var currentVoters: [ReplicaState] = []
        public var observers: [ReplicaState] = []
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var errorCode: Int16 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int16(&errorCode)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
            try s.int32(&p.leaderId)
            try s.int32(&p.leaderEpoch)
            try s.int64(&p.highWatermark)
            for i in 0..<2 {
                var list = i == 0 ? p.currentVoters : p.observers
                try s.array(&list, field: "replica_states") { s, r in
                    try s.int32(&r.replicaId)
                    try s.int64(&r.logEndOffset)
                    if version >= 1 {
                        try s.int64(&r.lastFetchTimestamp)
                        try s.int64(&r.lastCaughtUpTimestamp)
                    }
                    try s.tags()
                }
                if i == 0 { p.currentVoters = list } else { p.observers = list }
            }
            try s.tags()
        }
        try s.tags()
    }
}

extension QuorumTopicResult {
    /// The shared answer shape of BeginQuorumEpoch and EndQuorumEpoch (and of Vote, plus its
    /// vote_granted flag): error code, then per topic and partition the leader as the voter sees it.
    static func serde<S: KafkaSerde>(
        _ s: inout S, errorCode: inout Int16, topics: inout [QuorumTopicResult], voteGranted: Bool
    ) throws {
        try s.int16(&errorCode)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
            try s.int32(&p.leaderId)
            try s.int32(&p.leaderEpoch)
            if voteGranted { try s.bool(&p.voteGranted) }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
