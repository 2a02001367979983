import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// The partitions this broker holds a replica of, kept in step with the committed metadata
/// image: a new image opens the logs of newly assigned replicas, updates leaders, and removes
/// the data of deleted topics. Partition data lives in `<log.dirs>/<topic>-<n>/`, with the
/// topic id in `partition.metadata`.
/// Sendable by hand: its mutable fields are private and touched only under `lock`.
public final class PartitionRegistry: @unchecked Sendable {
    private let lock = NIOLock()
    private var partitions: [String: [Int32: PartitionState]] = [:]
    private var _image = MetadataImage()
    /// When partitions were last refused for want of file descriptors (logged at most every 30 s).
    private var lastRefusalLogMs: Int64 = -30_000
    /// How many partitions the last refusal line named.
    private var lastRefusalLogged = 0
    private var refusedCount = 0

    /// High watermarks read from the directory checkpoint at start-up, each taken by its
    /// partition as the log opens (nil until the first image with logs to open).
    private var savedHighWatermarks: [OffsetCheckpoint.Key: Int64]? = nil
    /// What this process last wrote to the directory checkpoint; under `checkpointLock`, which
    /// keeps two writers (maintenance and shutdown) apart.
    private var writtenHighWatermarks: [OffsetCheckpoint.Key: Int64] = [:]
    private var legacyFilesRemoved = false
    private let checkpointLock = NIOLock()

    /// New replicas' `partition.metadata` files written since the last `syncNewMetadataFiles`.
    private var metadataFilesUnsynced = 0

    /// Whether the last apply left partition replicas unopened for want of file descriptors.
    public var hasRefused: Bool { lock.withLock { refusedCount > 0 } }
    let config: BrokerConfig
    let clock: any TernClock
    let logger: Logger

    init(config: BrokerConfig, clock: any TernClock, logger: Logger) {
        self.config = config
        self.clock = clock
        self.logger = logger
    }

    public var image: MetadataImage { lock.withLock { _image } }

    public func partition(_ topic: String, _ index: Int32) -> PartitionState? {
        lock.withLock { partitions[topic]?[index] }
    }

    public func all() -> [PartitionState] {
        lock.withLock { partitions.values.flatMap(\.values) }
    }

