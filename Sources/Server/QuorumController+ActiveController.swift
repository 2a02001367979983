import KafkaProtocol
import Metadata
import NIOCore
import Raft

typealias Completion = EventLoopPromise<(first: Int64, last: Int64)>

/// The active controller: the quorum leader decides metadata changes one at a time, each on
/// the committed image, proposes the records, and answers when they commit. Broker sessions
/// live here: a broker whose heartbeats stop for `broker.session.timeout.ms` is fenced.
extension QuorumController {
    static let sessionTimeoutMs: Int64 = 9000

    var isActive: Bool { node.isLeader }

    /// Queues a controller decision. The future gives the offsets of the records written, or
    /// fails with `ControllerError` (NOT_CONTROLLER when this node does not lead).
    public func submit(_ decide: @escaping @Sendable (MetadataImage) -> Result<[MetadataRecord], ControllerError>)
        -> EventLoopFuture<(first: Int64, last: Int64)>
    {
        let promise = loop.makePromise(of: (first: Int64, last: Int64).self)
        loop.execute { [self] in
            guard isActive, active.enqueue(promise, decide) else {
                promise.fail(ControllerError(.notController, "node \(id) is not the active controller"))
                return
            }
            runNextOperation()
        }
        return promise.futureResult
    }

    /// Decides queued operations and proposes their records in one append (group commit):
    /// each is decided on the committed image plus the records of the operations decided before
    /// it in the same batch, so the batch is as if they had run one after another. The next
    /// batch starts when this one has committed.
    func runNextOperation() {
        loop.preconditionInEventLoop()
        let started = clock.now
        guard isActive,
            let batch = active.nextBatch(image: image, appliedOffset: appliedOffset, base: node.log.endOffset)
        else { return }
        for (ticket, error) in batch.refused { ticket.fail(error) }
        for ticket in batch.unchanged { ticket.succeed((image.offset, image.offset)) }
        for u in batch.unclean {
            logger.warning(
                "unclean leader election: broker \(u.leader) leads \(u.topic)-\(u.partition) from outside the ISR; messages only the old ISR had are lost"
            )
        }
        guard !batch.records.isEmpty else { return }
        let entries: [[UInt8]]
        do {
            entries = try batch.records.map { try $0.encoded() }
        } catch {
            // A record that cannot be written (a value longer than its field): nothing is proposed.
            for d in batch.decided { d.ticket.fail(ControllerError(.invalidRequest, "\(error)")) }
            return
        }
        guard let (offset, actions) = node.propose(entries) else {
            for d in batch.decided {
                d.ticket.fail(ControllerError(.notController, "node \(id) is not the active controller"))
            }
            return
        }
        active.proposed(batch, at: offset)
        proposedAt = clock.now
        carryOut(actions)
        noteBusy(since: started, "deciding and proposing \(batch.records.count) record(s)")
    }

    /// Called after committed entries were applied up to `offset` (exclusive).
    func completeCommitted(upTo offset: Int64) {
        let done = active.committed(upTo: offset)
        if !done.isEmpty, active.inFlightCount == 0, let at = proposedAt {
            metrics?.recordRaftCommit(nanoseconds: (clock.now - at).nanoseconds)
            proposedAt = nil
        }
        for d in done { d.ticket.succeed((d.first, d.last)) }
        runNextOperation()
    }

    func becameActive() {
        // readyAt: one past the LeaderChange entry just appended.
        active.becameActive(logEnd: node.log.endOffset, brokers: image.brokers.keys, nowMs: clock.monotonicMs)
        // A new cluster's metadata log holds nothing but leader changes: the seed goes first.
        // (Seed records an earlier leader appended and did not commit are in the log, and commit
        // with this leadership instead.)
        let log = node.log
        let empty =
            log.startOffset == 0
            && !(log.startOffset..<log.endOffset).contains { !(log.entry(at: $0)?.isControl ?? true) }
        if empty && !bootstrapRecords.isEmpty {
            let seed = bootstrapRecords
            logger.info("writing \(seed.count) bootstrap records (SCRAM credentials from tern storage format)")
            submit { _ in .success(seed) }.whenFailure { [logger] error in
                logger.warning("bootstrap records not written: \(error)")
            }
        }
    }

    func resignActive() {
        let error = ControllerError(.notController, "node \(id) stopped being the active controller")
        for ticket in active.resign() { ticket.fail(error) }
        proposedAt = nil
    }

    /// Fences brokers whose sessions expired.
    func activeTick(_ now: Int64) {
        guard isActive else {
            nextLeaderBalanceMs = nil
            return
        }
        balanceLeadersIfDue(now)
        for (broker, silentMs) in active.expiredSessions(image: image, nowMs: now) {
            logger.warning(
                "broker \(broker) missed heartbeats for \(silentMs) ms: fencing it and moving its leaderships")
            let unclean = topicDefaults.uncleanLeaderElection
            submit { img in
                .success(ControllerDecisions.fenceBroker(img, id: broker, uncleanDefault: unclean))
            }.whenComplete { [self] _ in loop.execute { self.active.transitionDone(broker) } }
        }
    }

    // MARK: - Broker lifecycle RPCs

