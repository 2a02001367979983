import KafkaProtocol
import Logging
import NIOCore

/// One segment of a partition's log: `<baseOffset>.log` with its sparse `.index`
/// (relative offset → file position, 8-byte entries) and `.timeindex` (max timestamp so far →
/// relative offset, 12-byte entries), in Kafka's layout and naming.
///
/// Both indexes are kept in memory; the files let tools and a later restart find batches
/// without scanning the whole log. Only the `.log` file stays open: the index files are
/// written when the segment is flushed, rolled or closed (the recovery point never names a
/// segment whose index files lag), so a partition holds one descriptor per segment, not three.
final class LogSegment {
    struct IndexEntry: Equatable {
        var relativeOffset: UInt32
        var position: UInt32
    }

    struct TimeEntry: Equatable {
        var timestamp: Int64
        var relativeOffset: UInt32
        var position: UInt32
    }

    let baseOffset: Int64
    let directory: String
    let log: DataFile
    private let indexPath: String
    private let timeIndexPath: String
    /// Entries of `index` and `timeIndex` already in their files.
    private var persistedIndex = 0
    private var persistedTimes = 0
    private(set) var size: Int
    private(set) var index: [IndexEntry] = []
    private(set) var timeIndex: [TimeEntry] = []
    /// Offset after the last batch in this segment.
    private(set) var nextOffset: Int64
    private(set) var maxTimestamp: Int64 = -1
    /// (leader epoch, first offset) each time the epoch of the batches changes in this segment.
    private(set) var epochStarts: [(epoch: Int32, offset: Int64)] = []
    private var bytesSinceIndexEntry = 0
    let indexIntervalBytes: Int
    /// When this segment started taking batches (wall clock, ms): `segment.ms` rolls it that long
    /// after. A segment found on disk counts from its file's modification time.
    private(set) var createdMs: Int64
    private let clock: any TernClock