    /// Brings the local replicas in line with `image`.
    func apply(_ image: MetadataImage) {
        var toOpen: [(MetadataImage.Topic, Int32, MetadataImage.Partition)] = []
        var toRemove: [PartitionState] = []
        var toUpdate: [(PartitionState, MetadataImage.Partition, LogConfig)] = []
        // Replicas moved off this broker by a reassignment: told of their new leader (acks=all
        // produces waiting on them fail over at once), then deleted.
        var movedAway: [(PartitionState, MetadataImage.Partition)] = []
        let now = clock.monotonicMs
        lock.withLock {
            let previous = _image
            _image = image
            for t in image.topics.values {
                for (index, p) in t.partitions where p.replicas.contains(config.nodeId) {
                    if let existing = partitions[t.name]?[index], existing.topicId == t.id {
                        toUpdate.append((existing, p, config.logConfig(overrides: t.configs)))
                    } else {
                        toOpen.append((t, index, p))
                    }
                }
            }
            // A topic that was in the previous image and is gone (or was re-created with a new
            // id) had its data deleted by the controller: remove the local copy.
            for (name, local) in partitions {
                if let t = image.topics[name] {
                    for (index, state) in local where state.topicId == t.id {
                        if let p = t.partitions[index], !p.replicas.contains(config.nodeId) {
                            movedAway.append((state, p))
                            partitions[name]?[index] = nil
                        }
                    }
                }
                guard let any = local.values.first else { continue }
                let current = image.topics[name]
                if current == nil && previous.topics[name] != nil || current.map({ $0.id != any.topicId }) == true {
                    toRemove += local.values
                    partitions[name] = nil
                }
            }
        }
        for p in toRemove { remove(p) }
        for (state, p) in movedAway {
            state.update(p, nowMs: now)
            logger.info("\(state.topic)-\(state.index) was reassigned to \(p.replicas); removing the local replica")
            remove(state)
        }
        // Their files close as the last references go: before the descriptors are counted below.
        toRemove = []
        movedAway = []
        for (state, p, logConfig) in toUpdate {
            state.update(p, nowMs: now)
            if state.log.config != logConfig {
                state.log.config = logConfig
                logger.info("\(state.topic)-\(state.index): topic configs changed")
            }
        }
        let saved = toOpen.isEmpty ? [:] : takeSavedHighWatermarks(toOpen.map { OffsetCheckpoint.Key($0.0.name, $0.1) })
        let started = clock.monotonicNs
        var opened = 0
        var scanned = 0
        var truncated = 0
        defer {
            if opened >= 10 || scanned > 0 {
                let ms = clock.msSince(started)
                logger.info(
                    "opened \(opened) partition log(s) in \(ms) ms: \(scanned) segment(s) scanned past their recovery point, \(truncated) damaged byte(s) truncated"
                )
            }
        }
        // Descriptors left for partition logs: refused past them (named in one line), so that
        // the metadata log and connections keep theirs and the node stays up.
        let limit = Descriptors.limit()
        var room =
            toOpen.isEmpty || limit == .max
            ? Int.max : limit - Descriptors.reserved(limit: limit) - (Descriptors.open() ?? 0)
        var refused: [String] = []
        var unsynced = 0
        defer { if unsynced > 0 { lock.withLock { metadataFilesUnsynced += unsynced } } }
        for (t, index, p) in toOpen {
            if room < 2 {
                refused.append("\(t.name)-\(index)")
                continue
            }
            do {
                let dir = "\(config.logDirs)/\(t.name)-\(index)"
                let metadataPath = dir + "/partition.metadata"
                // Read once (nil without a file: a new replica), for the check and the write below.
                var recorded = try? FileSystem.readText(metadataPath)
                if let text = recorded, let id = Self.topicId(inPartitionMetadata: text), id != t.id.description {
                    // Data of an older topic of the same name: it was deleted while we were away.
                    // (A file naming no id, cut short by a crash before its batch was synced,
                    // is written again below, and the data kept.)
                    try FileSystem.removeTree(dir)
                    recorded = nil
                }
                let log = try PartitionLog(
                    directory: dir, config: config.logConfig(overrides: t.configs), clock: clock, logger: logger,
                    savedHighWatermark: saved[OffsetCheckpoint.Key(t.name, index)])
                opened += 1
                room -= log.segmentCount
                scanned += log.recovery.scanned
                truncated += log.recovery.truncatedBytes
                let metadata = "version: 0\ntopic_id: \(t.id)\n"
                if recorded != metadata {
                    // Synced with every other new one at once by the next maintenance tick.
                    try FileSystem.writeTextAtomically(metadata, to: metadataPath, sync: false)
                    unsynced += 1
                }
                let state = PartitionState(topic: t.name, topicId: t.id, index: index, log: log, nodeId: config.nodeId)
                state.update(p, nowMs: now)
                lock.withLock { partitions[t.name, default: [:]][index] = state }
            } catch {
                logger.error("cannot open the log of \(t.name)-\(index): \(error)")
            }
        }
        lock.withLock { refusedCount = refused.count }
        if !refused.isEmpty {
            let now = clock.monotonicMs
            // Every 30 s, or once a second while the count grows (a large topic is applied in
            // steps, each refusing more), so the last line names them all.
            let due = lock.withLock {
                let grew = refused.count > lastRefusalLogged
                guard now - lastRefusalLogMs >= 30_000 || (grew && now - lastRefusalLogMs >= 1_000) else {
                    return false
                }
                lastRefusalLogMs = now
                lastRefusalLogged = refused.count
                return true
            }
            if due {
                logger.error(
                    "cannot host \(refused.count) partition replica(s) (\(refused.prefix(5).joined(separator: ", "))\(refused.count > 5 ? ", ..." : "")): this process may open \(limit) files (ulimit -n), \(Descriptors.reserved(limit: limit)) of them kept for connections and the metadata log, and its logs hold the rest; raise the limit (ulimit -n) and restart, or move partitions to other brokers. They are retried with each metadata change."
                )
            }
        }
    }

