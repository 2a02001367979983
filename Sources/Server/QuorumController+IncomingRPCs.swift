import Broker
import KafkaProtocol
import NIOCore
import Raft
import Storage

extension QuorumController {
    /// Who answers each API of the CONTROLLER listener (the table in ApiKey says which those are).
    static let controllerApis = ApiDispatch<QuorumController>(
        .controller,
        [
            .apiVersions: { _, c in try c.answerApiVersions(for: .controller) },
            .vote: { q, c in c.answer(q.onVote(try c.decode())) },
            .beginQuorumEpoch: { q, c in try q.onBeginQuorumEpoch(c) },
            .endQuorumEpoch: { q, c in try q.onEndQuorumEpoch(c) },
            .fetch: { q, c in c.answer(q.onFetch(try c.decode())) },
            .fetchSnapshot: { q, c in c.answer(q.onFetchSnapshot(try c.decode())) },
            .describeQuorum: { q, c in c.answer(q.describe()) },
            .brokerRegistration: { q, c in c.answer(q.register(try c.decode())) },
            .brokerHeartbeat: { q, c in c.answer(q.heartbeat(try c.decode())) },
            .createTopics: { q, c in c.answer(q.createTopics(try c.decode())) },
            .deleteTopics: { q, c in c.answer(q.deleteTopics(try c.decode())) },
            .createPartitions: { q, c in c.answer(q.createPartitions(try c.decode())) },
            .electLeaders: { q, c in c.answer(q.electLeaders(try c.decode())) },
            .alterPartitionReassignments: { q, c in c.answer(q.alterPartitionReassignments(try c.decode())) },
            .listPartitionReassignments: { q, c in c.answer(q.listPartitionReassignments(try c.decode())) },
            .alterPartition: { q, c in c.answer(q.alterPartition(try c.decode())) },
            .incrementalAlterConfigs: { q, c in c.answer(q.incrementalAlterConfigs(try c.decode())) },
            .alterUserScramCredentials: { q, c in c.answer(q.alterUserScramCredentials(try c.decode())) },
            .createAcls: { q, c in c.answer(q.createAcls(try c.decode())) },
            .deleteAcls: { q, c in c.answer(q.deleteAcls(try c.decode())) },
            .unregisterBroker: { q, c in c.answer(q.unregisterBroker(try c.decode())) },
            .addRaftVoter: { q, c in c.answer(q.addRaftVoter(try c.decode())) },
            .removeRaftVoter: { q, c in c.answer(q.removeRaftVoter(try c.decode())) },
        ])

    /// Answers one request that arrived on the CONTROLLER listener.
    public func handle(_ header: RequestHeader, body: ByteBuffer, on caller: any EventLoop) -> EventLoopFuture<
        ByteBuffer?
    > {
        Self.controllerApis.dispatch(self, header, body: body, on: caller, listener: nil, session: Session())
    }

    private func onBeginQuorumEpoch(_ c: ApiCall) throws -> EventLoopFuture<ByteBuffer?> {
        let req = try c.decode(BeginQuorumEpochRequest.self)
        let p = req.topics.first?.partitions.first
        return try onQuorumEpoch(
            c, "BeginQuorumEpoch", clusterId: req.clusterId, leader: p.map { ($0.leaderId, $0.leaderEpoch) },
            message: { .beginQuorumEpoch(epoch: $0, leaderId: $1) },
            answer: { code in
                var r = BeginQuorumEpochResponse()
                r.errorCode = code
                return r
            })
    }

    private func onEndQuorumEpoch(_ c: ApiCall) throws -> EventLoopFuture<ByteBuffer?> {
        let req = try c.decode(EndQuorumEpochRequest.self)
        let p = req.topics.first?.partitions.first
        return try onQuorumEpoch(
            c, "EndQuorumEpoch", clusterId: req.clusterId, leader: p.map { ($0.leaderId, $0.leaderEpoch) },
            message: { .endQuorumEpoch(epoch: $0, leaderId: $1) },
            answer: { code in
                var r = EndQuorumEpochResponse()
                r.errorCode = code
                return r
            })
    }

