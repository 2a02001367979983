import KafkaProtocol
import NIOCore
import Testing

@Suite struct RecordBatchTests {
    func sampleBatch(count: Int = 3) -> ByteBuffer {
        var b = RecordBatchBuilder()
        for i in 0..<count {
            b.append(
                key: i == 1 ? nil : Array("key\(i)".utf8), value: i == 2 ? [] : Array("value\(i)".utf8),
                headers: [("trace", Array("t\(i)".utf8))], timestamp: 1_000 + Int64(i))
        }
        return b.build()
    }

    @Test func builtBatchHasAValidHeaderAndCRC() throws {
        let batch = sampleBatch()
        let h = try #require(RecordBatchHeader.peek(batch, at: batch.readerIndex))
        #expect(h.magic == 2)
        #expect(h.recordCount == 3)
        #expect(h.lastOffsetDelta == 2)
        #expect(h.baseTimestamp == 1000)
        #expect(h.maxTimestamp == 1002)
        #expect(h.totalSize == batch.readableBytes)
        guard case .success(let found) = RecordBatches.validate(batch) else {
            Issue.record("valid batch refused")
            return
        }
        #expect(found.count == 1)
    }

    @Test func recordsDecodeWithNullKeyEmptyValueAndHeaders() throws {
        let batch = sampleBatch()
        let h = RecordBatchHeader.peek(batch, at: batch.readerIndex)!
        let records = try Record.decodeAll(batch: batch, header: h)
        #expect(records.map(\.offset) == [0, 1, 2])
        #expect(records[0].key == Array("key0".utf8))
        #expect(records[1].key == nil)
        #expect(records[2].value == [])
        #expect(records[0].headers.first?.0 == "trace")
        #expect(records[2].timestamp == 1002)
    }

    @Test func anyFlippedByteAfterTheCRCIsDetected() {
        let batch = sampleBatch()
        for i in RecordBatchHeader.attributesOffset..<batch.readableBytes {
            var damaged = batch
            let old: UInt8 = damaged.getInteger(at: i)!
            damaged.setInteger(old ^ 0x40, at: i)
            guard case .failure(let e) = RecordBatches.validate(damaged) else {
                Issue.record("flip at byte \(i) not detected")
                continue
            }
            #expect(e.errorCode == .corruptMessage || e.errorCode == .invalidRecord, "byte \(i)")
        }
    }

    @Test func baseOffsetAndLeaderEpochAreOutsideTheCRC() {
        var batch = sampleBatch()
        batch.setInteger(Int64(12345), at: 0)
        batch.setInteger(Int32(7), at: 12)
        guard case .success = RecordBatches.validate(batch) else {
            Issue.record("rewriting base offset must not break the CRC")
            return
        }
    }

    @Test func legacyMessageFormatIsRefusedWithItsOwnError() {
        var legacy = sampleBatch()
        legacy.setInteger(Int8(1), at: 16)
        guard case .failure(let e) = RecordBatches.validate(legacy) else {
            Issue.record("magic 1 accepted")
            return
        }
        #expect(e == .legacyMagic(1))
        #expect(e.errorCode == .unsupportedForMessageFormat)
    }

    @Test func truncatedBatchIsCorrupt() {
        let batch = sampleBatch()
        for cut in [1, 20, 60, batch.readableBytes - 1] {
            let part = batch.getSlice(at: 0, length: cut)!
            guard case .failure(let e) = RecordBatches.validate(part) else {
                Issue.record("cut at \(cut) accepted")
                continue
            }
            #expect(e.errorCode == .corruptMessage)
        }
    }

    @Test func twoBatchesBackToBackAreBothFound() {
        var two = sampleBatch(count: 2)
        var second = sampleBatch(count: 5)
        two.writeBuffer(&second)
        guard case .success(let found) = RecordBatches.validate(two) else {
            Issue.record("refused")
            return
        }
        #expect(found.map(\.header.recordCount) == [2, 5])
    }
}
