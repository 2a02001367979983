import NIOConcurrencyHelpers

extension PartitionLog {
    /// Records that everything up to the log end is on disk: fsyncs the active segment and writes
    /// the recovery point, so the next start scans nothing written before now.
    func markFlushed() throws {
        let active = segments.last!
        try active.flush()
        // The recovery point below lets the next start take this segment's indexes from their
        // files, so they are written first.
        try active.persistIndexes()
        try syncTxnIndexes()
        let open = ongoing.values.sorted { $0.firstOffset < $1.firstOffset }
            .map { " \($0.producerId) \($0.producerEpoch) \($0.firstOffset)" }.joined()
        try FileSystem.writeTextAtomically(
            "\(_logEndOffset) \(active.baseOffset) \(active.size)\(open)\n", to: directory + "/recovery-point")
        messagesSinceFlush = 0
        lastFlushMs = clock.wallMs
    }

    func flushIfDue() throws {
        if messagesSinceFlush >= _config.flushIntervalMessages
            || (messagesSinceFlush > 0 && _config.flushIntervalMs != .max
                && clock.wallMs - lastFlushMs >= _config.flushIntervalMs)
        {
            try markFlushed()
        }
    }

    /// The `flush.ms` check that does not wait for the next append; the broker calls it on a timer.
    public func flushIfDue(nowMs: Int64) throws {
        try lock.withLock {
            guard messagesSinceFlush > 0, _config.flushIntervalMs != .max,
                nowMs - lastFlushMs >= _config.flushIntervalMs
            else { return }
            try markFlushed()
        }
    }

    /// Starts a new segment when the active one would pass `segment.bytes` or is `segment.ms` old.
    func roll(ifNeededFor bytes: Int) throws {
        let active = segments.last!
        guard active.size > 0 else { return }
        let bySize = active.size + bytes > _config.segmentBytes
        guard bySize || clock.wallMs - active.createdMs >= _config.segmentMs else { return }
        try rollNow()
    }

    /// Closes the active segment (final time-index entry, fsync) and opens one at the log end.
    func rollNow() throws {
        let active = segments.last!
        try active.closeTimeIndex()
        segments.append(
            try LogSegment(
                directory: directory, baseOffset: _logEndOffset, indexIntervalBytes: _config.indexIntervalBytes,
                clock: clock))
        // The closed segment is fsynced, and so every segment before the new one.
        try active.flush()
        try markFlushed()
    }

    /// Flushes the active segment and writes its checkpoints; called on clean shutdown (the
    /// broker checkpoints the high watermarks of all partitions after).
    public func flush() throws {
        try lock.withLock {
            try segments.last?.closeTimeIndex()
            try markFlushed()
        }
    }
}
