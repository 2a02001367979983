import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Settings of one partition's log, from broker defaults and topic overrides.
public struct LogConfig: Sendable, Equatable {
    public var segmentBytes: Int = 1 << 30
    public var indexIntervalBytes: Int = 4096
    public var maxMessageBytes: Int = 1_048_588
    /// fsync after this many appended messages; Int.max leaves durability to replication and
    /// the page cache, as Kafka's default does.
    public var flushIntervalMessages: Int = .max

    public init() {}
}

/// What an append did.
public struct AppendResult: Sendable, Equatable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var logStartOffset: Int64
}

/// Why an append was refused.
public enum AppendError: Error, Equatable {
    case batch(RecordBatchError)
    case tooLarge(size: Int, max: Int)
    case duplicateSequence(baseOffset: Int64)
    case outOfOrderSequence(expected: Int32, got: Int32)
    case invalidProducerEpoch(current: Int16, got: Int16)
    case io(String)

    public var errorCode: ErrorCode {
        switch self {
        case .batch(let e): return e.errorCode
        case .tooLarge: return .messageTooLarge
        case .duplicateSequence: return .duplicateSequenceNumber
        case .outOfOrderSequence: return .outOfOrderSequenceNumber
        case .invalidProducerEpoch: return .invalidProducerEpoch
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
        case .io(let why): return why
        }
    }
}

/// A partition's log on disk: `<log.dirs>/<topic>-<partition>/` holding segments named by their
/// base offset. The broker assigns offsets; batches are stored as the producer sent them apart
/// from the base offset and leader epoch fields, which the CRC does not cover.
///
/// Thread-safe: every public method takes the partition's lock.
public final class PartitionLog: @unchecked Sendable {
    public let directory: String
    public let config: LogConfig
    private let lock = NIOLock()
    private var segments: [LogSegment] = []
    private var producers = ProducerStateTable()
    private var messagesSinceFlush = 0
    private let logger: Logger

    public private(set) var logStartOffset: Int64 = 0
    private var _logEndOffset: Int64 = 0
    private var _highWatermark: Int64 = 0
    private var highWatermarkWrittenAt: Int64 = 0
    /// Leader epoch cache (KIP-101): each epoch and the first offset written in it.
    private var epochs: [(epoch: Int32, offset: Int64)] = []

    /// Offset below which records are on every in-sync replica; consumers read up to here.
    public var highWatermark: Int64 { lock.withLock { _highWatermark } }

    /// Offset that the next appended record gets (one past the last record).
    public var logEndOffset: Int64 { lock.withLock { _logEndOffset } }

    /// Opens the log in `directory`, creating it if needed, and recovers every segment: batches
    /// are checked by CRC and a torn or damaged tail is truncated.
    public init(directory: String, config: LogConfig, logger: Logger) throws {
        self.directory = directory
        self.config = config
        self.logger = logger
        try FileSystem.makeDirectories(directory)
        let bases = try FileSystem.list(directory).compactMap { name -> Int64? in
            guard name.hasSuffix(".log"), name.count == 24 else { return nil }
            return Int64(name.prefix(20))
        }.sorted()
        var expected: Int64 = bases.first ?? 0
        for (i, base) in bases.enumerated() {
            let segment = try LogSegment(
                directory: directory, baseOffset: base, indexIntervalBytes: config.indexIntervalBytes)
            _ = try segment.recover(expectedBaseOffset: expected, logger: logger)
            if segment.size == 0 && i < bases.count - 1 {
                // An empty segment in the middle means its successors lost their history; keep it
                // so offsets stay dense, it is harmless.
            }
            segments.append(segment)
            expected = max(segment.nextOffset, expected)
        }
        if segments.isEmpty {
            segments.append(
                try LogSegment(directory: directory, baseOffset: 0, indexIntervalBytes: config.indexIntervalBytes))
        }
        logStartOffset = segments[0].baseOffset
        _logEndOffset = segments.last!.size > 0 ? segments.last!.nextOffset : max(expected, segments.last!.baseOffset)
        rebuildEpochs()
        let saved =
            FileSystem.exists(directory + "/high-watermark")
            ? Int64((try? FileSystem.readText(directory + "/high-watermark"))?.filter { $0.isNumber } ?? "") ?? 0 : 0
        _highWatermark = min(max(saved, logStartOffset), _logEndOffset)
        try rebuildProducerState()
    }

    private func rebuildEpochs() {
        epochs = []
        for seg in segments {
            for e in seg.epochStarts where epochs.last?.epoch != e.epoch { epochs.append(e) }
        }
    }

    private func noteEpoch(_ epoch: Int32, _ offset: Int64) {
        guard epochs.last?.epoch != epoch else { return }
        epochs.append((epoch, offset))
        let text = "0\n\(epochs.count)\n" + epochs.map { "\($0.epoch) \($0.offset)\n" }.joined()
        try? FileSystem.writeTextAtomically(text, to: directory + "/leader-epoch-checkpoint")
    }

    /// The largest epoch ≤ `epoch` in this log and the offset where it ends (where the next
    /// epoch starts, or the log end): the answer a leader gives a diverging follower.
    public func endOffset(forEpoch epoch: Int32) -> (epoch: Int32, endOffset: Int64) {
        lock.withLock {
            guard let i = epochs.lastIndex(where: { $0.epoch <= epoch }) else { return (-1, logStartOffset) }
            let end = i + 1 < epochs.count ? epochs[i + 1].offset : _logEndOffset
            return (epochs[i].epoch, end)
        }
    }

