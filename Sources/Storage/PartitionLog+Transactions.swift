import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore

/// A transaction whose marker said abort: readers with isolation level read_committed drop
/// the producer's batches from `firstOffset` up to the marker at `lastOffset`.
public struct AbortedTransaction: Sendable, Equatable {
    public var producerId: Int64
    public var firstOffset: Int64
    public var lastOffset: Int64
    /// The partition's last stable offset once this transaction ended.
    public var lastStableOffset: Int64

    public init(producerId: Int64, firstOffset: Int64, lastOffset: Int64, lastStableOffset: Int64) {
        self.producerId = producerId
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.lastStableOffset = lastStableOffset
    }

    /// An entry of a segment's `.txnindex`, Kafka's layout: version (0), producer id, first
    /// offset, last offset, last stable offset; 34 bytes, big-endian.
    static let entrySize = 34

    func encode(into b: inout ByteBuffer) {
        b.writeInteger(Int16(0))
        b.writeInteger(producerId)
        b.writeInteger(firstOffset)
        b.writeInteger(lastOffset)
        b.writeInteger(lastStableOffset)
    }

    static func decode(_ b: ByteBuffer, at i: Int) -> AbortedTransaction? {
        guard let version: Int16 = b.getInteger(at: i), version == 0, let pid: Int64 = b.getInteger(at: i + 2),
            let first: Int64 = b.getInteger(at: i + 10), let last: Int64 = b.getInteger(at: i + 18),
            let lso: Int64 = b.getInteger(at: i + 26), first <= last
        else { return nil }
        return AbortedTransaction(producerId: pid, firstOffset: first, lastOffset: last, lastStableOffset: lso)
    }
}

/// A transaction with data in this partition and no marker yet.
public struct OngoingTransaction: Sendable, Equatable {
    public var producerId: Int64
    public var producerEpoch: Int16
    public var firstOffset: Int64
}

extension PartitionLog {
    /// The offset below which every transaction has ended: read_committed consumers read up to
    /// here. The high watermark when no transaction is open.
    public var lastStableOffset: Int64 { lock.withLock { _lastStableOffset } }

    var _lastStableOffset: Int64 {
        min(_highWatermark, ongoing.values.lazy.map(\.firstOffset).min() ?? .max)
    }

    /// A producer with state in this log, as DescribeProducers reports it.
    public struct ProducerState: Sendable, Equatable {
        public var producerId: Int64
        public var producerEpoch: Int16
        public var lastSequence: Int32
        public var lastTimestamp: Int64
        /// The first offset of its open transaction here, or -1.
        public var currentTxnStartOffset: Int64
    }

    /// Producers with state here: idempotent ones of the active segment and later, and every
    /// producer with an open transaction.
    public var producerStates: [ProducerState] {
        lock.withLock {
            var out = producers.all.map {
                ProducerState(
                    producerId: $0.producerId, producerEpoch: $0.epoch, lastSequence: $0.lastSequence,
                    lastTimestamp: $0.lastTimestamp, currentTxnStartOffset: ongoing[$0.producerId]?.firstOffset ?? -1)
            }
            let known = Set(out.map(\.producerId))
            for t in ongoing.values where !known.contains(t.producerId) {
                out.append(
                    ProducerState(
                        producerId: t.producerId, producerEpoch: t.producerEpoch, lastSequence: -1, lastTimestamp: -1,
                        currentTxnStartOffset: t.firstOffset))
            }
            return out.sorted { $0.producerId < $1.producerId }
        }
    }

    /// Transactions with data here and no marker yet, oldest first.
    public var ongoingTransactions: [OngoingTransaction] {
        lock.withLock { ongoing.values.sorted { $0.firstOffset < $1.firstOffset } }
    }

