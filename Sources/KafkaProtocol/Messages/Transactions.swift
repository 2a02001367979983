/// Transactions: the producer's requests to its transaction coordinator (AddPartitionsToTxn 24,
/// AddOffsetsToTxn 25, EndTxn 26, TxnOffsetCommit 28), the coordinator's markers to partition
/// leaders (WriteTxnMarkers 27), and the admin client's views of producers and transactions
/// (DescribeProducers 61, DescribeTransactions 65, ListTransactions 66).

/// AddPartitionsToTxn (key 24), v0-3; flexible from v3. Adds partitions to a producer's ongoing
/// transaction. Kafka's v4+ batch several transactions and are sent by brokers only, in another
/// shape; the fields here are the spec's `V3AndBelow…` ones.
public struct AddPartitionsToTxnRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .addPartitionsToTxn }

    /// A topic and the indexes of its partitions to add.
    public typealias Topic = NamedTopic<Int32>

    public var transactionalId = ""
    public var producerId: Int64 = 0
    public var producerEpoch: Int16 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&transactionalId, field: "transactional_id")
        try s.int64(&producerId)
        try s.int16(&producerEpoch)
        try s.topics(&topics) { s, p in try s.int32(&p) }
        try s.tagsIfFlexible()
    }
}

public struct AddPartitionsToTxnResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .addPartitionsToTxn }

    public struct PartitionResult: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var partitionErrorCode: Int16 = 0
        public init() {}
    }

    public struct TopicResult: Defaultable, Sendable, Equatable {
        public var name = ""
        public var resultsByPartition: [PartitionResult] = []
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    /// The spec's `ResultsByTopicV3AndBelow`.
    public var results: [TopicResult] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&results, field: "results_by_topic_v3_and_below") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.array(&t.resultsByPartition, field: "results_by_partition") { s, p in
                try s.int32(&p.partitionIndex)
                try s.int16(&p.partitionErrorCode)
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

/// AddOffsetsToTxn (key 25), v0-4; flexible from v3. Adds a consumer group's offsets partition to
/// the transaction, before TxnOffsetCommit. v1, v2 and v4 only allow new error codes.
public struct AddOffsetsToTxnRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .addOffsetsToTxn }
    public var transactionalId = ""
    public var producerId: Int64 = 0
    public var producerEpoch: Int16 = 0
    public var groupId = ""
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&transactionalId, field: "transactional_id")
        try s.int64(&producerId)
        try s.int16(&producerEpoch)
        try s.string(&groupId, field: "group_id")
        try s.tagsIfFlexible()
    }
}

public struct AddOffsetsToTxnResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .addOffsetsToTxn }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.tagsIfFlexible()
    }
}

/// EndTxn (key 26), v0-4; flexible from v3. Commits or aborts the transaction. (Kafka's v5 answers
/// with the producer's id and epoch, bumped on every transaction; Tern stops at v4.)
public struct EndTxnRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .endTxn }
    public var transactionalId = ""
    public var producerId: Int64 = 0
    public var producerEpoch: Int16 = 0
    /// True to commit, false to abort.
    public var committed = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&transactionalId, field: "transactional_id")
        try s.int64(&producerId)
        try s.int16(&producerEpoch)
        try s.bool(&committed)
        try s.tagsIfFlexible()
    }
}

public struct EndTxnResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .endTxn }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.tagsIfFlexible()
    }
}

/// WriteTxnMarkers (key 27), v0-1; flexible from v1. The transaction coordinator asks a partition's
/// leader to append COMMIT or ABORT control records for producers.
public struct WriteTxnMarkersRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .writeTxnMarkers }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var partitionIndexes: [Int32] = []
        public init() {}
    }

    public struct Marker: Defaultable, Sendable, Equatable {
        public var producerId: Int64 = 0
        public var producerEpoch: Int16 = 0
        /// True for COMMIT, false for ABORT.
        public var transactionResult = false
        public var topics: [Topic] = []
        public var coordinatorEpoch: Int32 = 0
        public init() {}
    }

    public var markers: [Marker] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&markers, field: "markers") { s, m in
            try s.int64(&m.producerId)
            try s.int16(&m.producerEpoch)
            try s.bool(&m.transactionResult)
            try s.array(&m.topics, field: "topics") { s, t in
                try s.string(&t.name, field: "topic name")
                try s.int32Array(&t.partitionIndexes, field: "partition_indexes")
                try s.tagsIfFlexible()
            }
            try s.int32(&m.coordinatorEpoch)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct WriteTxnMarkersResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .writeTxnMarkers }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public struct Marker: Defaultable, Sendable, Equatable {
        public var producerId: Int64 = 0
        public var topics: [Topic] = []
        public init() {}
    }

    public var markers: [Marker] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&markers, field: "markers") { s, m in
            try s.int64(&m.producerId)
            try s.topics(&m.topics) { s, p in
                try s.int32(&p.partitionIndex)
                try s.int16(&p.errorCode)
                try s.tagsIfFlexible()
            }
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

/// TxnOffsetCommit (key 28), v0-4; flexible from v3. Commits a consumer group's offsets as part of
/// a transaction. v2 adds the leader epoch, v3 the group's generation, member and instance ids.
public struct TxnOffsetCommitRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .txnOffsetCommit }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var committedOffset: Int64 = 0
        public var committedLeaderEpoch: Int32 = -1
        /// Nullable; the spec names no default, so Kafka's is the empty string.
        public var committedMetadata: String? = ""
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var transactionalId = ""
    public var groupId = ""
    public var producerId: Int64 = 0
    public var producerEpoch: Int16 = 0
    public var generationId: Int32 = -1
    public var memberId = ""
    public var groupInstanceId: String? = nil
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&transactionalId, field: "transactional_id")
        try s.string(&groupId, field: "group_id")
        try s.int64(&producerId)
        try s.int16(&producerEpoch)
        if version >= 3 {
            try s.int32(&generationId)
            try s.string(&memberId, field: "member_id")
            try s.nullableString(&groupInstanceId, field: "group_instance_id")
        }
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int64(&p.committedOffset)
            if version >= 2 { try s.int32(&p.committedLeaderEpoch) }
            try s.nullableString(&p.committedMetadata, field: "committed_metadata")
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

