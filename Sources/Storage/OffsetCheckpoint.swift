/// One offset per partition for a whole log directory, in Kafka's checkpoint format
/// (`replication-offset-checkpoint`): a version line (`0`), a count line, then one
/// `topic partition offset` line per partition. The node keeps every partition's high watermark
/// here, so a moved high watermark costs one file write per directory rather than one new file
/// (an inode allocated, an fsync) per partition.
public enum OffsetCheckpoint {
    public struct Key: Hashable, Sendable, Comparable {
        public let topic: String
        public let partition: Int32

        public init(_ topic: String, _ partition: Int32) {
            self.topic = topic
            self.partition = partition
        }

        public static func < (a: Key, b: Key) -> Bool {
            a.topic != b.topic ? a.topic < b.topic : a.partition < b.partition
        }
    }

    /// Why a checkpoint file was not taken: the line (1-based) and what is wrong with it.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// The largest file read: 250,000 partitions with names of the longest legal length.
    public static let maxBytes = 64 << 20

    /// The file's text, partitions in order (the same entries always make the same bytes).
    public static func format(_ entries: [Key: Int64]) -> String {
        var text = "0\n\(entries.count)\n"
        for (key, offset) in entries.sorted(by: { $0.key < $1.key }) {
            text += "\(key.topic) \(key.partition) \(offset)\n"
        }
        return text
    }

    /// Reads a checkpoint's text. Every line is checked: the version, a count that matches the
    /// lines that follow (a count is never used to size anything), legal topic names, partitions
    /// and offsets that are not negative, and each partition at most once.
    public static func parse(_ text: String) throws(ParseError) -> [Key: Int64] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard lines.count >= 2 else { throw ParseError(line: lines.count + 1, reason: "missing the version or count") }
        guard lines[0] == "0" else { throw ParseError(line: 1, reason: "unknown version \"\(lines[0].prefix(20))\"") }
        guard let count = Int(lines[1]), count >= 0 else {
            throw ParseError(line: 2, reason: "count \"\(lines[1].prefix(20))\" is not a number of entries")
        }
        guard count == lines.count - 2 else {
            throw ParseError(line: 2, reason: "count \(count) but \(lines.count - 2) entries follow")
        }
        var entries: [Key: Int64] = [:]
        entries.reserveCapacity(count)
        for (i, line) in lines.dropFirst(2).enumerated() {
            let n = i + 3
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3 else { throw ParseError(line: n, reason: "not \"topic partition offset\"") }
            guard isLegalTopic(fields[0]) else { throw ParseError(line: n, reason: "not a legal topic name") }
            guard let partition = Int32(fields[1]), partition >= 0 else {
                throw ParseError(line: n, reason: "partition is not a number from 0 to 2147483647")
            }
            guard let offset = Int64(fields[2]), offset >= 0 else {
                throw ParseError(line: n, reason: "offset is not a number from 0 to 9223372036854775807")
            }
            let key = Key(String(fields[0]), partition)
            guard entries.updateValue(offset, forKey: key) == nil else {
                throw ParseError(line: n, reason: "\(key.topic)-\(partition) is named twice")
            }
        }
        return entries
    }

    /// The checkpoint at `path`: nil when there is none.
    public static func read(_ path: String) throws -> [Key: Int64]? {
        guard FileSystem.exists(path) else { return nil }
        return try parse(try FileSystem.readText(path, maxBytes: maxBytes))
    }

    /// Replaces the checkpoint atomically (a temporary file, fsynced, renamed over).
    public static func write(_ entries: [Key: Int64], to path: String) throws {
        try FileSystem.writeTextAtomically(format(entries), to: path)
    }

    /// Kafka's topic names: 1-249 characters of [a-zA-Z0-9._-].
    static func isLegalTopic(_ name: Substring) -> Bool {
        guard (1...249).contains(name.utf8.count) else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x5F
                || c == 0x2D
        }
    }
}
