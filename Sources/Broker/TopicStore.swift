import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import Storage

/// A partition the broker serves: its log and the fetches waiting for new data.
public final class PartitionState: @unchecked Sendable {
    public let topic: String
    public let index: Int32
    public let log: PartitionLog
    private let lock = NIOLock()
    private var waiters: [(owner: PendingFetch, wake: @Sendable () -> Void)] = []

    init(topic: String, index: Int32, log: PartitionLog) {
        self.topic = topic
        self.index = index
        self.log = log
    }

    /// Runs `wake` once, after the next append. Waiters of fetches that already answered are
    /// dropped here, so an idle partition does not collect them.
    func waitForAppend(owner: PendingFetch, _ wake: @escaping @Sendable () -> Void) {
        lock.withLock {
            waiters.removeAll { $0.owner.isDone }
            waiters.append((owner, wake))
        }
    }

    func notifyAppended() {
        let toWake = lock.withLock {
            let w = waiters
            waiters = []
            return w
        }
        for w in toWake where !w.owner.isDone { w.wake() }
    }
}

public struct TopicInfo: Sendable {
    public var name: String
    public var id: KafkaUUID
    public var configs: [String: String]
    public var partitions: [PartitionState]
}

/// The topics this broker holds, persisted under `<log.dirs>/__tern_topics/<name>.properties`
/// (topic id, partition count, config overrides) with each partition's data in
/// `<log.dirs>/<topic>-<n>/`. Until the controller issue brings the metadata log, this file
/// catalog is the broker's source of truth for topics.
public final class TopicStore: @unchecked Sendable {
    private let lock = NIOLock()
    private var topics: [String: TopicInfo] = [:]
    let config: BrokerConfig
    let logger: Logger
    var catalogDir: String { config.logDirs + "/__tern_topics" }

    init(config: BrokerConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        try FileSystem.makeDirectories(catalogDir)
        for file in try FileSystem.list(catalogDir) where file.hasSuffix(".properties") {
            let props = Properties.parse(try FileSystem.readText(catalogDir + "/" + file))
            guard let name = props["name"], let idText = props["topic.id"], let id = KafkaUUID(base64: idText),
                let count = props["partitions"].flatMap(Int32.init)
            else {
                logger.warning("ignoring unreadable topic catalog entry \(catalogDir)/\(file)")
                continue
            }
            var configs: [String: String] = [:]
            for (k, v) in props where k.hasPrefix("config.") { configs[String(k.dropFirst(7))] = v }
            let partitions = try (0..<count).map { try openPartition(name, $0, configs) }
            topics[name] = TopicInfo(name: name, id: id, configs: configs, partitions: partitions)
            logger.info("loaded topic \(name) with \(count) partitions")
        }
    }

    private func openPartition(_ topic: String, _ index: Int32, _ configs: [String: String]) throws -> PartitionState {
        let dir = "\(config.logDirs)/\(topic)-\(index)"
        let log = try PartitionLog(directory: dir, config: config.logConfig(overrides: configs), logger: logger)
        return PartitionState(topic: topic, index: index, log: log)
    }

    private func persist(_ t: TopicInfo) throws {
        var text = "name=\(t.name)\ntopic.id=\(t.id)\npartitions=\(t.partitions.count)\n"
        for (k, v) in t.configs.sorted(by: { $0.key < $1.key }) { text += "config.\(k)=\(v)\n" }
        try FileSystem.writeTextAtomically(text, to: "\(catalogDir)/\(t.name).properties")
        for p in t.partitions {
            try FileSystem.writeTextAtomically(
                "version: 0\ntopic_id: \(t.id)\n", to: "\(config.logDirs)/\(t.name)-\(p.index)/partition.metadata")
        }
    }

    public func get(_ name: String) -> TopicInfo? { lock.withLock { topics[name] } }
    public func get(id: KafkaUUID) -> TopicInfo? { lock.withLock { topics.values.first { $0.id == id } } }
    public func all() -> [TopicInfo] { lock.withLock { topics.values.sorted { $0.name < $1.name } } }

