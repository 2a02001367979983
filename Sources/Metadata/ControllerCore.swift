import KafkaProtocol

/// The active controller's state and decisions, without a clock, a loop or a socket: the
/// operation queue with its group commit, readiness after an election, broker sessions, and
/// what a registration or heartbeat is answered. The shell (QuorumController) hands in the
/// time, the image and the log's offsets and carries out what comes back; the controller
/// simulation drives the same code. `Ticket` is whatever the caller completes when an
/// operation ends (a promise in the server, a number in the simulation).
public struct ControllerCore<Ticket> {
    public typealias Decide = (MetadataImage) -> Result<[MetadataRecord], ControllerError>

    /// A broker whose heartbeats stop for this long is fenced (`broker.session.timeout.ms`).
    public var sessionTimeoutMs: Int64
    /// Most records in one proposal (several operations decided together).
    public var maxBatchRecords = 5000

    private var queue: [(ticket: Ticket, decide: Decide)] = []
    /// Operations whose records were proposed and wait to commit (offsets inclusive).
    private var inFlight: [(first: Int64, last: Int64, ticket: Ticket)] = []
    /// Last heartbeat (monotonic ms) of each registered broker.
    private var sessions: [Int32: Int64] = [:]
    /// Brokers a fence or unfence is already queued for.
    private var pendingTransitions: Set<Int32> = []
    /// Brokers that asked for a controlled shutdown and have not registered again since.
    private var leaving: Set<Int32> = []
    /// Brokers whose session this controller assumed without hearing from them (it became
    /// active, or found them registered in the image it replayed), with when; a heartbeat or a
    /// registration takes a broker out.
    private var inherited: [Int32: Int64] = [:]
    /// How long an inherited session keeps out a new incarnation of its broker: a live broker
    /// heartbeats every 2 s to whichever controller is active, so one that has not spoken in this
    /// long since the fail-over is gone (the whole cluster restarted after an unclean stop).
    public static var inheritedSessionGraceMs: Int64 { 3000 }
    /// Decisions wait until the image is applied up to here: past this term's LeaderChange
    /// entry, so entries of earlier terms that are in the log but not yet applied (a node
    /// restarted from its snapshot and elected at once) are in the image they are decided on.
    public private(set) var readyAt: Int64 = 0
    public private(set) var isActive = false

    public init(sessionTimeoutMs: Int64 = 9000) {
        self.sessionTimeoutMs = sessionTimeoutMs
    }

    public var queuedCount: Int { queue.count }
    public var inFlightCount: Int { inFlight.count }

    // MARK: - Leadership

    /// This node became the quorum leader; `logEnd` is one past the LeaderChange entry it just
    /// appended. Every broker gets a full session from now.
    public mutating func becameActive(logEnd: Int64, brokers: some Sequence<Int32>, nowMs: Int64) {
        self = ControllerCore(sessionTimeoutMs: sessionTimeoutMs)
        isActive = true
        readyAt = logEnd
        for b in brokers {
            sessions[b] = nowMs
            inherited[b] = nowMs
        }
    }

    /// Leadership is gone: every queued and in-flight operation must fail (NOT_CONTROLLER).
    public mutating func resign() -> [Ticket] {
        let tickets = inFlight.map(\.ticket) + queue.map(\.ticket)
        self = ControllerCore(sessionTimeoutMs: sessionTimeoutMs)
        return tickets
    }

    // MARK: - Operations

    /// Queues an operation. Returns false (and keeps nothing) when this node is not active.
    public mutating func enqueue(_ ticket: Ticket, _ decide: @escaping Decide) -> Bool {
        guard isActive else { return false }
        queue.append((ticket, decide))
        return true
    }

    /// What deciding the next batch produced.
    public struct Batch {
        /// Records to propose, in order.
        public var records: [MetadataRecord] = []
        /// Operations with records in `records` (indexes inclusive), to pass to `proposed`.
        public var decided: [(ticket: Ticket, first: Int, last: Int)] = []
        /// Operations that refused.
        public var refused: [(ticket: Ticket, error: ControllerError)] = []
        /// Operations that needed no change: they succeed now.
        public var unchanged: [Ticket] = []
        /// Elections in the batch that chose a leader from outside the ISR.
        public var unclean: [(topic: String, partition: Int32, leader: Int32)] = []
    }

    /// Decides queued operations when nothing is in flight and the image is ready: each on the
    /// committed image plus the records of those decided before it in the same batch, so the
    /// batch is as if they had run one after another. `base` is the log end the records will
    /// be appended at. Nil when nothing may be decided now.
    public mutating func nextBatch(image: MetadataImage, appliedOffset: Int64, base: Int64) -> Batch? {
        guard isActive, inFlight.isEmpty, !queue.isEmpty, appliedOffset >= readyAt else { return nil }
        var scratch = image
        var batch = Batch()
        while !queue.isEmpty && batch.records.count < maxBatchRecords {
            let op = queue.removeFirst()
            switch op.decide(scratch) {
            case .failure(let e):
                batch.refused.append((op.ticket, e))
            case .success(let rs) where rs.isEmpty:
                batch.unchanged.append(op.ticket)
            case .success(let rs):
                batch.unclean += ControllerDecisions.uncleanElections(scratch, rs)
                for r in rs {
                    scratch.apply(r, at: base + Int64(batch.records.count))
                    batch.records.append(r)
                }
                batch.decided.append((op.ticket, batch.records.count - rs.count, batch.records.count - 1))
            }
        }
        return batch
    }

