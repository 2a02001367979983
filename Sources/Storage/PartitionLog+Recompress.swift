import KafkaCompression
import KafkaProtocol
import NIOCore

extension PartitionLog {
    /// The most bytes a batch may decompress to when the topic's `compression.type` makes the
    /// leader recompress it: more is refused (MESSAGE_TOO_LARGE) rather than held in memory.
    public static let recompressLimit = 64 << 20

    /// The batches of `records` in `codec`, as a topic's `compression.type` asks: each batch in
    /// another codec is decompressed, compressed again and given its new length, codec bits
    /// and CRC; control batches and batches already in `codec` are copied as they are.
    /// Producer ids, sequences, timestamps and offsets deltas are kept, so idempotence holds.
    static func recompress(
        _ records: ByteBuffer, _ batches: [(index: Int, header: RecordBatchHeader)], to codec: CompressionCodec
    ) -> Result<(ByteBuffer, [(index: Int, header: RecordBatchHeader)]), AppendError> {
        var out = ByteBufferAllocator().buffer(capacity: records.readableBytes)
        for (index, h) in batches {
            let from = h.compression ?? CompressionCodec.none
            guard !h.isControl && from != codec else {
                var same = records.getSlice(at: index, length: h.totalSize)!
                out.writeBuffer(&same)
                continue
            }
            let size = RecordBatchHeader.size
            let body = records.getBytes(at: index + size, length: h.totalSize - size) ?? []
            let plain: [UInt8]
            let packed: [UInt8]
            do {
                plain = try Decompression.decompress(from, body, limit: recompressLimit)
            } catch let e as Decompression.Failure where e.description.contains("more than") {
                return .failure(.tooLarge(size: recompressLimit + 1, max: recompressLimit))
            } catch {
                return .failure(.batch(.invalid("the records of a batch cannot be decompressed: \(error)")))
            }
            do {
                packed = try Compression.compress(codec, plain)
            } catch {
                return .failure(.io("\(error)"))
            }
            let start = out.writerIndex
            out.writeBytes(records.getBytes(at: index, length: size)!)
            out.writeBytes(packed)
            let attributes = (h.attributes & ~0x07) | codec.rawValue
            out.setInteger(Int32(size - RecordBatchHeader.logOverhead + packed.count), at: start + 8)
            out.setInteger(attributes, at: start + RecordBatchHeader.attributesOffset)
            let crc = CRC32C.checksum(
                out, at: start + RecordBatchHeader.attributesOffset,
                length: out.writerIndex - start - RecordBatchHeader.attributesOffset)
            out.setInteger(crc, at: start + RecordBatchHeader.crcOffset)
        }
        switch RecordBatches.validate(out) {
        case .failure(let e): return .failure(.batch(e))
        case .success(let b): return .success((out, b))
        }
    }
}
