extension RaftNode {
    /// Appends entries as leader. They are not durable until the shell reports `flushed`.
    public mutating func propose(_ payloads: [[UInt8]]) -> (offset: Int64, actions: [RaftAction])? {
        guard role == .leader, !payloads.isEmpty else { return nil }
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
        var ends = peers.values.map(\.endOffset)
        ends.append(durableEndOffset)
        ends.sort(by: >)
        let candidate = ends[majority - 1]
        // Only an offset in the current epoch may be committed by counting (Raft §5.4.2).
        guard candidate > epochStartOffset, candidate > highWatermark else { return [] }
        highWatermark = candidate
        return [.commit(highWatermark: candidate)]
    }

    /// Lag of each follower behind the leader's log end, for DescribeQuorum.
    public var followerEndOffsets: [Int32: Int64] { peers.mapValues(\.endOffset) }
}
