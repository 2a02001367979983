import KafkaProtocol
import Metadata
import Storage

/// The settings a broker runs with, already checked. `Server` parses them from a
/// `server.properties` file; tests build them directly.
public struct BrokerConfig: Sendable {
    public var nodeId: Int32 = 0
    /// `broker.rack`: registered with the controller, which spreads each partition's replicas
    /// over racks, and compared with consumers' `client.rack` (KIP-392).
    public var rack: String? = nil
    /// `replica.selector.class`: whether a leader sends consumers to a replica in their rack.
    public var replicaSelector = ReplicaSelector.leader
    /// Host and port clients are told to use (advertised.listeners, else listeners).
    public var advertisedHost = "localhost"
    public var advertisedPort: Int32 = 9092
    public var logDirs = "/tmp/tern-logs"
    public var numPartitions: Int32 = 1
    public var defaultReplicationFactor: Int16 = 1
    public var autoCreateTopics = true
    public var messageMaxBytes = 1_048_588
    public var logSegmentBytes = 1 << 30
    public var logIndexIntervalBytes = 4096
    public var logFlushIntervalMessages = Int.max
    public var minInsyncReplicas: Int32 = 1
    /// `log.retention.ms` (or `.minutes`, `.hours`: the most precise one set wins); -1 keeps
    /// data forever.
    public var logRetentionMs: Int64 = 168 * 3_600_000
    public var logRetentionBytes: Int64 = -1
    public var logRetentionCheckIntervalMs: Int64 = 300_000
    /// `log.roll.ms` (or `.hours`): the most time one segment takes batches for.
    public var logRollMs: Int64 = 168 * 3_600_000
    public var logFlushIntervalMs: Int64 = .max
    public var logCleanupPolicy = "delete"
    /// `log.message.timestamp.type`: CreateTime or LogAppendTime, for topics that do not set one.
    public var logMessageTimestampType = "CreateTime"
    /// `compression.type`: the codec batches are stored in, for topics that do not set one;
    /// "producer" keeps each batch as its producer compressed it.
    public var compressionType = "producer"
    /// `log.cleaner.min.compaction.lag.ms`, `log.cleaner.max.compaction.lag.ms`,
    /// `log.cleaner.min.cleanable.ratio`: the compaction defaults of topics.
    public var logCleanerMinCompactionLagMs: Int64 = 0
    public var logCleanerMaxCompactionLagMs: Int64 = .max
    public var logCleanerMinCleanableRatio = 0.5
    public var logCleanerEnable = true
    /// How long the cleaner sleeps between passes over the compacted topics.
    public var logCleanerBackoffMs: Int64 = 15_000
    public var logCleanerDeleteRetentionMs: Int64 = 86_400_000
    /// The most a Fetch waits before answering, whatever the client asks.
    public var maxFetchWaitMs: Int32 = 30_000
    /// `fetch.max.bytes`: the most record bytes one Fetch answer carries, whatever it asks for
    /// (the first batch may exceed it, KIP-74).
    public var fetchMaxBytes = 57_671_680
    /// `max.incremental.fetch.session.cache.slots`: fetch sessions (KIP-227) held at once; 0
    /// answers every fetch without one.
    public var fetchSessionSlots = 1_000
    /// The listener replica fetches must arrive on (`inter.broker.listener.name`, else the first
    /// listener); a Fetch with a replica id on any other listener is refused.
    public var interBrokerListener: String? = nil
    /// `group.max.size`: members (joined or pending) one group may have.
    public var groupMaxSize = 10_000
    /// A follower not caught up for this long leaves the ISR.
    public var replicaLagTimeMaxMs = 30_000
    /// Whether a replica outside the ISR may lead when no ISR member is live (losing what only
    /// the ISR had). Topics override it with `unclean.leader.election.enable`.
    public var uncleanLeaderElection = false
    /// `auto.leader.rebalance.enable`: the active controller moves leadership back to preferred
    /// replicas when a broker's share of partitions led elsewhere passes
    /// `leader.imbalance.per.broker.percentage`, checked every
    /// `leader.imbalance.check.interval.seconds` (Kafka's defaults: true, 10, 300).
    public var autoLeaderRebalance = true
    public var leaderImbalancePercent = 10
    public var leaderImbalanceCheckIntervalSeconds = 300
    /// `__consumer_offsets`: partitions, and the replication factor wanted (capped at the live
    /// brokers when it is created).
    public var offsetsTopicPartitions: Int32 = 50
    public var offsetsTopicReplicationFactor: Int16 = 3
    /// `__transaction_state`: partitions, replication factor wanted (capped at the live brokers
    /// when it is created) and its min.insync.replicas (capped at the replication factor).
    public var transactionTopicPartitions: Int32 = 50
    public var transactionTopicReplicationFactor: Int16 = 3
    public var transactionTopicMinIsr: Int16 = 2
    /// The longest `transaction.timeout.ms` a producer may ask for.
    public var transactionMaxTimeoutMs: Int32 = 900_000
    /// A transactional id unused this long is forgotten (`transactional.id.expiration.ms`).
    public var transactionalIdExpirationMs: Int64 = 604_800_000
    /// How often transactions past their timeout are looked for and aborted.
    public var transactionAbortCheckIntervalMs = 10_000
    /// How long an empty group waits for more members before its first generation (Kafka's
    /// default is 3 s; its shipped server.properties, like Tern's default, use 0).
    public var groupInitialRebalanceDelayMs = 0
    public var offsetsRetentionMinutes = 10_080
    public var offsetsRetentionCheckIntervalMs = 600_000
    /// The cluster id to write into a new log directory (and insist on in an existing one).
    public var clusterId: String? = nil
    /// The id above was derived from the voter list, not set: an id `tern storage format -t`
    /// wrote into meta.properties takes its place.
    public var clusterIdIsDerived = false

