import KafkaCompression
import KafkaProtocol
import NIOCore

extension PartitionLog {
    /// The most bytes a batch may decompress to when the topic's `compression.type` makes the
    /// leader recompress it: more is refused (MESSAGE_TOO_LARGE) rather than held in memory.
    public static let recompressLimit = 64 << 20

    /// The batches of `records` in `codec`, as a topic's `compression.type` asks: each batch in
    /// another codec is rewritten in it (`Compression.rewrite`); control batches and batches
    /// already in `codec` are copied as they are. Producer ids, sequences, timestamps and offset
    /// deltas are kept, so idempotence holds.
    static func recompress(
        _ records: ByteBuffer, _ batches: [(index: Int, header: RecordBatchHeader)], to codec: CompressionCodec
    ) -> Result<(ByteBuffer, [(index: Int, header: RecordBatchHeader)]), AppendError> {
        var out = ByteBufferAllocator().buffer(capacity: records.readableBytes)
        for (index, h) in batches {
            var batch = records.getSlice(at: index, length: h.totalSize)!
            guard !h.isControl && (h.compression ?? .none) != codec else {
                out.writeBuffer(&batch)
                continue
            }
            do {
                var rewritten = try Compression.rewrite(batch, to: codec, limit: recompressLimit)
                out.writeBuffer(&rewritten)
            } catch let e as Decompression.Failure where e.exceedsLimit {
                return .failure(.tooLarge(size: recompressLimit + 1, max: recompressLimit))
            } catch {
                return .failure(.batch(.invalid("the records of a batch cannot be recompressed: \(error)")))
            }
        }
        switch RecordBatches.validate(out) {
        case .failure(let e): return .failure(.batch(e))
        case .success(let b): return .success((out, b))
        }
    }
}
