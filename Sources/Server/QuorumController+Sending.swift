import KafkaClient
import KafkaProtocol
import NIOCore
import Raft
import Storage

extension QuorumController {

    func send(_ message: RaftMessage, to peer: Int32) {
        switch message {
        case .voteResponse(let r):
            guard let promise = pendingVotes.removeValue(forKey: peer) else { return }
            var p = QuorumPartitionResult()
            p.leaderId = r.leaderId ?? -1
            p.leaderEpoch = r.epoch
            p.voteGranted = r.granted
            var t = QuorumTopicResult()
            t.topicName = Self.topicName
            t.partitions = [p]
            var resp = KafkaProtocol.VoteResponse()
            resp.topics = [t]
            promise.succeed(resp)
        case .fetchResponse(let r):
            guard let promise = pendingFetches.removeValue(forKey: peer) else { return }
            if !answeringParked, node.isLeader, case .entries(let entries) = r.outcome, entries.isEmpty,
                r.fetchOffset == node.log.endOffset, lastSentHighWatermark[peer] == r.highWatermark
            {
                // Nothing new for a caught-up follower: hold the fetch (KRaft's long poll).
                let request = RaftFetchRequest(
                    epoch: r.epoch, replicaId: peer, fetchOffset: r.fetchOffset, lastFetchedEpoch: node.log.lastEpoch)
                let timeout = loop.scheduleTask(in: .milliseconds(Self.fetchParkMs)) { [self] in
                    answerParked(only: peer)
                }
                parkedFetches.removeValue(forKey: peer)?.promise.succeed(encodeFetchResponse(r))
                parkedFetches[peer] = (request, promise, timeout)
                return
            }
            lastSentHighWatermark[peer] = r.highWatermark
            promise.succeed(encodeFetchResponse(r))
        case .vote(let v):
            var p = KafkaProtocol.VoteRequest.Partition()
            p.candidateEpoch = v.candidateEpoch
            p.candidateId = v.candidateId
            p.lastOffsetEpoch = v.lastOffsetEpoch
            p.lastOffset = v.lastOffset
            p.preVote = v.preVote
            var t = KafkaProtocol.VoteRequest.Topic()
            t.topicName = Self.topicName
            t.partitions = [p]
            var req = KafkaProtocol.VoteRequest()
            req.clusterId = clusterId
            req.voterId = peer
            req.topics = [t]
            call(peer, req, as: KafkaProtocol.VoteResponse.self) { resp in
                guard let p = resp.topics.first?.partitions.first else { return nil }
                return .voteResponse(
                    RaftVoteResponse(
                        epoch: p.leaderEpoch, granted: p.voteGranted, preVote: v.preVote,
                        leaderId: p.leaderId >= 0 ? p.leaderId : nil))
            }
        case .beginQuorumEpoch(let epoch, let leader):
            var p = BeginQuorumEpochRequest.Partition()
            p.leaderId = leader
            p.leaderEpoch = epoch
            var t = BeginQuorumEpochRequest.Topic()
            t.topicName = Self.topicName
            t.partitions = [p]
            var req = BeginQuorumEpochRequest()
            req.clusterId = clusterId
            req.voterId = peer
            req.topics = [t]
            call(peer, req, as: BeginQuorumEpochResponse.self) { _ in nil }
        case .endQuorumEpoch(let epoch, let leader):
            var p = EndQuorumEpochRequest.Partition()
            p.leaderId = leader
            p.leaderEpoch = epoch
            var t = EndQuorumEpochRequest.Topic()
            t.topicName = Self.topicName
            t.partitions = [p]
            var req = EndQuorumEpochRequest()
            req.clusterId = clusterId
            req.topics = [t]
            call(peer, req, as: EndQuorumEpochResponse.self) { _ in nil }
        case .fetchSnapshotResponse(let r):
            guard let promise = pendingSnapshotFetches.removeValue(forKey: peer) else { return }
            promise.succeed(Self.encodeFetchSnapshotResponse(r))
        case .fetchSnapshot(let f):
            var p = FetchSnapshotRequest.Partition()
            p.currentLeaderEpoch = f.epoch
            p.endOffset = f.endOffset
            p.epoch = f.snapshotEpoch
            p.position = f.position
            var t = FetchSnapshotRequest.Topic()
            t.name = Self.topicName
            t.partitions = [p]
            var req = FetchSnapshotRequest()
            req.clusterId = clusterId
            req.replicaId = id
            req.topics = [t]
            call(peer, req, as: FetchSnapshotResponse.self) { resp in Self.decodeFetchSnapshotResponse(resp, request: f)
            }
        case .fetch(let f):
            var fp = KafkaProtocol.FetchRequest.Partition()
            fp.partition = 0
            fp.currentLeaderEpoch = f.epoch
            fp.fetchOffset = f.fetchOffset
            fp.lastFetchedEpoch = f.lastFetchedEpoch
            fp.partitionMaxBytes = 1 << 20
            var ft = KafkaProtocol.FetchRequest.Topic()
            ft.topic = Self.topicName
            ft.partitions = [fp]
            var req = KafkaProtocol.FetchRequest()
            req.replicaId = id
            req.maxWaitMs = 0
            req.minBytes = 0
            req.topics = [ft]
            req.clusterId = clusterId
            // Only the answer to the latest fetch sent to this peer reaches the node. Two can be
            // out at once (a resend after the request timeout while the first is held); the
            // leader then answers the older one empty as it holds the newer, and a follower
            // taking that answer would fetch a third at once, and so on at network speed.
            let number = (lastFetchSent[peer] ?? 0) &+ 1
            lastFetchSent[peer] = number
            call(peer, req, as: KafkaProtocol.FetchResponse.self, latest: { [self] in lastFetchSent[peer] == number }) {
                resp in
                Self.decodeFetchResponse(resp, request: f)
            }
        }
    }

    /// Sends a request to a voter in the background; its answer, if it becomes a Raft message,
    /// is fed back to the node on the controller's loop. Failures are dropped: Raft retries.
    private func call<Req: KafkaMessage, Resp: KafkaMessage>(
        _ peer: Int32, _ request: Req, as: Resp.Type, latest: (@Sendable () -> Bool)? = nil,
        _ toRaft: @escaping @Sendable (Resp) -> RaftMessage?
    ) {
        background.run { [self] in
            do {
                let c = try await connection(to: peer)
                let resp = try await c.send(request, as: Resp.self, timeoutMs: 2000)
                if let message = toRaft(resp), !background.isStopping {
                    loop.execute { [self] in
                        guard latest?() ?? true else { return }
                        carryOut(node.receive(message, from: peer, nowMs: clock.monotonicMs))
                    }
                }
            } catch {
                dropConnection(to: peer, lane: .raft)
                // A peer that is down is Raft's everyday business; a refused TLS handshake or
                // login is a configuration to fix, and the quorum cannot form until it is.
                switch error {
                case KafkaClientError.connectionFailed, KafkaClientError.connectionClosed, KafkaClientError.timedOut:
                    break
                default:
                    peerLogLimiter.warn(
                        logger,
                        "cannot reach voter \(peer) over its CONTROLLER listener: \(KafkaClientError.reason(error))")
                }
            }
        }
    }
}