public struct TxnOffsetCommitResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .txnOffsetCommit }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
            try s.tagsIfFlexible()
        }
        try s.tagsIfFlexible()
    }
}

/// DescribeProducers (key 61), v0, flexible (KIP-664): the idempotent and transactional producers
/// a partition's leader knows.
public struct DescribeProducersRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeProducers }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var name = ""
        public var partitionIndexes: [Int32] = []
        public init() {}
    }

    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.int32Array(&t.partitionIndexes, field: "partition_indexes")
            try s.tags()
        }
        try s.tags()
    }
}

public struct DescribeProducersResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeProducers }

    public struct ProducerState: Defaultable, Sendable, Equatable {
        public var producerId: Int64 = 0
        /// INT32 here, though an epoch is INT16 everywhere else.
        public var producerEpoch: Int32 = 0
        public var lastSequence: Int32 = -1
        public var lastTimestamp: Int64 = -1
        public var coordinatorEpoch: Int32 = 0
        public var currentTxnStartOffset: Int64 = -1
        public init() {}
    }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var partitionIndex: Int32 = 0
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public var activeProducers: [ProducerState] = []
        public init() {}
    }

    public typealias Topic = NamedTopic<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.topics(&topics) { s, p in
            try s.int32(&p.partitionIndex)
            try s.int16(&p.errorCode)
            try s.errorMessage(&p.errorMessage)
            try s.array(&p.activeProducers, field: "active_producers") { s, a in
                try s.int64(&a.producerId)
                try s.int32(&a.producerEpoch)
                try s.int32(&a.lastSequence)
                try s.int64(&a.lastTimestamp)
                try s.int32(&a.coordinatorEpoch)
                try s.int64(&a.currentTxnStartOffset)
                try s.tags()
            }
            try s.tags()
        }
        try s.tags()
    }
}

/// DescribeTransactions (key 65), v0, flexible (KIP-664): the coordinator's state of each
/// transactional id asked about.
public struct DescribeTransactionsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeTransactions }
    /// Empty: no results.
    public var transactionalIds: [String] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.stringArray(&transactionalIds, field: "transactional_ids")
        try s.tags()
    }
}

public struct DescribeTransactionsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeTransactions }

    public struct TopicData: Defaultable, Sendable, Equatable {
        public var topic = ""
        public var partitions: [Int32] = []
        public init() {}
    }

    public struct TransactionState: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var transactionalId = ""
        /// The state's name, as Kafka's admin client prints it ("Ongoing", "CompleteCommit", …).
        public var transactionState = ""
        public var transactionTimeoutMs: Int32 = 0
        public var transactionStartTimeMs: Int64 = 0
        public var producerId: Int64 = 0
        public var producerEpoch: Int16 = 0
        /// The partitions in the transaction (without markers yet, once it is preparing to end).
        public var topics: [TopicData] = []
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var transactionStates: [TransactionState] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&transactionStates, field: "transaction_states") { s, t in
            try s.int16(&t.errorCode)
            try s.string(&t.transactionalId, field: "transactional_id")
            try s.string(&t.transactionState, field: "transaction_state")
            try s.int32(&t.transactionTimeoutMs)
            try s.int64(&t.transactionStartTimeMs)
            try s.int64(&t.producerId)
            try s.int16(&t.producerEpoch)
            try s.array(&t.topics, field: "topics") { s, d in
                try s.string(&d.topic, field: "topic")
                try s.int32Array(&d.partitions, field: "partitions")
                try s.tags()
            }
            try s.tags()
        }
        try s.tags()
    }
}

/// ListTransactions (key 66), v0-1, flexible (KIP-664): the transactions a coordinator knows,
/// filtered by state and producer id; v1 (KIP-994) also by how long they have been running.
public struct ListTransactionsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listTransactions }
    /// Empty: every state.
    public var stateFilters: [String] = []
    /// Empty: every producer.
    public var producerIdFilters: [Int64] = []
    /// Milliseconds; negative: every transaction, otherwise those running longer.
    public var durationFilter: Int64 = -1
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.stringArray(&stateFilters, field: "state_filters")
        try s.array(&producerIdFilters, field: "producer_id_filters") { s, e in try s.int64(&e) }
        if version >= 1 { try s.int64(&durationFilter) }
        try s.tags()
    }
}

public struct ListTransactionsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .listTransactions }

    public struct TransactionState: Defaultable, Sendable, Equatable {
        public var transactionalId = ""
        public var producerId: Int64 = 0
        public var transactionState = ""
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    /// The request's state filters the coordinator did not recognize.
    public var unknownStateFilters: [String] = []
    public var transactionStates: [TransactionState] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.stringArray(&unknownStateFilters, field: "unknown_state_filters")
        try s.array(&transactionStates, field: "transaction_states") { s, t in
            try s.string(&t.transactionalId, field: "transactional_id")
            try s.int64(&t.producerId)
            try s.string(&t.transactionState, field: "transaction_state")
            try s.tags()
        }
        try s.tags()
    }
}
