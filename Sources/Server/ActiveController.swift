import KafkaProtocol
import Metadata
import NIOCore
import Raft

/// What the active controller keeps in memory, and loses (by design) when it resigns.
struct ActiveState {
    struct Operation {
        var decide: @Sendable (MetadataImage) -> Result<[MetadataRecord], ControllerError>
        var promise: EventLoopPromise<(first: Int64, last: Int64)>
    }

    var queue: [Operation] = []
    /// Operations whose records were proposed together and are waiting to commit.
    var inFlight: [(first: Int64, last: Int64, promise: EventLoopPromise<(first: Int64, last: Int64)>)] = []
    /// When the in-flight batch was proposed (for the commit latency metric).
    var proposedAt: NIODeadline? = nil
    /// Last heartbeat (monotonic ms) of each registered broker.
    var sessions: [Int32: Int64] = [:]
    /// Brokers a fence or unfence is already queued for.
    var pendingTransitions: Set<Int32> = []
    /// Decisions wait until the image is applied up to here: past this term's LeaderChange
    /// entry, so entries of earlier terms that are in the log but not yet applied (a node
    /// restarted from its snapshot and elected at once) are in the image they are decided on.
    var readyAt: Int64 = 0
}

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
            guard isActive else {
                promise.fail(ControllerError(.notController, "node \(id) is not the active controller"))
                return
            }
            active.queue.append(.init(decide: decide, promise: promise))
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
        guard active.inFlight.isEmpty, isActive, !active.queue.isEmpty, appliedOffset >= active.readyAt else { return }
        var scratch = image
        var records: [MetadataRecord] = []
        var decided: [(first: Int, last: Int, promise: EventLoopPromise<(first: Int64, last: Int64)>)] = []
        let base = node.log.endOffset
        while !active.queue.isEmpty && records.count < 5000 {
            let op = active.queue.removeFirst()
            switch op.decide(scratch) {
            case .failure(let e):
                op.promise.fail(e)
            case .success(let rs) where rs.isEmpty:
                op.promise.succeed((image.offset, image.offset))
            case .success(let rs):
                for u in ControllerDecisions.uncleanElections(scratch, rs) {
                    logger.warning(
                        "unclean leader election: broker \(u.leader) leads \(u.topic)-\(u.partition) from outside the ISR; messages only the old ISR had are lost"
                    )
                }
                for r in rs {
                    scratch.apply(r, at: base + Int64(records.count))
                    records.append(r)
                }
                decided.append((records.count - rs.count, records.count - 1, op.promise))
            }
        }
        guard !records.isEmpty else { return }
        let entries: [[UInt8]]
        do {
            entries = try records.map { try $0.encoded() }
        } catch {
            // A record that cannot be written (a value longer than its field): nothing is proposed.
            for d in decided { d.promise.fail(ControllerError(.invalidRequest, "\(error)")) }
            return
        }
        guard let (offset, actions) = node.propose(entries) else {
            for d in decided {
                d.promise.fail(ControllerError(.notController, "node \(id) is not the active controller"))
            }
            return
        }
        active.inFlight = decided.map { (offset + Int64($0.first), offset + Int64($0.last), $0.promise) }
        active.proposedAt = NIODeadline.now()
        carryOut(actions)
    }

    /// Called after committed entries were applied up to `offset` (exclusive).
    func completeCommitted(upTo offset: Int64) {
        let done = active.inFlight.filter { $0.last < offset }
        active.inFlight.removeAll { $0.last < offset }
        if !done.isEmpty, active.inFlight.isEmpty, let at = active.proposedAt {
            commitLatency.recordRequest("metadata", seconds: Double((NIODeadline.now() - at).nanoseconds) / 1e9)
            active.proposedAt = nil
        }
        for d in done { d.promise.succeed((d.first, d.last)) }
        runNextOperation()
    }

    func becameActive() {
        let now = Self.monotonicMs()
        active = ActiveState()
        active.readyAt = node.log.endOffset  // one past the LeaderChange entry just appended
        // Every broker gets a full session from the moment this controller takes over.
        for b in image.brokers.values { active.sessions[b.id] = now }
    }

    func resignActive() {
        let error = ControllerError(.notController, "node \(id) stopped being the active controller")
        for f in active.inFlight { f.promise.fail(error) }
        for op in active.queue { op.promise.fail(error) }
        active = ActiveState()
    }

    /// Fences brokers whose sessions expired.
    func activeTick(_ now: Int64) {
        guard isActive else { return }
        for b in image.brokers.values where !b.fenced && !active.pendingTransitions.contains(b.id) {
            let last = active.sessions[b.id] ?? now
            if active.sessions[b.id] == nil { active.sessions[b.id] = now }
            if now - last > Self.sessionTimeoutMs {
                logger.warning(
                    "broker \(b.id) missed heartbeats for \(now - last) ms: fencing it and moving its leaderships")
                let unclean = topicDefaults.uncleanLeaderElection
                transition(b.id) { img in
                    .success(ControllerDecisions.fenceBroker(img, id: b.id, uncleanDefault: unclean))
                }
            }
        }
    }

    private func transition(
        _ broker: Int32, _ decide: @escaping @Sendable (MetadataImage) -> Result<[MetadataRecord], ControllerError>
    ) {
        active.pendingTransitions.insert(broker)
        submit(decide).whenComplete { [self] _ in loop.execute { self.active.pendingTransitions.remove(broker) } }
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
            if isActive, let b = image.brokers[req.brokerId], b.incarnation != req.incarnationId, !b.fenced,
                let last = active.sessions[b.id], Self.monotonicMs() - last <= Self.sessionTimeoutMs
            {
                peerLogLimiter.warn(
                    logger,
                    "refused a registration of broker \(req.brokerId) with incarnation \(req.incarnationId): incarnation \(b.incarnation) is registered and heartbeating (a restarted broker is admitted once that session expires, within \(Self.sessionTimeoutMs / 1000) s)"
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
            active.sessions[req.brokerId] = Self.monotonicMs()
            var r = BrokerRegistrationResponse()
            r.brokerEpoch = image.brokers[req.brokerId]?.epoch ?? -1
            return r
        }.flatMapErrorThrowing { error in
            var r = BrokerRegistrationResponse()
            r.errorCode = (error as? ControllerError)?.code.rawValue ?? ErrorCode.unknownServerError.rawValue
            return r
        }
    }

    public func heartbeat(_ req: BrokerHeartbeatRequest) -> EventLoopFuture<BrokerHeartbeatResponse> {
        loop.submit { [self] () -> EventLoopFuture<BrokerHeartbeatResponse> in
            var r = BrokerHeartbeatResponse()
            guard isActive else {
                r.errorCode = ErrorCode.notController.rawValue
                return loop.makeSucceededFuture(r)
            }
            guard let b = image.brokers[req.brokerId], b.epoch == req.brokerEpoch else {
                r.errorCode = ErrorCode.staleBrokerEpoch.rawValue
                return loop.makeSucceededFuture(r)
            }
            active.sessions[req.brokerId] = Self.monotonicMs()
            let caughtUp = req.currentMetadataOffset >= b.epoch
            r.isCaughtUp = caughtUp
            r.isFenced = b.fenced
            let current = r
            let unclean = topicDefaults.uncleanLeaderElection
            if req.wantShutDown {
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
            }
            if b.fenced && caughtUp && !active.pendingTransitions.contains(b.id) {
                active.pendingTransitions.insert(b.id)
                return submit { img in
                    .success(ControllerDecisions.unfenceBroker(img, id: req.brokerId, uncleanDefault: unclean))
                }.map {
                    [self] _ in
                    active.pendingTransitions.remove(b.id)
                    var done = BrokerHeartbeatResponse()
                    done.isCaughtUp = true
                    done.isFenced = image.brokers[req.brokerId]?.fenced ?? true
                    return done
                }.flatMapErrorThrowing { [self] _ in
                    active.pendingTransitions.remove(b.id)
                    return current
                }
            }
            return loop.makeSucceededFuture(current)
        }.flatMap { $0 }
    }
}
