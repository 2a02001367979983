import KafkaCompression
import KafkaProtocol
import NIOCore
import Storage
import Testing

/// Segment lifecycle: recovery points and index loading, rolling by time, retention,
/// DeleteRecords, compaction and a follower starting over at the leader's log start.
@Suite struct LogLifecycleTests {
    /// The logs' clock: it starts at the real time and moves only when a test advances it.
    let clock = ManualClock(wallMs: SystemClock().wallMs)

    func open(_ dir: String, _ change: (inout LogConfig) -> Void = { _ in }) throws -> PartitionLog {
        var c = LogConfig()
        c.indexIntervalBytes = 1
        change(&c)
        return try PartitionLog(directory: dir, config: c, clock: clock, logger: quiet)
    }

    func keyed(_ pairs: [(String, String?)], timestamp: Int64? = nil) -> ByteBuffer {
        var b = RecordBatchBuilder()
        let timestamp = timestamp ?? clock.wallMs
        for (k, v) in pairs { b.append(key: Array(k.utf8), value: v.map { Array($0.utf8) }, timestamp: timestamp) }
        return b.build()
    }

    func all(_ log: PartitionLog, from: Int64? = nil) throws -> [Record] {
        var out: [Record] = []
        var next = from ?? log.logStartOffset
        while next < log.logEndOffset, var data = try log.read(from: next, maxBytes: 1 << 20), data.readableBytes > 0 {
            while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize <= data.readableBytes {
                let one = data.readSlice(length: h.totalSize)!
                out += try Record.decodeAll(batch: one, header: h).filter { $0.offset >= next }
                next = h.nextOffset
            }
        }
        return out
    }

    @Test func aCleanShutdownMeansNoSegmentIsScannedAtTheNextStart() throws {
        let dir = tempDir("clean")
        do {
            let log = try open(dir) { $0.segmentBytes = 600 }
            for i in 0..<40 { _ = try log.append(records: batch(["v\(i)"]), leaderEpoch: Int32(i / 10)).get() }
            try log.flush()
        }
        let log = try open(dir) { $0.segmentBytes = 600 }
        #expect(log.recovery.segments > 3)
        #expect(log.recovery.scanned == 0)
        #expect(log.logEndOffset == 40)
        #expect(try values(log.read(from: 25, maxBytes: 90)!) == ["v25"])
        #expect(log.endOffset(forEpoch: 1) == (1, 20))
        #expect(log.lastEpoch == 3)
        #expect(try log.append(records: batch(["next"]), leaderEpoch: 3).get().baseOffset == 40)
    }

    @Test func afterACrashOnlySegmentsPastTheRecoveryPointAreScanned() throws {
        let dir = tempDir("crash")
        do {
            let log = try open(dir) { $0.segmentBytes = 600 }
            // Every roll fsyncs the closed segment and moves the recovery point to the new one.
            for i in 0..<40 { _ = try log.append(records: batch(["v\(i)"]), leaderEpoch: 0).get() }
            // No flush: the process "dies" here.
        }
        let log = try open(dir) { $0.segmentBytes = 600 }
        #expect(log.recovery.scanned == 1)
        #expect(log.logEndOffset == 40)
        #expect(try all(log).map { String(decoding: $0.value!, as: UTF8.self) } == (0..<40).map { "v\($0)" })
    }

    @Test(arguments: ["delete", "truncate", "garbage", "pointsPastTheLog"])
    func aDamagedIndexBelowTheRecoveryPointIsRebuilt(damage: String) throws {
        let dir = tempDir("index-\(damage)")
        do {
            let log = try open(dir) { $0.segmentBytes = 600 }
            for i in 0..<40 { _ = try log.append(records: batch(["v\(i)"]), leaderEpoch: 0).get() }
            try log.flush()
        }
        let path = dir + "/00000000000000000000.index"
        switch damage {
        case "delete": try FileSystem.remove(path)
        case "truncate": try DataFile(path: path).truncate(to: 13)
        case "garbage": try DataFile(path: path).write([UInt8](repeating: 0xAB, count: 16), at: 8)
        default: try DataFile(path: path).write([0, 0, 0, 1, 0, 1, 0, 0], at: 8)
        }
        let log = try open(dir) { $0.segmentBytes = 600 }
        #expect(log.recovery.scanned == 1)
        #expect(try values(log.read(from: 2, maxBytes: 1)!) == ["v2"])
        #expect(try all(log).count == 40)
        // The rebuilt index is whole again: the next start scans nothing.
        try log.flush()
        #expect(try open(dir) { $0.segmentBytes = 600 }.recovery.scanned == 0)
    }

