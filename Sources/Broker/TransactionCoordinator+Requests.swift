import KafkaProtocol
import NIOCore

extension TransactionCoordinator {
    /// InitProducerId with a transactional id: the id's producer id with its epoch bumped (a new
    /// id for a new transactional id, or when the epoch is used up), fencing earlier producers
    /// of the id. An open transaction is aborted first; the producer is told
    /// CONCURRENT_TRANSACTIONS and retries. A producer recovering with its own id and epoch
    /// (KIP-360) must name the current or the previous epoch.
    func initProducerId(_ request: InitProducerIdRequest) -> EventLoopFuture<InitProducerIdResponse> {
        loop.flatSubmit { [self] in
            @Sendable func fail(_ code: ErrorCode) -> EventLoopFuture<InitProducerIdResponse> {
                var r = InitProducerIdResponse()
                r.errorCode = code.rawValue
                return loop.makeSucceededFuture(r)
            }
            guard let id = request.transactionalId, !id.isEmpty else { return fail(.invalidRequest) }
            let own = ownership(id)
            guard own == .none else { return fail(own) }
            guard request.transactionTimeoutMs > 0, request.transactionTimeoutMs <= settings.maxTimeoutMs else {
                return fail(.invalidTransactionTimeout)
            }
            guard !busy.contains(id) else { return fail(.concurrentTransactions) }
            var next = txns[id] ?? Txn()
            if request.producerId >= 0 {
                guard request.producerId == next.producerId,
                    request.producerEpoch == next.producerEpoch || request.producerEpoch == next.lastProducerEpoch
                else { return fail(.producerFenced) }
                if request.producerEpoch == next.lastProducerEpoch && next.state != .ongoing {
                    // A retry of the bump that made the current epoch: the same answer again,
                    // not another bump (which would fence the producer that asked).
                    var r = InitProducerIdResponse()
                    r.producerId = next.producerId
                    r.producerEpoch = next.producerEpoch
                    return loop.makeSucceededFuture(r)
                }
            }
            switch next.state {
            case .prepareCommit, .prepareAbort, .prepareEpochFence:
                return fail(.concurrentTransactions)
            case .ongoing:
                // The id's last producer left a transaction open: abort it, fencing that producer.
                return end(id, commit: false, fence: true).map { _ in
                    var r = InitProducerIdResponse()
                    r.errorCode = ErrorCode.concurrentTransactions.rawValue
                    return r
                }
            case .empty, .completeCommit, .completeAbort, .dead:
                break
            }
            if next.producerId < 0 || next.producerEpoch >= Int16.max - 1 {
                do { next.producerId = try allocateProducerId() } catch { return fail(.unknownServerError) }
                next.producerEpoch = 0
                next.lastProducerEpoch = -1
            } else {
                // A producer recovering with its own id and epoch (KIP-360) may retry this bump
                // with the epoch it had; a new producer of the id may not be stepped on that way.
                next.lastProducerEpoch = request.producerId >= 0 ? next.producerEpoch : -1
                next.producerEpoch += 1
            }
            next.timeoutMs = request.transactionTimeoutMs
            next.state = .empty
            next.partitions = []
            next.startMs = -1
            next.updateMs = clock.wallMs
            busy.insert(id)
            return persist(id, next).map { [self, next] code in
                busy.remove(id)
                var r = InitProducerIdResponse()
                r.errorCode = code.rawValue
                if code == .none {
                    r.producerId = next.producerId
                    r.producerEpoch = next.producerEpoch
                }
                return r
            }
        }
    }

