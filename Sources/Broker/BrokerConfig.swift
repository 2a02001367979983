import Metadata
import Storage

/// The settings a broker runs with, already checked. `Server` parses them from a
/// `server.properties` file; tests build them directly.
public struct BrokerConfig: Sendable {
    public var nodeId: Int32 = 0
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
    public var logCleanerEnable = true
    /// How long the cleaner sleeps between passes over the compacted topics.
    public var logCleanerBackoffMs: Int64 = 15_000
    public var logCleanerDeleteRetentionMs: Int64 = 86_400_000
    /// The most a Fetch waits before answering, whatever the client asks.
    public var maxFetchWaitMs: Int32 = 30_000
    /// `fetch.max.bytes`: the most record bytes one Fetch answer carries, whatever it asks for
    /// (the first batch may exceed it, KIP-74).
    public var fetchMaxBytes = 57_671_680
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
    /// `__consumer_offsets`: partitions, and the replication factor wanted (capped at the live
    /// brokers when it is created).
    public var offsetsTopicPartitions: Int32 = 50
    public var offsetsTopicReplicationFactor: Int16 = 3
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
        return c
    }
}

/// Topic-level configs Tern accepts in CreateTopics and reports in DescribeConfigs, with the
/// value check for each. Unknown names are refused with INVALID_CONFIG so typos are caught.
public enum TopicConfigs {
    public static let known: [String: @Sendable (String) -> Bool] = [
        "cleanup.policy": { ["delete", "compact", "compact,delete", "delete,compact"].contains($0) },
        "compression.type": { ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].contains($0) },
        "delete.retention.ms": isNonNegative,
        "flush.messages": isPositive,
        "flush.ms": isNonNegative,
        "index.interval.bytes": isNonNegative,
        "max.message.bytes": isPositive,
        "message.timestamp.type": { ["CreateTime", "LogAppendTime"].contains($0) },
        "min.insync.replicas": isPositive,
        "retention.bytes": isLong,
        "retention.ms": isLong,
        "segment.bytes": { (Int($0) ?? 0) >= 14 },
        "segment.ms": isPositive,
        "unclean.leader.election.enable": { ["true", "false"].contains($0) },
    ]

    static func isNonNegative(_ v: String) -> Bool { (Int(v) ?? -1) >= 0 }
    static func isPositive(_ v: String) -> Bool { (Int(v) ?? 0) > 0 }
    static func isLong(_ v: String) -> Bool { (Int(v) ?? -2) >= -1 }

    /// Defaults shown by DescribeConfigs, taken from the broker's settings.
    public static func defaults(_ c: BrokerConfig) -> [String: String] {
        [
            "cleanup.policy": c.logCleanupPolicy,
            "compression.type": "producer",
            "delete.retention.ms": String(c.logCleanerDeleteRetentionMs),
            "flush.messages": String(
                c.logFlushIntervalMessages == .max ? Int64.max : Int64(c.logFlushIntervalMessages)),
            "flush.ms": String(c.logFlushIntervalMs),
            "index.interval.bytes": String(c.logIndexIntervalBytes),
            "max.message.bytes": String(c.messageMaxBytes),
            "message.timestamp.type": c.logMessageTimestampType,
            "min.insync.replicas": String(c.minInsyncReplicas),
            "retention.bytes": String(c.logRetentionBytes),
            "retention.ms": String(c.logRetentionMs),
            "segment.bytes": String(c.logSegmentBytes),
            "segment.ms": String(c.logRollMs),
            "unclean.leader.election.enable": String(c.uncleanLeaderElection),
        ]
    }
}
