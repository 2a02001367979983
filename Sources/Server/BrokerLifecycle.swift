import KafkaClient
import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// The broker half of a node: registers with the active controller, then heartbeats, reporting
/// how far it has applied the metadata log, until it is unfenced and for as long as it runs.
/// On a clean stop it asks the controller to move its leaderships away first.
final class BrokerLifecycle: Sendable {
    private let quorum: QuorumController
    private let nodeId: Int32
    private let host: String
    private let port: Int32
    /// `broker.rack`, registered with the controller.
    private let rack: String?
    private let logger: Logger
    private let clock: any TernClock
    private let incarnation = KafkaUUID.random()
    private let state = NIOLockedValueBox<(epoch: Int64?, fenced: Bool, stopping: Bool)>((nil, true, false))
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)
    /// Runs once, the first time the controller unfences this broker (it has caught up).
    private let onCaughtUp: @Sendable () -> Void
    private let caughtUpOnce = NIOLockedValueBox(false)

    static let heartbeatIntervalMs: UInt64 = 2000
    static let startupIntervalMs: UInt64 = 200

    /// Every client listener (name, advertised host, port), registered with the controller.
    private let listeners: [(name: String, host: String, port: Int)]

    init(
        quorum: QuorumController, nodeId: Int32, host: String, port: Int32,
        listeners: [(name: String, host: String, port: Int)] = [], rack: String? = nil, logger: Logger,
        onCaughtUp: @escaping @Sendable () -> Void = {}
    ) {
        self.onCaughtUp = onCaughtUp
        self.clock = quorum.clock
        self.listeners = listeners
        self.quorum = quorum
        self.nodeId = nodeId
        self.host = host
        self.port = port
        self.rack = rack
        self.logger = logger
    }

    var isFenced: Bool { state.withLockedValue { $0.fenced } }

    func start() {
        let started = Task { [self] in
            // A refused or failed registration or heartbeat is retried with a growing wait
            // (200 ms to 2 s, as retry.backoff.ms and retry.backoff.max.ms), not every 200 ms.
            var backoff = ExponentialBackoff(initialMs: Int64(Self.startupIntervalMs), maxMs: 2000)
            while !Task.isCancelled && !state.withLockedValue({ $0.stopping }) {
                let ok = await beat(wantShutDown: false)
                if ok.failed {
                    try? await Task.sleep(nanoseconds: backoff.nextNanoseconds)
                    continue
                }
                backoff.reset()
                let fenced = state.withLockedValue { $0.fenced }
                try? await Task.sleep(
                    nanoseconds: (fenced ? Self.startupIntervalMs : Self.heartbeatIntervalMs) * 1_000_000)
            }
        }
        task.withLockedValue { $0 = started }
    }

    /// Returns once the heartbeat loop has ended (after `stop` or `shutDown`).
    func finished() async { await task.withLockedValue { $0 }?.value }

    /// Stops heartbeating without telling the controller (start-up failed).
    func stop() {
        state.withLockedValue { $0.stopping = true }
        task.withLockedValue { $0 }?.cancel()
    }

    /// Controlled shutdown: heartbeats with WantShutDown until the controller has fenced this
    /// broker (its partitions have new leaders) or `timeoutMs` passes. It does not wait for a
    /// quorum that cannot commit: with no leader for `leaderlessMs` (the other voters are down),
    /// or when this node leads and no majority is in touch, no leadership can move anyway.
    func shutDown(timeoutMs: Int64 = 5000, leaderlessMs: Int64 = 700) async {
        state.withLockedValue { $0.stopping = true }
        task.withLockedValue { $0 }?.cancel()
        let start = clock.monotonicMs
        while clock.monotonicMs - start < timeoutMs {
            if !quorum.canCommit {
                if clock.monotonicMs - start >= leaderlessMs {
                    logger.warning(
                        "controlled shutdown skipped: the metadata quorum cannot commit (no majority of voters \(quorum.voters.map(\.id)) is up), so no leadership can move"
                    )
                    return
                }
            } else if (await beat(wantShutDown: true, timeoutMs: 1000)).shutDown {
                return
            }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        logger.warning("controlled shutdown: the controller did not confirm within \(timeoutMs) ms; stopping anyway")
    }

    /// What one registration or heartbeat came to.
    struct Beat {
        /// It could not be sent or was refused: try again after a backoff.
        var failed = false
        /// The controller said this broker may shut down.
        var shutDown = false
    }

    /// One registration or heartbeat.
    @discardableResult
    private func beat(wantShutDown: Bool, timeoutMs: Int64 = 5000) async -> Beat {
        guard let leader = quorum.leaderId else { return Beat(failed: true) }
        do {
            guard let epoch = state.withLockedValue({ $0.epoch }) else {
                var req = BrokerRegistrationRequest()
                req.brokerId = nodeId
                req.clusterId = quorum.clusterId
                req.incarnationId = incarnation
                req.rack = rack
                let all = listeners.isEmpty ? [(name: "PLAINTEXT", host: host, port: Int(port))] : listeners
                req.listeners = all.map {
                    var l = BrokerRegistrationRequest.Listener()
                    l.name = $0.name
                    l.host = $0.host
                    l.port = UInt16(truncatingIfNeeded: $0.port)
                    l.securityProtocol = 0
                    return l
                }
                let resp: BrokerRegistrationResponse =
                    leader == nodeId
                    ? try await Self.within(timeoutMs, quorum.register(req))
                    : try await quorum.connection(to: leader, lane: .lifecycle).send(
                        req, as: BrokerRegistrationResponse.self, timeoutMs: Int(timeoutMs))
                if resp.errorCode == 0 && resp.brokerEpoch >= 0 {
                    state.withLockedValue { $0.epoch = resp.brokerEpoch }
                    note(nil)
                    logger.info(
                        "broker \(nodeId) registered with controller \(leader): broker epoch \(resp.brokerEpoch)")
                    return Beat()
                } else if resp.errorCode == ErrorCode.duplicateBrokerRegistration.rawValue {
                    note(
                        "broker \(nodeId): controller \(leader) still has a live session for an earlier incarnation of this broker (killed without a clean stop?); registering again once it expires"
                    )
                } else if resp.errorCode == ErrorCode.inconsistentClusterId.rawValue {
                    note(
                        "controller \(leader) belongs to another cluster than \(quorum.clusterId); check controller.quorum.voters",
                        level: .error)
                } else {
                    note("broker \(nodeId): controller \(leader) refused the registration: error \(resp.errorCode)")
                }
                return Beat(failed: true)
            }
            var req = BrokerHeartbeatRequest()
            req.brokerId = nodeId
            req.brokerEpoch = epoch
            req.currentMetadataOffset = quorum.appliedOffsetSnapshot
            req.wantShutDown = wantShutDown
            let resp: BrokerHeartbeatResponse =
                leader == nodeId
                ? try await Self.within(timeoutMs, quorum.heartbeat(req))
                : try await quorum.connection(to: leader, lane: .lifecycle).send(
                    req, as: BrokerHeartbeatResponse.self, timeoutMs: Int(timeoutMs))
            if resp.errorCode == ErrorCode.staleBrokerEpoch.rawValue {
                logger.info(
                    "broker \(nodeId): controller \(leader) does not know broker epoch \(epoch); registering again")
                state.withLockedValue { $0.epoch = nil }
                return Beat()
            }
            guard resp.errorCode == 0 else { return Beat(failed: true) }
            note(nil)
            let was = state.withLockedValue { s -> Bool in
                let was = s.fenced
                s.fenced = resp.isFenced
                return was
            }
            if was && !resp.isFenced {
                logger.info("broker \(nodeId) is unfenced: it may lead partitions")
                let first = caughtUpOnce.withLockedValue { once in
                    defer { once = true }
                    return !once
                }
                if first { onCaughtUp() }
            }
            if !was && resp.isFenced && !wantShutDown {
                logger.warning("broker \(nodeId) was fenced by the controller")
            }
            return Beat(shutDown: resp.shouldShutDown)
        } catch {
            note(
                "broker \(nodeId): registration/heartbeat to controller \(leader) failed: \(error); retrying with backoff"
            )
            return Beat(failed: true)
        }
    }

    /// The last problem logged; a problem is logged when it starts or changes, not per attempt,
    /// and its end is logged once (`nil`).
    private let lastNote = NIOLockedValueBox<String?>(nil)

    private func note(_ message: String?, level: Logger.Level = .info) {
        let previous = lastNote.withLockedValue { last -> String? in
            defer { last = message }
            return last
        }
        guard message != previous else { return }
        if let message {
            logger.log(level: level, "\(message)")
        } else if previous != nil {
            logger.info("broker \(nodeId): the controller answers again")
        }
    }

    struct Timeout: Error, CustomStringConvertible {
        let ms: Int64
        var description: String { "no answer within \(ms) ms" }
    }

    /// `future`'s value, or `Timeout` after `ms` (a local controller whose quorum cannot commit
    /// would otherwise never answer).
    static func within<T: Sendable>(_ ms: Int64, _ future: EventLoopFuture<T>) async throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        let timer = future.eventLoop.scheduleTask(in: .milliseconds(ms)) { promise.fail(Timeout(ms: ms)) }
        future.whenComplete {
            timer.cancel()
            promise.completeWith($0)
        }
        return try await promise.futureResult.get()
    }
}
