import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// A partition's log on disk: `<log.dirs>/<topic>-<partition>/` holding segments named by their
/// base offset. The broker assigns offsets; batches are stored as the producer sent them apart
/// from the base offset and leader epoch fields, which the CRC does not cover.
///
/// Beside the segments the directory holds small checkpoint files, each replaced atomically:
/// `recovery-point` (the offset up to which the log was fsynced, with the active segment's base
/// and size then), `log-start-offset`, `leader-epoch-checkpoint` and `cleaner-offset-checkpoint`.
/// The high watermark is checkpointed for the whole log directory (`OffsetCheckpoint`), by the
/// broker; the log only takes the saved value when it opens.
///
/// Thread-safe: every public method takes the partition's lock.
/// Sendable by hand: its mutable state is touched only under `lock`.
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
    var producers = ProducerStateTable()
    /// Transactions with data here and no marker yet, by producer id.
    var ongoing: [Int64: OngoingTransaction] = [:]
    /// Aborted transactions, in the order of their markers (from the segments' `.txnindex`).
    var aborted: [AbortedTransaction] = []
    /// Segments whose `.txnindex` was appended to since the last flush.
    var unsyncedTxnIndexes: Set<Int64> = []
    var messagesSinceFlush = 0
    var lastFlushMs: Int64
    let logger: Logger
    /// The node's clock: segment age, flush age and append times come from it.
    let clock: any TernClock

    var _logStartOffset: Int64 = 0
    var _logEndOffset: Int64 = 0
    var _highWatermark: Int64 = 0
    /// Leader epoch cache (KIP-101): each epoch and the first offset written in it.
    var epochs: [(epoch: Int32, offset: Int64)] = []
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

    public var segmentCount: Int { lock.withLock { segments.count } }

    /// Base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { lock.withLock { segments.map(\.baseOffset) } }

    /// Opens the log in `directory`, creating it if needed. Segments wholly below the recovery
    /// point take their indexes from the index files (each entry checked, and rebuilt by a scan
    /// when one is missing or damaged); the rest are scanned batch by batch with CRC checks and
    /// a torn or damaged tail is truncated. `savedHighWatermark` is the directory checkpoint's
    /// value for this partition; without one, the `high-watermark` file an earlier version kept
    /// in the partition's directory is read, if there is one.
    public init(
        directory: String, config: LogConfig, clock: any TernClock, logger: Logger, savedHighWatermark: Int64? = nil
    ) throws {
        self.clock = clock
        self.directory = directory
        self._config = config
        self.logger = logger
        lastFlushMs = clock.wallMs
        try FileSystem.makeDirectories(directory)
        let names = try FileSystem.list(directory)
        for name in names where name.hasSuffix(".cleaned") || name.hasSuffix(".txnindex.tmp") {
            // A compaction that did not finish: the original segment is still in place.
            try FileSystem.remove(directory + "/" + name)
        }
        let bases = names.compactMap { name -> Int64? in
            guard name.hasSuffix(".log"), name.count == 24 else { return nil }
            return Int64(name.prefix(20))
        }.sorted()
        // The recovery point: the offset flushed to, the active segment's base and size then,
        // and (producer id, epoch, first offset) of each transaction open at that offset.
        let recoveryPoint = Self.readNumbers(directory + "/recovery-point").flatMap {
            $0.count >= 3 && ($0.count - 3) % 3 == 0 ? $0 : nil
        }
        let checkpointed = Self.readEpochCheckpoint(directory + "/leader-epoch-checkpoint")
        var expected: Int64 = bases.first ?? 0
        var firstScanned: Int64? = nil
        var scanned = 0
        var cut = 0
        for (i, base) in bases.enumerated() {
            let segment = try LogSegment(
                directory: directory, baseOffset: base, indexIntervalBytes: _config.indexIntervalBytes, clock: clock)
            var scan = true
            if let rp = recoveryPoint, checkpointed != nil || segment.size == 0 {
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
                try LogSegment(
                    directory: directory, baseOffset: 0, indexIntervalBytes: _config.indexIntervalBytes, clock: clock))
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
        let saved = savedHighWatermark ?? Self.readNumbers(directory + "/" + Self.legacyHighWatermarkFile)?.first ?? 0
        _highWatermark = min(max(saved, _logStartOffset), _logEndOffset)
        firstDirtyOffset = min(
            max(Self.readNumbers(directory + "/cleaner-offset-checkpoint")?.first ?? 0, _logStartOffset),
            _logEndOffset)
        if let rp = recoveryPoint, rp[0] <= _logEndOffset {
            let open = stride(from: 3, to: rp.count, by: 3).compactMap { i -> OngoingTransaction? in
                guard let epoch = Int16(exactly: rp[i + 1]) else { return nil }
                return OngoingTransaction(producerId: rp[i], producerEpoch: epoch, firstOffset: rp[i + 2])
            }
            try rebuildProducerAndTransactionState(open: open, from: max(rp[0], segments[0].baseOffset))
        } else {
            try rebuildProducerAndTransactionState(open: [], from: segments[0].baseOffset)
        }
        if scanned > 0 { try markFlushed() }
    }

    /// Whitespace-separated integers of a small checkpoint file; nil when it is missing or unreadable.
    static func readNumbers(_ path: String) -> [Int64]? {
        guard FileSystem.exists(path), let text = try? FileSystem.readText(path) else { return nil }
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int64($0) }
        return numbers.isEmpty ? nil : numbers
    }

    /// The per-partition high-watermark file of earlier versions: read when the directory
    /// checkpoint has no entry, removed once it has.
    public static let legacyHighWatermarkFile = "high-watermark"

    /// Sets the high watermark (never past the log end). Memory only: the broker's background
    /// maintenance checkpoints every partition's at once (`OffsetCheckpoint`), as a write has
    /// no place on the event loop that answers the follower's fetch or the producer.
    public func setHighWatermark(_ hw: Int64, nowMs: Int64) {
        lock.withLock {
            _highWatermark = min(max(hw, _logStartOffset), _logEndOffset)
        }
    }
}