    /// Set when `authorizer.class.name` names Kafka's standard authorizer: every request is
    /// checked against the cluster's ACLs. Nil: everything is allowed (and the ACL APIs answer
    /// SECURITY_DISABLED).
    public var authorizer: AclAuthorizer? = nil

    public init() {}

    public func logConfig(overrides: [String: String]) -> LogConfig {
        var c = LogConfig()
        c.segmentBytes = overrides["segment.bytes"].flatMap(Int.init) ?? logSegmentBytes
        c.maxMessageBytes = overrides["max.message.bytes"].flatMap(Int.init) ?? messageMaxBytes
        c.indexIntervalBytes = overrides["index.interval.bytes"].flatMap(Int.init) ?? logIndexIntervalBytes
        c.flushIntervalMessages = overrides["flush.messages"].flatMap(Int.init) ?? logFlushIntervalMessages
        c.flushIntervalMs = overrides["flush.ms"].flatMap(Int64.init) ?? logFlushIntervalMs
        c.segmentMs = overrides["segment.ms"].flatMap(Int64.init) ?? logRollMs
        c.retentionMs = overrides["retention.ms"].flatMap(Int64.init) ?? logRetentionMs
        c.retentionBytes = overrides["retention.bytes"].flatMap(Int64.init) ?? logRetentionBytes
        c.deleteRetentionMs = overrides["delete.retention.ms"].flatMap(Int64.init) ?? logCleanerDeleteRetentionMs
        let policy = overrides["cleanup.policy"] ?? logCleanupPolicy
        c.deletePolicy = policy.contains("delete")
        c.compactPolicy = policy.contains("compact")
        c.logAppendTime = (overrides["message.timestamp.type"] ?? logMessageTimestampType) == "LogAppendTime"
        c.compression = TopicConfigs.storedCodec(overrides["compression.type"] ?? compressionType)
        c.minCompactionLagMs = overrides["min.compaction.lag.ms"].flatMap(Int64.init) ?? logCleanerMinCompactionLagMs
        c.maxCompactionLagMs = overrides["max.compaction.lag.ms"].flatMap(Int64.init) ?? logCleanerMaxCompactionLagMs
        c.minCleanableDirtyRatio =
            overrides["min.cleanable.dirty.ratio"].flatMap(Double.init) ?? logCleanerMinCleanableRatio
        // message.timestamp.difference.max.ms (deprecated) bounds both sides unless they are set.
        let difference = overrides["message.timestamp.difference.max.ms"].flatMap(Int64.init) ?? .max
        c.timestampBeforeMaxMs = overrides["message.timestamp.before.max.ms"].flatMap(Int64.init) ?? difference
        c.timestampAfterMaxMs = overrides["message.timestamp.after.max.ms"].flatMap(Int64.init) ?? difference
        return c
    }
}

