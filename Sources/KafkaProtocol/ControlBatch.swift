import NIOCore

/// Transaction markers: control batches (attributes transactional | control) holding one record
/// whose key is (version 0, type: 0 abort, 1 commit) and whose value is (version 0, the
/// transaction coordinator's epoch).
public enum ControlBatch {
    public static let transactionalAttribute: Int16 = 0x10
    public static let controlAttribute: Int16 = 0x20

    /// A commit or abort marker for `producerId` at `producerEpoch`, base offset 0 (the log
    /// assigns it).
    public static func marker(
        producerId: Int64, producerEpoch: Int16, commit: Bool, coordinatorEpoch: Int32, timestamp: Int64
    ) -> ByteBuffer {
        var b = RecordBatchBuilder()
        b.producerId = producerId
        b.producerEpoch = producerEpoch
        b.attributes = transactionalAttribute | controlAttribute
        let key: [UInt8] = [0, 0, 0, commit ? 1 : 0]
        let e = UInt32(bitPattern: coordinatorEpoch)
        let value: [UInt8] = [0, 0, UInt8(e >> 24), UInt8((e >> 16) & 0xff), UInt8((e >> 8) & 0xff), UInt8(e & 0xff)]
        b.append(key: key, value: value, timestamp: timestamp)
        return b.build()
    }

    /// The marker type of a control batch (0 abort, 1 commit); nil when the batch is not a
    /// control batch or its record cannot be read.
    public static func type(of batch: ByteBuffer, header h: RecordBatchHeader) -> Int16? {
        guard h.isControl, h.compression == CompressionCodec.none, h.recordCount >= 1,
            let first = try? Record.decodeAll(records: recordsSection(batch), header: onlyFirst(h)).first,
            let key = first.key, key.count >= 4
        else { return nil }
        return Int16(bitPattern: UInt16(key[2]) << 8 | UInt16(key[3]))
    }

    /// The coordinator epoch a marker carries (its value: version, epoch); nil when unreadable.
    public static func coordinatorEpoch(of batch: ByteBuffer, header h: RecordBatchHeader) -> Int32? {
        guard h.isControl, h.compression == CompressionCodec.none, h.recordCount >= 1,
            let first = try? Record.decodeAll(records: recordsSection(batch), header: onlyFirst(h)).first,
            let value = first.value, value.count >= 6
        else { return nil }
        return Int32(
            bitPattern: UInt32(value[2]) << 24 | UInt32(value[3]) << 16 | UInt32(value[4]) << 8 | UInt32(value[5]))
    }

    private static func recordsSection(_ batch: ByteBuffer) -> ByteBuffer {
        var b = batch
        b.moveReaderIndex(forwardBy: min(RecordBatchHeader.size, b.readableBytes))
        return b
    }

    private static func onlyFirst(_ h: RecordBatchHeader) -> RecordBatchHeader {
        var one = h
        one.recordCount = 1
        return one
    }
}