    @Test func aSegmentRollsWhenItIsSegmentMsOld() throws {
        let log = try open(tempDir("roll-time")) { $0.segmentMs = 100 }
        _ = try log.append(records: batch(["a"]), leaderEpoch: 0).get()
        _ = try log.append(records: batch(["b"]), leaderEpoch: 0).get()
        #expect(log.segmentCount == 1)
        clock.advance(ms: 150)
        _ = try log.append(records: batch(["c"]), leaderEpoch: 0).get()
        #expect(log.segmentBaseOffsets == [0, 2])
    }

    @Test func retentionByTimeDeletesOldSegmentsButNotUnreplicatedOnes() throws {
        let now = clock.wallMs
        let log = try open(tempDir("ret-time")) {
            $0.segmentBytes = 300
            $0.retentionMs = 60_000
        }
        for i in 0..<10 {
            _ = try log.append(records: batch(["old\(i)"], timestamp: now - 3_600_000), leaderEpoch: 0).get()
        }
        for i in 0..<10 { _ = try log.append(records: batch(["new\(i)"], timestamp: now), leaderEpoch: 0).get() }
        // Nothing is deleted above the high watermark.
        #expect(try log.applyRetention(nowMs: now) == nil)
        log.setHighWatermark(20, nowMs: 0)
        let deleted = try #require(try log.applyRetention(nowMs: now))
        #expect(deleted.reason.hasPrefix("retention.ms"))
        #expect(log.logStartOffset == deleted.logStartOffset)
        #expect(log.logStartOffset >= 8 && log.logStartOffset <= 10)
        #expect(try log.read(from: 0, maxBytes: 100) == nil)
        #expect(
            try all(log).suffix(10).map { String(decoding: $0.value!, as: UTF8.self) } == (0..<10).map { "new\($0)" })
        // The log start survives a restart.
        try log.flush()
        #expect(try open(log.directory) { $0.segmentBytes = 300 }.logStartOffset == log.logStartOffset)
    }

    @Test func retentionByTimeRollsAndEmptiesAnActiveSegmentThatIsAllOld() throws {
        let now = clock.wallMs
        let log = try open(tempDir("ret-all")) { $0.retentionMs = 1_000 }
        for i in 0..<5 { _ = try log.append(records: batch(["x\(i)"], timestamp: now - 10_000), leaderEpoch: 0).get() }
        log.setHighWatermark(5, nowMs: 0)
        #expect(try log.applyRetention(nowMs: now)?.segments == 1)
        #expect(log.logStartOffset == 5 && log.logEndOffset == 5)
        #expect(log.segmentBaseOffsets == [5])
        #expect(try log.append(records: batch(["y"]), leaderEpoch: 0).get().baseOffset == 5)
    }

    @Test func retentionBySizeKeepsTheNewestBytes() throws {
        let log = try open(tempDir("ret-size")) {
            $0.segmentBytes = 300
            $0.retentionMs = -1
            $0.retentionBytes = 700
        }
        for i in 0..<30 { _ = try log.append(records: batch(["v\(i)"]), leaderEpoch: 0).get() }
        log.setHighWatermark(30, nowMs: 0)
        let before = log.sizeInBytes
        let deleted = try #require(try log.applyRetention(nowMs: clock.wallMs))
        #expect(deleted.reason.hasPrefix("retention.bytes"))
        #expect(log.sizeInBytes <= 700 + 300 && log.sizeInBytes == before - deleted.bytes)
        #expect(try all(log).last.map { String(decoding: $0.value!, as: UTF8.self) } == "v29")
    }

    @Test func deleteRecordsMovesTheLogStartAndRetentionRemovesTheSegments() throws {
        let log = try open(tempDir("delete-records")) {
            $0.segmentBytes = 300
            $0.retentionMs = -1
        }
        for i in 0..<20 { _ = try log.append(records: batch(["v\(i)"]), leaderEpoch: 0).get() }
        log.setHighWatermark(15, nowMs: 0)
        #expect(try log.deleteRecords(before: 16) == nil)  // past the high watermark
        #expect(try log.deleteRecords(before: 12) == 12)
        #expect(try log.read(from: 11, maxBytes: 100) == nil)
        #expect(try all(log).first?.offset == 12)
        #expect(try log.deleteRecords(before: 5) == 12)  // never backwards
        let deleted = try #require(try log.applyRetention(nowMs: clock.wallMs))
        #expect(log.segmentBaseOffsets.first! <= 12 && deleted.segments >= 2)
        #expect(try log.deleteRecords(before: -1) == 15)
    }

    /// The raw batches of a log, as a follower or consumer would get them.
    func rawBatches(_ log: PartitionLog) throws -> [(RecordBatchHeader, ByteBuffer)] {
        var data = try #require(try log.read(from: log.logStartOffset, maxBytes: 1 << 30))
        var out: [(RecordBatchHeader, ByteBuffer)] = []
        while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize <= data.readableBytes {
            out.append((h, data.readSlice(length: h.totalSize)!))
        }
        return out
    }

    @Test func aTopicsCompressionTypeRecompressesBatchesAndKeepsWhatIdempotenceNeeds() throws {
        let zstd = try open(tempDir("zstd")) { $0.compression = .zstd }
        let sent = batch(
            (0..<50).map { "value \($0) " + String(repeating: "x", count: 100) }, producerId: 7, sequence: 0)
        #expect(try zstd.append(records: sent, leaderEpoch: 0).get().baseOffset == 0)
        // The producer's retry of the same batch is still known as a duplicate.
        #expect(try zstd.append(records: sent, leaderEpoch: 0).get().baseOffset == 0)
        #expect(zstd.logEndOffset == 50)
        let stored = try rawBatches(zstd)
        #expect(stored.count == 1)
        let (h, bytes) = stored[0]
        #expect(h.compression == .zstd && h.producerId == 7 && h.baseSequence == 0 && h.lastOffsetDelta == 49)
        #expect(h.totalSize < sent.readableBytes / 4)
        guard case .success = RecordBatches.validate(bytes) else {  // length and CRC rewritten
            Issue.record("the recompressed batch does not validate")
            return
        }
        let records = try Decompression.records(batch: bytes, header: h)
        #expect(
            records.map { String(decoding: $0.value!, as: UTF8.self) }
                == (0..<50).map { "value \($0) " + String(repeating: "x", count: 100) })
        // compression.type=uncompressed turns a compressed batch back into plain records.
        let plain = try open(tempDir("uncompressed")) { $0.compression = CompressionCodec.none }
        _ = try plain.append(records: bytes, leaderEpoch: 0).get()
        let (ph, pbytes) = try rawBatches(plain)[0]
        #expect(ph.compression == CompressionCodec.none)
        #expect(try Record.decodeAll(batch: pbytes, header: ph).map(\.value) == records.map(\.value))
    }

    @Test func theRecordWithTheLargestTimestampIsFoundAcrossSegmentsAndInCompressedBatches() throws {
        let log = try open(tempDir("maxts")) { $0.segmentBytes = 300 }
        #expect(try log.offsetOfMaxTimestamp() == nil)
        // Timestamps rise, peak at offset 7 (the third record of a batch), then fall back.
        for (i, ts) in [10, 20, 30, 40, 50].enumerated() {
            _ = try log.append(records: batch(["v\(i)"], timestamp: Int64(ts)), leaderEpoch: 0).get()
        }
        var b = RecordBatchBuilder()
        for ts in [60, 70, 900, 80] { b.append(key: nil, value: Array("x".utf8), timestamp: Int64(ts)) }
        _ = try log.append(records: b.build(), leaderEpoch: 0).get()
        for ts in [100, 200] {
            _ = try log.append(records: batch(["late"], timestamp: Int64(ts)), leaderEpoch: 0).get()
        }
        #expect(log.segmentBaseOffsets.count > 1)
        #expect(try log.offsetOfMaxTimestamp()! == (7, 900))
        // The same batch compressed: the record is found inside it.
        let zstd = try open(tempDir("maxts-zstd")) { $0.compression = .zstd }
        _ = try zstd.append(records: batch(["a"], timestamp: 5), leaderEpoch: 0).get()
        _ = try zstd.append(records: b.build(), leaderEpoch: 0).get()
        #expect(try zstd.offsetOfMaxTimestamp()! == (3, 900))
    }

    @Test func aBatchThatInflatesPastTheRecompressLimitIsRefused() throws {
        let zstd = try open(tempDir("inflate-zstd")) { $0.compression = .zstd }
        var b = RecordBatchBuilder()
        b.append(key: nil, value: [UInt8](repeating: 0, count: PartitionLog.recompressLimit + 1), timestamp: 1)
        _ = try zstd.append(records: b.build(), leaderEpoch: 0).get()
        let (_, tiny) = try rawBatches(zstd)[0]
        #expect(tiny.readableBytes < 100_000)
        let gzip = try open(tempDir("inflate-gzip")) { $0.compression = .gzip }
        guard case .failure(.tooLarge) = gzip.append(records: tiny, leaderEpoch: 0) else {
            Issue.record("a batch inflating past the limit must be refused")
            return
        }
        #expect(gzip.logEndOffset == 0)
    }

    @Test func compactionKeepsTheLastValuePerKeyAndDropsOldTombstones() throws {
        let now = clock.wallMs
        let log = try open(tempDir("compact")) {
            $0.segmentBytes = 400
            $0.compactPolicy = true
            $0.deletePolicy = false
            $0.deleteRetentionMs = 60_000
        }
        var latest: [String: (Int64, String?)] = [:]
        for round in 0..<8 {
            for k in ["a", "b", "c", "d"] {
                let v: String? = (k == "d" && round == 7) ? nil : "\(k)\(round)"
                // The tombstone for "d" is old enough to go; "c" gets a fresh one below.
                let r = try log.append(
                    records: keyed([(k, v)], timestamp: v == nil ? now - 120_000 : now), leaderEpoch: 0
                ).get()
                latest[k] = (r.baseOffset, v)
            }
        }
        let c = try log.append(records: keyed([("c", nil)]), leaderEpoch: 0).get()
        latest["c"] = (c.baseOffset, nil)
        for i in 0..<6 { _ = try log.append(records: keyed([("e", "e\(i)")]), leaderEpoch: 0).get() }
        log.setHighWatermark(log.logEndOffset, nowMs: 0)
        let end = log.logEndOffset
        let before = try all(log)
        let result = try #require(try log.compact(nowMs: now))
        #expect(result.recordsRemoved > 20 && result.bytesAfter < result.bytesBefore)
        let after = try all(log)
        #expect(log.logEndOffset == end)
        // Offsets never change, every key's last value is there, nothing older in the cleaned part.
        let byKey = Dictionary(grouping: after, by: { String(decoding: $0.key!, as: UTF8.self) })
        #expect(byKey["a"]?.count == 1 && byKey["a"]?.first?.offset == latest["a"]!.0)
        #expect(byKey["b"]?.first.map { String(decoding: $0.value!, as: UTF8.self) } == "b7")
        #expect(byKey["d"] == nil)  // old tombstone removed with its key
        #expect(byKey["c"]?.last?.value == nil && byKey["c"]?.last?.offset == c.baseOffset)  // fresh tombstone kept
        for r in after { #expect(before.contains(r)) }
        // A second pass with nothing new to clean does nothing; a restart reads the same log.
        #expect(try log.compact(nowMs: now) == nil)
        try log.flush()
        let reopened = try open(log.directory) {
            $0.compactPolicy = true
            $0.segmentBytes = 400
        }
        #expect(try all(reopened) == after)
    }

    @Test func compactionWaitsForItsLagAndDirtyRatio() throws {
        let now = clock.wallMs
        func filled(_ name: String, _ change: @escaping (inout LogConfig) -> Void) throws -> PartitionLog {
            let log = try open(tempDir(name)) {
                $0.segmentBytes = 400
                $0.compactPolicy = true
                $0.deletePolicy = false
                change(&$0)
            }
            for round in 0..<8 {
                for k in ["a", "b"] {
                    _ = try log.append(records: keyed([(k, "\(k)\(round)")], timestamp: now - 10_000), leaderEpoch: 0)
                        .get()
                }
            }
            log.setHighWatermark(log.logEndOffset, nowMs: 0)
            return log
        }
        // min.compaction.lag.ms: records 10 s old are too young under a 60 s lag, old enough under 5 s.
        #expect(try filled("lag-young") { $0.minCompactionLagMs = 60_000 }.compact(nowMs: now) == nil)
        #expect(try filled("lag-old") { $0.minCompactionLagMs = 5_000 }.compact(nowMs: now) != nil)
        // min.cleanable.dirty.ratio: the first pass finds everything dirty; after it, new closed
        // segments beside the cleaned ones are below a 0.99 ratio...
        let log = try filled("ratio") { $0.minCleanableDirtyRatio = 0.99 }
        #expect(try log.compact(nowMs: now) != nil)
        for round in 0..<8 {
            for k in ["a", "b"] {
                _ = try log.append(records: keyed([(k, "late\(round)")], timestamp: now - 10_000), leaderEpoch: 0).get()
            }
        }
        log.setHighWatermark(log.logEndOffset, nowMs: 0)
        #expect(try log.compact(nowMs: now) == nil)
        // ...unless a dirty segment is older than max.compaction.lag.ms.
        try log.flush()
        let overdue = try open(log.directory) {
            $0.segmentBytes = 400
            $0.compactPolicy = true
            $0.deletePolicy = false
            $0.minCleanableDirtyRatio = 0.99
            $0.maxCompactionLagMs = 1_000
        }
        overdue.setHighWatermark(overdue.logEndOffset, nowMs: 0)
        #expect(try overdue.compact(nowMs: now).map { $0.recordsRemoved > 0 } == true)
    }

    @Test func createTimeBoundsRefuseFarTimestampsAndLogAppendTimeStamps() throws {
        let now = clock.wallMs
        let bounded = try open(tempDir("ts-bounds")) {
            $0.timestampBeforeMaxMs = 60_000
            $0.timestampAfterMaxMs = 1_000
        }
        #expect(throws: Never.self) {
            try bounded.append(records: keyed([("k", "v")], timestamp: now - 30_000), leaderEpoch: 0).get()
        }
        for far in [now - 3_600_000, now + 60_000] {
            guard
                case .failure(let e) = bounded.append(
                    records: keyed([("k", "v")], timestamp: far), leaderEpoch: 0)
            else {
                Issue.record("timestamp \(far) accepted")
                continue
            }
            #expect(e.errorCode == .invalidTimestamp && e.message.contains("message.timestamp."))
        }
        #expect(bounded.logEndOffset == 1)

        let stamped = try open(tempDir("log-append-time")) { $0.logAppendTime = true }
        let r = try stamped.append(
            records: keyed([("k", "v"), ("l", "w")], timestamp: 1_000), leaderEpoch: 0
        ).get()
        #expect(r.logAppendTimeMs == now)
        var data = try #require(try stamped.read(from: 0, maxBytes: 1 << 20))
        let h = try #require(RecordBatchHeader.peek(data, at: data.readerIndex))
        #expect(h.usesLogAppendTime && h.maxTimestamp == now)
        // The CRC was computed again over the changed header: the stored batch still validates.
        #expect((try? RecordBatches.validate(data.readSlice(length: h.totalSize)!).get()) != nil)
        // A time lookup finds the batch by its append time.
        #expect(try stamped.offset(forTimestamp: now)?.offset == 0)
    }

    @Test func epochEndAnswersAsKafkasLeaderEpochCache() throws {
        let log = try open(tempDir("epoch-end"))
        // Epoch 2 from offset 0, epoch 5 from 3, epoch 7 from 6; the log ends at 8.
        for (i, epoch) in [2, 2, 2, 5, 5, 5, 7, 7].enumerated() {
            _ = try log.append(records: batch(["v\(i)"]), leaderEpoch: Int32(epoch)).get()
        }
        #expect(log.epochEnd(for: 7) == (7, 8))  // the latest: the log end
        #expect(log.epochEnd(for: 5) == (5, 6))  // ends where 7 starts
        #expect(log.epochEnd(for: 6) == (5, 6))  // not here: the largest below it, and where 7 starts
        #expect(log.epochEnd(for: 1) == (1, 0))  // older than all: where the first starts
        #expect(log.epochEnd(for: 9) == (-1, -1))  // newer than all
        #expect(log.epochEnd(for: -1) == (-1, -1))
        #expect(log.epochEnd(for: .max) == (-1, -1))
        #expect(try open(tempDir("epoch-empty")).epochEnd(for: 0) == (-1, -1))
    }

    @Test func aCompactedTopicRefusesRecordsWithoutAKey() throws {
        let log = try open(tempDir("compact-nokey")) { $0.compactPolicy = true }
        guard case .failure(let e) = log.append(records: batch(["no key"]), leaderEpoch: 0) else {
            Issue.record("a record without a key was accepted")
            return
        }
        #expect(e.errorCode == .invalidRecord)
        #expect(log.logEndOffset == 0)
    }

    @Test func aFollowerBehindTheLeadersLogStartStartsOverThere() throws {
        let leader = try open(tempDir("leader"))
        for i in 0..<10 { _ = try leader.append(records: batch(["v\(i)", "w\(i)"]), leaderEpoch: 2).get() }
        leader.setHighWatermark(20, nowMs: 0)
        _ = try leader.deleteRecords(before: 7)  // inside the batch 6...7
        let follower = try open(tempDir("follower"))
        try follower.reset(to: leader.logStartOffset)
        #expect(follower.logStartOffset == 7 && follower.logEndOffset == 7)
        let fetched = try #require(try leader.read(from: 7, maxBytes: 1 << 20))
        #expect(try follower.appendAsFollower(records: fetched).get() == 20)
        #expect(try all(follower).first?.offset == 7)
        #expect(follower.logStartOffset == 7)
    }

    @Test func slicesForSendfileHoldTheSameBytesAsReads() throws {
        let log = try open(tempDir("slices")) {
            $0.segmentBytes = 20_000
            $0.indexIntervalBytes = 300
        }
        var rng = SystemRandomNumberGenerator()
        for i in 0..<300 {
            let values = (0..<Int.random(in: 1...6, using: &rng)).map {
                "v\(i)-\($0)-" + String(repeating: "x", count: Int.random(in: 0...200, using: &rng))
            }
            _ = try log.append(records: batch(values), leaderEpoch: 0).get()
        }
        let end = log.logEndOffset
        for _ in 0..<400 {
            let from = Int64.random(in: 0...end, using: &rng)
            let maxBytes = Int.random(in: 1...30_000, using: &rng)
            let upTo = Bool.random(using: &rng) ? Int64.random(in: 0...end, using: &rng) : nil
            let plain = try #require(try log.read(from: from, maxBytes: maxBytes, upTo: upTo))
            let sent = try #require(try log.readForSending(from: from, maxBytes: maxBytes, upTo: upTo, fileAtLeast: 0))
            let bytes = sent.file?.read() ?? sent.bytes!
            #expect(bytes == plain, "from \(from), maxBytes \(maxBytes), upTo \(upTo.map(String.init) ?? "end")")
        }
        #expect(try log.readForSending(from: end + 1, maxBytes: 100, fileAtLeast: 0) == nil)
    }
}