    /// Makes the `partition.metadata` files of replicas opened since the last call durable, with
    /// one `syncfs` for all of them (as Kafka flushes the file from its scheduler, not in the
    /// log's creation): an fsync each, on the Raft loop that opens the logs, cost 0.5 ms per
    /// partition. Until then a crash can leave one empty, which names no topic and is written
    /// again at the next start; only a file naming another topic's id has its data removed.
    func syncNewMetadataFiles() throws {
        let n = lock.withLock { metadataFilesUnsynced }
        guard n > 0 else { return }
        try FileSystem.syncFileSystem(containing: config.logDirs)
        lock.withLock { metadataFilesUnsynced -= n }
    }

    /// `<log.dirs>/replication-offset-checkpoint`: every partition's high watermark.
    var highWatermarkCheckpointPath: String { config.logDirs + "/replication-offset-checkpoint" }

    /// The saved high watermarks of these partitions, each handed out once (the checkpoint is
    /// read at the first image with logs to open). A value can only be stale for a log that is
    /// new since, and a log's high watermark is never set past its end.
    private func takeSavedHighWatermarks(_ keys: [OffsetCheckpoint.Key]) -> [OffsetCheckpoint.Key: Int64] {
        let loaded = lock.withLock { savedHighWatermarks != nil }
        if !loaded {
            let path = highWatermarkCheckpointPath
            var saved: [OffsetCheckpoint.Key: Int64] = [:]
            do {
                saved = try OffsetCheckpoint.read(path) ?? [:]
            } catch {
                // Nothing is lost: each partition starts from its old per-partition file or from
                // its log start, and the leader moves it up again as followers fetch.
                logger.warning(
                    "\(path): \(error); high watermarks start from the logs and are recomputed as followers fetch")
            }
            lock.withLock { savedHighWatermarks = saved }
        }
        return lock.withLock {
            var taken: [OffsetCheckpoint.Key: Int64] = [:]
            for key in keys {
                if let v = savedHighWatermarks?.removeValue(forKey: key) { taken[key] = v }
            }
            return taken
        }
    }

    /// Writes every hosted partition's high watermark to the directory checkpoint when any moved,
    /// or a partition came or went, since the last write. Returns whether it wrote.
    @discardableResult
    func checkpointHighWatermarks() throws -> Bool {
        try checkpointLock.withLock {
            let hosted = all()
            var current: [OffsetCheckpoint.Key: Int64] = [:]
            current.reserveCapacity(hosted.count)
            for p in hosted { current[OffsetCheckpoint.Key(p.topic, p.index)] = p.log.highWatermark }
            // Saved values of replicas still assigned here and not open yet (refused for want of
            // descriptors, or an image still being applied) are kept for their turn.
            lock.withLock {
                for (key, v) in savedHighWatermarks ?? [:]
                where _image.topics[key.topic]?.partitions[key.partition]?.replicas.contains(config.nodeId) == true {
                    current[key] = current[key] ?? v
                }
            }
            guard current != writtenHighWatermarks else { return false }
            try OffsetCheckpoint.write(current, to: highWatermarkCheckpointPath)
            writtenHighWatermarks = current
            if !legacyFilesRemoved {
                // The files an earlier version kept per partition: the checkpoint now has them all.
                legacyFilesRemoved = true
                for p in hosted {
                    try? FileSystem.remove(p.log.directory + "/" + PartitionLog.legacyHighWatermarkFile)
                }
            }
            return true
        }
    }

    /// The topic id a `partition.metadata` file records (`topic_id: <id>`); nil when it names
    /// none (empty, cut short).
    static func topicId(inPartitionMetadata text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("topic_id:") {
            let id = line.dropFirst("topic_id:".count).split(separator: " ", omittingEmptySubsequences: true)
            return id.first.map(String.init)
        }
        return nil
    }

