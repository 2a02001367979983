import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Settings of one partition's log, from broker defaults and topic overrides.
public struct LogConfig: Sendable, Equatable {
    public var segmentBytes: Int = 1 << 30
    /// A segment that has taken batches for this long is rolled (`segment.ms`, `log.roll.ms`).
    public var segmentMs: Int64 = 7 * 24 * 3_600_000
    public var indexIntervalBytes: Int = 4096
    public var maxMessageBytes: Int = 1_048_588
    /// fsync after this many appended messages; Int.max leaves durability to replication and
    /// the page cache, as Kafka's default does.
    public var flushIntervalMessages: Int = .max
    /// fsync when the last flush is this old (`flush.ms`); Int64.max never does.
    public var flushIntervalMs: Int64 = .max
    /// Segments whose newest record is older than this are deleted (`retention.ms`); -1 keeps
    /// them forever.
    public var retentionMs: Int64 = 7 * 24 * 3_600_000
    /// Oldest segments are deleted while the log is larger than this (`retention.bytes`); -1
    /// has no limit.
    public var retentionBytes: Int64 = -1
    /// `cleanup.policy`: delete old segments, keep the last value per key, or both.
    public var deletePolicy = true
    public var compactPolicy = false
    /// How long the cleaner keeps a tombstone (a record with a key and no value), so that readers
    /// get to see the delete (`delete.retention.ms`).
    public var deleteRetentionMs: Int64 = 86_400_000
    /// `message.timestamp.type=LogAppendTime`: the leader stamps each batch with the time it
    /// appends it, and readers take that as every record's timestamp.
    public var logAppendTime = false
    /// Records younger than this stay out of compaction (`min.compaction.lag.ms`).
    public var minCompactionLagMs: Int64 = 0
    /// A dirty segment older than this is compacted whatever the dirty ratio (`max.compaction.lag.ms`).
    public var maxCompactionLagMs: Int64 = .max
    /// Compaction waits until this share of the cleanable bytes is dirty (`min.cleanable.dirty.ratio`).
    public var minCleanableDirtyRatio = 0.5
    /// CreateTime batches whose timestamps are further than these before or after the broker's
    /// time are refused with INVALID_TIMESTAMP (`message.timestamp.before.max.ms` / `.after.max.ms`).
    public var timestampBeforeMaxMs: Int64 = .max
    public var timestampAfterMaxMs: Int64 = .max

    public init() {}
}

/// What an append did.
public struct AppendResult: Sendable, Equatable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var logStartOffset: Int64
    /// The time stamped on the batches with LogAppendTime; -1 with CreateTime (Produce's
    /// `log_append_time_ms`).
    public var logAppendTimeMs: Int64 = -1
}

/// Why an append was refused.
public enum AppendError: Error, Equatable {
    case batch(RecordBatchError)
    case tooLarge(size: Int, max: Int)
    case duplicateSequence(baseOffset: Int64)
    case outOfOrderSequence(expected: Int32, got: Int32)
    case invalidProducerEpoch(current: Int16, got: Int16)
    /// A CreateTime batch's timestamp is further from the broker's time than the topic allows.
    case invalidTimestamp(String)
    /// Records the topic cannot take (a compacted topic's records without a key), by their
    /// index in the request's records, as Produce's `record_errors` name them (KIP-467).
    case invalidRecords(indexes: [Int32], why: String)
    case io(String)

    public var errorCode: ErrorCode {
        switch self {
        case .batch(let e): return e.errorCode
        case .tooLarge: return .messageTooLarge
        case .duplicateSequence: return .duplicateSequenceNumber
        case .outOfOrderSequence: return .outOfOrderSequenceNumber
        case .invalidProducerEpoch: return .invalidProducerEpoch
        case .invalidTimestamp: return .invalidTimestamp
        case .invalidRecords: return .invalidRecord
        case .io: return .unknownServerError
        }
    }

