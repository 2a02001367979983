import KafkaProtocol
import NIOCore

/// A transactional id's state as `__transaction_state` stores it (Kafka's TransactionLogValue).
struct TransactionLogValue: Equatable, Sendable {
    /// A topic and the partitions of it in the transaction (the spec's PartitionsSchema).
    struct TopicPartitions: Defaultable, Equatable, Sendable {
        var topic = ""
        var partitionIds: [Int32] = []
        init() {}
        init(topic: String, partitionIds: [Int32]) {
            self.topic = topic
            self.partitionIds = partitionIds
        }
    }

    var producerId: Int64
    var producerEpoch: Int16
    var timeoutMs: Int32
    /// Kafka's TransactionState id: see `TransactionLogCodec.empty` and the rest.
    var status: Int8
    var partitions: [TopicPartitions]
    var lastUpdateTimestampMs: Int64
    var startTimestampMs: Int64
    /// Tagged fields of value v1 (KIP-890); version 0, the one written, has no place for them.
    var previousProducerId: Int64 = -1
    var nextProducerId: Int64 = -1
    var clientTransactionVersion: Int16 = 0
}

/// The records of `__transaction_state`, in Kafka's layout: the key is a transactional id and the
/// value its producer, state and partitions. A null value removes the key.
///
/// The value is written in version 0, as Kafka writes it until `transaction.version` 1 is
/// enabled; versions 0 and 1 are read. Decoding returns nil for bytes it cannot read, never traps.
enum TransactionLogCodec {
    // Kafka's TransactionState ids (core's TransactionMetadata.scala).
    static let empty: Int8 = 0
    static let ongoing: Int8 = 1
    static let prepareCommit: Int8 = 2
    static let prepareAbort: Int8 = 3
    static let completeCommit: Int8 = 4
    static let completeAbort: Int8 = 5
    static let dead: Int8 = 6
    static let prepareEpochFence: Int8 = 7

    /// Key v0: version, transactional id.
    static func encodeKey(_ transactionalId: String) throws -> [UInt8] {
        var w = KafkaWriter(flexible: false)
        var version: Int16 = 0
        var id = transactionalId
        try w.int16(&version)
        try w.string(&id, field: "transactional_id")
        return Array(w.buffer.readableBytesView)
    }

    /// The transactional id of a key; nil for a version other than 0 or bytes that do not read.
    static func decodeKey(_ bytes: [UInt8]) -> String? {
        var r = KafkaReader(ByteBuffer(bytes: bytes), flexible: false)
        var version: Int16 = -1
        var id = ""
        guard (try? r.int16(&version)) != nil, version == 0, (try? r.string(&id, field: "transactional_id")) != nil
        else { return nil }
        return id
    }

    /// Value v0: version, producer id and epoch, timeout, status, partitions (null when the
    /// transaction is Empty and has none, as Kafka writes it), last update and start times.
    static func encodeValue(_ value: TransactionLogValue) throws -> [UInt8] {
        var w = KafkaWriter(flexible: false)
        var version: Int16 = 0
        var v = value
        try w.int16(&version)
        try w.int64(&v.producerId)
        try w.int16(&v.producerEpoch)
        try w.int32(&v.timeoutMs)
        try w.int8(&v.status)
        var partitions: [TransactionLogValue.TopicPartitions]? =
            v.status == empty && v.partitions.isEmpty ? nil : v.partitions
        try w.nullableArray(&partitions, field: "transaction_partitions") { w, p in
            try w.string(&p.topic, field: "topic")
            try w.int32Array(&p.partitionIds, field: "partition_ids")
        }
        try w.int64(&v.lastUpdateTimestampMs)
        try w.int64(&v.startTimestampMs)
        return Array(w.buffer.readableBytesView)
    }

    /// A value of version 0 or 1 (v1 is flexible: compact lengths, a tag section after each
    /// partition entry and after the value, which may hold the previous and next producer ids,
    /// tags 0 and 1, and the client's transaction version, tag 2). Null partitions read as none.
    static func decodeValue(_ bytes: [UInt8]) -> TransactionLogValue? {
        var r = KafkaReader(ByteBuffer(bytes: bytes), flexible: false)
        guard let version = try? r.readInt16(), version == 0 || version == 1 else { return nil }
        r.flexible = version >= 1
        return try? readValue(&r)
    }

    private static func readValue(_ r: inout KafkaReader) throws -> TransactionLogValue {
        var v = TransactionLogValue(
            producerId: -1, producerEpoch: -1, timeoutMs: 0, status: empty, partitions: [], lastUpdateTimestampMs: -1,
            startTimestampMs: -1)
        try r.int64(&v.producerId)
        try r.int16(&v.producerEpoch)
        try r.int32(&v.timeoutMs)
        try r.int8(&v.status)
        var partitions: [TransactionLogValue.TopicPartitions]? = nil
        try r.nullableArray(&partitions, field: "transaction_partitions") { r, p in
            try r.string(&p.topic, field: "topic")
            try r.int32Array(&p.partitionIds, field: "partition_ids")
            try r.tagsIfFlexible()
        }
        v.partitions = partitions ?? []
        try r.int64(&v.lastUpdateTimestampMs)
        try r.int64(&v.startTimestampMs)
        if r.flexible {
            // Each tag's bytes are read by a reader of their own: a tag too short for its field throws.
            var previous: Int64 = -1
            var next: Int64 = -1
            var clientVersion: Int16 = 0
            try r.tags([
                TaggedField(tag: 0, present: false) { s in try s.int64(&previous) },
                TaggedField(tag: 1, present: false) { s in try s.int64(&next) },
                TaggedField(tag: 2, present: false) { s in try s.int16(&clientVersion) },
            ])
            v.previousProducerId = previous
            v.nextProducerId = next
            v.clientTransactionVersion = clientVersion
        }
        return v
    }
}
