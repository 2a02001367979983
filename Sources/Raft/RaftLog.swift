/// A voter's view of its log: entries from offset 0 (snapshots come later), with epoch lookups
/// for divergence detection (KIP-595 / KIP-101 leader epochs).
public struct RaftLog: Equatable, Sendable {
    public private(set) var entries: [LogEntry] = []

    public init(entries: [LogEntry] = []) { self.entries = entries }

    public var endOffset: Int64 { Int64(entries.count) }
    public var lastEpoch: Int32 { entries.last?.epoch ?? 0 }

    public func epoch(at offset: Int64) -> Int32? {
        offset >= 0 && offset < endOffset ? entries[Int(offset)].epoch : nil
    }

    /// The largest epoch ≤ `epoch` present in the log, and the offset where it ends (the start of
    /// the next larger epoch, or the log end). (0, 0) when no such epoch exists.
    public func endOffset(forEpoch epoch: Int32) -> (epoch: Int32, endOffset: Int64) {
        // Entries' epochs never decrease, so find the last entry with epoch <= `epoch`.
        var lo = 0
        var hi = entries.count - 1
        var last = -1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if entries[mid].epoch <= epoch {
                last = mid
                lo = mid + 1
            } else {
                hi = mid - 1
            }
        }
        if last < 0 { return (0, 0) }
        return (entries[last].epoch, Int64(last + 1))
    }

    public mutating func append(_ new: [LogEntry]) { entries += new }

    public mutating func truncate(to offset: Int64) {
        if offset < endOffset { entries.removeLast(entries.count - Int(max(0, offset))) }
    }

    public func slice(from offset: Int64, max count: Int) -> [LogEntry] {
        guard offset >= 0, offset < endOffset else { return [] }
        return Array(entries[Int(offset)..<Int(min(endOffset, offset + Int64(count)))])
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    public func isUpToDate(lastEpoch theirEpoch: Int32, endOffset theirEnd: Int64) -> Bool {
        theirEpoch > lastEpoch || (theirEpoch == lastEpoch && theirEnd >= endOffset)
    }
}