    public var message: String {
        switch self {
        case .batch(let e): return e.description
        case .tooLarge(let size, let max): return "batch of \(size) bytes exceeds max.message.bytes=\(max)"
        case .duplicateSequence: return "duplicate sequence"
        case .outOfOrderSequence(let expected, let got):
            return "out of order sequence: expected \(expected), got \(got)"
        case .invalidProducerEpoch(let current, let got): return "producer epoch \(got) is older than \(current)"
        case .invalidTimestamp(let why): return why
        case .invalidRecords(_, let why): return why
        case .io(let why): return why
        }
    }
}

/// A partition's log on disk: `<log.dirs>/<topic>-<partition>/` holding segments named by their
/// base offset. The broker assigns offsets; batches are stored as the producer sent them apart
/// from the base offset and leader epoch fields, which the CRC does not cover.
///
/// Beside the segments the directory holds small checkpoint files, each replaced atomically:
/// `recovery-point` (the offset up to which the log was fsynced, with the active segment's base
/// and size then), `log-start-offset`, `high-watermark`, `leader-epoch-checkpoint` and
/// `cleaner-offset-checkpoint`.
///
/// Thread-safe: every public method takes the partition's lock.
public final class PartitionLog: @unchecked Sendable {
    public let directory: String
    var _config: LogConfig

    /// The settings in force; the broker changes them when the topic's configs change.
    public var config: LogConfig {
        get { lock.withLock { _config } }
        set { lock.withLock { _config = newValue } }
    }
    let lock = NIOLock()
    var segments: [LogSegment] = []
    private var producers = ProducerStateTable()
    private var messagesSinceFlush = 0
    private var lastFlushMs: Int64
    let logger: Logger

    private var _logStartOffset: Int64 = 0
    var _logEndOffset: Int64 = 0
    var _highWatermark: Int64 = 0
    private var highWatermarkWrittenAt: Int64 = 0
    /// Leader epoch cache (KIP-101): each epoch and the first offset written in it.
    private var epochs: [(epoch: Int32, offset: Int64)] = []
    /// The cleaner has compacted everything below this offset.
    var firstDirtyOffset: Int64 = 0

    /// What opening the log found: segments scanned batch by batch (those past the recovery
    /// point, or whose index was damaged) and bytes cut from torn or damaged tails.
    public private(set) var recovery = (segments: 0, scanned: 0, truncatedBytes: 0)

    /// The first offset a reader may ask for; moved by retention and DeleteRecords.
    public var logStartOffset: Int64 { lock.withLock { _logStartOffset } }

    /// Offset below which records are on every in-sync replica; consumers read up to here.
    public var highWatermark: Int64 { lock.withLock { _highWatermark } }

    /// Offset that the next appended record gets (one past the last record).
    public var logEndOffset: Int64 { lock.withLock { _logEndOffset } }

    /// Bytes in all segments.
    public var sizeInBytes: Int { lock.withLock { segments.reduce(0) { $0 + $1.size } } }

