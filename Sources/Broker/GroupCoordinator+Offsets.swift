import KafkaProtocol
import Logging
import NIOCore
import Storage

extension GroupCoordinator {
    /// Commits offsets: checked against the group's membership (a commit without a member and
    /// generation is allowed when the group has no members), written to the group's partition
    /// with acks=all, and answered once replicated.
    ///
    /// With `producer` (TxnOffsetCommit) the records go as a transactional batch of that
    /// producer and the offsets stay pending until its transaction's marker reaches the
    /// partition (`completeTransaction`): a commit applies them, an abort drops them.
    func commit(
        group groupId: String, generation: Int32, memberId: String, instanceId: String? = nil,
        offsets commits: [(topic: String, partition: Int32, offset: Int64, leaderEpoch: Int32, metadata: String?)],
        producer: (id: Int64, epoch: Int16)? = nil
    ) -> EventLoopFuture<[ErrorCode]> {
        loop.submit { [self] () -> EventLoopFuture<[ErrorCode]> in
            func all(_ e: ErrorCode) -> EventLoopFuture<[ErrorCode]> {
                loop.makeSucceededFuture(commits.map { _ in e })
            }
            if groupId.isEmpty { return all(.invalidGroupId) }
            let owner = ownership(groupId)
            if owner != .none { return all(owner) }
            // A transactional commit without a member and generation (TxnOffsetCommit v0-2) is
            // not checked against the group's membership, as in Kafka.
            let unchecked = producer != nil && generation < 0 && memberId.isEmpty
            if let g = groups[groupId], !unchecked, !(generation < 0 && memberId.isEmpty && g.members.isEmpty) {
                if g.fences(instanceId: instanceId, memberId: memberId) { return all(.fencedInstanceId) }
                guard let m = g.members[memberId] else { return all(.unknownMemberId) }
                guard generation == g.generation else { return all(.illegalGeneration) }
                if g.state == .completingRebalance { return all(.rebalanceInProgress) }
                m.lastHeartbeat = clock.now
            } else if !unchecked && (generation >= 0 || !memberId.isEmpty) {
                return all(.unknownMemberId)
            }
            var b = RecordBatchBuilder()
            if let producer {
                b.producerId = producer.id
                b.producerEpoch = producer.epoch
                b.attributes = ControlBatch.transactionalAttribute
            }
            let now = clock.wallMs
            var results: [ErrorCode] = []
            var accepted: [(OffsetKey, Committed)] = []
            for c in commits {
                if (c.metadata?.utf8.count ?? 0) > 4096 {
                    results.append(.offsetMetadataTooLarge)
                    continue
                }
                let k = OffsetKey(topic: c.topic, partition: c.partition)
                let v = Committed(
                    offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata ?? "", timestamp: now)
                guard let key = try? Self.encodeOffsetKey(groupId, k), let value = try? Self.encodeOffsetValue(v)
                else {
                    results.append(.invalidRequest)
                    continue
                }
                results.append(.none)
                b.append(key: key, value: value, timestamp: now)
                accepted.append((k, v))
            }
            guard b.count > 0 else { return loop.makeSucceededFuture(results) }
            return write(group: groupId, b).map { [self, results, accepted] code in
                guard code == .none else {
                    let mapped: ErrorCode =
                        [.notLeaderOrFollower, .unknownTopicOrPartition].contains(code)
                        ? .notCoordinator : code == .notEnoughReplicas ? .coordinatorNotAvailable : code
                    return results.map { $0 == .none ? mapped : $0 }
                }
                if let producer {
                    for (k, v) in accepted {
                        pendingTxnOffsets[producer.id, default: [:]][groupId, default: [:]][k] = v
                    }
                } else {
                    for (k, v) in accepted { offsets[groupId, default: [:]][k] = v }
                }
                metrics?.offsetsCommitted(accepted.count)
                return results
            }
        }.flatMap { $0 }
    }

    /// A transaction marker reached partitions of `__consumer_offsets`: the producer's pending
    /// offsets for groups of those partitions are committed or dropped.
    func completeTransaction(producerId: Int64, commit: Bool, partitions: Set<Int32>) {
        loop.execute { [self] in
            guard var pending = pendingTxnOffsets[producerId] else { return }
            for (group, committed) in pending
            where partitions.contains(Self.partition(for: group, count: partitionCount)) {
                if commit { offsets[group, default: [:]].merge(committed) { $1 } }
                pending[group] = nil
            }
            pendingTxnOffsets[producerId] = pending.isEmpty ? nil : pending
        }
    }

    /// Whether offsets of the group wait on an open transaction (OffsetFetch's require_stable).
    func hasPendingOffsets(_ group: String) -> Bool {
        pendingTxnOffsets.values.contains { $0[group] != nil }
    }

