import KafkaProtocol
import Logging
import NIOCore

/// One segment of a partition's log: `<baseOffset>.log` with its sparse `.index`
/// (relative offset → file position, 8-byte entries) and `.timeindex` (max timestamp so far →
/// relative offset, 12-byte entries), in Kafka's layout and naming.
///
/// Both indexes are also kept in memory; the files let tools and a later restart find batches
/// without scanning the whole log.
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
    private let indexFile: DataFile
    private let timeIndexFile: DataFile
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

    static func fileName(_ baseOffset: Int64, _ suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    var logPath: String { directory + "/" + Self.fileName(baseOffset, ".log") }

    /// Opens (or creates) the segment. The caller runs `recover` or `loadIndex` afterwards.
    init(directory: String, baseOffset: Int64, indexIntervalBytes: Int) throws {
        self.directory = directory
        self.baseOffset = baseOffset
        self.indexIntervalBytes = indexIntervalBytes
        log = try DataFile(path: directory + "/" + Self.fileName(baseOffset, ".log"))
        indexFile = try DataFile(path: directory + "/" + Self.fileName(baseOffset, ".index"))
        timeIndexFile = try DataFile(path: directory + "/" + Self.fileName(baseOffset, ".timeindex"))
        size = try log.size()
        nextOffset = baseOffset
    }

    /// Appends one batch whose base offset the caller has already assigned.
    func append(_ batch: ByteBuffer, header: RecordBatchHeader) throws {
        let position = size
        try log.write(batch, at: position)
        size += batch.readableBytes
        noteBatch(header, position: position, persistIndex: true)
    }

    private func noteBatch(_ h: RecordBatchHeader, position: Int, persistIndex: Bool) {
        let rel = UInt32(truncatingIfNeeded: h.baseOffset - baseOffset)
        let newMax = h.maxTimestamp > maxTimestamp
        if index.isEmpty || bytesSinceIndexEntry >= indexIntervalBytes {
            let entry = IndexEntry(relativeOffset: rel, position: UInt32(position))
            index.append(entry)
            bytesSinceIndexEntry = 0
            if persistIndex { try? appendIndexEntry(entry) }
            if newMax || timeIndex.isEmpty {
                let t = TimeEntry(
                    timestamp: max(h.maxTimestamp, maxTimestamp), relativeOffset: rel, position: UInt32(position))
                timeIndex.append(t)
                if persistIndex { try? appendTimeEntry(t) }
            }
        }
        bytesSinceIndexEntry += h.totalSize
        maxTimestamp = max(maxTimestamp, h.maxTimestamp)
        if epochStarts.last?.epoch != h.partitionLeaderEpoch {
            epochStarts.append((h.partitionLeaderEpoch, h.baseOffset))
        }
        nextOffset = h.nextOffset
    }

    private func appendIndexEntry(_ e: IndexEntry) throws {
        var b = ByteBufferAllocator().buffer(capacity: 8)
        b.writeInteger(e.relativeOffset)
        b.writeInteger(e.position)
        try indexFile.write(b, at: (index.count - 1) * 8)
    }

    private func appendTimeEntry(_ e: TimeEntry) throws {
        var b = ByteBufferAllocator().buffer(capacity: 12)
        b.writeInteger(e.timestamp)
        b.writeInteger(e.relativeOffset)
        try timeIndexFile.write(b, at: (timeIndex.count - 1) * 12)
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
            noteBatch(h, position: position, persistIndex: false)
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
        var b = ByteBufferAllocator().buffer(capacity: index.count * 8)
        for e in index {
            b.writeInteger(e.relativeOffset)
            b.writeInteger(e.position)
        }
        try indexFile.truncate(to: 0)
        try indexFile.write(b, at: 0)
        var t = ByteBufferAllocator().buffer(capacity: timeIndex.count * 12)
        for e in timeIndex {
            t.writeInteger(e.timestamp)
            t.writeInteger(e.relativeOffset)
        }
        try timeIndexFile.truncate(to: 0)
        try timeIndexFile.write(t, at: 0)
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
        while position < size {
            let bytes = try log.read(at: position, length: RecordBatchHeader.size)
            guard let h = RecordBatchHeader.peek(bytes, at: bytes.readerIndex) else { return nil }
            if h.lastOffset >= offset { return (position, h) }
            position += h.totalSize
        }
        return nil
    }

    /// Reads whole batches starting at `position`, at most `maxBytes` (but always the first
    /// batch in full, as Kafka does so that a large batch can make progress), stopping before
    /// any batch that starts at or after `endOffset`.
    func read(from position: Int, maxBytes: Int, endOffset: Int64) throws -> ByteBuffer {
        let want = min(max(maxBytes, RecordBatchHeader.size), size - position)
        var chunk = try log.read(at: position, length: want)
        var keep = 0
        var cursor = chunk.readerIndex
        while true {
            if let h = RecordBatchHeader.peek(chunk, at: cursor) {
                if h.baseOffset >= endOffset { break }
                if cursor + h.totalSize <= chunk.writerIndex {
                    keep += h.totalSize
                    cursor += h.totalSize
                    continue
                }
                if keep == 0 {
                    // The first batch is larger than maxBytes: return it whole.
                    let whole = try log.read(at: position, length: h.totalSize)
                    return whole
                }
            }
            break
        }
        chunk.moveWriterIndex(to: chunk.readerIndex + keep)
        return chunk
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
        for suffix in [".log", ".index", ".timeindex"] {
            try FileSystem.remove(directory + "/" + Self.fileName(baseOffset, suffix))
        }
    }
}