    /// The epoch of the last batch, -1 for an empty log.
    public var lastEpoch: Int32 { lock.withLock { epochs.last?.epoch ?? -1 } }

    /// Sets the high watermark (never past the log end), writing it to disk at most every 500 ms.
    public func setHighWatermark(_ hw: Int64, nowMs: Int64) {
        lock.withLock {
            let v = min(max(hw, logStartOffset), _logEndOffset)
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
                    guard h.baseOffset == _logEndOffset else {
                        return .failure(
                            .io("fetched batch starts at \(h.baseOffset), but the log ends at \(_logEndOffset)"))
                    }
                    let batch = records.getSlice(at: index, length: h.totalSize)!
                    try roll(ifNeededFor: h.totalSize)
                    try segments.last!.append(batch, header: h)
                    _logEndOffset = h.nextOffset
                    noteEpoch(h.partitionLeaderEpoch, h.baseOffset)
                    if h.hasProducerId { producers.record(h) }
                }
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
            let target = max(offset, logStartOffset)
            while segments.count > 1 && segments.last!.baseOffset >= target {
                try segments.removeLast().delete()
            }
            let seg = segments.last!
            if let (position, _) = try seg.position(ofBatchContaining: target) {
                try seg.truncate(toPosition: position, logger: logger)
            }
            _logEndOffset = seg.size > 0 ? seg.nextOffset : seg.baseOffset
            _highWatermark = min(_highWatermark, _logEndOffset)
            rebuildEpochs()
            let text = "0\n\(epochs.count)\n" + epochs.map { "\($0.epoch) \($0.offset)\n" }.joined()
            try? FileSystem.writeTextAtomically(text, to: directory + "/leader-epoch-checkpoint")
            producers = ProducerStateTable()
            try rebuildProducerState()
            logger.info("truncated \(directory) to offset \(_logEndOffset)")
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
    public func append(records: ByteBuffer, leaderEpoch: Int32) -> Result<AppendResult, AppendError> {
        let batches: [(index: Int, header: RecordBatchHeader)]
        switch RecordBatches.validate(records) {
        case .failure(let e): return .failure(.batch(e))
        case .success(let b): batches = b
        }
        for (_, h) in batches where h.totalSize > config.maxMessageBytes {
            return .failure(.tooLarge(size: h.totalSize, max: config.maxMessageBytes))
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
                            logStartOffset: logStartOffset))
                case .outOfOrder(let expected):
                    return .failure(.outOfOrderSequence(expected: expected, got: h.baseSequence))
                case .fenced(let current):
                    return .failure(.invalidProducerEpoch(current: current, got: h.producerEpoch))
                }
            }
            let base = _logEndOffset
            do {
                for (index, var h) in batches {
                    var batch = records.getSlice(at: index, length: h.totalSize)!
                    h.baseOffset = _logEndOffset
                    h.partitionLeaderEpoch = leaderEpoch
                    batch.setInteger(h.baseOffset, at: batch.readerIndex)
                    batch.setInteger(leaderEpoch, at: batch.readerIndex + 12)
                    try roll(ifNeededFor: h.totalSize)
                    try segments.last!.append(batch, header: h)
                    _logEndOffset = h.nextOffset
                    noteEpoch(leaderEpoch, h.baseOffset)
                    if h.hasProducerId { producers.record(h) }
                    messagesSinceFlush += Int(h.recordCount)
                }
                if messagesSinceFlush >= config.flushIntervalMessages {
                    try segments.last!.flush()
                    messagesSinceFlush = 0
                }
            } catch {
                return .failure(.io("\(error)"))
            }
            return .success(
                AppendResult(baseOffset: base, lastOffset: _logEndOffset - 1, logStartOffset: logStartOffset))
        }
    }

    private func roll(ifNeededFor bytes: Int) throws {
        let active = segments.last!
        guard active.size > 0, active.size + bytes > config.segmentBytes else { return }
        try active.flush()
        segments.append(
            try LogSegment(
                directory: directory, baseOffset: _logEndOffset, indexIntervalBytes: config.indexIntervalBytes))
    }

    /// Reads whole batches from the one that holds `offset`, up to `maxBytes` (at least one
    /// batch), never including a batch that starts at or past `upTo`. Returns nil when `offset`
    /// is outside [logStartOffset, logEndOffset].
    public func read(from offset: Int64, maxBytes: Int, upTo: Int64? = nil) throws -> ByteBuffer? {
        try lock.withLock {
            let end = min(upTo ?? _logEndOffset, _logEndOffset)
            guard offset >= logStartOffset, offset <= _logEndOffset else { return nil }
            if offset >= end { return ByteBuffer() }
            var i = segments.count - 1
            while i > 0 && segments[i].baseOffset > offset { i -= 1 }
            while i < segments.count {
                if let (position, _) = try segments[i].position(ofBatchContaining: offset) {
                    return try segments[i].read(from: position, maxBytes: maxBytes, endOffset: end)
                }
                i += 1
            }
            return ByteBuffer()
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
                    if let r = try Record.decodeAll(batch: batch, header: h).first(where: { $0.timestamp >= timestamp })
                    {
                        return (r.offset, r.timestamp)
                    }
                }
                // Compressed batches are not opened: the batch's first offset is answered.
                return (h.baseOffset, h.maxTimestamp)
            }
            return nil
        }
    }

    public var segmentCount: Int { lock.withLock { segments.count } }

    public func flush() throws {
        try lock.withLock {
            try segments.last?.flush()
            try? FileSystem.writeTextAtomically("\(_highWatermark)\n", to: directory + "/high-watermark")
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