    /// BeginQuorumEpoch and EndQuorumEpoch: a leader's word about its epoch, fed to the node
    /// unless it comes from outside this cluster's voters; answered at once.
    private func onQuorumEpoch<Response: KafkaMessage>(
        _ c: ApiCall, _ name: StaticString, clusterId: String?, leader: (id: Int32, epoch: Int32)?,
        message: @escaping @Sendable (Int32, Int32) -> RaftMessage, answer: (Int16) -> Response
    ) throws -> EventLoopFuture<ByteBuffer?> {
        guard let leader else { return try c.answer(answer(0)) }
        if let refused = refusal(clusterId: clusterId, sender: leader.id, name) {
            return try c.answer(answer(refused.rawValue))
        }
        loop.execute { [self] in
            carryOut(node.receive(message(leader.epoch, leader.id), from: leader.id, nowMs: clock.monotonicMs))
        }
        return try c.answer(answer(0))
    }

    /// Why a quorum RPC is refused before Raft sees it: it must name this cluster (a missing
    /// cluster id is refused too: every Tern peer sends it) and come from another voter, or, for
    /// fetches (`observer`), from a broker-only node: a node id that is not negative, one of at
    /// most `RaftNode.maxObservers` heard from in the last `observerExpiryMs`. Raft then drops
    /// epochs and offsets out of range (`RaftMessage.isPlausible`).
    func refusal(clusterId sent: String?, sender: Int32, _ what: StaticString, observer: Bool = false) -> ErrorCode? {
        guard sent == clusterId else {
            peerLogLimiter.warn(
                logger,
                "refused \(what) from node \(sender): cluster id \(sent.map { "'\($0.truncatedUTF8(toBytes: 64))'" } ?? "missing"), this cluster is '\(clusterId)'"
            )
            return .inconsistentClusterId
        }
        if observer, sender >= 0, sender != id, !voters.contains(where: { $0.id == sender }) {
            return admitObserver(sender) ? nil : .inconsistentVoterSet
        }
        guard sender != id, voters.contains(where: { $0.id == sender }) else {
            peerLogLimiter.warn(
                logger, "refused \(what) from node \(sender), which is not another voter of \(voters.map(\.id))")
            return .inconsistentVoterSet
        }
        return nil
    }

    /// Whether a broker-only node may fetch the metadata log: there is room for it among the
    /// observers heard from lately (what each costs here: a parked fetch and a few numbers).
    /// Observers silent for `observerExpiryMs` are forgotten first.
    func admitObserver(_ sender: Int32) -> Bool {
        let now = clock.monotonicMs
        if observerSeenMs[sender] == nil {
            for (o, seen) in observerSeenMs where now - seen > Self.observerExpiryMs { forgetObserver(o) }
            guard observerSeenMs.count < RaftNode.maxObservers else {
                peerLogLimiter.warn(
                    logger,
                    "refused a metadata fetch from node \(sender): \(RaftNode.maxObservers) broker-only nodes already follow the quorum"
                )
                return false
            }
        }
        observerSeenMs[sender] = now
        return true
    }

    private func forgetObserver(_ o: Int32) {
        observerSeenMs.removeValue(forKey: o)
        lastFetchWallMs.removeValue(forKey: o)
        lastSentHighWatermark.removeValue(forKey: o)
        if let parked = parkedFetches.removeValue(forKey: o) {
            parked.timeout.cancel()
            parked.promise.succeed(fencedFetchAnswer(at: parked.request.fetchOffset))
        }
    }

    private func onVote(_ req: KafkaProtocol.VoteRequest) -> EventLoopFuture<KafkaProtocol.VoteResponse> {
        let promise = loop.makePromise(of: KafkaProtocol.VoteResponse.self)
        loop.execute { [self] in
            let refused = (req.topics.first?.partitions.first).flatMap {
                // A node outside the voters (removed while away) is answered by Raft, which refuses
                // it and names the leader so that it follows instead of campaigning.
                refusal(clusterId: req.clusterId, sender: $0.candidateId, "Vote", observer: true)
            }
            guard let p = req.topics.first?.partitions.first, refused == nil else {
                var r = KafkaProtocol.VoteResponse()
                r.errorCode = (refused ?? .invalidRequest).rawValue
                promise.succeed(r)
                return
            }
            pendingVotes[p.candidateId]?.succeed(KafkaProtocol.VoteResponse())
            pendingVotes[p.candidateId] = promise
            let vote = RaftVoteRequest(
                candidateEpoch: p.candidateEpoch, candidateId: p.candidateId, lastOffsetEpoch: p.lastOffsetEpoch,
                lastOffset: p.lastOffset,
                preVote: p.preVote)
            carryOut(node.receive(.vote(vote), from: p.candidateId, nowMs: clock.monotonicMs))
            if let left = pendingVotes.removeValue(forKey: p.candidateId) {
                left.succeed(KafkaProtocol.VoteResponse())  // the node chose not to answer: not granted
            }
        }
        return promise.futureResult
    }