    /// Opens the log in `directory`, creating it if needed. Segments wholly below the recovery
    /// point take their indexes from the index files (each entry checked, and rebuilt by a scan
    /// when one is missing or damaged); the rest are scanned batch by batch with CRC checks and
    /// a torn or damaged tail is truncated.
    public init(directory: String, config: LogConfig, logger: Logger) throws {
        self.directory = directory
        self._config = config
        self.logger = logger
        lastFlushMs = wallClockMs()
        try FileSystem.makeDirectories(directory)
        let names = try FileSystem.list(directory)
        for name in names where name.hasSuffix(".cleaned") {
            // A compaction that did not finish: the original segment is still in place.
            try FileSystem.remove(directory + "/" + name)
        }
        let bases = names.compactMap { name -> Int64? in
            guard name.hasSuffix(".log"), name.count == 24 else { return nil }
            return Int64(name.prefix(20))
        }.sorted()
        let recoveryPoint = Self.readNumbers(directory + "/recovery-point")
        let checkpointed = Self.readEpochCheckpoint(directory + "/leader-epoch-checkpoint")
        var expected: Int64 = bases.first ?? 0
        var firstScanned: Int64? = nil
        var scanned = 0
        var cut = 0
        for (i, base) in bases.enumerated() {
            let segment = try LogSegment(
                directory: directory, baseOffset: base, indexIntervalBytes: _config.indexIntervalBytes)
            var scan = true
            if let rp = recoveryPoint, rp.count == 3, checkpointed != nil || segment.size == 0 {
                let isLast = i == bases.count - 1
                var next: Int64? = nil
                if !isLast && bases[i + 1] <= rp[0] {
                    next = bases[i + 1]
                } else if isLast && base == rp[1] && Int64(segment.size) == rp[2] {
                    next = rp[0]
                }
                if let next {
                    if let problem = try segment.loadIndexes(nextOffset: next) {
                        logger.warning(
                            "\(segment.logPath): \(problem); rebuilding its indexes from the log")
                    } else {
                        scan = false
                    }
                }
            }
            if scan {
                cut += try segment.recover(expectedBaseOffset: expected, logger: logger)
                scanned += 1
                if firstScanned == nil { firstScanned = base }
            }
            segments.append(segment)
            expected = max(segment.nextOffset, expected)
        }
        if segments.isEmpty {
            segments.append(
                try LogSegment(directory: directory, baseOffset: 0, indexIntervalBytes: _config.indexIntervalBytes))
        }
        recovery = (segments.count, scanned, cut)
        _logEndOffset = segments.last!.size > 0 ? segments.last!.nextOffset : max(expected, segments.last!.baseOffset)
        let savedStart = Self.readNumbers(directory + "/log-start-offset")?.first ?? 0
        _logStartOffset = min(max(savedStart, segments[0].baseOffset), _logEndOffset)
        // Epochs: the checkpoint below the first scanned segment, then what the scan found.
        let limit = firstScanned ?? .max
        epochs = (checkpointed ?? []).filter { $0.offset < limit && $0.offset < _logEndOffset }
        for seg in segments where seg.baseOffset >= limit {
            for e in seg.epochStarts where epochs.last?.epoch != e.epoch { epochs.append(e) }
        }
        trimEpochs(below: _logStartOffset)
        if firstScanned != nil { writeEpochCheckpoint() }
        let saved = Self.readNumbers(directory + "/high-watermark")?.first ?? 0
        _highWatermark = min(max(saved, _logStartOffset), _logEndOffset)
        firstDirtyOffset = min(
            max(Self.readNumbers(directory + "/cleaner-offset-checkpoint")?.first ?? 0, _logStartOffset),
            _logEndOffset)
        try rebuildProducerState()
        if scanned > 0 { try markFlushed() }
    }

