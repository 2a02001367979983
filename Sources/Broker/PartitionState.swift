import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import Storage

/// A partition the broker serves: its log and the fetches waiting for new data.
public final class PartitionState: @unchecked Sendable {
    public let topic: String
    public let topicId: KafkaUUID
    public let index: Int32
    public let log: PartitionLog
    private let lock = NIOLock()
    private var _leader: Int32 = -1
    private var _leaderEpoch: Int32 = -1

    /// Leader and leader epoch from the latest metadata image.
    public var leadership: (leader: Int32, epoch: Int32) { lock.withLock { (_leader, _leaderEpoch) } }

    func setLeadership(_ leader: Int32, _ epoch: Int32) {
        lock.withLock {
            _leader = leader
            _leaderEpoch = epoch
        }
    }
    private var waiters: [(owner: PendingFetch, wake: @Sendable () -> Void)] = []

    init(topic: String, topicId: KafkaUUID, index: Int32, log: PartitionLog) {
        self.topic = topic
        self.topicId = topicId
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