    public func register(_ req: BrokerRegistrationRequest) -> EventLoopFuture<BrokerRegistrationResponse> {
        guard req.clusterId == clusterId else {
            var r = BrokerRegistrationResponse()
            r.errorCode = ErrorCode.inconsistentClusterId.rawValue
            return loop.makeSucceededFuture(r)
        }
        // The first client listener is the inter-broker one; all are recorded for clients.
        let clientListeners = req.listeners.filter { $0.name != "CONTROLLER" }
        let listener = clientListeners.first ?? req.listeners.first
        let registration = MetadataRecord.BrokerRegistration(
            id: req.brokerId, incarnation: req.incarnationId, host: listener?.host ?? "localhost",
            port: Int32(listener?.port ?? 0),
            rack: req.rack,
            endpoints: clientListeners.map { .init(name: $0.name, host: $0.host, port: Int32($0.port)) })
        let unclean = topicDefaults.uncleanLeaderElection
        return loop.flatSubmit { [self] in
            // Another incarnation of a broker that is live (unfenced, heartbeating) is refused, as
            // in Kafka: whoever sends it cannot take over a running broker's id. A broker that was
            // killed registers once its old session expires (or at once after a clean stop,
            // which fences it).
            if let live = active.refusesRegistration(
                image: image, broker: req.brokerId, incarnation: req.incarnationId, nowMs: clock.monotonicMs)
            {
                peerLogLimiter.warn(
                    logger,
                    "refused a registration of broker \(req.brokerId) with incarnation \(req.incarnationId): incarnation \(live.registered) is registered and heartbeating (a restarted broker is admitted once that session expires, within \(Self.sessionTimeoutMs / 1000) s)"
                )
                var r = BrokerRegistrationResponse()
                r.errorCode = ErrorCode.duplicateBrokerRegistration.rawValue
                return loop.makeSucceededFuture(r)
            }
            return registerDecided(req, registration, unclean: unclean)
        }
    }

    private func registerDecided(
        _ req: BrokerRegistrationRequest, _ registration: MetadataRecord.BrokerRegistration, unclean: Bool
    ) -> EventLoopFuture<BrokerRegistrationResponse> {
        submit { img in
            // A repeated registration of the same incarnation (a retry) changes nothing.
            if let b = img.brokers[req.brokerId], b.incarnation == req.incarnationId { return .success([]) }
            return .success(ControllerDecisions.registerBroker(img, registration, uncleanDefault: unclean))
        }.map { [self] _ in
            active.registered(req.brokerId, nowMs: clock.monotonicMs)
            var r = BrokerRegistrationResponse()
            r.brokerEpoch = image.brokers[req.brokerId]?.epoch ?? -1
            return r
        }.flatMapErrorThrowing { error in
            var r = BrokerRegistrationResponse()
            r.errorCode = (error as? ControllerError)?.code.rawValue ?? ErrorCode.unknownServerError.rawValue
            return r
        }
    }

    /// Brokers other than this node's that asked for a controlled shutdown and are not fenced
    /// yet; empty unless this node is the active controller.
    public func brokersStillLeaving() -> EventLoopFuture<[Int32]> {
        loop.submit { [self] in active.isActive ? active.stillLeaving(image: image, except: id) : [] }
    }

    public func heartbeat(_ req: BrokerHeartbeatRequest) -> EventLoopFuture<BrokerHeartbeatResponse> {
        loop.submit { [self] () -> EventLoopFuture<BrokerHeartbeatResponse> in
            var r = BrokerHeartbeatResponse()
            let decision = active.heartbeat(
                image: image, broker: req.brokerId, brokerEpoch: req.brokerEpoch,
                metadataOffset: req.currentMetadataOffset, wantShutDown: req.wantShutDown, nowMs: clock.monotonicMs)
            let unclean = topicDefaults.uncleanLeaderElection
            switch decision {
            case .notController:
                r.errorCode = ErrorCode.notController.rawValue
            case .staleBrokerEpoch:
                r.errorCode = ErrorCode.staleBrokerEpoch.rawValue
            case .answer(let caughtUp, let fenced):
                r.isCaughtUp = caughtUp
                r.isFenced = fenced
            case .fenceForShutdown(let caughtUp):
                r.isCaughtUp = caughtUp
                r.isFenced = image.brokers[req.brokerId]?.fenced ?? true
                let current = r
                logger.info("broker \(req.brokerId) is shutting down: fencing it and moving its leaderships first")
                // Controlled shutdown: move leadership away, then tell the broker it may go.
                return submit { img in
                    .success(ControllerDecisions.fenceBroker(img, id: req.brokerId, uncleanDefault: unclean))
                }.map { _ in
                    var done = BrokerHeartbeatResponse()
                    done.isCaughtUp = caughtUp
                    done.isFenced = true
                    done.shouldShutDown = true
                    return done
                }.flatMapErrorThrowing { _ in current }
            case .unfence:
                r.isCaughtUp = true
                r.isFenced = true
                let current = r
                return submit { img in
                    .success(ControllerDecisions.unfenceBroker(img, id: req.brokerId, uncleanDefault: unclean))
                }.map { [self] _ in
                    active.transitionDone(req.brokerId)
                    var done = BrokerHeartbeatResponse()
                    done.isCaughtUp = true
                    done.isFenced = image.brokers[req.brokerId]?.fenced ?? true
                    return done
                }.flatMapErrorThrowing { [self] _ in
                    active.transitionDone(req.brokerId)
                    return current
                }
            }
            return loop.makeSucceededFuture(r)
        }.flatMap { $0 }
    }
}