    /// Whitespace-separated integers of a small checkpoint file; nil when it is missing or unreadable.
    static func readNumbers(_ path: String) -> [Int64]? {
        guard FileSystem.exists(path), let text = try? FileSystem.readText(path) else { return nil }
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int64($0) }
        return numbers.isEmpty ? nil : numbers
    }

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

    private func writeEpochCheckpoint() {
        let text = "0\n\(epochs.count)\n" + epochs.map { "\($0.epoch) \($0.offset)\n" }.joined()
        try? FileSystem.writeTextAtomically(text, to: directory + "/leader-epoch-checkpoint")
    }

    /// Drops epochs wholly below `offset`; the one in force there now starts at `offset`.
    private func trimEpochs(below offset: Int64) {
        guard let i = epochs.lastIndex(where: { $0.offset <= offset }), i > 0 || epochs[0].offset < offset else {
            return
        }
        epochs.removeFirst(i)
        epochs[0].offset = offset
    }

    /// Records that everything up to the log end is on disk: fsyncs the active segment and writes
    /// the recovery point, so the next start scans nothing written before now.
    private func markFlushed() throws {
        let active = segments.last!
        try active.flush()
        try FileSystem.writeTextAtomically(
            "\(_logEndOffset) \(active.baseOffset) \(active.size)\n", to: directory + "/recovery-point")
        messagesSinceFlush = 0
        lastFlushMs = wallClockMs()
    }

    private func noteEpoch(_ epoch: Int32, _ offset: Int64) {
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

    /// Sets the high watermark (never past the log end), writing it to disk at most every 500 ms.
    public func setHighWatermark(_ hw: Int64, nowMs: Int64) {
        lock.withLock {
            let v = min(max(hw, _logStartOffset), _logEndOffset)
            guard v != _highWatermark else { return }
            _highWatermark = v
            if nowMs - highWatermarkWrittenAt >= 500 {
                highWatermarkWrittenAt = nowMs
                try? FileSystem.writeTextAtomically("\(v)\n", to: directory + "/high-watermark")
            }
        }
    }

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
                                indexIntervalBytes: _config.indexIntervalBytes)
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
            producers = ProducerStateTable()
            try rebuildProducerState()
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
                try LogSegment(directory: directory, baseOffset: offset, indexIntervalBytes: _config.indexIntervalBytes)
            ]
            _logStartOffset = offset
            _logEndOffset = offset
            _highWatermark = offset
            firstDirtyOffset = offset
            epochs = []
            writeEpochCheckpoint()
            producers = ProducerStateTable()
            try writeLogStartOffset()
            try markFlushed()
            logger.info("\(directory) starts again at offset \(offset), the leader's log start")
        }
    }

    private func rebuildProducerState() throws {
        guard let active = segments.last, active.size > 0 else { return }
        var position = 0
        while position < active.size {
            let bytes = try active.log.read(at: position, length: RecordBatchHeader.size)
            guard let h = RecordBatchHeader.peek(bytes, at: bytes.readerIndex) else { break }
            if h.hasProducerId { producers.record(h) }
            position += h.totalSize
        }
    }

    /// Appends the batches of a produce request, assigning offsets from the log end. Every batch
    /// is checked first, so a request either lands whole or not at all.
    /// `nowMs` (wall-clock milliseconds) is the append time stamped on a LogAppendTime topic's batches.
    public func append(records: ByteBuffer, leaderEpoch: Int32, nowMs: Int64? = nil) -> Result<
        AppendResult, AppendError
    > {
        let batches: [(index: Int, header: RecordBatchHeader)]
        switch RecordBatches.validate(records) {
        case .failure(let e): return .failure(.batch(e))
        case .success(let b): batches = b
        }
        let config = self.config
        for (_, h) in batches where h.totalSize > config.maxMessageBytes {
            return .failure(.tooLarge(size: h.totalSize, max: _config.maxMessageBytes))
        }
        if !config.logAppendTime && (config.timestampBeforeMaxMs != .max || config.timestampAfterMaxMs != .max) {
            // The batch's first and newest timestamps, from its header (no decompression).
            let now = nowMs ?? wallClockMs()
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
            // Idempotent producers: a batch seen before is answered with its first offset.
            for (_, h) in batches where h.hasProducerId {
                switch producers.check(h) {
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
            let appendTime = config.logAppendTime ? (nowMs ?? wallClockMs()) : -1
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

    private func flushIfDue() throws {
        if messagesSinceFlush >= _config.flushIntervalMessages
            || (messagesSinceFlush > 0 && _config.flushIntervalMs != .max
                && wallClockMs() - lastFlushMs >= _config.flushIntervalMs)
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
    private func roll(ifNeededFor bytes: Int) throws {
        let active = segments.last!
        guard active.size > 0 else { return }
        let bySize = active.size + bytes > _config.segmentBytes
        guard bySize || wallClockMs() - active.createdMs >= _config.segmentMs else { return }
        try rollNow()
    }

    /// Closes the active segment (final time-index entry, fsync) and opens one at the log end.
    private func rollNow() throws {
        let active = segments.last!
        try active.closeTimeIndex()
        segments.append(
            try LogSegment(
                directory: directory, baseOffset: _logEndOffset, indexIntervalBytes: _config.indexIntervalBytes))
        // The closed segment is fsynced, and so every segment before the new one.
        try active.flush()
        try markFlushed()
    }

    /// Reads whole batches from the one that holds `offset`, up to `maxBytes` (at least one
    /// batch), never including a batch that starts at or past `upTo`. Returns nil when `offset`
    /// is outside [logStartOffset, logEndOffset].
    public func read(from offset: Int64, maxBytes: Int, upTo: Int64? = nil) throws -> ByteBuffer? {
        try readForSending(from: offset, maxBytes: maxBytes, upTo: upTo, fileAtLeast: .max).map {
            $0.bytes ?? ByteBuffer()
        }
    }

    /// Like `read`, but reads of at least `fileAtLeast` bytes come back as a `FileSlice` of the
    /// segment file, to be sent with sendfile instead of through memory.
    public func readForSending(
        from offset: Int64, maxBytes: Int, upTo: Int64? = nil, fileAtLeast: Int, atLeastOneBatch: Bool = true
    ) throws
        -> (bytes: ByteBuffer?, file: FileSlice?)?
    {
        try lock.withLock {
            let end = min(upTo ?? _logEndOffset, _logEndOffset)
            guard offset >= _logStartOffset, offset <= _logEndOffset else { return nil }
            if offset >= end { return (ByteBuffer(), nil) }
            var i = segments.count - 1
            while i > 0 && segments[i].baseOffset > offset { i -= 1 }
            while i < segments.count {
                let seg = segments[i]
                if let (position, _) = try seg.position(ofBatchContaining: offset) {
                    let length = try seg.wholeBatchLength(
                        from: position, maxBytes: maxBytes, endOffset: end, atLeastOne: atLeastOneBatch)
                    if length == 0 { return (ByteBuffer(), nil) }
                    if length >= fileAtLeast,
                        let slice = FileSlice(duplicating: seg.log.fd, position: position, length: length)
                    {
                        return (nil, slice)
                    }
                    return (try seg.log.read(at: position, length: length), nil)
                }
                i += 1
            }
            return (ByteBuffer(), nil)
        }
    }

    /// The offset of the first record whose timestamp is at or after `timestamp`, with that
    /// record's timestamp; nil when every record is older.
    public func offset(forTimestamp timestamp: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        try lock.withLock {
            for segment in segments {
                guard let (position, h) = try segment.firstBatch(atOrAfter: timestamp) else { continue }
                if h.compression == CompressionCodec.none {
                    let batch = try segment.log.read(at: position, length: h.totalSize)
                    if let r = try Record.decodeAll(batch: batch, header: h).first(where: {
                        $0.timestamp >= timestamp && $0.offset >= _logStartOffset
                    }) {
                        return (r.offset, r.timestamp)
                    }
                }
                // Compressed batches are not opened: the batch's first offset is answered.
                return (max(h.baseOffset, _logStartOffset), h.maxTimestamp)
            }
            return nil
        }
    }

    public var segmentCount: Int { lock.withLock { segments.count } }

    /// Base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { lock.withLock { segments.map(\.baseOffset) } }

    /// Flushes the active segment and writes every checkpoint; called on clean shutdown.
    public func flush() throws {
        try lock.withLock {
            try segments.last?.closeTimeIndex()
            try markFlushed()
            try? FileSystem.writeTextAtomically("\(_highWatermark)\n", to: directory + "/high-watermark")
        }
    }

    // MARK: - Retention and DeleteRecords

    /// What a retention pass removed.
    public struct Deleted: Sendable, Equatable {
        public var segments: Int
        public var bytes: Int
        public var logStartOffset: Int64
        public var reason: String
    }

    /// Deletes the oldest segments that `retention.ms` or `retention.bytes` no longer keep, and
    /// those wholly below the log start offset. Only data below the high watermark goes, and the
    /// active segment is rolled first when it has to go too. Nil when nothing was deleted.
    public func applyRetention(nowMs: Int64) throws -> Deleted? {
        try lock.withLock {
            var count = 0
            var reason = "log start offset"
            var excess =
                _config.retentionBytes >= 0 && _config.deletePolicy
                ? Int64(segments.reduce(0) { $0 + $1.size }) - _config.retentionBytes : 0
            for (i, seg) in segments.enumerated() {
                let end = i + 1 < segments.count ? segments[i + 1].baseOffset : _logEndOffset
                guard seg.size > 0 || i + 1 < segments.count, end <= _highWatermark else { break }
                if end <= _logStartOffset {
                    count += 1
                    continue
                }
                guard _config.deletePolicy else { break }
                if _config.retentionMs >= 0, try nowMs - seg.retentionTimestamp() > _config.retentionMs {
                    reason = "retention.ms=\(_config.retentionMs)"
                } else if excess >= Int64(seg.size) {
                    reason = "retention.bytes=\(_config.retentionBytes)"
                } else {
                    break
                }
                excess -= Int64(seg.size)
                count += 1
            }
            guard count > 0 else { return nil }
            if count == segments.count { try rollNow() }
            var bytes = 0
            for seg in segments.prefix(count) {
                bytes += seg.size
                try seg.delete()
            }
            segments.removeFirst(count)
            _logStartOffset = max(_logStartOffset, segments[0].baseOffset)
            firstDirtyOffset = max(firstDirtyOffset, _logStartOffset)
            trimEpochs(below: _logStartOffset)
            writeEpochCheckpoint()
            try writeLogStartOffset()
            return Deleted(segments: count, bytes: bytes, logStartOffset: _logStartOffset, reason: reason)
        }
    }

    private func writeLogStartOffset() throws {
        try FileSystem.writeTextAtomically("\(_logStartOffset)\n", to: directory + "/log-start-offset")
    }

    /// DeleteRecords: records below `offset` (-1: the high watermark) are gone for readers at
    /// once, and their segments at the next retention pass. Returns the new log start offset, or
    /// nil when `offset` is past the high watermark.
    public func deleteRecords(before offset: Int64) throws -> Int64? {
        try lock.withLock {
            let target = offset == -1 ? _highWatermark : offset
            guard target >= 0, target <= _highWatermark else { return nil }
            if target > _logStartOffset {
                _logStartOffset = target
                trimEpochs(below: target)
                writeEpochCheckpoint()
                try writeLogStartOffset()
            }
            return _logStartOffset
        }
    }

    /// A follower takes the leader's log start offset (as far as its own log reaches).
    public func advanceLogStart(to offset: Int64) throws {
        try lock.withLock {
            let target = min(offset, _logEndOffset)
            guard target > _logStartOffset else { return }
            _logStartOffset = target
            trimEpochs(below: target)
            try writeLogStartOffset()
        }
    }
}

/// Last batches seen per idempotent producer, to answer retries and refuse gaps.
struct ProducerStateTable {
    struct Entry {
        var epoch: Int16
        var lastSequence: Int32
        /// (baseSequence, baseOffset) of recent batches, newest last; Kafka keeps five.
        var recent: [(Int32, Int64)]
    }

    enum Verdict: Equatable {
        case accept
        case duplicate(offset: Int64)
        case outOfOrder(expected: Int32)
        case fenced(current: Int16)
    }

    private var entries: [Int64: Entry] = [:]

    func check(_ h: RecordBatchHeader) -> Verdict {
        guard h.baseSequence >= 0, let e = entries[h.producerId] else { return .accept }
        if h.producerEpoch < e.epoch { return .fenced(current: e.epoch) }
        if h.producerEpoch > e.epoch { return h.baseSequence == 0 ? .accept : .outOfOrder(expected: 0) }
        if let dup = e.recent.first(where: { $0.0 == h.baseSequence }) { return .duplicate(offset: dup.1) }
        let expected = e.lastSequence == Int32.max ? 0 : e.lastSequence + 1
        return h.baseSequence == expected ? .accept : .outOfOrder(expected: expected)
    }

    mutating func record(_ h: RecordBatchHeader) {
        guard h.baseSequence >= 0 else { return }
        var e = entries[h.producerId] ?? Entry(epoch: h.producerEpoch, lastSequence: -1, recent: [])
        if h.producerEpoch != e.epoch { e = Entry(epoch: h.producerEpoch, lastSequence: -1, recent: []) }
        e.lastSequence = h.lastSequence
        e.recent.append((h.baseSequence, h.baseOffset))
        if e.recent.count > 5 { e.recent.removeFirst() }
        entries[h.producerId] = e
    }
}
