import KafkaProtocol
import Logging
import Metadata
import NIOCore

extension GroupCoordinator {
    /// Follows the image: loads the groups of partitions this node now leads, drops those of
    /// partitions it no longer leads.
    func update(_ image: MetadataImage) {
        loop.execute { [self] in
            guard let t = image.topics[Self.topic] else {
                for p in owned.union(loading) { unload(p) }
                partitionCount = 0
                return
            }
            partitionCount = Int32(t.partitionCount)
            let leading = Set(t.partitions.filter { $0.value.leader == nodeId }.map(\.key))
            for p in owned.union(loading) where !leading.contains(p) { unload(p) }
            for p in leading where !owned.contains(p) && !loading.contains(p) {
                loading.insert(p)
                // Give the partition a moment to take up leadership before reading it.
                loop.scheduleTask(in: .milliseconds(50)) { [self] in load(p) }
            }
        }
    }

    private func unload(_ p: Int32) {
        owned.remove(p)
        loading.remove(p)
        for (id, g) in groups where Self.partition(for: id, count: partitionCount) == p {
            for m in g.members.values {
                m.joinPromise?.succeed(JoinResult(error: .notCoordinator))
                m.syncPromise?.succeed(SyncResult(error: .notCoordinator))
            }
            groups[id] = nil
        }
        for id in offsets.keys where Self.partition(for: id, count: partitionCount) == p { offsets[id] = nil }
        for (pid, byGroup) in pendingTxnOffsets {
            let left = byGroup.filter { Self.partition(for: $0.key, count: partitionCount) != p }
            pendingTxnOffsets[pid] = left.isEmpty ? nil : left
        }
    }

    /// Reads the partition's offset commits back (the last record per key wins; a null value
    /// removes it). Commits made in a transaction count once its commit marker follows; those
    /// of a transaction still open stay pending.
    private func load(_ p: Int32) {
        guard loading.contains(p) else { return }
        var position: Int64 = 0
        var count = 0
        var pending: [Int64: [String: [OffsetKey: Committed]]] = [:]
        while true {
            let (data, end) = read(p, position)
            guard var data, data.readableBytes > 0 else {
                if position < end { position = end }
                break
            }
            // A header whose length is shorter than a header (a damaged file) ends the read.
            while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize >= RecordBatchHeader.size,
                let batch = data.readSlice(length: h.totalSize)
            {
                position = h.nextOffset
                if h.isControl {
                    guard h.isTransactional, let done = pending.removeValue(forKey: h.producerId) else { continue }
                    if ControlBatch.type(of: batch, header: h) == 1 {
                        for (group, committed) in done { offsets[group, default: [:]].merge(committed) { $1 } }
                    }
                    continue
                }
                guard let records = try? Record.decodeAll(batch: batch, header: h) else { continue }
                for r in records {
                    guard let key = r.key, let (group, k) = Self.decodeOffsetKey(key) else { continue }
                    if h.isTransactional && h.hasProducerId {
                        if let value = r.value, let c = Self.decodeOffsetValue(value) {
                            pending[h.producerId, default: [:]][group, default: [:]][k] = c
                        }
                    } else if let value = r.value, let c = Self.decodeOffsetValue(value) {
                        offsets[group, default: [:]][k] = c
                    } else {
                        offsets[group]?[k] = nil
                    }
                    count += 1
                }
            }
            if position >= end { break }
        }
        for (pid, byGroup) in pending { pendingTxnOffsets[pid, default: [:]].merge(byGroup) { $1 } }
        loading.remove(p)
        owned.insert(p)
        logger.info("coordinator for \(Self.topic)-\(p): loaded \(count) offset records")
    }

    /// NONE when this node coordinates the group now.
    func ownership(_ group: String) -> ErrorCode {
        guard partitionCount > 0 else { return .coordinatorNotAvailable }
        let p = Self.partition(for: group, count: partitionCount)
        if loading.contains(p) { return .coordinatorLoadInProgress }
        return owned.contains(p) ? .none : .notCoordinator
    }
}
