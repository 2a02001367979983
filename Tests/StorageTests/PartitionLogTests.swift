import KafkaProtocol
import Logging
import NIOCore
import Storage
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

func tempDir(_ name: String) -> String {
    var template = Array("/tmp/tern-test-\(name)-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    return path
}

func batch(
    _ values: [String], key: String? = nil, timestamp: Int64 = 1_000, producerId: Int64 = -1, sequence: Int32 = -1
) -> ByteBuffer {
    var b = RecordBatchBuilder()
    b.producerId = producerId
    b.producerEpoch = producerId >= 0 ? 0 : -1
    b.baseSequence = sequence
    for (i, v) in values.enumerated() {
        b.append(key: key.map { Array($0.utf8) }, value: Array(v.utf8), timestamp: timestamp + Int64(i))
    }
    return b.build()
}

func values(_ data: ByteBuffer) throws -> [String] {
    var d = data
    var out: [String] = []
    while let h = RecordBatchHeader.peek(d, at: d.readerIndex), h.totalSize <= d.readableBytes {
        let one = d.readSlice(length: h.totalSize)!
        out += try Record.decodeAll(batch: one, header: h).map { String(decoding: $0.value ?? [], as: UTF8.self) }
    }
    return out
}

let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

@Suite struct PartitionLogTests {
    func open(_ dir: String, segmentBytes: Int = 1 << 30, indexInterval: Int = 4096) throws -> PartitionLog {
        var c = LogConfig()
        c.segmentBytes = segmentBytes
        c.indexIntervalBytes = indexInterval
        return try PartitionLog(directory: dir, config: c, clock: SystemClock(), logger: quiet)
    }

    @Test func offsetsAreAssignedDenselyFromZero() throws {
        let log = try open(tempDir("dense"))
        #expect(try log.append(records: batch(["a", "b"]), leaderEpoch: 0).get().baseOffset == 0)
        #expect(try log.append(records: batch(["c"]), leaderEpoch: 0).get().baseOffset == 2)
        #expect(try log.append(records: batch(["d", "e", "f"]), leaderEpoch: 0).get().lastOffset == 5)
        #expect(log.logEndOffset == 6)
        #expect(try values(log.read(from: 0, maxBytes: 1 << 20)!) == ["a", "b", "c", "d", "e", "f"])
    }

    @Test func readFromTheMiddleStartsAtTheBatchHoldingTheOffset() throws {
        let log = try open(tempDir("middle"), indexInterval: 1)
        for i in 0..<50 { _ = try log.append(records: batch(["v\(2 * i)", "v\(2 * i + 1)"]), leaderEpoch: 0).get() }
        let data = try #require(try log.read(from: 37, maxBytes: 1 << 20))
        #expect(try values(data).first == "v36")  // whole batch 36-37
        #expect(try log.read(from: 100, maxBytes: 100)?.readableBytes == 0)  // at the end: empty
        #expect(try log.read(from: 101, maxBytes: 100) == nil)  // past the end: out of range
    }

    @Test func maxBytesReturnsWholeBatchesButAtLeastOne() throws {
        let log = try open(tempDir("maxbytes"))
        let big = String(repeating: "x", count: 5000)
        for _ in 0..<3 { _ = try log.append(records: batch([big]), leaderEpoch: 0).get() }
        let one = try #require(try log.read(from: 0, maxBytes: 10))
        #expect(try values(one).count == 1)
        let two = try #require(try log.read(from: 0, maxBytes: 10_500))
        #expect(try values(two).count == 2)
    }

    @Test func segmentsRollBySizeAndReadsCrossThem() throws {
        let dir = tempDir("roll")
        let log = try open(dir, segmentBytes: 1000)
        for i in 0..<40 {
            _ = try log.append(records: batch(["record-\(i)-" + String(repeating: "p", count: 100)]), leaderEpoch: 0)
                .get()
        }
        #expect(log.segmentCount > 4)
        var offset: Int64 = 0
        var all: [String] = []
        while offset < log.logEndOffset {
            let got = try values(try #require(try log.read(from: offset, maxBytes: 300)))
            all += got
            offset += Int64(got.count)
        }
        #expect(all.count == 40)
        #expect(all[39].hasPrefix("record-39-"))
        let names = try FileSystem.list(dir)
        #expect(names.contains("00000000000000000000.log"))
        #expect(names.contains("00000000000000000000.index"))
        #expect(names.contains("00000000000000000000.timeindex"))
    }

    @Test func reopeningKeepsEveryRecordAndTheNextOffset() throws {
        let dir = tempDir("reopen")
        do {
            let log = try open(dir, segmentBytes: 2000)
            for i in 0..<30 { _ = try log.append(records: batch(["r\(i)"]), leaderEpoch: 0).get() }
        }
        let log = try open(dir, segmentBytes: 2000)
        #expect(log.logEndOffset == 30)
        #expect(try log.append(records: batch(["next"]), leaderEpoch: 0).get().baseOffset == 30)
        #expect(try values(log.read(from: 0, maxBytes: 1 << 20)!).count >= 1)
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func recoveryTruncatesATornTailAtAnyByte(seed: UInt64) throws {
        let dir = tempDir("torn")
        var sizes: [Int] = []
        do {
            let log = try open(dir)
            for i in 0..<10 {
                _ = try log.append(records: batch(["value-\(i)", "more-\(i)"]), leaderEpoch: 0).get()
                sizes.append(try DataFile(path: dir + "/00000000000000000000.log").size())
            }
        }
        let file = try DataFile(path: dir + "/00000000000000000000.log")
        var rng = SystemRandomNumberGenerator()
        _ = seed
        let cut = Int.random(in: 1..<sizes.last!, using: &rng)
        try file.truncate(to: cut)
        let wholeBatches = sizes.filter { $0 <= cut }.count
        let log = try open(dir)
        #expect(log.logEndOffset == Int64(wholeBatches * 2), "cut at \(cut)")
        #expect(
            try DataFile(path: dir + "/00000000000000000000.log").size()
                == (wholeBatches == 0 ? 0 : sizes[wholeBatches - 1]))
        // Writing continues at the next offset: nothing reused, nothing skipped.
        #expect(try log.append(records: batch(["after"]), leaderEpoch: 0).get().baseOffset == Int64(wholeBatches * 2))
    }

    @Test func recoveryDropsADamagedBatchAndEverythingAfterIt() throws {
        let dir = tempDir("flip")
        var sizes: [Int] = []
        do {
            let log = try open(dir)
            for i in 0..<6 {
                _ = try log.append(records: batch(["v\(i)"]), leaderEpoch: 0).get()
                sizes.append(try DataFile(path: dir + "/00000000000000000000.log").size())
            }
        }
        // Flip a byte inside the value of batch 3 (offset 3).
        let file = try DataFile(path: dir + "/00000000000000000000.log")
        let position = sizes[2] + 65
        var b = try file.read(at: position, length: 1)
        let old: UInt8 = b.readInteger()!
        try file.write([old ^ 0xFF], at: position)
        let log = try open(dir)
        #expect(log.logEndOffset == 3)
        #expect(try values(log.read(from: 0, maxBytes: 1 << 20)!) == ["v0", "v1", "v2"])
    }

    @Test func aMissingIndexIsRebuilt() throws {
        let dir = tempDir("index")
        do {
            let log = try open(dir, indexInterval: 1)
            for i in 0..<20 { _ = try log.append(records: batch(["v\(i)"]), leaderEpoch: 0).get() }
        }
        try FileSystem.remove(dir + "/00000000000000000000.index")
        let log = try open(dir, indexInterval: 1)
        #expect(try values(log.read(from: 17, maxBytes: 1 << 20)!) == ["v17", "v18", "v19"])
        #expect(try DataFile(path: dir + "/00000000000000000000.index").size() == 20 * 8)
    }

    @Test func idempotentRetryGetsTheOriginalOffsetAndAGapIsRefused() throws {
        let log = try open(tempDir("idem"))
        let first = try log.append(records: batch(["a", "b"], producerId: 7, sequence: 0), leaderEpoch: 0).get()
        _ = try log.append(records: batch(["c"], producerId: 7, sequence: 2), leaderEpoch: 0).get()
        // The same batch again (a retry after a lost answer) is not written twice.
        let retry = try log.append(records: batch(["a", "b"], producerId: 7, sequence: 0), leaderEpoch: 0).get()
        #expect(retry.baseOffset == first.baseOffset)
        #expect(log.logEndOffset == 3)
        guard case .failure(let e) = log.append(records: batch(["z"], producerId: 7, sequence: 9), leaderEpoch: 0)
        else {
            Issue.record("gap in sequence accepted")
            return
        }
        #expect(e.errorCode == .outOfOrderSequenceNumber)
    }

    @Test func badBatchLeavesTheLogUntouched() throws {
        let log = try open(tempDir("bad"))
        _ = try log.append(records: batch(["good"]), leaderEpoch: 0).get()
        var bad = batch(["evil"])
        let last: UInt8 = bad.getInteger(at: bad.writerIndex - 1)!
        bad.setInteger(last ^ 0xFF, at: bad.writerIndex - 1)
        guard case .failure(let e) = log.append(records: bad, leaderEpoch: 0) else {
            Issue.record("corrupt batch accepted")
            return
        }
        #expect(e.errorCode == .corruptMessage)
        #expect(log.logEndOffset == 1)
    }

    @Test func timestampLookupFindsTheFirstRecordAtOrAfter() throws {
        let log = try open(tempDir("time"), indexInterval: 1)
        _ = try log.append(records: batch(["a", "b", "c"], timestamp: 100), leaderEpoch: 0).get()  // 100,101,102
        _ = try log.append(records: batch(["d", "e"], timestamp: 200), leaderEpoch: 0).get()  // 200,201
        #expect(try log.offset(forTimestamp: 101)?.offset == 1)
        #expect(try log.offset(forTimestamp: 150)?.offset == 3)
        #expect(try log.offset(forTimestamp: 0)?.offset == 0)
        #expect(try log.offset(forTimestamp: 202) == nil)
    }
}