    static func fileName(_ baseOffset: Int64, _ suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    var logPath: String { directory + "/" + Self.fileName(baseOffset, ".log") }

    /// Opens (or creates) the segment. The caller runs `recover` or `loadIndex` afterwards.
    init(directory: String, baseOffset: Int64, indexIntervalBytes: Int, clock: any TernClock) throws {
        self.clock = clock
        self.directory = directory
        self.baseOffset = baseOffset
        self.indexIntervalBytes = indexIntervalBytes
        log = try DataFile(path: directory + "/" + Self.fileName(baseOffset, ".log"))
        indexPath = directory + "/" + Self.fileName(baseOffset, ".index")
        timeIndexPath = directory + "/" + Self.fileName(baseOffset, ".timeindex")
        // Both exist from the start, as Kafka's layout has them (opened and closed again).
        _ = try DataFile(path: indexPath)
        _ = try DataFile(path: timeIndexPath)
        size = try log.size()
        nextOffset = baseOffset
        createdMs = size > 0 ? try log.modifiedMs() : clock.wallMs
    }

    /// Appends one batch whose base offset the caller has already assigned.
    func append(_ batch: ByteBuffer, header: RecordBatchHeader) throws {
        let position = size
        if position == 0 { createdMs = clock.wallMs }
        try log.write(batch, at: position)
        size += batch.readableBytes
        noteBatch(header, position: position)
    }

    private func noteBatch(_ h: RecordBatchHeader, position: Int) {
        let rel = UInt32(truncatingIfNeeded: h.baseOffset - baseOffset)
        let newMax = h.maxTimestamp > maxTimestamp
        if index.isEmpty || bytesSinceIndexEntry >= indexIntervalBytes {
            let entry = IndexEntry(relativeOffset: rel, position: UInt32(position))
            index.append(entry)
            bytesSinceIndexEntry = 0
            if newMax || timeIndex.isEmpty {
                let t = TimeEntry(
                    timestamp: max(h.maxTimestamp, maxTimestamp), relativeOffset: rel, position: UInt32(position))
                timeIndex.append(t)
            }
        }
        bytesSinceIndexEntry += h.totalSize
        maxTimestamp = max(maxTimestamp, h.maxTimestamp)
        if epochStarts.last?.epoch != h.partitionLeaderEpoch {
            epochStarts.append((h.partitionLeaderEpoch, h.baseOffset))
        }
        nextOffset = h.nextOffset
    }

    /// Writes the index entries not yet in the files (opened for this and closed again).
    func persistIndexes() throws {
        if persistedIndex < index.count {
            var b = ByteBufferAllocator().buffer(capacity: (index.count - persistedIndex) * 8)
            for e in index[persistedIndex...] {
                b.writeInteger(e.relativeOffset)
                b.writeInteger(e.position)
            }
            try DataFile(path: indexPath).write(b, at: persistedIndex * 8)
            persistedIndex = index.count
        }
        if persistedTimes < timeIndex.count {
            var t = ByteBufferAllocator().buffer(capacity: (timeIndex.count - persistedTimes) * 12)
            for e in timeIndex[persistedTimes...] {
                t.writeInteger(e.timestamp)
                t.writeInteger(e.relativeOffset)
            }
            try DataFile(path: timeIndexPath).write(t, at: persistedTimes * 12)
            persistedTimes = timeIndex.count
        }
    }

    /// Scans every batch from the start, checking lengths, CRCs and offset order, rebuilds both
    /// indexes, and truncates the log at the first damaged or torn batch. Returns the number of
    /// bytes cut off (0 for a clean segment).
    func recover(expectedBaseOffset: Int64, logger: Logger) throws -> Int {
        index = []
        timeIndex = []
        epochStarts = []
        bytesSinceIndexEntry = 0
        maxTimestamp = -1
        nextOffset = baseOffset
        var position = 0
        var expected = expectedBaseOffset
        let chunkSize = 1 << 20
        var problem: String? = nil
        scan: while position < size {
            let headerBytes = try log.read(at: position, length: RecordBatchHeader.size)
            guard let h = RecordBatchHeader.peek(headerBytes, at: headerBytes.readerIndex) else {
                problem = "a torn batch header (\(size - position) bytes)"
                break
            }
            guard h.magic == 2, h.batchLength >= Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead),
                h.totalSize <= size - position
            else {
                problem = "a batch with length \(h.batchLength) and magic \(h.magic) that does not fit the file"
                break
            }
            guard h.baseOffset >= expected else {
                problem = "a batch at offset \(h.baseOffset) where \(expected) or later was expected"
                break
            }
            // CRC over attributes..end, read in bounded chunks.
            var crc: UInt32 = 0
            var done = RecordBatchHeader.attributesOffset
            while done < h.totalSize {
                let n = min(chunkSize, h.totalSize - done)
                let part = try log.read(at: position + done, length: n)
                guard part.readableBytes == n else {
                    problem = "a batch cut short at end of file"
                    break scan
                }
                crc = part.withUnsafeReadableBytes { CRC32C.checksum($0, initial: crc) }
                done += n
            }
            guard crc == h.crc else {
                problem =
                    "a batch at offset \(h.baseOffset) whose CRC does not match (stored \(h.crc), computed \(crc))"
                break
            }
            noteBatch(h, position: position)
            expected = h.nextOffset
            position += h.totalSize
        }
        let cut = size - position
        if let problem {
            logger.warning(
                "recovery truncated \(logPath) at byte \(position): found \(problem); \(cut) bytes after offset \(nextOffset) removed"
            )
            try log.truncate(to: position)
            size = position
        }
        try rewriteIndexFiles()
        return cut
    }

    private func rewriteIndexFiles() throws {
        try DataFile(path: indexPath).truncate(to: 0)
        try DataFile(path: timeIndexPath).truncate(to: 0)
        persistedIndex = 0
        persistedTimes = 0
        try persistIndexes()
    }

