import KafkaProtocol
import NIOCore
import Storage
import Testing

/// Transactions in a partition log: the last stable offset, the aborted-transaction index
/// (`.txnindex`), and both kept through a reopen, a crash past the recovery point, a
/// truncation and the cleaner.
@Suite struct TransactionLogTests {
    func open(_ dir: String, segmentBytes: Int = 1 << 30, compact: Bool = false) throws -> PartitionLog {
        var c = LogConfig()
        c.segmentBytes = segmentBytes
        if compact {
            c.compactPolicy = true
            c.deletePolicy = false
        }
        return try PartitionLog(directory: dir, config: c, clock: SystemClock(), logger: quiet)
    }

    func txnBatch(_ values: [String], producer: Int64, epoch: Int16 = 0, sequence: Int32, key: String? = nil)
        -> ByteBuffer
    {
        var b = RecordBatchBuilder()
        b.producerId = producer
        b.producerEpoch = epoch
        b.baseSequence = sequence
        b.attributes = ControlBatch.transactionalAttribute
        for (i, v) in values.enumerated() {
            b.append(key: key.map { Array($0.utf8) }, value: Array(v.utf8), timestamp: 1_000 + Int64(i))
        }
        return b.build()
    }

    func marker(_ producer: Int64, commit: Bool, epoch: Int16 = 0, coordinatorEpoch: Int32 = 3) -> ByteBuffer {
        ControlBatch.marker(
            producerId: producer, producerEpoch: epoch, commit: commit, coordinatorEpoch: coordinatorEpoch, timestamp: 5
        )
    }

    @discardableResult
    func append(_ log: PartitionLog, _ b: ByteBuffer) throws -> AppendResult {
        let r = try log.append(records: b, leaderEpoch: 0).get()
        log.setHighWatermark(log.logEndOffset, nowMs: 0)
        return r
    }

