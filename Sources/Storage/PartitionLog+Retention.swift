import NIOConcurrencyHelpers

extension PartitionLog {
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
            trimAborted(below: _logStartOffset)
            trimEpochs(below: _logStartOffset)
            writeEpochCheckpoint()
            try writeLogStartOffset()
            return Deleted(segments: count, bytes: bytes, logStartOffset: _logStartOffset, reason: reason)
        }
    }

    func writeLogStartOffset() throws {
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
