import KafkaClient
import KafkaProtocol
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// The transaction RPCs: the coordinator's (InitProducerId with a transactional id,
/// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions, ListTransactions), the
/// group coordinator's TxnOffsetCommit, and the partition leaders' WriteTxnMarkers and
/// DescribeProducers. Each checks its ACLs here: WRITE on the transactional id, WRITE on the
/// topics added, READ on the group, CLUSTER_ACTION for markers.
extension Broker {
    var transactions: TransactionCoordinator? { transactionCoordinator.withLockedValue { $0 } }

    func startTransactionCoordinator(loop: any EventLoop, group: any EventLoopGroup, security: ClientSecurity) {
        let sender = PeerClient(broker: self, group: group, security: security, purpose: "txn-coordinator")
        let coordinator = TransactionCoordinator(
            loop: loop, nodeId: config.nodeId, clock: clock, logger: logger,
            settings: .init(
                maxTimeoutMs: config.transactionMaxTimeoutMs, idExpirationMs: config.transactionalIdExpirationMs,
                abortCheckIntervalMs: Int64(config.transactionAbortCheckIntervalMs), metrics: metrics),
            write: { [self] partition, records in
                var r = ProduceRequest()
                r.acks = -1
                r.timeoutMs = 5000
                r.topics = [
                    .init(name: TransactionCoordinator.topic, partitions: [.init(index: partition, records: records)])
                ]
                return produceAsync(r, version: 9, on: loop).map {
                    ErrorCode(rawValue: $0.responses.first?.partitions.first?.errorCode ?? -1)
                }
            },
            read: { [self] partition, from in
                guard let log = registry.partition(TransactionCoordinator.topic, partition)?.log else {
                    return (nil, 0)
                }
                let start = max(from, log.logStartOffset)
                return ((try? log.read(from: start, maxBytes: 1 << 20)) ?? nil, log.logEndOffset)
            },
            deliver: { [self] round in deliverMarkers(round, sender: sender, on: loop) },
            allocateProducerId: { [self] in try producerIds.allocate() })
        transactionCoordinator.withLockedValue { $0 = coordinator }
        if metadataCaughtUp.withLockedValue({ $0 }) { coordinator.update(registry.image) }
    }

