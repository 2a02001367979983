import KafkaCompression
import KafkaProtocol
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Storage

extension Broker {
    struct PartitionKey: Hashable {
        var topic: String
        var index: Int32
    }

    /// Appends every partition's batches; returns the answer and, per partition written, the
    /// last offset (acks=all waits for the high watermark to pass it).
    /// Topics only the broker writes: a client's Produce to them is refused, as Kafka refuses it.
    static let internalTopics: Set<String> = [GroupCoordinator.topic, "__transaction_state"]

    /// `listener` is the one the request arrived on: v10+ answers name the current leader of a
    /// partition this broker does not lead, with that listener's address of it (KIP-951).
    func produce(_ request: ProduceRequest, version: Int16, fromClient: Bool = false, listener: String? = nil) -> (
        ProduceResponse, [PartitionKey: Int64]
    ) {
        var response = ProduceResponse()
        var lastOffsets: [PartitionKey: Int64] = [:]
        let acksValid = [-1, 0, 1].contains(request.acks)
        for topic in request.topics {
            var tr = ProduceResponse.TopicResponse()
            tr.name = topic.name
            for pd in topic.partitions {
                var pr = ProduceResponse.PartitionResponse()
                pr.index = pd.index
                defer { tr.partitions.append(pr) }
                guard acksValid else {
                    pr.errorCode = ErrorCode.invalidRequiredAcks.rawValue
                    continue
                }
                if fromClient && Self.internalTopics.contains(topic.name) {
                    pr.errorCode = ErrorCode.invalidTopicException.rawValue
                    pr.errorMessage = "Cannot append to internal topic \(topic.name)"
                    continue
                }
                if fromClient, let records = pd.records {
                    let kinds = Self.batchKinds(records)
                    if kinds.control {
                        // Markers come from transaction coordinators only (WriteTxnMarkers).
                        pr.errorCode = ErrorCode.invalidRecord.rawValue
                        pr.errorMessage = "a client may not write control batches"
                        continue
                    }
                    if kinds.transactional && request.transactionalId == nil {
                        // As Kafka: transactional records need the transactional id they belong to
                        // (whose WRITE the authorizer checks), so no producer opens a transaction
                        // here that no coordinator knows of.
                        pr.errorCode = ErrorCode.transactionalIdAuthorizationFailed.rawValue
                        pr.errorMessage = "transactional records need the request's transactional_id"
                        continue
                    }
                }
                guard let partition = registry.partition(topic.name, pd.index) else {
                    let known = registry.image.topics[topic.name]?.partitions[pd.index]
                    pr.errorCode = (known != nil ? ErrorCode.notLeaderOrFollower : .unknownTopicOrPartition).rawValue
                    if let known, known.leader >= 0 {
                        pr.currentLeader = .init(leaderId: known.leader, leaderEpoch: known.leaderEpoch)
                    }
                    continue
                }
                let (leader, leaderEpoch) = partition.leadership
                guard leader == config.nodeId else {
                    // Clients refresh metadata on this error and send to the new leader; v10+
                    // clients are told who that is at once.
                    pr.errorCode = ErrorCode.notLeaderOrFollower.rawValue
                    if leader >= 0 { pr.currentLeader = .init(leaderId: leader, leaderEpoch: leaderEpoch) }
                    continue
                }
                if request.acks == -1 {
                    let isr = partition.isr.count
                    let required = minInsyncReplicas(topic.name)
                    if isr < required {
                        pr.errorCode = ErrorCode.notEnoughReplicas.rawValue
                        let replicas = partition.replicas.count
                        pr.errorMessage =
                            "the ISR has \(isr) replica(s), min.insync.replicas is \(required)"
                            + (replicas < required
                                ? "; the topic has only \(replicas) replica(s), so acks=all can never succeed: lower its min.insync.replicas (kafka-configs.sh --alter --entity-type topics --entity-name \(topic.name) --add-config min.insync.replicas=\(replicas)) or produce with acks=1"
                                : "")
                        continue
                    }
                }
                guard var records = pd.records else {
                    pr.errorCode = ErrorCode.invalidRecord.rawValue
                    pr.errorMessage = "null records"
                    continue
                }
                if version <= 2 && LegacyMessageSet.isLegacy(records) {
                    // Magic 0/1 message sets become one v2 batch on the way in, as in Kafka 3.x.
                    do {
                        records = try LegacyMessageSet.upConvert(records, limit: PartitionLog.recompressLimit)
                    } catch {
                        pr.errorCode = ErrorCode.corruptMessage.rawValue
                        pr.errorMessage = "\(error)"
                        continue
                    }
                }
                switch partition.log.append(records: records, leaderEpoch: leaderEpoch) {
                case .success(let a):
                    if fromClient {
                        metrics.recordProduced(
                            partition.topic, records: Int(a.lastOffset - a.baseOffset + 1),
                            bytes: records.readableBytes)
                    }
                    pr.baseOffset = a.baseOffset
                    pr.logAppendTimeMs = a.logAppendTimeMs
                    pr.logStartOffset = a.logStartOffset
                    lastOffsets[PartitionKey(topic: topic.name, index: pd.index)] = a.lastOffset
                    partition.notifyAppended()
                    for r in partition.replicasNotHeardFrom(nowMs: clock.monotonicMs) { wakeReplicaFetches(of: r) }
                    partition.advanceHighWatermark(nowMs: clock.monotonicMs)
                case .failure(let e):
                    pr.errorCode = e.errorCode.rawValue
                    pr.errorMessage = e.message
                    if case .invalidRecords(let indexes, let why) = e {
                        // KIP-467: which records were at fault; clients fail the others with a
                        // different error ("another record in the batch was invalid").
                        pr.recordErrors = indexes.map {
                            var r = ProduceResponse.RecordError()
                            r.batchIndex = $0
                            r.message = why
                            return r
                        }
                    }
                    if case .duplicateSequence(let offset) = e {
                        pr.errorCode = 0
                        pr.baseOffset = offset
                    }
                    logger.debug("produce to \(topic.name)-\(pd.index) refused: \(e.message)")
                }
            }
            response.responses.append(tr)
        }
        if version >= 10 { response.nodeEndpoints = nodeEndpoints(of: response, listener: listener) }
        if fromClient, response.responses.contains(where: { $0.partitions.contains { $0.errorCode != 0 } }) {
            metrics.produceFailed()
        }
        return (response, lastOffsets)
    }

