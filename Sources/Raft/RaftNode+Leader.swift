extension RaftNode {
    /// Appends entries as leader. They are not durable until the shell reports `flushed`.
    public mutating func propose(_ payloads: [[UInt8]]) -> (offset: Int64, actions: [RaftAction])? {
        // Raft's own entries (leader changes, voter changes) are never proposed from outside.
        guard role == .leader, !payloads.isEmpty, payloads.allSatisfy({ ($0.first ?? 0) < 0xFE }) else { return nil }
        let offset = log.endOffset
        let entries = payloads.map { LogEntry(epoch: quorum.epoch, payload: $0) }
        log.append(entries)
        return (offset, [.append(offset: offset, entries: entries)])
    }

    /// The shell flushed the log up to `offset`: the leader may count its own copy.
    public mutating func flushed(upTo offset: Int64) -> [RaftAction] {
        durableEndOffset = max(durableEndOffset, min(offset, log.endOffset))
        return role == .leader ? advanceHighWatermark() : []
    }

    mutating func advanceHighWatermark() -> [RaftAction] {
        // The voters' copies count, this leader's own only while it is one of them.
        var ends = peers.filter { voters.contains($0.key) }.map(\.value.endOffset)
        if voters.contains(id) { ends.append(durableEndOffset) }
        ends.sort(by: >)
        guard ends.count >= majority else { return [] }
        let candidate = ends[majority - 1]
        // Only an offset in the current epoch may be committed by counting (Raft §5.4.2).
        guard candidate > epochStartOffset, candidate > highWatermark else { return [] }
        highWatermark = candidate
        return [.commit(highWatermark: candidate)] + resignIfRemoved(nowMs: 0)
    }

    /// Lag of each follower behind the leader's log end, for DescribeQuorum.
    public var followerEndOffsets: [Int32: Int64] { peers.mapValues(\.endOffset) }
}