    /// Whether a request from (producerId, epoch) may act on the id now; NONE when it may.
    /// Newer clients (`fencedCode` PRODUCER_FENCED) and older ones (INVALID_PRODUCER_EPOCH) are
    /// told of a stale epoch in the code their request version knows.
    func check(_ id: String, producerId: Int64, epoch: Int16, fencedCode: ErrorCode) -> ErrorCode {
        let own = ownership(id)
        guard own == .none else { return own }
        guard let t = txns[id], t.producerId == producerId else { return .invalidProducerIdMapping }
        guard t.producerEpoch == epoch else { return fencedCode }
        if busy.contains(id) { return .concurrentTransactions }
        if t.state == .prepareCommit || t.state == .prepareAbort || t.state == .prepareEpochFence {
            return .concurrentTransactions
        }
        return .none
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn: the partitions join the transaction, which is
    /// open (Ongoing) from the first one on.
    func addPartitions(
        _ id: String, producerId: Int64, epoch: Int16, _ partitions: [TopicPartition], fencedCode: ErrorCode
    ) -> EventLoopFuture<ErrorCode> {
        loop.flatSubmit { [self] in
            let code = check(id, producerId: producerId, epoch: epoch, fencedCode: fencedCode)
            guard code == .none, var next = txns[id] else { return loop.makeSucceededFuture(code) }
            if next.state == .ongoing && Set(partitions).isSubset(of: next.partitions) {
                return loop.makeSucceededFuture(.none)
            }
            if next.state != .ongoing {
                next.startMs = clock.wallMs
                next.partitions = []
            }
            next.state = .ongoing
            next.partitions.formUnion(partitions)
            next.updateMs = clock.wallMs
            busy.insert(id)
            return persist(id, next).map { [self] code in
                busy.remove(id)
                return code
            }
        }
    }

    /// EndTxn: commits or aborts the open transaction. A retry of an end already made is
    /// answered NONE; ending in the other direction, or with nothing open, INVALID_TXN_STATE.
    func endTxn(_ id: String, producerId: Int64, epoch: Int16, commit: Bool, fencedCode: ErrorCode)
        -> EventLoopFuture<ErrorCode>
    {
        loop.flatSubmit { [self] in
            let code = check(id, producerId: producerId, epoch: epoch, fencedCode: fencedCode)
            if code == .concurrentTransactions, let t = txns[id],
                t.state == (commit ? .prepareCommit : .prepareAbort)
            {
                // A retry while the markers go out: Kafka answers this too.
                return loop.makeSucceededFuture(.concurrentTransactions)
            }
            guard code == .none, let t = txns[id] else { return loop.makeSucceededFuture(code) }
            switch t.state {
            case .ongoing:
                return end(id, commit: commit, fence: false)
            case .completeCommit where commit, .completeAbort where !commit:
                return loop.makeSucceededFuture(.none)
            default:
                return loop.makeSucceededFuture(.invalidTxnState)
            }
        }
    }

    /// DescribeTransactions: each id's state here (NOT_COORDINATOR for ids coordinated elsewhere,
    /// TRANSACTIONAL_ID_NOT_FOUND for unknown ones).
    func describe(_ ids: [String]) -> EventLoopFuture<[DescribeTransactionsResponse.TransactionState]> {
        loop.submit { [self] in
            ids.map { id in
                var s = DescribeTransactionsResponse.TransactionState()
                s.transactionalId = id
                let own = ownership(id)
                guard own == .none else {
                    s.errorCode = own.rawValue
                    return s
                }
                guard let t = txns[id] else {
                    s.errorCode = ErrorCode.transactionalIdNotFound.rawValue
                    return s
                }
                s.transactionState = t.state.name
                s.transactionTimeoutMs = t.timeoutMs
                s.transactionStartTimeMs = t.startMs
                s.producerId = t.producerId
                s.producerEpoch = t.producerEpoch
                s.topics = Dictionary(grouping: t.partitions, by: \.topic).sorted { $0.key < $1.key }.map {
                    var d = DescribeTransactionsResponse.TopicData()
                    d.topic = $0.key
                    d.partitions = $0.value.map(\.partition).sorted()
                    return d
                }
                return s
            }
        }
    }

    /// ListTransactions: the ids this node coordinates, filtered by state names, producer ids and
    /// (v1) the least time open.
    func list(_ request: ListTransactionsRequest) -> EventLoopFuture<ListTransactionsResponse> {
        loop.submit { [self] in
            var r = ListTransactionsResponse()
            let known = Set(State.allCases.map(\.name))
            r.unknownStateFilters = request.stateFilters.filter { !known.contains($0) }
            let states = Set(request.stateFilters)
            let pids = Set(request.producerIdFilters)
            let now = clock.wallMs
            r.transactionStates = txns.sorted { $0.key < $1.key }.compactMap { id, t in
                if !states.isEmpty && !states.contains(t.state.name) { return nil }
                if !pids.isEmpty && !pids.contains(t.producerId) { return nil }
                if request.durationFilter >= 0 && (t.state != .ongoing || now - t.startMs < request.durationFilter) {
                    return nil
                }
                var s = ListTransactionsResponse.TransactionState()
                s.transactionalId = id
                s.producerId = t.producerId
                s.transactionState = t.state.name
                return s
            }
            return r
        }
    }

    /// A transactional id as the web console shows it.
    public struct Summary: Sendable {
        public var id: String
        public var state: String
        public var producerId: Int64
        public var producerEpoch: Int16
        public var partitions: [String]
        public var startMs: Int64
    }

    /// Every id this node coordinates, open transactions first.
    public func snapshot() -> EventLoopFuture<[Summary]> {
        loop.submit { [self] in
            txns.map { id, t in
                Summary(
                    id: id, state: t.state.name, producerId: t.producerId, producerEpoch: t.producerEpoch,
                    partitions: t.partitions.sorted().map { "\($0.topic)-\($0.partition)" }, startMs: t.startMs)
            }.sorted { ($0.state != "Ongoing" ? 1 : 0, $0.id) < ($1.state != "Ongoing" ? 1 : 0, $1.id) }
        }
    }
}