    /// The addresses, on `listener`, of the leaders an answer names (KIP-951), each once.
    func nodeEndpoints(of response: ProduceResponse, listener: String?) -> [ProduceResponse.NodeEndpoint] {
        let leaders = Set(response.responses.flatMap { $0.partitions.compactMap { $0.currentLeader?.leaderId } })
        guard !leaders.isEmpty else { return [] }
        let brokers = registry.image.brokers
        return leaders.sorted().compactMap { id in
            guard let broker = brokers[id], let address = broker.endpoint(listener) else { return nil }
            var e = ProduceResponse.NodeEndpoint()
            e.nodeId = id
            e.host = address.host
            e.port = address.port
            e.rack = broker.rack
            return e
        }
    }

    /// Whether a produce's records hold a control batch or a transactional one (the batches'
    /// headers are walked).
    static func batchKinds(_ records: ByteBuffer) -> (control: Bool, transactional: Bool) {
        var i = records.readerIndex
        var out = (control: false, transactional: false)
        while let h = RecordBatchHeader.peek(records, at: i) {
            if h.magic == 2 {
                out.control = out.control || h.isControl
                out.transactional = out.transactional || h.isTransactional
            }
            guard h.batchLength > 0 else { break }
            i += h.totalSize
        }
        return out
    }

    /// InitProducerId without a transactional id: a new idempotent producer id (or the same id
    /// with its epoch bumped).
    func initProducerId(_ request: InitProducerIdRequest) throws -> InitProducerIdResponse {
        var r = InitProducerIdResponse()
        if request.producerId >= 0 {
            // A producer bumping its epoch keeps its id.
            r.producerId = request.producerId
            r.producerEpoch = request.producerEpoch &+ 1
            return r
        }
        r.producerId = try producerIds.allocate()
        r.producerEpoch = 0
        return r
    }