/// Topic-level configs Tern accepts in CreateTopics and reports in DescribeConfigs, with the
/// value check for each. Unknown names are refused with INVALID_CONFIG so typos are caught.
public enum TopicConfigs {
    /// Every topic config of Kafka 3.9, each with its value check. Those marked "reported" in
    /// `reportedOnly` are accepted and shown but change nothing in Tern (throttles, tiered
    /// storage, down-conversion, preallocation, index sizing); the others act.
    public static let known: [String: @Sendable (String) -> Bool] = [
        "cleanup.policy": { ["delete", "compact", "compact,delete", "delete,compact"].contains($0) },
        "compression.type": { ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].contains($0) },
        "compression.gzip.level": { v in Int(v).map { $0 == -1 || (1...9).contains($0) } ?? false },
        "compression.lz4.level": { v in Int(v).map { (1...17).contains($0) } ?? false },
        "compression.zstd.level": { v in Int(v).map { (-131_072...22).contains($0) } ?? false },
        "delete.retention.ms": isNonNegative,
        "file.delete.delay.ms": isNonNegative,
        "flush.messages": isPositive,
        "flush.ms": isNonNegative,
        "follower.replication.throttled.replicas": isThrottledReplicas,
        "index.interval.bytes": isNonNegative,
        "leader.replication.throttled.replicas": isThrottledReplicas,
        "local.retention.bytes": { (Int($0) ?? -3) >= -2 },
        "local.retention.ms": { (Int($0) ?? -3) >= -2 },
        "max.compaction.lag.ms": isPositive,
        "max.message.bytes": isPositive,
        "message.downconversion.enable": isBool,
        "message.format.version": { v in
            !v.isEmpty && v.utf8.count <= 32
                && v.allSatisfy { $0.isNumber || $0 == "." || $0 == "-" || $0 == "I" || $0 == "V" }
        },
        "message.timestamp.after.max.ms": isNonNegative,
        "message.timestamp.before.max.ms": isNonNegative,
        "message.timestamp.difference.max.ms": isNonNegative,
        "message.timestamp.type": { ["CreateTime", "LogAppendTime"].contains($0) },
        "min.cleanable.dirty.ratio": { v in Double(v).map { (0...1).contains($0) } ?? false },
        "min.compaction.lag.ms": isNonNegative,
        "min.insync.replicas": isPositive,
        "preallocate": isBool,
        // Tern has no tiered storage: only "false" is true to what it does.
        "remote.storage.enable": { $0 == "false" },
        "remote.log.copy.disable": isBool,
        "remote.log.delete.on.disable": isBool,
        "retention.bytes": isLong,
        "retention.ms": isLong,
        "segment.bytes": { (Int($0) ?? 0) >= 14 },
        "segment.index.bytes": { (Int($0) ?? 0) >= 4 },
        "segment.jitter.ms": isNonNegative,
        "segment.ms": isPositive,
        "unclean.leader.election.enable": isBool,
    ]

    /// Accepted and reported, with no effect in Tern.
    public static let reportedOnly: Set<String> = [
        "compression.gzip.level", "compression.lz4.level", "compression.zstd.level", "file.delete.delay.ms",
        "follower.replication.throttled.replicas", "leader.replication.throttled.replicas", "local.retention.bytes",
        "local.retention.ms", "message.downconversion.enable", "message.format.version", "preallocate",
        "remote.storage.enable", "remote.log.copy.disable", "remote.log.delete.on.disable", "segment.index.bytes",
        "segment.jitter.ms",
    ]

    static func isNonNegative(_ v: String) -> Bool { (Int(v) ?? -1) >= 0 }
    static func isPositive(_ v: String) -> Bool { (Int(v) ?? 0) > 0 }
    static func isLong(_ v: String) -> Bool { (Int(v) ?? -2) >= -1 }
    static func isBool(_ v: String) -> Bool { v == "true" || v == "false" }
    /// Kafka's throttled-replica lists: "", "*", or "partition:broker" pairs separated by commas.
    static func isThrottledReplicas(_ v: String) -> Bool {
        let t = v.trimmingCharacters(in: .whitespaces)
        if t.isEmpty || t == "*" { return true }
        return t.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { pair in
            let parts = pair.trimmingCharacters(in: .whitespaces).split(
                separator: ":", omittingEmptySubsequences: false)
            return parts.count == 2 && Int32(parts[0]).map { $0 >= 0 } == true
                && Int32(parts[1]).map { $0 >= 0 } == true
        }
    }

    /// The codec a `compression.type` stores batches in; nil for "producer" (as they came).
    static func storedCodec(_ name: String) -> CompressionCodec? {
        switch name {
        case "uncompressed": return CompressionCodec.none
        case "gzip": return .gzip
        case "snappy": return .snappy
        case "lz4": return .lz4
        case "zstd": return .zstd
        default: return nil
        }
    }

    /// Defaults shown by DescribeConfigs, taken from the broker's settings (Kafka's own
    /// defaults for those Tern does not use).
    public static func defaults(_ c: BrokerConfig) -> [String: String] {
        [
            "cleanup.policy": c.logCleanupPolicy,
            "compression.type": c.compressionType,
            "compression.gzip.level": "-1",
            "compression.lz4.level": "9",
            "compression.zstd.level": "3",
            "delete.retention.ms": String(c.logCleanerDeleteRetentionMs),
            "file.delete.delay.ms": "60000",
            "flush.messages": String(
                c.logFlushIntervalMessages == .max ? Int64.max : Int64(c.logFlushIntervalMessages)),
            "flush.ms": String(c.logFlushIntervalMs),
            "follower.replication.throttled.replicas": "",
            "index.interval.bytes": String(c.logIndexIntervalBytes),
            "leader.replication.throttled.replicas": "",
            "local.retention.bytes": "-2",
            "local.retention.ms": "-2",
            "max.compaction.lag.ms": String(c.logCleanerMaxCompactionLagMs),
            "max.message.bytes": String(c.messageMaxBytes),
            "message.downconversion.enable": "true",
            "message.format.version": "3.0-IV1",
            "message.timestamp.after.max.ms": String(Int64.max),
            "message.timestamp.before.max.ms": String(Int64.max),
            "message.timestamp.difference.max.ms": String(Int64.max),
            "message.timestamp.type": c.logMessageTimestampType,
            "min.cleanable.dirty.ratio": String(c.logCleanerMinCleanableRatio),
            "min.compaction.lag.ms": String(c.logCleanerMinCompactionLagMs),
            "min.insync.replicas": String(c.minInsyncReplicas),
            "preallocate": "false",
            "remote.storage.enable": "false",
            "remote.log.copy.disable": "false",
            "remote.log.delete.on.disable": "false",
            "retention.bytes": String(c.logRetentionBytes),
            "retention.ms": String(c.logRetentionMs),
            "segment.bytes": String(c.logSegmentBytes),
            "segment.index.bytes": "10485760",
            "segment.jitter.ms": "0",
            "segment.ms": String(c.logRollMs),
            "unclean.leader.election.enable": String(c.uncleanLeaderElection),
        ]
    }
}
