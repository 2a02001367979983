import KafkaProtocol

/// Settings of one partition's log, from broker defaults and topic overrides.
public struct LogConfig: Sendable, Equatable {
    public var segmentBytes: Int = 1 << 30
    /// A segment that has taken batches for this long is rolled (`segment.ms`, `log.roll.ms`).
    public var segmentMs: Int64 = 7 * 24 * 3_600_000
    public var indexIntervalBytes: Int = 4096
    public var maxMessageBytes: Int = 1_048_588
    /// fsync after this many appended messages; Int.max leaves durability to replication and
    /// the page cache, as Kafka's default does.
    public var flushIntervalMessages: Int = .max
    /// fsync when the last flush is this old (`flush.ms`); Int64.max never does.
    public var flushIntervalMs: Int64 = .max
    /// Segments whose newest record is older than this are deleted (`retention.ms`); -1 keeps
    /// them forever.
    public var retentionMs: Int64 = 7 * 24 * 3_600_000
    /// Oldest segments are deleted while the log is larger than this (`retention.bytes`); -1
    /// has no limit.
    public var retentionBytes: Int64 = -1
    /// `cleanup.policy`: delete old segments, keep the last value per key, or both.
    public var deletePolicy = true
    public var compactPolicy = false
    /// How long the cleaner keeps a tombstone (a record with a key and no value), so that readers
    /// get to see the delete (`delete.retention.ms`).
    public var deleteRetentionMs: Int64 = 86_400_000
    /// `message.timestamp.type=LogAppendTime`: the leader stamps each batch with the time it
    /// appends it, and readers take that as every record's timestamp.
    public var logAppendTime = false
    /// `compression.type` other than "producer": the leader stores every batch in this codec,
    /// recompressing those the producer sent otherwise. Nil keeps the producer's.
    public var compression: CompressionCodec? = nil
    /// Records younger than this stay out of compaction (`min.compaction.lag.ms`).
    public var minCompactionLagMs: Int64 = 0
    /// A dirty segment older than this is compacted whatever the dirty ratio (`max.compaction.lag.ms`).
    public var maxCompactionLagMs: Int64 = .max
    /// Compaction waits until this share of the cleanable bytes is dirty (`min.cleanable.dirty.ratio`).
    public var minCleanableDirtyRatio = 0.5
    /// CreateTime batches whose timestamps are further than these before or after the broker's
    /// time are refused with INVALID_TIMESTAMP (`message.timestamp.before.max.ms` / `.after.max.ms`).
    public var timestampBeforeMaxMs: Int64 = .max
    public var timestampAfterMaxMs: Int64 = .max

    public init() {}
}