    /// Deletes partition directories of topics the image no longer has. Called once the broker
    /// has caught up with the metadata log, so a deletion it missed while down is applied.
    func removeOrphans() {
        let image = self.image
        guard let names = try? FileSystem.list(config.logDirs) else { return }
        for name in names where !name.hasPrefix("__") {
            let dir = config.logDirs + "/" + name
            guard FileSystem.exists(dir + "/partition.metadata"), let dash = name.lastIndex(of: "-"),
                let index = Int32(name[name.index(after: dash)...])
            else { continue }
            let topic = String(name[..<dash])
            let text = (try? FileSystem.readText(dir + "/partition.metadata")) ?? ""
            let t = image.topics[topic]
            let assigned = t?.partitions[index]?.replicas.contains(config.nodeId) ?? false
            let live = t.map { text.contains($0.id.description) } ?? false
            if !(live && assigned) && partition(topic, index) == nil {
                logger.info(
                    "removing \(dir): \(live ? "its replicas were reassigned to other brokers" : "its topic is no longer in the cluster metadata")"
                )
                try? FileSystem.removeTree(dir)
            }
        }
    }

    private func remove(_ p: PartitionState) {
        let dir = "\(config.logDirs)/\(p.topic)-\(p.index)"
        let aside = "\(dir).\(p.topicId)-delete"
        do {
            try FileSystem.rename(dir, aside)
            try FileSystem.removeTree(aside)
            logger.info("deleted the local replica \(p.topic)-\(p.index)")
        } catch {
            logger.error("could not delete \(dir): \(error)")
        }
    }

    func cleanUpDeletedDirectories() throws {
        for name in try FileSystem.list(config.logDirs) where name.hasSuffix("-delete") {
            try FileSystem.removeTree(config.logDirs + "/" + name)
        }
    }

    /// Kafka's rule for topic names: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
    public static func validateName(_ name: String) -> String? {
        if name.isEmpty { return "Topic name is illegal, it can't be empty" }
        if name == "." || name == ".." { return "Topic name cannot be \".\" or \"..\"" }
        if name.utf8.count > 249 { return "Topic name is illegal, it can't be longer than 249 characters" }
        let ok = name.utf8.allSatisfy { c in
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 46 || c == 95 || c == 45
        }
        return ok
            ? nil
            : "Topic name \"\(name)\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
    }
}

/// How a broker reaches the active controller for metadata changes: in-process when this node
/// is the active controller, over the CONTROLLER listener otherwise. The server provides it.
public protocol ControllerGateway: Sendable {
    func createTopics(_ request: CreateTopicsRequest) -> EventLoopFuture<CreateTopicsResponse>
    func deleteTopics(_ request: DeleteTopicsRequest) -> EventLoopFuture<DeleteTopicsResponse>
    func createPartitions(_ request: CreatePartitionsRequest) -> EventLoopFuture<CreatePartitionsResponse>
    func electLeaders(_ request: ElectLeadersRequest) -> EventLoopFuture<ElectLeadersResponse>
    func alterPartition(_ request: AlterPartitionRequest) -> EventLoopFuture<AlterPartitionResponse>
    func alterPartitionReassignments(_ request: AlterPartitionReassignmentsRequest) -> EventLoopFuture<
        AlterPartitionReassignmentsResponse
    >
    func unregisterBroker(_ request: UnregisterBrokerRequest) -> EventLoopFuture<UnregisterBrokerResponse>
    func addRaftVoter(_ request: AddRaftVoterRequest) -> EventLoopFuture<AddRaftVoterResponse>
    func removeRaftVoter(_ request: RemoveRaftVoterRequest) -> EventLoopFuture<RemoveRaftVoterResponse>
    func listPartitionReassignments(_ request: ListPartitionReassignmentsRequest) -> EventLoopFuture<
        ListPartitionReassignmentsResponse
    >
    func incrementalAlterConfigs(_ request: IncrementalAlterConfigsRequest) -> EventLoopFuture<
        IncrementalAlterConfigsResponse
    >
    func alterUserScramCredentials(_ request: AlterUserScramCredentialsRequest) -> EventLoopFuture<
        AlterUserScramCredentialsResponse
    >
    func createAcls(_ request: CreateAclsRequest) -> EventLoopFuture<CreateAclsResponse>
    func deleteAcls(_ request: DeleteAclsRequest) -> EventLoopFuture<DeleteAclsResponse>
    /// The node that is the active controller now, if any.
    var activeControllerId: Int32? { get }
}