    public func partition(_ topic: String, _ index: Int32) -> PartitionState? {
        lock.withLock {
            guard let t = topics[topic], index >= 0, Int(index) < t.partitions.count else { return nil }
            return t.partitions[Int(index)]
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

    public enum CreateError: Error {
        case exists, invalid(ErrorCode, String)
    }

    public func create(name: String, partitions: Int32, configs: [String: String], validateOnly: Bool) throws
        -> TopicInfo
    {
        if let why = Self.validateName(name) { throw CreateError.invalid(.invalidTopicException, why) }
        guard partitions > 0 && partitions <= 10_000 else {
            throw CreateError.invalid(
                .invalidPartitions, "Number of partitions must be between 1 and 10000, got \(partitions).")
        }
        for (k, v) in configs {
            guard let check = TopicConfigs.known[k] else {
                throw CreateError.invalid(.invalidConfig, "Unknown topic config name: \(k)")
            }
            guard check(v) else {
                throw CreateError.invalid(.invalidConfig, "Invalid value \(v) for configuration \(k)")
            }
        }
        return try lock.withLock {
            if topics[name] != nil { throw CreateError.exists }
            let id = KafkaUUID.random()
            if validateOnly { return TopicInfo(name: name, id: id, configs: configs, partitions: []) }
            let parts = try (0..<partitions).map { try openPartition(name, $0, configs) }
            let info = TopicInfo(name: name, id: id, configs: configs, partitions: parts)
            try persist(info)
            topics[name] = info
            logger.info("created topic \(name) with \(partitions) partitions, id \(id)")
            return info
        }
    }

    public func addPartitions(name: String, count: Int32, validateOnly: Bool) throws {
        try lock.withLock {
            guard var t = topics[name] else {
                throw CreateError.invalid(.unknownTopicOrPartition, "Topic \(name) does not exist.")
            }
            guard count > t.partitions.count else {
                throw CreateError.invalid(
                    .invalidPartitions,
                    "Topic currently has \(t.partitions.count) partitions, \(count) would not be an increase.")
            }
            guard count <= 10_000 else {
                throw CreateError.invalid(.invalidPartitions, "Number of partitions \(count) exceeds 10000.")
            }
            if validateOnly { return }
            for i in Int32(t.partitions.count)..<count { t.partitions.append(try openPartition(name, i, t.configs)) }
            try persist(t)
            topics[name] = t
            logger.info("topic \(name) now has \(count) partitions")
        }
    }

    /// Deletes a topic: its catalog entry first (so a crash cannot bring it back), then its
    /// partition directories, renamed aside and removed.
    public func delete(name: String) throws -> Bool {
        try lock.withLock {
            guard let t = topics.removeValue(forKey: name) else { return false }
            try FileSystem.remove("\(catalogDir)/\(name).properties")
            for p in t.partitions {
                let dir = "\(config.logDirs)/\(name)-\(p.index)"
                let aside = "\(dir).\(t.id)-delete"
                try FileSystem.rename(dir, aside)
                try FileSystem.removeTree(aside)
            }
            logger.info("deleted topic \(name)")
            return true
        }
    }

    /// Removes partition directories left renamed aside by a deletion a crash interrupted.
    func cleanUpDeletedDirectories() throws {
        for name in try FileSystem.list(config.logDirs) where name.hasSuffix("-delete") {
            try FileSystem.removeTree(config.logDirs + "/" + name)
        }
    }
}

/// Kafka's `.properties` format: `key=value` lines, `#` and `!` comments, blank lines ignored.
public enum Properties {
    public static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value, _) in parseLines(text) { out[key] = value }
        return out
    }

    /// Key, value and 1-based line number of every setting, in file order.
    public static func parseLines(_ text: String) -> [(String, String, Int)] {
        var out: [(String, String, Int)] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            let sep = line.firstIndex(where: { $0 == "=" || $0 == ":" }) ?? line.endIndex
            let key = String(line[..<sep]).trimmingCharacters(in: " \t")
            let value = sep < line.endIndex ? String(line[line.index(after: sep)...]).trimmingCharacters(in: " \t") : ""
            out.append((key, value, n + 1))
        }
        return out
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