    /// The aborted transactions a read_committed reader of [from, upTo) must know of: those
    /// ending at or after `from` that began before `upTo`. The walk stops at the first entry
    /// whose last stable offset reaches `upTo`: no transaction open then began before it.
    public func abortedTransactions(from: Int64, upTo: Int64) -> [AbortedTransaction] {
        lock.withLock {
            var lo = 0
            var hi = aborted.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if aborted[mid].lastOffset < from { lo = mid + 1 } else { hi = mid }
            }
            var out: [AbortedTransaction] = []
            var i = lo
            while i < aborted.count {
                let e = aborted[i]
                if e.firstOffset < upTo { out.append(e) }
                if e.lastStableOffset >= upTo { break }
                i += 1
            }
            return out
        }
    }

    /// Whether the batch `h` belongs to a transaction that was aborted (the log cleaner drops
    /// such data).
    func isAborted(_ h: RecordBatchHeader, in byProducer: [Int64: [AbortedTransaction]]) -> Bool {
        guard h.isTransactional, !h.isControl, let mine = byProducer[h.producerId] else { return false }
        return mine.contains { $0.firstOffset <= h.baseOffset && $0.lastOffset > h.baseOffset }
    }

    /// Follows one appended batch: a transactional batch opens its producer's transaction, a
    /// marker ends it (and an abort is added to the index, in the segment holding the marker,
    /// when `indexAborts`).
    func trackTransaction(_ h: RecordBatchHeader, _ batch: ByteBuffer?, indexAborts: Bool = true) throws {
        guard h.isTransactional, h.hasProducerId else { return }
        if h.isControl {
            producers.noteMarker(
                h, coordinatorEpoch: batch.flatMap { ControlBatch.coordinatorEpoch(of: $0, header: h) } ?? -1)
            guard let open = ongoing.removeValue(forKey: h.producerId) else { return }
            guard let batch, let type = ControlBatch.type(of: batch, header: h), type == 0 else { return }
            guard indexAborts else { return }
            let lso = min(ongoing.values.lazy.map(\.firstOffset).min() ?? .max, h.nextOffset)
            let entry = AbortedTransaction(
                producerId: h.producerId, firstOffset: open.firstOffset, lastOffset: h.baseOffset,
                lastStableOffset: lso)
            aborted.append(entry)
            if let seg = segments.last(where: { $0.baseOffset <= h.baseOffset }) {
                try appendTxnIndex(seg.baseOffset, entry)
            }
        } else if ongoing[h.producerId] == nil {
            ongoing[h.producerId] = OngoingTransaction(
                producerId: h.producerId, producerEpoch: h.producerEpoch, firstOffset: h.baseOffset)
        }
    }

    func txnIndexPath(_ base: Int64) -> String { directory + "/" + LogSegment.fileName(base, ".txnindex") }

    private func appendTxnIndex(_ base: Int64, _ e: AbortedTransaction) throws {
        let file = try DataFile(path: txnIndexPath(base))
        var b = ByteBufferAllocator().buffer(capacity: AbortedTransaction.entrySize)
        e.encode(into: &b)
        try file.write(b, at: try file.size() / AbortedTransaction.entrySize * AbortedTransaction.entrySize)
        unsyncedTxnIndexes.insert(base)
    }

    /// Fsyncs the `.txnindex` files written since the last flush (with the recovery point: an
    /// abort below it is never found again by a walk, so its entry must be on disk).
    func syncTxnIndexes() throws {
        for base in unsyncedTxnIndexes where FileSystem.exists(txnIndexPath(base)) {
            try DataFile(path: txnIndexPath(base), create: false).sync()
        }
        unsyncedTxnIndexes = []
    }

    /// Rewrites the `.txnindex` of each segment from `aborted` (after a truncation drops entries).
    func rewriteTxnIndexes() throws {
        for (i, seg) in segments.enumerated() {
            let end = i + 1 < segments.count ? segments[i + 1].baseOffset : Int64.max
            let entries = aborted.filter { $0.lastOffset >= seg.baseOffset && $0.lastOffset < end }
            let path = txnIndexPath(seg.baseOffset)
            if entries.isEmpty {
                if FileSystem.exists(path) { try FileSystem.remove(path) }
                continue
            }
            var b = ByteBufferAllocator().buffer(capacity: entries.count * AbortedTransaction.entrySize)
            for e in entries { e.encode(into: &b) }
            // Written beside and renamed over, so a crash leaves the old file or the new one.
            let file = try DataFile(path: path + ".tmp")
            try file.truncate(to: 0)
            try file.write(b, at: 0)
            try file.sync()
            try FileSystem.rename(path + ".tmp", path)
        }
    }

    /// Reads every segment's `.txnindex` (entries that do not decode end that file's reading).
    func loadTxnIndexes() throws {
        aborted = []
        for seg in segments {
            let path = txnIndexPath(seg.baseOffset)
            guard FileSystem.exists(path) else { continue }
            let file = try DataFile(path: path, create: false)
            let size = try file.size()
            let bytes = try file.read(at: 0, length: size)
            var i = bytes.readerIndex
            while i + AbortedTransaction.entrySize <= bytes.writerIndex,
                let e = AbortedTransaction.decode(bytes, at: i)
            {
                aborted.append(e)
                i += AbortedTransaction.entrySize
            }
        }
        aborted.sort { $0.lastOffset < $1.lastOffset }
    }

    /// Rebuilds producer and transaction state on opening or truncating the log. Transactions
    /// open at the recovery point come from it (`open`); the batches from `from` to the log
    /// end are then walked header by header (a marker's batch is read whole). Aborts whose
    /// marker is at or past `from` are indexed again from the walk; those before come from the
    /// `.txnindex` files. Idempotent producers are rebuilt from the active segment, as before.
    func rebuildProducerAndTransactionState(open: [OngoingTransaction], from: Int64) throws {
        producers = ProducerStateTable()
        ongoing = [:]
        for t in open where t.firstOffset < from { ongoing[t.producerId] = t }
        try loadTxnIndexes()
        let before = aborted.count
        aborted.removeAll { $0.lastOffset >= from }
        if aborted.count != before { try rewriteTxnIndexes() }
        guard let active = segments.last else { return }
        let start = min(from, active.baseOffset)
        for (i, seg) in segments.enumerated() where seg.size > 0 {
            let end = i + 1 < segments.count ? segments[i + 1].baseOffset : _logEndOffset
            guard end > start else { continue }
            var position = 0
            if seg.baseOffset < start, let (p, _) = try seg.position(ofBatchContaining: start) { position = p }
            while position < seg.size {
                let head = try seg.log.read(at: position, length: RecordBatchHeader.size)
                guard let h = RecordBatchHeader.peek(head, at: head.readerIndex), h.totalSize > 0 else { break }
                if h.hasProducerId && seg === active {
                    // Markers too: an epoch a coordinator fenced stays fenced after a restart.
                    if h.isControl {
                        let batch = try seg.log.read(at: position, length: h.totalSize)
                        producers.noteMarker(
                            h, coordinatorEpoch: ControlBatch.coordinatorEpoch(of: batch, header: h) ?? -1)
                    } else {
                        producers.record(h)
                    }
                }
                if h.baseOffset >= from && h.isTransactional {
                    let batch = h.isControl ? try seg.log.read(at: position, length: h.totalSize) : nil
                    try trackTransaction(h, batch)
                }
                position += h.totalSize
            }
        }
    }

    /// Drops aborted transactions wholly below the log start (their segments are gone).
    func trimAborted(below offset: Int64) {
        aborted.removeAll { $0.lastOffset < offset }
    }
}
