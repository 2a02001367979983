import KafkaCompression
import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore

extension PartitionLog {
    /// Reads whole batches from the one that holds `offset`, up to `maxBytes` (at least one
    /// batch), never including a batch that starts at or past `upTo`. Returns nil when `offset`
    /// is outside [logStartOffset, logEndOffset].
    public func read(from offset: Int64, maxBytes: Int, upTo: Int64? = nil) throws -> ByteBuffer? {
        try readForSending(from: offset, maxBytes: maxBytes, upTo: upTo, fileAtLeast: .max).map {
            $0.bytes ?? ByteBuffer()
        }
    }

    /// Like `read`, but reads of at least `fileAtLeast` bytes come back as a `FileSlice` of the
    /// segment file, to be sent with sendfile instead of through memory. `nextOffset`: no offset
    /// of what is returned is at or past it (the next batch's base offset, or the bound).
    public func readForSending(
        from offset: Int64, maxBytes: Int, upTo: Int64? = nil, fileAtLeast: Int, atLeastOneBatch: Bool = true
    ) throws
        -> (bytes: ByteBuffer?, file: FileSlice?, nextOffset: Int64)?
    {
        try lock.withLock {
            let end = min(upTo ?? _logEndOffset, _logEndOffset)
            guard offset >= _logStartOffset, offset <= _logEndOffset else { return nil }
            if offset >= end { return (ByteBuffer(), nil, offset) }
            var i = segments.count - 1
            while i > 0 && segments[i].baseOffset > offset { i -= 1 }
            while i < segments.count {
                let seg = segments[i]
                if let (position, _) = try seg.position(ofBatchContaining: offset) {
                    let length = try seg.wholeBatchLength(
                        from: position, maxBytes: maxBytes, endOffset: end, atLeastOne: atLeastOneBatch)
                    if length == 0 { return (ByteBuffer(), nil, offset) }
                    var next = end
                    if position + length < seg.size {
                        let head = try seg.log.read(at: position + length, length: 8)
                        if let base: Int64 = head.getInteger(at: head.readerIndex) { next = min(next, base) }
                    } else if i + 1 < segments.count {
                        next = min(next, segments[i + 1].baseOffset)
                    }
                    if length >= fileAtLeast,
                        let slice = FileSlice(duplicating: seg.log.fd, position: position, length: length)
                    {
                        return (nil, slice, next)
                    }
                    return (try seg.log.read(at: position, length: length), nil, next)
                }
                i += 1
            }
            return (ByteBuffer(), nil, offset)
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

    /// The first record with the largest timestamp in the log (ListOffsets' MAX_TIMESTAMP,
    /// KIP-734), with that timestamp; nil for an empty log or one without timestamps. The
    /// segment with the largest time is found from the segments' own maxima, the batch through
    /// its time index, and the record by opening the batch (decompressing it if need be).
    public func offsetOfMaxTimestamp() throws -> (offset: Int64, timestamp: Int64)? {
        try lock.withLock {
            var best: LogSegment? = nil
            for segment in segments where segment.size > 0 && segment.maxTimestamp > (best?.maxTimestamp ?? -1) {
                best = segment
            }
            guard let segment = best, let (position, h) = try segment.firstBatch(atOrAfter: segment.maxTimestamp)
            else { return nil }
            let batch = try segment.log.read(at: position, length: h.totalSize)
            let records = (try? Decompression.records(batch: batch, header: h)) ?? []
            let time = h.maxTimestamp
            // LogAppendTime batches stamp every record with the batch's time.
            let offset =
                h.usesLogAppendTime
                ? h.baseOffset : records.first(where: { $0.timestamp == time })?.offset ?? h.baseOffset
            return (max(offset, _logStartOffset), time)
        }
    }
}