    /// Takes the indexes from their files instead of scanning the log, for a segment that was
    /// flushed before the last shutdown (below the recovery point). Every entry is checked, and
    /// the batches after the last index entry are walked to the end of the file; the answer is
    /// nil when all is consistent, else what is wrong (the caller then scans with `recover`).
    func loadIndexes(nextOffset expectedNext: Int64) throws -> String? {
        index = []
        timeIndex = []
        epochStarts = []
        maxTimestamp = -1
        nextOffset = baseOffset
        bytesSinceIndexEntry = 0
        if size == 0 { return nil }
        persistedIndex = 0
        persistedTimes = 0
        let indexFile = try DataFile(path: indexPath)
        let indexSize = try indexFile.size()
        guard indexSize > 0, indexSize % 8 == 0 else {
            return indexSize == 0 ? "its offset index is missing or empty" : "its offset index has a torn entry"
        }
        var raw = try indexFile.read(at: 0, length: indexSize)
        var entries: [IndexEntry] = []
        entries.reserveCapacity(indexSize / 8)
        while let rel = raw.readInteger(as: UInt32.self), let pos = raw.readInteger(as: UInt32.self) {
            if let last = entries.last, rel <= last.relativeOffset || pos <= last.position {
                return "its offset index is out of order at entry \(entries.count)"
            }
            guard Int(pos) < size, Int64(rel) < expectedNext - baseOffset else {
                return "its offset index points past the log at entry \(entries.count)"
            }
            entries.append(IndexEntry(relativeOffset: rel, position: pos))
        }
        guard entries[0].position == 0 else {
            return "its offset index does not start at the first batch"
        }
        // The last indexed batch and everything after it must be whole batches ending at the end
        // of the file, with the expected next offset.
        var position = Int(entries.last!.position)
        var next = baseOffset + Int64(entries.last!.relativeOffset)
        var first = true
        var lastHeader: RecordBatchHeader? = nil
        while position < size {
            let bytes = try log.read(at: position, length: RecordBatchHeader.size)
            guard let h = RecordBatchHeader.peek(bytes, at: bytes.readerIndex), h.magic == 2,
                h.batchLength >= Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead),
                h.totalSize <= size - position
            else { return "the batches after its last index entry are damaged" }
            if first && h.baseOffset != next { return "its last index entry does not point at its batch" }
            first = false
            guard h.baseOffset >= next else { return "its batches are out of order" }
            next = h.nextOffset
            lastHeader = h
            position += h.totalSize
            bytesSinceIndexEntry += h.totalSize
        }
        guard next <= expectedNext else { return "it holds offsets past the recovery point" }
        let timeIndexFile = try DataFile(path: timeIndexPath)
        let timeSize = try timeIndexFile.size()
        guard timeSize % 12 == 0 else { return "its time index has a torn entry" }
        var rawTimes = try timeIndexFile.read(at: 0, length: timeSize)
        var times: [TimeEntry] = []
        while let ts = rawTimes.readInteger(as: Int64.self), let rel = rawTimes.readInteger(as: UInt32.self) {
            if let last = times.last, ts < last.timestamp || rel < last.relativeOffset {
                return "its time index is out of order at entry \(times.count)"
            }
            guard Int64(rel) < expectedNext - baseOffset else { return "its time index points past the log" }
            times.append(TimeEntry(timestamp: ts, relativeOffset: rel, position: 0))
        }
        index = entries
        for i in times.indices {
            times[i].position = UInt32(indexedPosition(for: baseOffset + Int64(times[i].relativeOffset)))
        }
        timeIndex = times
        persistedIndex = entries.count
        persistedTimes = times.count
        maxTimestamp = max(times.last?.timestamp ?? -1, lastHeader?.maxTimestamp ?? -1)
        nextOffset = next
        return nil
    }

    /// Adds a final time-index entry for the segment's largest timestamp, so that a segment
    /// loaded from its indexes knows how old it is. Called when the segment is rolled or flushed
    /// at shutdown.
    func closeTimeIndex() throws {
        if size > 0, maxTimestamp > (timeIndex.last?.timestamp ?? -1), let last = index.last {
            let t = TimeEntry(timestamp: maxTimestamp, relativeOffset: last.relativeOffset, position: last.position)
            if (timeIndex.last?.relativeOffset ?? 0) <= t.relativeOffset { timeIndex.append(t) }
        }
        try persistIndexes()
    }

    /// The segment's newest record timestamp, or its file's modification time when its records
    /// carry none: what `retention.ms` measures.
    func retentionTimestamp() throws -> Int64 {
        maxTimestamp >= 0 ? maxTimestamp : try log.modifiedMs()
    }

    /// The file position of the last indexed batch at or before `offset`.
    func indexedPosition(for offset: Int64) -> Int {
        let rel = offset - baseOffset
        var lo = 0
        var hi = index.count - 1
        var best = 0
        while lo <= hi {
            let mid = (lo + hi) / 2
            if Int64(index[mid].relativeOffset) <= rel {
                best = Int(index[mid].position)
                lo = mid + 1
            } else {
                hi = mid - 1
            }
        }
        return best
    }

    /// Finds the position of the first batch whose last offset is at or past `offset`, by
    /// walking batch headers from the index entry. Nil if the segment holds no such batch.
    func position(ofBatchContaining offset: Int64) throws -> (position: Int, header: RecordBatchHeader)? {
        var position = indexedPosition(for: offset)
        if position > 0 {
            // An index entry must land on a batch; if it does not (a damaged index that passed
            // the checks at start-up), walk from the segment's start instead of reading garbage.
            let bytes = try log.read(at: position, length: RecordBatchHeader.size)
            // An entry whose batch starts past `offset` would skip the batches before it.
            if RecordBatchHeader.peek(bytes, at: bytes.readerIndex).map({
                $0.magic != 2 || $0.baseOffset < baseOffset || $0.baseOffset > offset
            }) ?? true {
                position = 0
            }
        }
        while position < size {
            let bytes = try log.read(at: position, length: RecordBatchHeader.size)
            guard let h = RecordBatchHeader.peek(bytes, at: bytes.readerIndex) else { return nil }
            if h.lastOffset >= offset { return (position, h) }
            position += h.totalSize
        }
        return nil
    }

    /// How many bytes of whole batches to send from `position`: at most `maxBytes` (but the
    /// first batch whole), none that starts at or after `endOffset`. Found from the offset index
    /// and batch headers read one by one, without reading the batches themselves, so that the
    /// bytes can go from the file to the socket.
    func wholeBatchLength(from position: Int, maxBytes: Int, endOffset: Int64, atLeastOne: Bool = true) throws -> Int {
        func head(_ at: Int) throws -> (base: Int64, total: Int)? {
            guard at + RecordBatchHeader.logOverhead <= size else { return nil }
            let b = try log.read(at: at, length: RecordBatchHeader.logOverhead)
            guard let base = b.getInteger(at: b.readerIndex, as: Int64.self),
                let length = b.getInteger(at: b.readerIndex + 8, as: Int32.self), length >= 0
            else { return nil }
            return (base, Int(length) + RecordBatchHeader.logOverhead)
        }
        // Where the batches that start before endOffset end.
        var end = size
        if endOffset < nextOffset {
            var at = max(position, indexedPosition(for: endOffset))
            while let h = try head(at), h.base < endOffset, at + h.total <= size { at += h.total }
            end = at
        }
        guard end > position else { return 0 }
        let limit = position + maxBytes
        if end <= limit { return end - position }
        // The last batch boundary at or below the limit: from the nearest index entry, walk.
        var at = position
        var lo = 0
        var hi = index.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let p = Int(index[mid].position)
            if p <= limit {
                if p > at { at = p }
                lo = mid + 1
            } else {
                hi = mid - 1
            }
        }
        while let h = try head(at), at + h.total <= min(limit, end) { at += h.total }
        if at == position, atLeastOne, let h = try head(position) { return min(h.total, end - position) }
        return at - position
    }

    /// The first batch whose max timestamp is at or after `timestamp`, searched from the time
    /// index entry that rules out everything before it.
    func firstBatch(atOrAfter timestamp: Int64) throws -> (position: Int, header: RecordBatchHeader)? {
        guard maxTimestamp >= timestamp else { return nil }
        var position = 0
        for e in timeIndex {
            if e.timestamp < timestamp { position = Int(e.position) } else { break }
        }
        while position < size {
            let bytes = try log.read(at: position, length: RecordBatchHeader.size)
            guard let h = RecordBatchHeader.peek(bytes, at: bytes.readerIndex) else { return nil }
            if h.maxTimestamp >= timestamp { return (position, h) }
            position += h.totalSize
        }
        return nil
    }

    func flush() throws { try log.sync() }

    /// Cuts the segment at `position` (a batch boundary) and rebuilds its indexes.
    func truncate(toPosition position: Int, logger: Logger) throws {
        try log.truncate(to: position)
        size = position
        _ = try recover(expectedBaseOffset: baseOffset, logger: logger)
    }

    func delete() throws {
        for suffix in [".log", ".index", ".timeindex", ".txnindex", ".log.cleaned"] {
            try FileSystem.remove(directory + "/" + Self.fileName(baseOffset, suffix))
        }
    }
}