    /// Sends a marker round to the partitions' leaders: this node's partitions are written
    /// here, the rest go as WriteTxnMarkers to their leaders. A partition without a leader,
    /// or whose leader could not be reached, comes back with an error to be retried.
    func deliverMarkers(
        _ round: TransactionCoordinator.MarkerRound, sender: PeerClient, on loop: any EventLoop
    ) -> EventLoopFuture<[TransactionCoordinator.TopicPartition: ErrorCode]> {
        let image = registry.image
        var byLeader: [Int32: [TransactionCoordinator.TopicPartition]] = [:]
        var codes: [TransactionCoordinator.TopicPartition: ErrorCode] = [:]
        for tp in round.partitions {
            guard let t = image.topics[tp.topic], let p = t.partitions[tp.partition] else {
                codes[tp] = .unknownTopicOrPartition
                continue
            }
            guard p.leader >= 0 else {
                codes[tp] = .leaderNotAvailable
                continue
            }
            byLeader[p.leader, default: []].append(tp)
        }
        var futures: [EventLoopFuture<[TransactionCoordinator.TopicPartition: ErrorCode]>] = []
        for (leader, partitions) in byLeader {
            var marker = WriteTxnMarkersRequest.Marker()
            marker.producerId = round.producerId
            marker.producerEpoch = round.producerEpoch
            marker.transactionResult = round.commit
            marker.coordinatorEpoch = round.coordinatorEpoch
            marker.topics = Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.map {
                var t = WriteTxnMarkersRequest.Topic()
                t.name = $0.key
                t.partitionIndexes = $0.value.map(\.partition)
                return t
            }
            var request = WriteTxnMarkersRequest()
            request.markers = [marker]
            let answer: EventLoopFuture<WriteTxnMarkersResponse> =
                leader == config.nodeId
                ? writeTxnMarkers(request, on: loop)
                : sender.send(request, as: WriteTxnMarkersResponse.self, to: leader, on: loop, timeoutMs: 15_000)
            futures.append(
                answer.map { r in
                    var out: [TransactionCoordinator.TopicPartition: ErrorCode] = [:]
                    for m in r.markers {
                        for t in m.topics {
                            for p in t.partitions {
                                out[.init(topic: t.name, partition: p.partitionIndex)] = ErrorCode(
                                    rawValue: p.errorCode)
                            }
                        }
                    }
                    return out
                }.recover { _ in
                    Dictionary(uniqueKeysWithValues: partitions.map { ($0, ErrorCode.notLeaderOrFollower) })
                })
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { [codes] parts in
            var all = codes
            for p in parts { all.merge(p) { $1 } }
            return all
        }
    }

    /// WriteTxnMarkers, on a partition's leader: each marker is appended as a control batch
    /// (refused when its producer has moved to a newer epoch) and answered once replicated to
    /// the ISR. A marker on `__consumer_offsets` also ends the producer's pending offset commits.
    func writeTxnMarkers(_ request: WriteTxnMarkersRequest, on loop: any EventLoop) -> EventLoopFuture<
        WriteTxnMarkersResponse
    > {
        var futures: [EventLoopFuture<WriteTxnMarkersResponse.Marker>] = []
        for m in request.markers {
            var produce = ProduceRequest()
            produce.acks = -1
            produce.timeoutMs = 10_000
            let batch = ControlBatch.marker(
                producerId: m.producerId, producerEpoch: m.producerEpoch, commit: m.transactionResult,
                coordinatorEpoch: m.coordinatorEpoch, timestamp: clock.wallMs)
            produce.topics = m.topics.map { t in
                .init(
                    name: t.name,
                    partitions: Array(Set(t.partitionIndexes)).sorted().map { .init(index: $0, records: batch) })
            }
            futures.append(
                produceAsync(produce, version: 9, on: loop).map { [self] r in
                    var out = WriteTxnMarkersResponse.Marker()
                    out.producerId = m.producerId
                    var offsetsPartitions = Set<Int32>()
                    out.topics = r.responses.map { t in
                        var topic = WriteTxnMarkersResponse.Topic()
                        topic.name = t.name
                        topic.partitions = t.partitions.map { p in
                            var x = WriteTxnMarkersResponse.Partition()
                            x.partitionIndex = p.index
                            x.errorCode = p.errorCode
                            if t.name == GroupCoordinator.topic && p.errorCode == 0 {
                                offsetsPartitions.insert(p.index)
                            }
                            return x
                        }
                        return topic
                    }
                    if !offsetsPartitions.isEmpty {
                        coordinator?.completeTransaction(
                            producerId: m.producerId, commit: m.transactionResult, partitions: offsetsPartitions)
                    }
                    return out
                })
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map {
            var r = WriteTxnMarkersResponse()
            r.markers = $0
            return r
        }
    }

    /// The code a stale producer epoch is reported with: PRODUCER_FENCED to clients that know it.
    static func fencedCode(_ api: ApiKey, _ version: Int16) -> ErrorCode {
        switch api {
        case .addPartitionsToTxn, .addOffsetsToTxn, .endTxn:
            return version >= 2 ? .producerFenced : .invalidProducerEpoch
        case .txnOffsetCommit: return version >= 2 ? .producerFenced : .invalidProducerEpoch
        default: return .invalidProducerEpoch
        }
    }

    func initTransactionalProducerId(_ request: InitProducerIdRequest, session: Session, on loop: any EventLoop)
        -> EventLoopFuture<InitProducerIdResponse>
    {
        guard let id = request.transactionalId else { return loop.makeSucceededFuture(InitProducerIdResponse()) }
        guard allowed(session, .write, .transactionalId, id) else {
            var r = InitProducerIdResponse()
            r.errorCode = ErrorCode.transactionalIdAuthorizationFailed.rawValue
            return loop.makeSucceededFuture(r)
        }
        guard let t = transactions else {
            var r = InitProducerIdResponse()
            r.errorCode = ErrorCode.coordinatorNotAvailable.rawValue
            return loop.makeSucceededFuture(r)
        }
        return t.initProducerId(request).hop(to: loop)
    }

    func addPartitionsToTxn(_ r: AddPartitionsToTxnRequest, version: Int16, session: Session, on loop: any EventLoop)
        -> EventLoopFuture<AddPartitionsToTxnResponse>
    {
        let image = registry.image
        var codes: [(String, Int32, ErrorCode)] = []
        var seen = Set<TransactionCoordinator.TopicPartition>()
        let idAllowed = allowed(session, .write, .transactionalId, r.transactionalId)
        for t in r.topics {
            let topicAllowed = allowed(session, .write, .topic, t.name)
            for p in t.partitions where seen.insert(.init(topic: t.name, partition: p)).inserted {
                let code: ErrorCode
                if !idAllowed {
                    code = .transactionalIdAuthorizationFailed
                } else if !topicAllowed {
                    code = .topicAuthorizationFailed
                } else if Self.internalTopics.contains(t.name) {
                    code = .topicAuthorizationFailed
                } else if image.topics[t.name]?.partitions[p] == nil {
                    code = .unknownTopicOrPartition
                } else {
                    code = .none
                }
                codes.append((t.name, p, code))
            }
        }
        @Sendable func answer(_ codes: [(String, Int32, ErrorCode)]) -> AddPartitionsToTxnResponse {
            var out = AddPartitionsToTxnResponse()
            out.results = Dictionary(grouping: codes, by: \.0).sorted { $0.key < $1.key }.map { name, results in
                var t = AddPartitionsToTxnResponse.TopicResult()
                t.name = name
                t.resultsByPartition = results.map {
                    var p = AddPartitionsToTxnResponse.PartitionResult()
                    p.partitionIndex = $0.1
                    p.partitionErrorCode = $0.2.rawValue
                    return p
                }
                return t
            }
            return out
        }
        if codes.contains(where: { $0.2 != .none }) {
            // One refused partition fails the request: the rest were not attempted.
            return loop.makeSucceededFuture(
                answer(codes.map { ($0.0, $0.1, $0.2 == .none ? .operationNotAttempted : $0.2) }))
        }
        guard let t = transactions else {
            return loop.makeSucceededFuture(answer(codes.map { ($0.0, $0.1, .coordinatorNotAvailable) }))
        }
        return t.addPartitions(
            r.transactionalId, producerId: r.producerId, epoch: r.producerEpoch, Array(seen),
            fencedCode: Self.fencedCode(.addPartitionsToTxn, version)
        ).hop(to: loop).map { [codes] code in answer(codes.map { ($0.0, $0.1, code) }) }
    }

    func addOffsetsToTxn(_ r: AddOffsetsToTxnRequest, version: Int16, session: Session, on loop: any EventLoop)
        -> EventLoopFuture<AddOffsetsToTxnResponse>
    {
        @Sendable func answer(_ code: ErrorCode) -> AddOffsetsToTxnResponse {
            var out = AddOffsetsToTxnResponse()
            out.errorCode = code.rawValue
            return out
        }
        guard allowed(session, .write, .transactionalId, r.transactionalId) else {
            return loop.makeSucceededFuture(answer(.transactionalIdAuthorizationFailed))
        }
        guard allowed(session, .read, .group, r.groupId) else {
            return loop.makeSucceededFuture(answer(.groupAuthorizationFailed))
        }
        let image = registry.image
        guard let offsets = image.topics[GroupCoordinator.topic] else {
            createOffsetsTopic(image)
            return loop.makeSucceededFuture(answer(.coordinatorNotAvailable))
        }
        guard let t = transactions else { return loop.makeSucceededFuture(answer(.coordinatorNotAvailable)) }
        let p = GroupCoordinator.partition(for: r.groupId, count: Int32(clamping: offsets.partitionCount))
        return t.addPartitions(
            r.transactionalId, producerId: r.producerId, epoch: r.producerEpoch,
            [.init(topic: GroupCoordinator.topic, partition: p)], fencedCode: Self.fencedCode(.addOffsetsToTxn, version)
        ).hop(to: loop).map(answer)
    }

    func endTxn(_ r: EndTxnRequest, version: Int16, session: Session, on loop: any EventLoop)
        -> EventLoopFuture<EndTxnResponse>
    {
        @Sendable func answer(_ code: ErrorCode) -> EndTxnResponse {
            var out = EndTxnResponse()
            out.errorCode = code.rawValue
            return out
        }
        guard allowed(session, .write, .transactionalId, r.transactionalId) else {
            return loop.makeSucceededFuture(answer(.transactionalIdAuthorizationFailed))
        }
        guard let t = transactions else { return loop.makeSucceededFuture(answer(.coordinatorNotAvailable)) }
        return t.endTxn(
            r.transactionalId, producerId: r.producerId, epoch: r.producerEpoch, commit: r.committed,
            fencedCode: Self.fencedCode(.endTxn, version)
        ).hop(to: loop).map(answer)
    }

    func txnOffsetCommit(_ r: TxnOffsetCommitRequest, version: Int16, session: Session, on loop: any EventLoop)
        -> EventLoopFuture<TxnOffsetCommitResponse>
    {
        let image = registry.image
        let idAllowed = allowed(session, .write, .transactionalId, r.transactionalId)
        let groupAllowed = allowed(session, .read, .group, r.groupId)
        var flat: [(topic: String, partition: Int32, offset: Int64, leaderEpoch: Int32, metadata: String?)] = []
        var refused: [Int: ErrorCode] = [:]
        var order: [(String, Int32)] = []
        for t in r.topics {
            let topicAllowed = allowed(session, .read, .topic, t.name)
            for p in t.partitions {
                order.append((t.name, p.partitionIndex))
                if !idAllowed {
                    refused[order.count - 1] = .transactionalIdAuthorizationFailed
                } else if !groupAllowed {
                    refused[order.count - 1] = .groupAuthorizationFailed
                } else if !topicAllowed {
                    refused[order.count - 1] = .topicAuthorizationFailed
                } else if image.topics[t.name]?.partitions[p.partitionIndex] == nil {
                    refused[order.count - 1] = .unknownTopicOrPartition
                } else {
                    flat.append(
                        (t.name, p.partitionIndex, p.committedOffset, p.committedLeaderEpoch, p.committedMetadata))
                }
            }
        }
        let committed: EventLoopFuture<[ErrorCode]> =
            flat.isEmpty
            ? loop.makeSucceededFuture([])
            : (coordinator?.commit(
                group: r.groupId, generation: r.generationId, memberId: r.memberId, instanceId: r.groupInstanceId,
                offsets: flat, producer: (r.producerId, r.producerEpoch))
                ?? loop.makeSucceededFuture(flat.map { _ in .coordinatorNotAvailable }))
        return committed.hop(to: loop).map { [refused, order] codes in
            var served = codes.makeIterator()
            let all = order.indices.map { refused[$0] ?? served.next() ?? .unknownServerError }
            var out = TxnOffsetCommitResponse()
            var topics: [TxnOffsetCommitResponse.Topic] = []
            for (i, (name, p)) in order.enumerated() {
                var x = TxnOffsetCommitResponse.Partition()
                x.partitionIndex = p
                x.errorCode = all[i].rawValue
                if topics.last?.name == name {
                    topics[topics.count - 1].partitions.append(x)
                } else {
                    topics.append(.init(name: name, partitions: [x]))
                }
            }
            out.topics = topics
            return out
        }
    }

    func describeTransactions(_ r: DescribeTransactionsRequest, session: Session, on loop: any EventLoop)
        -> EventLoopFuture<DescribeTransactionsResponse>
    {
        let ids = Array(Set(r.transactionalIds)).sorted()
        let allowedIds = ids.filter { allowed(session, .describe, .transactionalId, $0) }
        let denied = ids.filter { !allowedIds.contains($0) }.map {
            id -> DescribeTransactionsResponse.TransactionState in
            var s = DescribeTransactionsResponse.TransactionState()
            s.transactionalId = id
            s.errorCode = ErrorCode.transactionalIdAuthorizationFailed.rawValue
            return s
        }
        let described: EventLoopFuture<[DescribeTransactionsResponse.TransactionState]> =
            transactions?.describe(allowedIds)
            ?? loop.makeSucceededFuture(
                allowedIds.map {
                    var s = DescribeTransactionsResponse.TransactionState()
                    s.transactionalId = $0
                    s.errorCode = ErrorCode.coordinatorNotAvailable.rawValue
                    return s
                })
        return described.hop(to: loop).map {
            var out = DescribeTransactionsResponse()
            out.transactionStates = $0 + denied
            return out
        }
    }

    func listTransactions(_ r: ListTransactionsRequest, session: Session, on loop: any EventLoop)
        -> EventLoopFuture<ListTransactionsResponse>
    {
        guard let t = transactions else { return loop.makeSucceededFuture(ListTransactionsResponse()) }
        return t.list(r).hop(to: loop).map { [self] in
            var out = $0
            out.transactionStates.removeAll { !allowed(session, .describe, .transactionalId, $0.transactionalId) }
            return out
        }
    }

    /// DescribeProducers, on a partition's leader: the producers with state in its log.
    func describeProducers(_ r: DescribeProducersRequest, session: Session) -> DescribeProducersResponse {
        var out = DescribeProducersResponse()
        out.topics = r.topics.map { t in
            var topic = DescribeProducersResponse.Topic()
            topic.name = t.name
            let topicAllowed = allowed(session, .read, .topic, t.name)
            topic.partitions = Array(Set(t.partitionIndexes)).sorted().map { index in
                var p = DescribeProducersResponse.Partition()
                p.partitionIndex = index
                guard topicAllowed else {
                    p.errorCode = ErrorCode.topicAuthorizationFailed.rawValue
                    return p
                }
                guard let partition = registry.partition(t.name, index) else {
                    p.errorCode =
                        (registry.image.topics[t.name]?.partitions[index] != nil
                        ? ErrorCode.notLeaderOrFollower : .unknownTopicOrPartition).rawValue
                    return p
                }
                guard partition.isLeader else {
                    p.errorCode = ErrorCode.notLeaderOrFollower.rawValue
                    return p
                }
                p.activeProducers = partition.log.producerStates.map { s in
                    var x = DescribeProducersResponse.ProducerState()
                    x.producerId = s.producerId
                    x.producerEpoch = Int32(s.producerEpoch)
                    x.lastSequence = s.lastSequence
                    x.lastTimestamp = s.lastTimestamp
                    x.currentTxnStartOffset = s.currentTxnStartOffset
                    return x
                }
                return p
            }
            return topic
        }
        return out
    }

    /// Asks the controller for `__transaction_state` (compacted; min.insync.replicas
    /// `transaction.state.log.min.isr`), once at a time.
    func createTransactionTopic(_ image: MetadataImage) {
        createInternalTopic(
            TransactionCoordinator.topic, partitions: config.transactionTopicPartitions,
            replicationFactor: config.transactionTopicReplicationFactor, minIsr: config.transactionTopicMinIsr,
            busy: creatingTransactionTopic, purpose: "transactions", image)
    }
}
