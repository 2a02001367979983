extension RaftNode {
    mutating func sendFetchSnapshot(to leader: Int32, nowMs: Int64) -> RaftAction {
        fetchInFlightSinceMs = nowMs
        let d = download!
        return .send(
            to: leader,
            .fetchSnapshot(
                RaftFetchSnapshotRequest(
                    epoch: quorum.epoch, replicaId: id, endOffset: d.endOffset, snapshotEpoch: d.epoch,
                    position: Int64(d.bytes.count))))
    }

    mutating func handleFetchSnapshot(_ f: RaftFetchSnapshotRequest, from sender: Int32, nowMs: Int64)
        -> [RaftAction]
    {
        func answer(_ outcome: RaftFetchSnapshotResponse.Outcome) -> [RaftAction] {
            [
                .send(
                    to: sender,
                    .fetchSnapshotResponse(
                        RaftFetchSnapshotResponse(
                            epoch: quorum.epoch, leaderId: leaderId, endOffset: f.endOffset,
                            snapshotEpoch: f.snapshotEpoch, outcome: outcome)))
            ]
        }
        guard role == .leader, f.epoch == quorum.epoch else { return answer(.fenced) }
        peers[sender]?.lastFetchMs = nowMs
        guard let snap = snapshot, snap.endOffset == f.endOffset, snap.epoch == f.snapshotEpoch else {
            return answer(.notFound)
        }
        // What travels is the stored form: the voters in force there, then the payload.
        let bytes = snap.framed
        let from = Int(max(0, min(f.position, Int64(bytes.count))))
        let to = min(bytes.count, from + config.maxSnapshotChunkBytes)
        return answer(.chunk(size: Int64(bytes.count), position: Int64(from), bytes: Array(bytes[from..<to])))
    }

    mutating func handleFetchSnapshotResponse(
        _ r: RaftFetchSnapshotResponse, from sender: Int32, nowMs: Int64
    ) -> [RaftAction] {
        guard case .follower(let leader) = role, leader == sender, r.epoch == quorum.epoch,
            var d = download, d.endOffset == r.endOffset, d.epoch == r.snapshotEpoch
        else { return [] }
        fetchInFlightSinceMs = nil
        switch r.outcome {
        case .fenced:
            role = .unattached
            quorum.leaderId = nil
            download = nil
            electionDeadlineMs = nowMs + randomElectionTimeout() / 2
            return [.persist(quorum)]
        case .notFound:
            lastLeaderContactMs = nowMs
            download = nil
            return [sendFetch(to: leader, nowMs: nowMs)]
        case .chunk(let size, let position, let bytes):
            lastLeaderContactMs = nowMs
            // An answer to an older request (duplicated or reordered): ask for what is next.
            guard position == Int64(d.bytes.count) else { return [sendFetchSnapshot(to: leader, nowMs: nowMs)] }
            d.bytes += bytes
            download = d
            if Int64(d.bytes.count) < size && !bytes.isEmpty { return [sendFetchSnapshot(to: leader, nowMs: nowMs)] }
            let snap = RaftSnapshot(endOffset: d.endOffset, epoch: d.epoch, framed: d.bytes)
            download = nil
            // Committed entries never go back: a snapshot older than what this node has committed
            // is dropped, and fetching goes on from the log.
            guard snap.endOffset >= highWatermark else { return [sendFetch(to: leader, nowMs: nowMs)] }
            snapshot = snap
            log.reset(toSnapshotEnding: snap.endOffset, epoch: snap.epoch)
            durableEndOffset = snap.endOffset
            highWatermark = max(highWatermark, snap.endOffset)
            return [.installSnapshot(snap)] + noteSnapshotInstalled(snap, nowMs: nowMs) + [
                sendFetch(to: leader, nowMs: nowMs)
            ]
        }
    }

    /// The state machine has applied everything below `offset` (≤ the high watermark) and
    /// `payload` is its state there: keep it as the snapshot and forget the entries below. The
    /// shell stores the snapshot durably before it drops those entries from disk.
    @discardableResult
    public mutating func takeSnapshot(upTo offset: Int64, payload: [UInt8]) -> Bool {
        guard offset <= highWatermark, offset > log.startOffset, offset <= log.endOffset,
            let epoch = log.epoch(at: offset - 1)
        else { return false }
        snapshot = RaftSnapshot(endOffset: offset, epoch: epoch, payload: payload, voters: snapshotVoters(at: offset))
        log.compact(upTo: offset)
        noteCompacted()
        return true
    }
}
