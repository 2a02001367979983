import KafkaProtocol
import NIOCore
import Raft

extension QuorumController {
    /// The voter set changed in the log: connections and refusals follow the new one.
    func votersChanged(_ set: [VoterEndpoint]) {
        let new = set.map { Voter(id: $0.id, host: $0.host, port: Int($0.port)) }
        let old = currentVoters.withLockedValue { current -> [Voter] in
            defer { current = new }
            return current
        }
        guard old != new else { return }
        // A voter whose address changed is reached at the new one from now on.
        for v in new where old.contains(where: { $0.id == v.id && $0 != v }) {
            for lane in [Lane.raft, .control, .lifecycle] { dropConnection(to: v.id, lane: lane) }
        }
        logger.info(
            "metadata quorum voters are now \(new.map { "\($0.id)@\($0.host):\($0.port)" }) (were \(old.map(\.id)))\(node.isObserver ? "; this node is an observer" : "")"
        )
    }

    /// AddRaftVoter on the active controller: the node must already follow the quorum (a
    /// controller started with a CONTROLLER listener and an id outside the voters) and hold
    /// every committed entry. Answered once the new voter set is committed.
    public func addRaftVoter(_ request: AddRaftVoterRequest) -> EventLoopFuture<AddRaftVoterResponse> {
        loop.submit { [self] () -> EventLoopFuture<AddRaftVoterResponse> in
            if let refused = voterRequestRefusal(request.clusterId) {
                return loop.makeSucceededFuture(AddRaftVoterResponse(refused.0, refused.1))
            }
            let named = request.listeners.first { $0.name == "CONTROLLER" } ?? request.listeners.first
            guard let listener = named, !listener.host.isEmpty, listener.port > 0,
                listener.host.utf8.count <= VoterEndpoint.maxHostBytes
            else {
                return loop.makeSucceededFuture(
                    AddRaftVoterResponse(
                        .invalidRequest, "AddRaftVoter needs the new voter's CONTROLLER listener (host and port)."))
            }
            let voter = VoterEndpoint(
                id: request.voterId, host: listener.host, port: Int32(truncatingIfNeeded: listener.port))
            return changeVoters(
                node.addVoter(voter, nowMs: clock.monotonicMs),
                what: "adding voter \(voter.id) at \(voter.host):\(voter.port)",
                timeoutMs: request.timeoutMs
            ).map { AddRaftVoterResponse($0.0, $0.1) }
        }.flatMap { $0 }
    }

    /// RemoveRaftVoter on the active controller; answered once the smaller set is committed (a
    /// leader that removes itself then hands over).
    public func removeRaftVoter(_ request: RemoveRaftVoterRequest) -> EventLoopFuture<RemoveRaftVoterResponse> {
        loop.submit { [self] () -> EventLoopFuture<RemoveRaftVoterResponse> in
            if let refused = voterRequestRefusal(request.clusterId) {
                return loop.makeSucceededFuture(RemoveRaftVoterResponse(refused.0, refused.1))
            }
            return changeVoters(
                node.removeVoter(request.voterId, nowMs: clock.monotonicMs), what: "removing voter \(request.voterId)",
                timeoutMs: 30_000
            ).map { RemoveRaftVoterResponse($0.0, $0.1) }
        }.flatMap { $0 }
    }

    private func voterRequestRefusal(_ sent: String?) -> (ErrorCode, String)? {
        if let sent, sent != clusterId {
            return (.inconsistentClusterId, "The request names cluster \(sent); this is cluster \(clusterId).")
        }
        guard node.isLeader else { return (.notController, "Node \(id) is not the active controller.") }
        return nil
    }

    /// Carries out an accepted change and waits (up to `timeoutMs`, at least 1 s, at most 60 s)
    /// for the high watermark to pass it.
    private func changeVoters(
        _ result: Result<(offset: Int64, actions: [RaftAction]), RaftNode.VoterChangeError>, what: String,
        timeoutMs: Int32
    ) -> EventLoopFuture<(ErrorCode, String?)> {
        switch result {
        case .failure(let e):
            let answer: (ErrorCode, String)
            switch e {
            case .notLeader: answer = (.notController, "Node \(id) is not the active controller.")
            case .notReady(let why): answer = (.requestTimedOut, "Cannot change the voters yet: \(why).")
            case .duplicateVoter(let v): answer = (.duplicateVoter, "Node \(v) is already a voter.")
            case .voterNotFound(let v): answer = (.voterNotFound, "Node \(v) is not a voter of \(node.voters).")
            case .invalid(let why): answer = (.invalidRequest, why)
            }
            return loop.makeSucceededFuture((answer.0, answer.1))
        case .success(let (offset, actions)):
            logger.info("\(what) (voters entry at offset \(offset))")
            let promise = loop.makePromise(of: (ErrorCode, String?).self)
            let waitMs = Int64(min(max(timeoutMs, 1000), 60_000))
            let timeout = loop.scheduleTask(in: .milliseconds(waitMs)) { [self] in
                pendingVoterChanges.removeAll { $0.offset == offset }
                promise.succeed(
                    (.requestTimedOut, "The voter change at offset \(offset) was not committed within \(waitMs) ms."))
            }
            pendingVoterChanges.append((offset, promise, timeout))
            carryOut(actions)
            settleVoterChanges()
            return promise.futureResult
        }
    }

    /// Answers the voter changes that committed, and refuses those that can no longer commit
    /// here (this node stopped leading, or the entry was truncated away).
    func settleVoterChanges() {
        guard !pendingVoterChanges.isEmpty else { return }
        let hw = node.highWatermark
        let leading = node.isLeader
        var left: [(offset: Int64, promise: EventLoopPromise<(ErrorCode, String?)>, timeout: Scheduled<Void>)] = []
        for p in pendingVoterChanges {
            if p.offset < hw && (node.log.entry(at: p.offset)?.isVoters ?? true) {
                p.timeout.cancel()
                p.promise.succeed((.none, nil))
            } else if !leading {
                p.timeout.cancel()
                p.promise.succeed((.notController, "Node \(id) stopped leading before the voter change committed."))
            } else {
                left.append(p)
            }
        }
        pendingVoterChanges = left
    }
}
