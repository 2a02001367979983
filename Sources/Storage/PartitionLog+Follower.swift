import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore

extension PartitionLog {
    /// Appends batches fetched from the leader, keeping the leader's offsets and epochs. Batches
    /// that end before the log end (a repeated fetch) are skipped; a gap is refused.
    public func appendAsFollower(records: ByteBuffer) -> Result<Int64, AppendError> {
        if records.readableBytes == 0 { return .success(logEndOffset) }
        let batches: [(index: Int, header: RecordBatchHeader)]
        switch RecordBatches.validate(records) {
        case .failure(let e): return .failure(.batch(e))
        case .success(let b): batches = b
        }
        return lock.withLock {
            do {
                for (index, h) in batches {
                    if h.lastOffset < _logEndOffset { continue }
                    if h.baseOffset < _logEndOffset && segments.count == 1 && segments[0].size == 0 {
                        // The log was reset to the leader's log start, which lies inside this
                        // batch: the first segment starts with the batch.
                        try segments[0].delete()
                        segments = [
                            try LogSegment(
                                directory: directory, baseOffset: h.baseOffset,
                                indexIntervalBytes: _config.indexIntervalBytes, clock: clock)
                        ]
                    } else if h.baseOffset != _logEndOffset && !(h.baseOffset > _logEndOffset && _config.compactPolicy)
                    {
                        // (The leader's cleaner may have removed whole batches of a compacted
                        // topic, so there a gap is expected.)
                        return .failure(
                            .io("fetched batch starts at \(h.baseOffset), but the log ends at \(_logEndOffset)"))
                    }
                    let batch = records.getSlice(at: index, length: h.totalSize)!
                    try roll(ifNeededFor: h.totalSize)
                    try segments.last!.append(batch, header: h)
                    _logEndOffset = h.nextOffset
                    noteEpoch(h.partitionLeaderEpoch, h.baseOffset)
                    if h.hasProducerId { producers.record(h) }
                    try trackTransaction(h, batch)
                    messagesSinceFlush += Int(h.recordCount)
                }
                try flushIfDue()
            } catch {
                return .failure(.io("\(error)"))
            }
            return .success(_logEndOffset)
        }
    }

    /// Removes every record at or after `offset` (rounded down to the start of its batch): a
    /// follower does this where its log diverges from the new leader's.
    public func truncate(to offset: Int64) throws {
        try lock.withLock {
            guard offset < _logEndOffset else { return }
            let target = max(offset, _logStartOffset)
            while segments.count > 1 && segments.last!.baseOffset >= target {
                try segments.removeLast().delete()
            }
            let seg = segments.last!
            if let (position, _) = try seg.position(ofBatchContaining: target) {
                try seg.truncate(toPosition: position, logger: logger)
            }
            _logEndOffset = seg.size > 0 ? seg.nextOffset : seg.baseOffset
            _highWatermark = min(_highWatermark, _logEndOffset)
            firstDirtyOffset = min(firstDirtyOffset, _logEndOffset)
            epochs.removeAll { $0.offset >= _logEndOffset }
            writeEpochCheckpoint()
            // Transactions whose markers were cut off are open again: walk the log for them.
            try rebuildProducerAndTransactionState(open: [], from: segments[0].baseOffset)
            try markFlushed()
            logger.info("truncated \(directory) to offset \(_logEndOffset)")
        }
    }

    /// Empties the log and starts it again at `offset`: a follower whose log ends before the
    /// leader's log start (retention or DeleteRecords removed what it lacks) does this.
    public func reset(to offset: Int64) throws {
        try lock.withLock {
            for s in segments { try s.delete() }
            segments = [
                try LogSegment(
                    directory: directory, baseOffset: offset, indexIntervalBytes: _config.indexIntervalBytes,
                    clock: clock)
            ]
            _logStartOffset = offset
            _logEndOffset = offset
            _highWatermark = offset
            firstDirtyOffset = offset
            epochs = []
            writeEpochCheckpoint()
            producers = ProducerStateTable()
            ongoing = [:]
            aborted = []
            try writeLogStartOffset()
            try markFlushed()
            logger.info("\(directory) starts again at offset \(offset), the leader's log start")
        }
    }
}
