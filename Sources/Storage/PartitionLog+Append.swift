import KafkaCompression
import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore

extension PartitionLog {
    /// Appends the batches of a produce request, assigning offsets from the log end. Every batch
    /// is checked first, so a request either lands whole or not at all. A topic with a
    /// `compression.type` stores the batches in that codec (recompressed here, on the leader).
    /// The clock's wall time is the append time stamped on a LogAppendTime topic's batches.
    public func append(records: ByteBuffer, leaderEpoch: Int32) -> Result<
        AppendResult, AppendError
    > {
        var batches: [(index: Int, header: RecordBatchHeader)]
        switch RecordBatches.validate(records) {
        case .failure(let e): return .failure(.batch(e))
        case .success(let b): batches = b
        }
        let config = self.config
        var records = records
        if let codec = config.compression,
            batches.contains(where: { !$0.header.isControl && ($0.header.compression ?? .none) != codec })
        {
            switch Self.recompress(records, batches, to: codec) {
            case .failure(let e): return .failure(e)
            case .success(let (rewritten, b)): (records, batches) = (rewritten, b)
            }
        }
        for (_, h) in batches where h.totalSize > config.maxMessageBytes {
            return .failure(.tooLarge(size: h.totalSize, max: _config.maxMessageBytes))
        }
        if !config.logAppendTime && (config.timestampBeforeMaxMs != .max || config.timestampAfterMaxMs != .max) {
            // The batch's first and newest timestamps, from its header (no decompression).
            let now = clock.wallMs
            for (_, h) in batches where !h.isControl {
                let oldest = min(h.baseTimestamp, h.maxTimestamp)
                if oldest >= 0 && now &- oldest > config.timestampBeforeMaxMs {
                    return .failure(
                        .invalidTimestamp(
                            "timestamp \(oldest) is more than message.timestamp.before.max.ms=\(config.timestampBeforeMaxMs) before the broker's time \(now)"
                        ))
                }
                if h.maxTimestamp > now && h.maxTimestamp - now > config.timestampAfterMaxMs {
                    return .failure(
                        .invalidTimestamp(
                            "timestamp \(h.maxTimestamp) is more than message.timestamp.after.max.ms=\(config.timestampAfterMaxMs) after the broker's time \(now)"
                        ))
                }
            }
        }
        if config.compactPolicy {
            var keyless: [Int32] = []
            var seen: Int32 = 0
            for (index, h) in batches where !h.isControl {
                let batch = records.getSlice(at: index, length: h.totalSize)!
                guard let decoded = try? Decompression.records(batch: batch, header: h) else {
                    return .failure(.batch(.invalid("the records of a batch cannot be read")))
                }
                for (i, r) in decoded.enumerated() where r.key == nil && keyless.count < 1_000 {
                    keyless.append(seen &+ Int32(truncatingIfNeeded: i))
                }
                seen &+= Int32(truncatingIfNeeded: decoded.count)
            }
            if !keyless.isEmpty {
                return .failure(
                    .invalidRecords(
                        indexes: keyless, why: "Compacted topic cannot accept message without key in topic partition"))
            }
        }
        return lock.withLock {
            // A producer with a transaction open here writes only transactional batches until
            // its marker (Kafka's INVALID_TXN_STATE).
            for (_, h) in batches where h.hasProducerId && !h.isTransactional && !h.isControl {
                if let open = ongoing[h.producerId], open.producerEpoch == h.producerEpoch {
                    return .failure(
                        .invalidTxnState(
                            "producer \(h.producerId) has a transaction open here since offset \(open.firstOffset); its batches must be transactional until it ends"
                        ))
                }
            }
            // Idempotent producers: a batch seen before is answered with its first offset.
            for (index, h) in batches where h.hasProducerId {
                let verdict: ProducerStateTable.Verdict
                let coordinatorEpoch =
                    h.isControl
                    ? ControlBatch.coordinatorEpoch(of: records.getSlice(at: index, length: h.totalSize)!, header: h)
                        ?? -1
                    : -1
                if h.isControl {
                    verdict = producers.check(h, coordinatorEpoch: coordinatorEpoch)
                } else {
                    verdict = producers.check(h)
                }
                switch verdict {
                case .staleCoordinator(let current):
                    return .failure(.staleCoordinator(current: current, got: coordinatorEpoch))
                case .accept: break
                case .duplicate(let offset):
                    return .success(
                        AppendResult(
                            baseOffset: offset, lastOffset: offset + Int64(h.lastOffsetDelta),
                            logStartOffset: _logStartOffset))
                case .outOfOrder(let expected):
                    return .failure(.outOfOrderSequence(expected: expected, got: h.baseSequence))
                case .fenced(let current):
                    return .failure(.invalidProducerEpoch(current: current, got: h.producerEpoch))
                }
            }
            let base = _logEndOffset
            let appendTime = config.logAppendTime ? clock.wallMs : -1
            do {
                for (index, var h) in batches {
                    var batch = records.getSlice(at: index, length: h.totalSize)!
                    h.baseOffset = _logEndOffset
                    h.partitionLeaderEpoch = leaderEpoch
                    batch.setInteger(h.baseOffset, at: batch.readerIndex)
                    batch.setInteger(leaderEpoch, at: batch.readerIndex + 12)
                    if appendTime >= 0 && !h.isControl { Self.stamp(&batch, &h, appendTime) }
                    try roll(ifNeededFor: h.totalSize)
                    try segments.last!.append(batch, header: h)
                    _logEndOffset = h.nextOffset
                    noteEpoch(leaderEpoch, h.baseOffset)
                    if h.hasProducerId { producers.record(h) }
                    try trackTransaction(h, batch)
                    messagesSinceFlush += Int(h.recordCount)
                }
                try flushIfDue()
            } catch {
                return .failure(.io("\(error)"))
            }
            return .success(
                AppendResult(
                    baseOffset: base, lastOffset: _logEndOffset - 1, logStartOffset: _logStartOffset,
                    logAppendTimeMs: appendTime))
        }
    }

    /// LogAppendTime: the timestamp-type bit in the attributes and the append time as the
    /// batch's max timestamp, then the CRC again (it covers both). The records themselves, and
    /// a compressed batch's payload, are left as they are: readers take the batch's time.
    static func stamp(_ batch: inout ByteBuffer, _ h: inout RecordBatchHeader, _ timeMs: Int64) {
        let start = batch.readerIndex
        h.attributes |= 0x08
        h.maxTimestamp = timeMs
        batch.setInteger(h.attributes, at: start + RecordBatchHeader.attributesOffset)
        batch.setInteger(timeMs, at: start + 35)
        let covered = RecordBatchHeader.attributesOffset
        h.crc = batch.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[covered...])) }
        batch.setInteger(h.crc, at: start + RecordBatchHeader.crcOffset)
    }
}
