import NIOConcurrencyHelpers

extension PartitionLog {
    /// Kafka's leader-epoch-checkpoint: a version line, a count, then "epoch offset" lines.
    static func readEpochCheckpoint(_ path: String) -> [(epoch: Int32, offset: Int64)]? {
        guard FileSystem.exists(path), let text = try? FileSystem.readText(path) else { return nil }
        let lines = text.split(separator: "\n")
        guard lines.count >= 2, let count = Int(lines[1]), lines.count == count + 2 else { return nil }
        var out: [(Int32, Int64)] = []
        for line in lines.dropFirst(2) {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let e = Int32(parts[0]), let o = Int64(parts[1]) else { return nil }
            out.append((e, o))
        }
        return out
    }

    func writeEpochCheckpoint() {
        let text = "0\n\(epochs.count)\n" + epochs.map { "\($0.epoch) \($0.offset)\n" }.joined()
        try? FileSystem.writeTextAtomically(text, to: directory + "/leader-epoch-checkpoint")
    }

    /// Drops epochs wholly below `offset`; the one in force there now starts at `offset`.
    func trimEpochs(below offset: Int64) {
        guard let i = epochs.lastIndex(where: { $0.offset <= offset }), i > 0 || epochs[0].offset < offset else {
            return
        }
        epochs.removeFirst(i)
        epochs[0].offset = offset
    }

    func noteEpoch(_ epoch: Int32, _ offset: Int64) {
        guard epochs.last?.epoch != epoch else { return }
        epochs.append((epoch, offset))
        writeEpochCheckpoint()
    }

    /// The largest epoch ≤ `epoch` in this log and the offset where it ends (where the next
    /// epoch starts, or the log end): the answer a leader gives a diverging follower.
    public func endOffset(forEpoch epoch: Int32) -> (epoch: Int32, endOffset: Int64) {
        lock.withLock {
            guard let i = epochs.lastIndex(where: { $0.epoch <= epoch }) else { return (-1, _logStartOffset) }
            let end = i + 1 < epochs.count ? epochs[i + 1].offset : _logEndOffset
            return (epochs[i].epoch, end)
        }
    }

    /// OffsetForLeaderEpoch's answer, as Kafka's leader-epoch cache gives it: for the latest
    /// epoch, the log end; for an older one, the largest epoch not above it and where the next
    /// epoch starts; for one older than every epoch here, that epoch and where the first one
    /// starts; for one newer than every epoch here (or -1), (-1, -1).
    public func epochEnd(for requested: Int32) -> (epoch: Int32, endOffset: Int64) {
        lock.withLock {
            guard requested >= 0, let last = epochs.last else { return (-1, -1) }
            if last.epoch == requested { return (requested, _logEndOffset) }
            guard let higher = epochs.firstIndex(where: { $0.epoch > requested }) else { return (-1, -1) }
            return higher == 0 ? (requested, epochs[0].offset) : (epochs[higher - 1].epoch, epochs[higher].offset)
        }
    }

    /// The epoch of the last batch, -1 for an empty log.
    public var lastEpoch: Int32 { lock.withLock { epochs.last?.epoch ?? -1 } }
}