    @Test func theLastStableOffsetStopsAtTheFirstOpenTransaction() throws {
        let log = try open(tempDir("lso"))
        try append(log, batch(["plain"]))  // 0
        try append(log, txnBatch(["a1", "a2"], producer: 7, sequence: 0))  // 1-2
        try append(log, txnBatch(["b1"], producer: 8, sequence: 0))  // 3
        #expect(log.highWatermark == 4 && log.lastStableOffset == 1)
        try append(log, marker(7, commit: true))  // 4: A ends; B still open from 3
        #expect(log.lastStableOffset == 3)
        try append(log, marker(8, commit: false))  // 5
        #expect(log.lastStableOffset == 6 && log.ongoingTransactions.isEmpty)
        #expect(
            log.abortedTransactions(from: 0, upTo: 6) == [
                AbortedTransaction(producerId: 8, firstOffset: 3, lastOffset: 5, lastStableOffset: 6)
            ])
        // A reader starting past the abort is not told of it.
        #expect(log.abortedTransactions(from: 6, upTo: 6).isEmpty)
    }

    @Test func aMarkerWithAnOlderEpochIsRefusedAndANewerOneFencesTheProducer() throws {
        let log = try open(tempDir("fence"))
        try append(log, txnBatch(["x"], producer: 9, epoch: 2, sequence: 0))
        guard case .failure = log.append(records: marker(9, commit: true, epoch: 1), leaderEpoch: 0) else {
            Issue.record("a marker from an older epoch was appended")
            return
        }
        try append(log, marker(9, commit: false, epoch: 3))  // the coordinator fenced epoch 2
        guard
            case .failure = log.append(
                records: txnBatch(["zombie"], producer: 9, epoch: 2, sequence: 1), leaderEpoch: 0)
        else {
            Issue.record("the fenced epoch wrote again")
            return
        }
        // The producer's next epoch starts afresh.
        try append(log, txnBatch(["y"], producer: 9, epoch: 4, sequence: 0))
        #expect(log.ongoingTransactions.map(\.producerId) == [9])
    }

    @Test func abortsAndOpenTransactionsSurviveACleanReopenAndACrash() throws {
        let dir = tempDir("txn-reopen")
        do {
            let log = try open(dir, segmentBytes: 300)
            for i in 0..<20 {
                try append(
                    log, txnBatch(["v\(i)-a", "v\(i)-b"], producer: Int64(100 + i % 3), sequence: Int32(i / 3 * 2)))
                if i % 3 == 2 { try append(log, marker(Int64(100 + i % 3), commit: i % 2 == 0)) }
            }
            try log.flush()
            // Past the recovery point (no flush): an abort and a transaction left open.
            try append(log, txnBatch(["late"], producer: 200, sequence: 0))
            try append(log, marker(200, commit: false))
            try append(log, txnBatch(["open"], producer: 201, sequence: 0))
        }
        let before = try open(dir, segmentBytes: 300)
        let aborted = before.abortedTransactions(from: 0, upTo: .max)
        #expect(aborted.contains { $0.producerId == 200 })
        #expect(before.ongoingTransactions.map(\.producerId).sorted() == [100, 101, 201])
        #expect(before.segmentCount > 3)
        // Every segment's index holds what it held: reopening again gives the same answers.
        let again = try open(dir, segmentBytes: 300)
        #expect(again.abortedTransactions(from: 0, upTo: .max) == aborted)
        #expect(again.ongoingTransactions == before.ongoingTransactions)
    }

    @Test func truncatingBelowAMarkerReopensItsTransaction() throws {
        let log = try open(tempDir("txn-truncate"))
        try append(log, txnBatch(["a"], producer: 5, sequence: 0))  // 0
        try append(log, marker(5, commit: false))  // 1
        try append(log, txnBatch(["b"], producer: 6, sequence: 0))  // 2
        try append(log, marker(6, commit: false))  // 3
        #expect(log.abortedTransactions(from: 0, upTo: 4).count == 2)
        try log.truncate(to: 3)
        #expect(log.abortedTransactions(from: 0, upTo: 4).map(\.producerId) == [5])
        #expect(log.ongoingTransactions.map(\.firstOffset) == [2])
        #expect(log.lastStableOffset == 2)
    }

    @Test func theCleanerDropsAbortedDataAndKeepsCommittedValues() throws {
        let log = try open(tempDir("txn-compact"), segmentBytes: 200, compact: true)
        try append(log, txnBatch(["committed"], producer: 1, sequence: 0, key: "k"))
        try append(log, marker(1, commit: true))
        try append(log, txnBatch(["aborted"], producer: 2, sequence: 0, key: "k"))
        try append(log, marker(2, commit: false))
        for i in 0..<8 { try append(log, batch(["filler-\(i)"], key: "f\(i)")) }
        _ = try log.compact(nowMs: 10_000)
        let left = try values(log.read(from: 0, maxBytes: 1 << 20)!)
        #expect(left.contains("committed"), "a newer aborted value must not supersede a committed one")
        #expect(!left.contains("aborted"))
    }

    @Test func aProducerWithAnOpenTransactionWritesOnlyTransactionalBatches() throws {
        let log = try open(tempDir("txn-state"))
        try append(log, txnBatch(["t"], producer: 3, sequence: 0))
        guard case .failure(let e) = log.append(records: batch(["plain"], producerId: 3, sequence: 1), leaderEpoch: 0)
        else {
            Issue.record("a plain batch went into an open transaction")
            return
        }
        #expect(e.errorCode == .invalidTxnState)
        try append(log, marker(3, commit: true))
        try append(log, batch(["plain"], producerId: 3, sequence: 1))
    }

    @Test func aReadSaysWhereTheNextBatchStartsSoAbortsAreNamedOnlyForWhatIsSent() throws {
        let log = try open(tempDir("txn-next"))
        for i in 0..<6 {
            try append(log, txnBatch(["a\(i)", "b\(i)"], producer: 40 + Int64(i), sequence: 0))
            try append(log, marker(40 + Int64(i), commit: false))
        }
        // Three records per transaction (two data, one marker): read one batch from offset 0.
        let first = try #require(try log.readForSending(from: 0, maxBytes: 1, fileAtLeast: .max))
        #expect(first.nextOffset == 2)
        #expect(log.abortedTransactions(from: 0, upTo: first.nextOffset).map(\.producerId) == [40])
        let all = try #require(try log.readForSending(from: 0, maxBytes: 1 << 20, fileAtLeast: .max))
        #expect(all.nextOffset == 18)
        #expect(log.abortedTransactions(from: 0, upTo: all.nextOffset).count == 6)
        #expect(log.abortedTransactions(from: 9, upTo: all.nextOffset).map(\.producerId) == [43, 44, 45])
    }

    @Test func aFencedEpochStaysFencedForOffsetBatchesAndAfterARestart() throws {
        let dir = tempDir("txn-fence-restart")
        do {
            let log = try open(dir)
            try append(log, txnBatch(["x"], producer: 11, epoch: 4, sequence: 0))
            try append(log, marker(11, commit: false, epoch: 5))  // the coordinator fenced epoch 4
            // A group coordinator's transactional offsets carry no sequence: the epoch still counts.
            guard
                case .failure = log.append(
                    records: txnBatch(["offsets"], producer: 11, epoch: 4, sequence: -1), leaderEpoch: 0)
            else {
                Issue.record("a fenced epoch's sequence-less batch was taken")
                return
            }
            try log.flush()
        }
        let reopened = try open(dir)
        guard
            case .failure = reopened.append(
                records: txnBatch(["zombie"], producer: 11, epoch: 4, sequence: 1), leaderEpoch: 0)
        else {
            Issue.record("the fenced epoch wrote again after a restart")
            return
        }
        #expect(reopened.ongoingTransactions.isEmpty)
    }

    @Test func aMarkerFromAnOlderCoordinatorIsRefusedEvenAfterARestart() throws {
        // A deposed coordinator (say one replaying old metadata at start-up) resending the abort of
        // a finished transaction must not close the producer's next transaction as aborted.
        let dir = tempDir("txn-coordinator-epoch")
        do {
            let log = try open(dir)
            try append(log, txnBatch(["t1"], producer: 21, sequence: 0))
            try append(log, marker(21, commit: false, coordinatorEpoch: 7))
            try append(log, txnBatch(["t2"], producer: 21, sequence: 1))
            guard
                case .failure(let e) = log.append(
                    records: marker(21, commit: false, coordinatorEpoch: 6), leaderEpoch: 0)
            else {
                Issue.record("an older coordinator's marker was appended")
                return
            }
            #expect(e.errorCode == .transactionCoordinatorFenced)
            #expect(log.ongoingTransactions.map(\.firstOffset) == [2])
            try log.flush()
        }
        let reopened = try open(dir)
        guard case .failure = reopened.append(records: marker(21, commit: false, coordinatorEpoch: 6), leaderEpoch: 0)
        else {
            Issue.record("an older coordinator's marker was appended after a restart")
            return
        }
        try append(reopened, marker(21, commit: true, coordinatorEpoch: 7))
        #expect(reopened.ongoingTransactions.isEmpty && reopened.abortedTransactions(from: 2, upTo: 10).isEmpty)
    }
}
