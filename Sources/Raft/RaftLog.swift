/// A voter's view of its log: the entries after its latest snapshot, with epoch lookups for
/// divergence detection (KIP-595 / KIP-101 leader epochs). Offsets below `startOffset` are
/// folded into the snapshot and no longer held as entries.
public struct RaftLog: Equatable, Sendable {
    /// The first offset held as an entry (the snapshot's end offset; 0 without a snapshot).
    public private(set) var startOffset: Int64 = 0
    /// The epoch of the entry just before `startOffset` (the snapshot's epoch; 0 without one).
    public private(set) var startEpoch: Int32 = 0
    public private(set) var entries: [LogEntry] = []

    public init(entries: [LogEntry] = [], startOffset: Int64 = 0, startEpoch: Int32 = 0) {
        self.entries = entries
        self.startOffset = startOffset
        self.startEpoch = startEpoch
    }

    public var endOffset: Int64 { startOffset + Int64(entries.count) }
    public var lastEpoch: Int32 { entries.last?.epoch ?? startEpoch }

    public func entry(at offset: Int64) -> LogEntry? {
        offset >= startOffset && offset < endOffset ? entries[Int(offset - startOffset)] : nil
    }

    public func epoch(at offset: Int64) -> Int32? {
        if offset == startOffset - 1 && startOffset > 0 { return startEpoch }
        return entry(at: offset)?.epoch
    }

    /// The largest epoch ≤ `epoch` present in the log, and the offset where it ends (the start of
    /// the next larger epoch, or the log end). (0, 0) when no such epoch exists; nil when the
    /// answer lies inside the snapshot (`epoch` is older than the snapshot's), where only the
    /// snapshot itself can bring a follower back in line.
    public func endOffset(forEpoch epoch: Int32) -> (epoch: Int32, endOffset: Int64)? {
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
        if last >= 0 { return (entries[last].epoch, startOffset + Int64(last + 1)) }
        if startOffset == 0 { return (0, 0) }
        return epoch >= startEpoch ? (startEpoch, startOffset) : nil
    }

    public mutating func append(_ new: [LogEntry]) { entries += new }

    /// Drops entries at or after `offset`; never below the snapshot, which is committed.
    public mutating func truncate(to offset: Int64) {
        let keep = max(offset, startOffset)
        if keep < endOffset { entries.removeLast(entries.count - Int(keep - startOffset)) }
    }

    /// Forgets the entries below `offset`: a snapshot now stands for them.
    public mutating func compact(upTo offset: Int64) {
        guard offset > startOffset, offset <= endOffset, let epoch = epoch(at: offset - 1) else { return }
        entries.removeFirst(Int(offset - startOffset))
        startOffset = offset
        startEpoch = epoch
    }

    /// Replaces the whole log with a snapshot ending at `endOffset` in `epoch`.
    public mutating func reset(toSnapshotEnding endOffset: Int64, epoch: Int32) {
        entries = []
        startOffset = endOffset
        startEpoch = epoch
    }

    /// Entries from `offset`: at most `count`, and no more once their payloads reach `maxBytes`
    /// (the first one always, whatever its size).
    public func slice(from offset: Int64, max count: Int, maxBytes: Int = .max) -> [LogEntry] {
        guard offset >= startOffset, offset < endOffset, count > 0 else { return [] }
        let from = Int(offset - startOffset)
        var end = from
        var bytes = 0
        let last = min(entries.count, from + count)
        while end < last && (end == from || bytes + entries[end].payload.count <= maxBytes) {
            bytes += entries[end].payload.count
            end += 1
        }
        return Array(entries[from..<end])
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    public func isUpToDate(lastEpoch theirEpoch: Int32, endOffset theirEnd: Int64) -> Bool {
        theirEpoch > lastEpoch || (theirEpoch == lastEpoch && theirEnd >= endOffset)
    }
}