    /// Committed offsets of a group: all of them (`partitions` nil) or those asked for, -1 for
    /// partitions without a commit.
    /// With `requireStable` (OffsetFetch v7+, what read_committed consumers ask), partitions
    /// whose offsets wait on an open transaction come back in `unstable`, to be retried.
    func fetchOffsets(group groupId: String, partitions: [OffsetKey]?, requireStable: Bool = false)
        -> EventLoopFuture<(ErrorCode, [(OffsetKey, Committed?)], unstable: Set<OffsetKey>)>
    {
        loop.submit { [self] in
            let owner = ownership(groupId)
            if owner != .none { return (owner, [], []) }
            var unstable = Set<OffsetKey>()
            if requireStable {
                for byGroup in pendingTxnOffsets.values {
                    if let keys = byGroup[groupId]?.keys { unstable.formUnion(keys) }
                }
            }
            let known = offsets[groupId] ?? [:]
            if let partitions { return (.none, partitions.map { ($0, known[$0]) }, unstable) }
            return (
                .none,
                known.sorted { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }.map {
                    ($0.key, $0.value)
                },
                unstable
            )
        }
    }

    /// Removes the offsets of groups without members whose last commit is older than the
    /// retention: tombstones go to the log, so a later coordinator does not bring them back.
    /// Returns how many offsets expired.
    @discardableResult
    func expireOffsets(nowMs: Int64) -> EventLoopFuture<Int> {
        loop.submit { [self] () -> EventLoopFuture<Int> in
            var futures: [EventLoopFuture<Int>] = []
            for (id, committed) in offsets where ownership(id) == .none && (groups[id]?.members.isEmpty ?? true) {
                let old = committed.filter { nowMs - $0.value.timestamp > offsetsRetentionMs }.map(\.key)
                guard !old.isEmpty else { continue }
                futures.append(
                    removeOffsets(id, old, nowMs: nowMs).map { [self] code in
                        guard code == .none else { return 0 }
                        logger.info("group \(id): \(old.count) committed offset(s) expired (offsets.retention.minutes)")
                        return old.count
                    })
            }
            return EventLoopFuture.whenAllSucceed(futures, on: loop).map { $0.reduce(0, +) }
        }.flatMap { $0 }
    }

    /// Topics the members subscribe to, read from their consumer-protocol metadata.
    private func subscribedTopics(_ g: Group) -> Set<String> {
        var out = Set<String>()
        for m in g.members.values {
            guard
                let meta = m.protocols.first(where: { $0.name == g.protocolName })?.metadata
                    ?? m.protocols.first?.metadata
            else { continue }
            out.formUnion(ConsumerProtocol.subscribedTopics(ByteBuffer(bytes: meta)))
        }
        return out
    }

    /// OffsetDelete: removes committed offsets of partitions whose topic no member consumes.
    func deleteOffsets(group groupId: String, partitions: [OffsetKey]) -> EventLoopFuture<(ErrorCode, [ErrorCode])> {
        loop.submit { [self] () -> EventLoopFuture<(ErrorCode, [ErrorCode])> in
            let owner = ownership(groupId)
            if owner != .none { return loop.makeSucceededFuture((owner, [])) }
            guard groups[groupId] != nil || offsets[groupId]?.isEmpty == false else {
                return loop.makeSucceededFuture((.groupIdNotFound, []))
            }
            let busy = groups[groupId].map(subscribedTopics) ?? []
            let codes: [ErrorCode] = partitions.map { busy.contains($0.topic) ? .groupSubscribedToTopic : .none }
            let gone = zip(partitions, codes).filter { $0.1 == .none && offsets[groupId]?[$0.0] != nil }.map(\.0)
            guard !gone.isEmpty else { return loop.makeSucceededFuture((.none, codes)) }
            return removeOffsets(groupId, gone, nowMs: clock.wallMs).map { code in
                (.none, code == .none ? codes : codes.map { $0 == .none ? code : $0 })
            }
        }.flatMap { $0 }
    }

    /// Appends records to the group's partition of `__consumer_offsets`; answered on the loop.
    private func write(group: String, _ b: RecordBatchBuilder) -> EventLoopFuture<ErrorCode> {
        write(Self.partition(for: group, count: partitionCount), b.build()).hop(to: loop)
    }

    /// Writes tombstones for some of a group's offsets and, once they are replicated, forgets
    /// them, so a later coordinator reading the partition does not bring them back.
    func removeOffsets(_ group: String, _ keys: [OffsetKey], nowMs: Int64) -> EventLoopFuture<ErrorCode> {
        var b = RecordBatchBuilder()
        for k in keys {
            guard let key = try? Self.encodeOffsetKey(group, k) else { continue }
            b.append(key: key, value: nil, timestamp: nowMs)
        }
        return write(group: group, b).map { [self] code in
            guard code == .none else { return code }
            for k in keys { offsets[group]?[k] = nil }
            if offsets[group]?.isEmpty == true { offsets[group] = nil }
            return code
        }
    }
}
