import KafkaClient
import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The broker half of a node: registers with the active controller, then heartbeats, reporting
/// how far it has applied the metadata log, until it is unfenced and for as long as it runs.
/// On a clean stop it asks the controller to move its leaderships away first.
final class BrokerLifecycle: @unchecked Sendable {
    private let quorum: QuorumController
    private let nodeId: Int32
    private let host: String
    private let port: Int32
    private let logger: Logger
    private let incarnation = KafkaUUID.random()
    private let state = NIOLockedValueBox<(epoch: Int64?, fenced: Bool, stopping: Bool)>((nil, true, false))
    private var task: Task<Void, Never>?
    /// Runs once, the first time the controller unfences this broker (it has caught up).
    var onCaughtUp: (@Sendable () -> Void)?
    private var caughtUpOnce = false

    static let heartbeatIntervalMs: UInt64 = 2000
    static let startupIntervalMs: UInt64 = 200

    /// Every client listener (name, advertised host, port), registered with the controller.
    private let listeners: [(name: String, host: String, port: Int)]

    init(
        quorum: QuorumController, nodeId: Int32, host: String, port: Int32,
        listeners: [(name: String, host: String, port: Int)] = [], logger: Logger
    ) {
        self.listeners = listeners
        self.quorum = quorum
        self.nodeId = nodeId
        self.host = host
        self.port = port
        self.logger = logger
    }

    var isFenced: Bool { state.withLockedValue { $0.fenced } }

    func start() {
        task = Task { [self] in
            while !Task.isCancelled && !state.withLockedValue({ $0.stopping }) {
                await beat(wantShutDown: false)
                if let e = lastError.withLockedValue({ $0 }) {
                    logger.info("lifecycle: \(e)"); lastError.withLockedValue { $0 = nil }
                }
                let fenced = state.withLockedValue { $0.fenced }
                try? await Task.sleep(
                    nanoseconds: (fenced ? Self.startupIntervalMs : Self.heartbeatIntervalMs) * 1_000_000)
            }
        }
    }

    /// Stops heartbeating without telling the controller (start-up failed).
    func stop() {
        state.withLockedValue { $0.stopping = true }
        task?.cancel()
    }

    /// Controlled shutdown: heartbeats with WantShutDown until the controller has fenced this
    /// broker (its partitions have new leaders) or `timeoutMs` passes.
    func shutDown(timeoutMs: UInt64 = 5000) async {
        state.withLockedValue { $0.stopping = true }
        task?.cancel()
        let deadline = DispatchTimeLike.nowMs() + timeoutMs
        while DispatchTimeLike.nowMs() < deadline {
            if await beat(wantShutDown: true) { return }
            try? await Task.sleep(nanoseconds: 200_000_000)
        }
        logger.warning("controlled shutdown: the controller did not confirm within \(timeoutMs) ms; stopping anyway")
    }

    /// One registration or heartbeat. Returns true when the controller said to shut down.
    @discardableResult
    private func beat(wantShutDown: Bool) async -> Bool {
        guard let leader = quorum.leaderId else { return false }
        do {
            guard let epoch = state.withLockedValue({ $0.epoch }) else {
                var req = BrokerRegistrationRequest()
                req.brokerId = nodeId
                req.clusterId = quorum.clusterId
                req.incarnationId = incarnation
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
                    ? try await quorum.register(req).get()
                    : try await quorum.connection(to: leader, lane: .lifecycle).send(
                        req, as: BrokerRegistrationResponse.self, timeoutMs: 5000)
                if resp.errorCode == 0 && resp.brokerEpoch >= 0 {
                    state.withLockedValue { $0.epoch = resp.brokerEpoch }
                    logger.info(
                        "broker \(nodeId) registered with controller \(leader): broker epoch \(resp.brokerEpoch)")
                } else if resp.errorCode == ErrorCode.duplicateBrokerRegistration.rawValue {
                    logger.info(
                        "broker \(nodeId): controller \(leader) still has a live session for an earlier incarnation of this broker (killed without a clean stop?); registering again once it expires"
                    )
                } else if resp.errorCode == ErrorCode.inconsistentClusterId.rawValue {
                    logger.error(
                        "controller \(leader) belongs to another cluster than \(quorum.clusterId); check controller.quorum.voters"
                    )
                }
                return false
            }
            var req = BrokerHeartbeatRequest()
            req.brokerId = nodeId
            req.brokerEpoch = epoch
            req.currentMetadataOffset = quorum.appliedOffsetSnapshot
            req.wantShutDown = wantShutDown
            let resp: BrokerHeartbeatResponse =
                leader == nodeId
                ? try await quorum.heartbeat(req).get()
                : try await quorum.connection(to: leader, lane: .lifecycle).send(
                    req, as: BrokerHeartbeatResponse.self, timeoutMs: 5000)
            if resp.errorCode == ErrorCode.staleBrokerEpoch.rawValue {
                logger.info(
                    "broker \(nodeId): controller \(leader) does not know broker epoch \(epoch); registering again")
                state.withLockedValue { $0.epoch = nil }
                return false
            }
            guard resp.errorCode == 0 else { return false }
            let was = state.withLockedValue { s -> Bool in
                let was = s.fenced
                s.fenced = resp.isFenced
                return was
            }
            if was && !resp.isFenced {
                logger.info("broker \(nodeId) is unfenced: it may lead partitions")
                if !caughtUpOnce {
                    caughtUpOnce = true
                    onCaughtUp?()
                }
            }
            if !was && resp.isFenced && !wantShutDown {
                logger.warning("broker \(nodeId) was fenced by the controller")
            }
            return resp.shouldShutDown
        } catch {
            logger.debug("broker \(nodeId): registration/heartbeat to controller \(leader) failed: \(error)")
            lastError.withLockedValue { $0 = "\(error)" }
            return false
        }
    }

    let lastError = NIOLockedValueBox<String?>(nil)
}

enum DispatchTimeLike {
    static func nowMs() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }
}
