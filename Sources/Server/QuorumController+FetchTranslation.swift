import KafkaProtocol
import NIOCore
import Raft

extension QuorumController {
    static func decodeFetchResponse(_ resp: KafkaProtocol.FetchResponse, request f: RaftFetchRequest) -> RaftMessage? {
        guard let p = resp.responses.first?.partitions.first else { return nil }
        let leader = p.currentLeader
        let epoch = leader?.leaderEpoch ?? f.epoch
        let leaderId = leader.flatMap { $0.leaderId >= 0 ? $0.leaderId : nil }
        if p.errorCode != 0 {
            return .fetchResponse(
                RaftFetchResponse(
                    epoch: epoch, leaderId: leaderId, highWatermark: p.highWatermark, fetchOffset: f.fetchOffset,
                    outcome: .fenced))
        }
        if let snap = p.snapshotId {
            return .fetchResponse(
                RaftFetchResponse(
                    epoch: epoch, leaderId: leaderId, highWatermark: p.highWatermark, fetchOffset: f.fetchOffset,
                    outcome: .snapshot(endOffset: snap.endOffset, epoch: snap.epoch)))
        }
        if let d = p.divergingEpoch {
            return .fetchResponse(
                RaftFetchResponse(
                    epoch: epoch, leaderId: leaderId, highWatermark: p.highWatermark, fetchOffset: f.fetchOffset,
                    outcome: .diverging(epoch: d.epoch, endOffset: d.endOffset)))
        }
        var entries: [LogEntry] = []
        if var data = p.records {
            while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize <= data.readableBytes {
                let batch = data.readSlice(length: h.totalSize)!
                guard let records = try? Record.decodeAll(batch: batch, header: h) else { return nil }
                entries += records.map { LogEntry(epoch: h.partitionLeaderEpoch, payload: $0.value ?? []) }
            }
        }
        return .fetchResponse(
            RaftFetchResponse(
                epoch: epoch, leaderId: leaderId, highWatermark: p.highWatermark, fetchOffset: f.fetchOffset,
                outcome: .entries(entries)))
    }

    static func encodeFetchSnapshotResponse(_ r: RaftFetchSnapshotResponse) -> FetchSnapshotResponse {
        var p = FetchSnapshotResponse.Partition()
        p.endOffset = r.endOffset
        p.epoch = r.snapshotEpoch
        p.currentLeader = .init(leaderId: r.leaderId ?? -1, leaderEpoch: r.epoch)
        switch r.outcome {
        case .fenced: p.errorCode = ErrorCode.notLeaderOrFollower.rawValue
        case .notFound: p.errorCode = ErrorCode.snapshotNotFound.rawValue
        case .chunk(let size, let position, let bytes):
            p.size = size
            p.position = position
            p.bytes = ByteBuffer(bytes: bytes)
        }
        var t = FetchSnapshotResponse.Topic()
        t.name = topicName
        t.partitions = [p]
        var resp = FetchSnapshotResponse()
        resp.topics = [t]
        return resp
    }

    static func decodeFetchSnapshotResponse(_ resp: FetchSnapshotResponse, request f: RaftFetchSnapshotRequest)
        -> RaftMessage?
    {
        guard let p = resp.topics.first?.partitions.first else { return nil }
        let epoch = p.currentLeader?.leaderEpoch ?? f.epoch
        let leaderId = p.currentLeader.flatMap { $0.leaderId >= 0 ? $0.leaderId : nil }
        let outcome: RaftFetchSnapshotResponse.Outcome
        switch p.errorCode {
        case 0: outcome = .chunk(size: p.size, position: p.position, bytes: Array(p.bytes.readableBytesView))
        case ErrorCode.snapshotNotFound.rawValue: outcome = .notFound
        default: outcome = .fenced
        }
        return .fetchSnapshotResponse(
            RaftFetchSnapshotResponse(
                epoch: epoch, leaderId: leaderId, endOffset: f.endOffset, snapshotEpoch: f.snapshotEpoch,
                outcome: outcome))
    }

    /// The answer for a fetch this node cannot serve (it does not lead, or the fetch was replaced).
    func fencedFetchAnswer(at fetchOffset: Int64) -> KafkaProtocol.FetchResponse {
        encodeFetchResponse(
            RaftFetchResponse(
                epoch: node.epoch, leaderId: node.leaderId, highWatermark: node.highWatermark, fetchOffset: fetchOffset,
                outcome: .fenced))
    }

    /// The answer for a fetch that a newer fetch from the same follower replaced, or that the node
    /// did not answer itself. While this node leads it is an empty answer: a NOT_LEADER answer
    /// here made a live follower drop its leader and start an election (the follower cannot
    /// tell which of its fetches was answered), which left it leaderless for up to a second.
    func replacedFetchAnswer(at fetchOffset: Int64) -> KafkaProtocol.FetchResponse {
        guard node.isLeader else { return fencedFetchAnswer(at: fetchOffset) }
        return encodeFetchResponse(
            RaftFetchResponse(
                epoch: node.epoch, leaderId: node.leaderId, highWatermark: node.highWatermark, fetchOffset: fetchOffset,
                outcome: .entries([])))
    }

    func encodeFetchResponse(_ r: RaftFetchResponse) -> KafkaProtocol.FetchResponse {
        var p = KafkaProtocol.FetchResponse.Partition()
        p.partitionIndex = 0
        p.highWatermark = r.highWatermark
        p.currentLeader = .init(leaderId: r.leaderId ?? -1, leaderEpoch: r.epoch)
        p.records = ByteBuffer()
        switch r.outcome {
        case .fenced:
            p.errorCode = ErrorCode.notLeaderOrFollower.rawValue
        case .diverging(let epoch, let end):
            p.divergingEpoch = .init(epoch: epoch, endOffset: end)
        case .snapshot(let end, let epoch):
            p.snapshotId = .init(endOffset: end, epoch: epoch)
        case .entries(let entries):
            // One batch per run of entries of the same epoch; the epoch rides in the batch header.
            var out = ByteBuffer()
            var offset = r.fetchOffset
            var i = 0
            while i < entries.count {
                var builder = RecordBatchBuilder()
                let epoch = entries[i].epoch
                while i < entries.count && entries[i].epoch == epoch {
                    builder.append(key: nil, value: entries[i].payload, timestamp: 0)
                    i += 1
                }
                var batch = builder.build(baseOffset: offset)
                batch.setInteger(epoch, at: batch.readerIndex + 12)
                offset += Int64(builder.count)
                out.writeBuffer(&batch)
            }
            p.records = out
        }
        var t = KafkaProtocol.FetchResponse.Topic()
        t.topic = Self.topicName
        t.partitions = [p]
        var resp = KafkaProtocol.FetchResponse()
        resp.responses = [t]
        return resp
    }
}