    private func onFetchSnapshot(_ req: FetchSnapshotRequest) -> EventLoopFuture<FetchSnapshotResponse> {
        let promise = loop.makePromise(of: FetchSnapshotResponse.self)
        loop.execute { [self] in
            let refused = refusal(clusterId: req.clusterId, sender: req.replicaId, "FetchSnapshot", observer: true)
            guard let p = req.topics.first?.partitions.first, refused == nil else {
                var r = FetchSnapshotResponse()
                r.errorCode = (refused ?? .invalidRequest).rawValue
                promise.succeed(r)
                return
            }
            let replica = req.replicaId
            lastFetchWallMs[replica] = clock.wallMs
            let request = RaftFetchSnapshotRequest(
                epoch: p.currentLeaderEpoch, replicaId: replica, endOffset: p.endOffset, snapshotEpoch: p.epoch,
                position: p.position)
            let notServed = Self.encodeFetchSnapshotResponse(
                RaftFetchSnapshotResponse(
                    epoch: node.epoch, leaderId: node.leaderId, endOffset: p.endOffset, snapshotEpoch: p.epoch,
                    outcome: .fenced))
            pendingSnapshotFetches[replica]?.succeed(notServed)
            pendingSnapshotFetches[replica] = promise
            carryOut(node.receive(.fetchSnapshot(request), from: replica, nowMs: clock.monotonicMs))
            pendingSnapshotFetches.removeValue(forKey: replica)?.succeed(notServed)
        }
        return promise.futureResult
    }

    private func onFetch(_ req: KafkaProtocol.FetchRequest) -> EventLoopFuture<KafkaProtocol.FetchResponse> {
        let promise = loop.makePromise(of: KafkaProtocol.FetchResponse.self)
        loop.execute { [self] in
            let refused = refusal(clusterId: req.clusterId, sender: req.replicaId, "Fetch", observer: true)
            guard let p = req.topics.first?.partitions.first, refused == nil else {
                var r = KafkaProtocol.FetchResponse()
                r.errorCode = (refused ?? .invalidRequest).rawValue
                promise.succeed(r)
                return
            }
            let replica = req.replicaId
            lastFetchWallMs[replica] = clock.wallMs
            pendingFetches[replica]?.succeed(replacedFetchAnswer(at: p.fetchOffset))
            pendingFetches[replica] = promise
            let fetch = RaftFetchRequest(
                epoch: p.currentLeaderEpoch, replicaId: replica, fetchOffset: p.fetchOffset,
                lastFetchedEpoch: p.lastFetchedEpoch)
            carryOut(node.receive(.fetch(fetch), from: replica, nowMs: clock.monotonicMs))
            if let left = pendingFetches.removeValue(forKey: replica) {
                left.succeed(replacedFetchAnswer(at: p.fetchOffset))
            }
        }
        return promise.futureResult
    }

    // MARK: - Parked fetches

    /// Answers parked fetches by running them through the node again (now with new entries or
    /// a new high watermark, or empty at their deadline).
    func answerParked(only peer: Int32? = nil) {
        let peers = peer.map { [$0] } ?? Array(parkedFetches.keys)
        for p in peers {
            guard let parked = parkedFetches.removeValue(forKey: p) else { continue }
            parked.timeout.cancel()
            pendingFetches[p]?.succeed(replacedFetchAnswer(at: parked.request.fetchOffset))
            pendingFetches[p] = parked.promise
            answeringParked = true
            carryOut(node.receive(.fetch(parked.request), from: p, nowMs: clock.monotonicMs))
            answeringParked = false
            if let left = pendingFetches.removeValue(forKey: p) {
                left.succeed(replacedFetchAnswer(at: parked.request.fetchOffset))
            }
        }
    }
}
