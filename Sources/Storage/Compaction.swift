import KafkaCompression
import KafkaProtocol
import NIOCore

/// Log compaction (`cleanup.policy=compact`): the last value per key is kept.
extension PartitionLog {
    /// What a compaction pass did.
    public struct Compacted: Sendable, Equatable {
        public var segmentsRewritten: Int
        public var recordsRemoved: Int
        public var bytesBefore: Int
        public var bytesAfter: Int
    }

    /// Compacts the closed segments below the high watermark. The newest offset of every key in
    /// the part not yet cleaned (from `firstDirtyOffset`) is found first; then every closed
    /// segment is rewritten without the records those offsets supersede, and without tombstones
    /// (a key with no value) whose timestamp is older than `delete.retention.ms`. Offsets never
    /// change: batches keep their base and last offsets, so a compacted log has gaps. Batches
    /// that lose records are written uncompressed. A segment is replaced by writing
    /// `<base>.log.cleaned`, fsyncing it and renaming it over the original, so a crash leaves
    /// one or the other. The active segment is never touched. Nil when there was nothing new to
    /// clean.
    ///
    /// The partition's lock is held throughout, so produce and fetch on this partition wait for
    /// the pass.
    public func compact(nowMs: Int64) throws -> Compacted? {
        try lock.withLock {
            guard _config.compactPolicy else { return nil }
            // Cleanable: closed segments below the high watermark whose newest record is older
            // than min.compaction.lag.ms.
            let lagHorizon = _config.minCompactionLagMs > 0 ? nowMs - _config.minCompactionLagMs : Int64.max
            var closed = 0
            // Open transactions are not cleaned: only segments below the last stable offset.
            let stable = _lastStableOffset
            while closed < segments.count - 1 && segments[closed + 1].baseOffset <= stable
                && segments[closed].maxTimestamp <= lagHorizon
            {
                closed += 1
            }
            guard closed > 0 else { return nil }
            let cleanableEnd = segments[closed].baseOffset
            let dirty = firstDirtyOffset
            guard cleanableEnd > dirty else { return nil }
            // Worth a pass once min.cleanable.dirty.ratio of those bytes are new since the last
            // one, or when a dirty segment is older than max.compaction.lag.ms.
            var total = 0
            var dirtyBytes = 0
            var overdue = false
            let overdueHorizon =
                _config.maxCompactionLagMs == .max ? Int64.min : nowMs - _config.maxCompactionLagMs
            for i in 0..<closed {
                total += segments[i].size
                if segments[i + 1].baseOffset > dirty {
                    dirtyBytes += segments[i].size
                    if segments[i].maxTimestamp >= 0 && segments[i].maxTimestamp < overdueHorizon { overdue = true }
                }
            }
            guard overdue || Double(dirtyBytes) >= _config.minCleanableDirtyRatio * Double(max(total, 1)) else {
                return nil
            }
            let abortedByProducer = Dictionary(grouping: aborted, by: \.producerId)
            func isAborted(_ h: RecordBatchHeader) -> Bool { self.isAborted(h, in: abortedByProducer) }
            var latest: [[UInt8]: Int64] = [:]
            for (i, seg) in segments.prefix(closed).enumerated() where segments[i + 1].baseOffset > dirty {
                try Self.forEachBatch(seg) { h, batch in
                    guard !h.isControl, h.lastOffset >= dirty, !isAborted(h) else { return }
                    for r in try Decompression.records(batch: batch, header: h) where r.offset >= dirty {
                        if let key = r.key { latest[key] = r.offset }
                    }
                }
            }
            let horizon = nowMs - _config.deleteRetentionMs
            var result = Compacted(segmentsRewritten: 0, recordsRemoved: 0, bytesBefore: 0, bytesAfter: 0)
            for i in 0..<closed {
                let seg = segments[i]
                var kept: [ByteBuffer] = []
                var removed = 0
                try Self.forEachBatch(seg) { h, batch in
                    if h.isControl {
                        kept.append(batch)
                        return
                    }
                    let records = try Decompression.records(batch: batch, header: h)
                    // An aborted transaction's data never counts: it goes, whatever its keys.
                    let aborted = isAborted(h)
                    let keep = records.filter { r in
                        if aborted { return false }
                        guard let key = r.key else { return true }
                        if let newest = latest[key], newest > r.offset { return false }
                        return r.value != nil || r.timestamp >= horizon
                    }
                    removed += records.count - keep.count
                    if keep.count == records.count {
                        kept.append(batch)
                    } else if !keep.isEmpty {
                        kept.append(RecordBatchBuilder.rebuild(h, keeping: keep))
                    }
                }
                result.bytesBefore += seg.size
                guard removed > 0 else {
                    result.bytesAfter += seg.size
                    continue
                }
                segments[i] = try replace(seg, with: kept)
                result.bytesAfter += segments[i].size
                result.recordsRemoved += removed
                result.segmentsRewritten += 1
            }
            firstDirtyOffset = cleanableEnd
            try FileSystem.writeTextAtomically("\(cleanableEnd)\n", to: directory + "/cleaner-offset-checkpoint")
            return result
        }
    }

    /// Calls `body` with each batch of a segment, in order.
    static func forEachBatch(_ seg: LogSegment, _ body: (RecordBatchHeader, ByteBuffer) throws -> Void) throws {
        var position = 0
        while position < seg.size {
            let head = try seg.log.read(at: position, length: RecordBatchHeader.size)
            guard let h = RecordBatchHeader.peek(head, at: head.readerIndex) else { break }
            try body(h, try seg.log.read(at: position, length: h.totalSize))
            position += h.totalSize
        }
    }

    /// Writes `batches` as the new content of `seg` (cleaned file, fsync, rename) and reopens it.
    private func replace(_ seg: LogSegment, with batches: [ByteBuffer]) throws -> LogSegment {
        let cleaned = seg.logPath + ".cleaned"
        try FileSystem.remove(cleaned)
        let file = try DataFile(path: cleaned)
        var at = 0
        for b in batches {
            try file.write(b, at: at)
            at += b.readableBytes
        }
        try file.sync()
        try FileSystem.rename(cleaned, seg.logPath)
        let fresh = try LogSegment(
            directory: directory, baseOffset: seg.baseOffset, indexIntervalBytes: _config.indexIntervalBytes,
            clock: clock)
        _ = try fresh.recover(expectedBaseOffset: seg.baseOffset, logger: logger)
        try fresh.closeTimeIndex()
        return fresh
    }
}