    /// The batch's records were appended to the log at `offset`.
    public mutating func proposed(_ batch: Batch, at offset: Int64) {
        inFlight = batch.decided.map { (offset + Int64($0.first), offset + Int64($0.last), $0.ticket) }
    }

    /// Committed entries were applied up to `offset` (exclusive): the operations whose records
    /// are all below it are done, with the offsets of their first and last records.
    public mutating func committed(upTo offset: Int64) -> [(ticket: Ticket, first: Int64, last: Int64)] {
        let done = inFlight.filter { $0.last < offset }
        inFlight.removeAll { $0.last < offset }
        return done.map { ($0.ticket, $0.first, $0.last) }
    }

    // MARK: - Broker sessions

    /// Brokers whose sessions expired and that are not being fenced or unfenced already; each
    /// is marked pending, and `transitionDone` must be called when its fence completes.
    public mutating func expiredSessions(image: MetadataImage, nowMs: Int64) -> [(broker: Int32, silentMs: Int64)] {
        guard isActive else { return [] }
        var expired: [(Int32, Int64)] = []
        for b in image.brokers.values.sorted(by: { $0.id < $1.id })
        where !b.fenced && !pendingTransitions.contains(b.id) {
            let last = sessions[b.id] ?? nowMs
            if sessions[b.id] == nil {
                sessions[b.id] = nowMs
                inherited[b.id] = nowMs
            }
            if nowMs - last > sessionTimeoutMs {
                pendingTransitions.insert(b.id)
                expired.append((b.id, nowMs - last))
            }
        }
        return expired
    }

    public mutating func transitionDone(_ broker: Int32) {
        pendingTransitions.remove(broker)
    }

    /// Whether a registration of `broker` with `incarnation` must be refused: another
    /// incarnation is registered, unfenced and heartbeating (DUPLICATE_BROKER_REGISTRATION).
    public func refusesRegistration(
        image: MetadataImage, broker: Int32, incarnation: KafkaUUID, nowMs: Int64
    ) -> (registered: KafkaUUID, silentMs: Int64)? {
        guard isActive, let b = image.brokers[broker], b.incarnation != incarnation, !b.fenced,
            let last = sessions[broker], nowMs - last <= sessionTimeoutMs,
            inherited[broker].map({ nowMs - $0 <= Self.inheritedSessionGraceMs }) ?? true
        else { return nil }
        return (b.incarnation, nowMs - last)
    }

    /// A registration committed: the broker's session starts now.
    public mutating func registered(_ broker: Int32, nowMs: Int64) {
        sessions[broker] = nowMs
        leaving.remove(broker)
        inherited[broker] = nil
    }

    /// Brokers other than `except` that asked for a controlled shutdown and are not fenced yet:
    /// a controller node that is leaving too stays a voter until their fences are committed, so
    /// nodes stopped together do not leave the last of them without a majority.
    public func stillLeaving(image: MetadataImage, except: Int32) -> [Int32] {
        leaving.filter { $0 != except && image.brokers[$0]?.fenced == false }.sorted()
    }

    /// What to do with a heartbeat.
    public enum HeartbeatDecision: Equatable {
        case notController
        /// The broker epoch is not the registered one: the broker must register again.
        case staleBrokerEpoch
        /// Answer now.
        case answer(caughtUp: Bool, fenced: Bool)
        /// Controlled shutdown: fence the broker, then tell it to shut down.
        case fenceForShutdown(caughtUp: Bool)
        /// The broker has caught up: unfence it, then answer. `transitionDone` when it completes.
        case unfence
    }

    public mutating func heartbeat(
        image: MetadataImage, broker: Int32, brokerEpoch: Int64, metadataOffset: Int64, wantShutDown: Bool,
        nowMs: Int64
    ) -> HeartbeatDecision {
        guard isActive else { return .notController }
        guard let b = image.brokers[broker], b.epoch == brokerEpoch else { return .staleBrokerEpoch }
        sessions[broker] = nowMs
        inherited[broker] = nil
        let caughtUp = metadataOffset >= b.epoch
        if wantShutDown {
            leaving.insert(broker)
            return .fenceForShutdown(caughtUp: caughtUp)
        }
        if b.fenced && caughtUp && !pendingTransitions.contains(broker) {
            pendingTransitions.insert(broker)
            return .unfence
        }
        return .answer(caughtUp: caughtUp, fenced: b.fenced)
    }
}