    /// A group's coordinator is the leader of its partition of `__consumer_offsets`, which is
    /// created on the first request (COORDINATOR_NOT_AVAILABLE until it has leaders; clients
    /// retry). A transactional id's coordinator is likewise the leader of its partition of
    /// `__transaction_state`.
    func findCoordinator(_ request: FindCoordinatorRequest, version: Int16, listener: String?)
        -> FindCoordinatorResponse
    {
        var r = FindCoordinatorResponse()
        let image = registry.image
        r.coordinators = request.keys.map { key in
            var c = FindCoordinatorResponse.Coordinator()
            c.key = key
            c.nodeId = -1
            let transactional = request.keyType == FindCoordinatorRequest.transactionKeyType
            guard transactional || request.keyType == FindCoordinatorRequest.groupKeyType else {
                c.errorCode = ErrorCode.invalidRequest.rawValue
                c.errorMessage = "unknown key type \(request.keyType)"
                return c
            }
            let topic = transactional ? TransactionCoordinator.topic : GroupCoordinator.topic
            guard let t = image.topics[topic] else {
                if transactional { createTransactionTopic(image) } else { createOffsetsTopic(image) }
                c.errorCode = ErrorCode.coordinatorNotAvailable.rawValue
                c.errorMessage = "creating \(topic)"
                return c
            }
            let p = GroupCoordinator.partition(for: key, count: Int32(t.partitionCount))
            guard let part = t.partitions[p], part.leader >= 0, let e = image.brokers[part.leader]?.endpoint(listener)
            else {
                c.errorCode = ErrorCode.coordinatorNotAvailable.rawValue
                c.errorMessage = "\(topic)-\(p) has no leader"
                return c
            }
            c.nodeId = part.leader
            c.host = e.host
            c.port = e.port
            return c
        }
        if version <= 3, let first = r.coordinators.first {
            r.errorCode = first.errorCode
            r.errorMessage = first.errorMessage
            r.nodeId = first.nodeId
            r.host = first.host
            r.port = first.port
        }
        return r
    }

    /// Asks the controller for `__consumer_offsets` (compacted; as many replicas as wanted and
    /// live), once at a time.
    func createOffsetsTopic(_ image: MetadataImage) {
        createInternalTopic(
            GroupCoordinator.topic, partitions: config.offsetsTopicPartitions,
            replicationFactor: config.offsetsTopicReplicationFactor, minIsr: nil, busy: creatingOffsetsTopic,
            purpose: "consumer groups", image)
    }

    /// Asks the controller for an internal topic (compacted, 100 MB segments; as many replicas
    /// as wanted and live, `minIsr` capped at those), while `busy` says no request is already out.
    func createInternalTopic(
        _ name: String, partitions: Int32, replicationFactor: Int16, minIsr: Int16?, busy: NIOLockedValueBox<Bool>,
        purpose: String, _ image: MetadataImage
    ) {
        guard let gateway = gateway.withLockedValue({ $0 }) else { return }
        let start = busy.withLockedValue { busy -> Bool in
            if busy { return false }
            busy = true
            return true
        }
        guard start else { return }
        var t = CreateTopicsRequest.Topic()
        t.name = name
        t.numPartitions = partitions
        t.replicationFactor = min(replicationFactor, Int16(clamping: max(1, image.liveBrokers.count)))
        t.configs = [
            .init(name: "cleanup.policy", value: "compact"), .init(name: "segment.bytes", value: "104857600"),
        ]
        if let minIsr {
            t.configs.append(.init(name: "min.insync.replicas", value: String(min(minIsr, t.replicationFactor))))
        }
        var request = CreateTopicsRequest()
        request.topics = [t]
        logger.info(
            "creating \(name) (\(t.numPartitions) partitions, replication factor \(t.replicationFactor)) for \(purpose)"
        )
        gateway.createTopics(request).whenComplete { _ in busy.withLockedValue { $0 = false } }
    }
}
