import NIOCore

/// ElectLeaders (key 43), v0-2; flexible from v2. Moves partitions' leadership to their
/// preferred replica (the first in the replica list), or gives a leaderless partition any live
/// replica (unclean, KIP-460).
public struct ElectLeadersRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .electLeaders }

    public static let preferred: Int8 = 0
    public static let unclean: Int8 = 1

    /// A topic and the partitions to hold an election for.
    public typealias Topic = NamedTopic<Int32>

    /// v1+; v0 elects the preferred replica.
    public var electionType: Int8 = preferred
    /// Nil: every partition of the cluster.
    public var topicPartitions: [Topic]? = nil
    public var timeoutMs: Int32 = 60_000
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 1 { try s.int8(&electionType) }
        try s.nullableArray(&topicPartitions, field: "topic_partitions") { s, t in
            try s.string(&t.name, field: "topic")
            try s.int32Array(&t.partitions, field: "partitions")
            try s.tagsIfFlexible()
        }
        try s.int32(&timeoutMs)
        try s.tagsIfFlexible()
    }
}

public struct ElectLeadersResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .electLeaders }

    public struct PartitionResult: Defaultable, Sendable, Equatable {
        public var partitionId: Int32 = 0
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public init() {}
    }

    public typealias Result = NamedTopic<PartitionResult>

    public var throttleTimeMs: Int32 = 0
    /// v1+: an error for the whole request (CLUSTER_AUTHORIZATION_FAILED).
    public var errorCode: Int16 = 0
    public var replicaElectionResults: [Result] = []
    public init() {}

    /// Every partition the request names refused with `code` (and the whole request, for v1+).
    public static func refusing(_ request: ElectLeadersRequest, _ code: ErrorCode, _ message: String) -> Self {
        var r = ElectLeadersResponse()
        r.errorCode = code.rawValue
        r.replicaElectionResults = (request.topicPartitions ?? []).map { .failing($0, code.rawValue, message) }
        return r
    }

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        if version >= 1 { try s.int16(&errorCode) }
        try s.topics(&replicaElectionResults) { s, p in
            try s.int32(&p.partitionId)
            try s.int16(&p.errorCode)
            try s.errorMessage(&p.errorMessage)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}
