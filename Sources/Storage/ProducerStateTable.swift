import KafkaProtocol

/// Last batches seen per idempotent producer, to answer retries and refuse gaps.
struct ProducerStateTable {
    struct Entry {
        var epoch: Int16
        var lastSequence: Int32
        /// (baseSequence, baseOffset) of recent batches, newest last; Kafka keeps five.
        var recent: [(Int32, Int64)]
        /// The newest batch's max timestamp (-1 when only a marker was seen).
        var lastTimestamp: Int64 = -1
        /// The coordinator epoch of the last marker (-1 before one): a marker from an older
        /// coordinator of the producer's transactional id is refused.
        var coordinatorEpoch: Int32 = -1
    }

    enum Verdict: Equatable {
        case accept
        case duplicate(offset: Int64)
        case outOfOrder(expected: Int32)
        case fenced(current: Int16)
        case staleCoordinator(current: Int32)
    }

    private var entries: [Int64: Entry] = [:]

    /// A marker's verdict: its epoch against the producer's, its coordinator epoch against the
    /// last marker's.
    func check(_ h: RecordBatchHeader, coordinatorEpoch: Int32) -> Verdict {
        if let e = entries[h.producerId], coordinatorEpoch < e.coordinatorEpoch {
            return .staleCoordinator(current: e.coordinatorEpoch)
        }
        return check(h)
    }

    func check(_ h: RecordBatchHeader) -> Verdict {
        if h.baseSequence < 0, let e = entries[h.producerId], h.producerEpoch < e.epoch {
            // A marker from a coordinator that has not seen the producer's newer epoch, or a
            // transactional offset commit a group coordinator writes for a fenced producer.
            return .fenced(current: e.epoch)
        }
        guard h.baseSequence >= 0, let e = entries[h.producerId] else { return .accept }
        if h.producerEpoch < e.epoch { return .fenced(current: e.epoch) }
        if h.producerEpoch > e.epoch { return h.baseSequence == 0 ? .accept : .outOfOrder(expected: 0) }
        if let dup = e.recent.first(where: { $0.0 == h.baseSequence }) { return .duplicate(offset: dup.1) }
        if e.lastSequence == Self.unknownSequence { return .accept }
        let expected = e.lastSequence == Int32.max ? 0 : e.lastSequence + 1
        return h.baseSequence == expected ? .accept : .outOfOrder(expected: expected)
    }

    /// A producer's last sequence when only a marker of its epoch was seen: its next batch is
    /// taken at whatever sequence it has.
    static let unknownSequence = Int32.min

    /// A transaction marker: a newer epoch (the coordinator fenced the producer, or it bumped
    /// its epoch) replaces the entry, so batches of older epochs are refused from now on.
    mutating func noteMarker(_ h: RecordBatchHeader, coordinatorEpoch: Int32 = -1) {
        if var e = entries[h.producerId], e.epoch >= h.producerEpoch {
            e.coordinatorEpoch = max(e.coordinatorEpoch, coordinatorEpoch)
            entries[h.producerId] = e
            return
        }
        var e = Entry(epoch: h.producerEpoch, lastSequence: Self.unknownSequence, recent: [])
        e.coordinatorEpoch = max(entries[h.producerId]?.coordinatorEpoch ?? -1, coordinatorEpoch)
        entries[h.producerId] = e
    }

    /// Every producer with state: id, epoch, last sequence, last timestamp.
    var all: [(producerId: Int64, epoch: Int16, lastSequence: Int32, lastTimestamp: Int64)] {
        entries.sorted { $0.key < $1.key }.map {
            (
                $0.key, $0.value.epoch, $0.value.lastSequence == Self.unknownSequence ? -1 : $0.value.lastSequence,
                $0.value.lastTimestamp
            )
        }
    }

    mutating func record(_ h: RecordBatchHeader) {
        guard h.baseSequence >= 0 else {
            // Without sequences (a group coordinator's transactional offsets) only the epoch counts.
            if h.hasProducerId && !h.isControl && (entries[h.producerId]?.epoch ?? Int16.min) < h.producerEpoch {
                entries[h.producerId] = Entry(epoch: h.producerEpoch, lastSequence: Self.unknownSequence, recent: [])
            }
            return
        }
        var e = entries[h.producerId] ?? Entry(epoch: h.producerEpoch, lastSequence: -1, recent: [])
        if h.producerEpoch != e.epoch { e = Entry(epoch: h.producerEpoch, lastSequence: -1, recent: []) }
        e.lastSequence = h.lastSequence
        e.lastTimestamp = h.maxTimestamp
        e.recent.append((h.baseSequence, h.baseOffset))
        if e.recent.count > 5 { e.recent.removeFirst() }
        entries[h.producerId] = e
    }
}
