import KafkaProtocol

/// Last batches seen per idempotent producer, to answer retries and refuse gaps.
struct ProducerStateTable {
    struct Entry {
        var epoch: Int16
        var lastSequence: Int32
        /// (baseSequence, baseOffset) of recent batches, newest last; Kafka keeps five.
        var recent: [(Int32, Int64)]
    }

    enum Verdict: Equatable {
        case accept
        case duplicate(offset: Int64)
        case outOfOrder(expected: Int32)
        case fenced(current: Int16)
    }

    private var entries: [Int64: Entry] = [:]

    func check(_ h: RecordBatchHeader) -> Verdict {
        guard h.baseSequence >= 0, let e = entries[h.producerId] else { return .accept }
        if h.producerEpoch < e.epoch { return .fenced(current: e.epoch) }
        if h.producerEpoch > e.epoch { return h.baseSequence == 0 ? .accept : .outOfOrder(expected: 0) }
        if let dup = e.recent.first(where: { $0.0 == h.baseSequence }) { return .duplicate(offset: dup.1) }
        let expected = e.lastSequence == Int32.max ? 0 : e.lastSequence + 1
        return h.baseSequence == expected ? .accept : .outOfOrder(expected: expected)
    }

    mutating func record(_ h: RecordBatchHeader) {
        guard h.baseSequence >= 0 else { return }
        var e = entries[h.producerId] ?? Entry(epoch: h.producerEpoch, lastSequence: -1, recent: [])
        if h.producerEpoch != e.epoch { e = Entry(epoch: h.producerEpoch, lastSequence: -1, recent: []) }
        e.lastSequence = h.lastSequence
        e.recent.append((h.baseSequence, h.baseOffset))
        if e.recent.count > 5 { e.recent.removeFirst() }
        entries[h.producerId] = e
    }
}
