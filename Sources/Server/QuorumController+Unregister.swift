import KafkaProtocol
import Metadata
import NIOCore

extension QuorumController {
    /// UnregisterBroker as the active controller decides it: the broker is fenced (its
    /// leaderships move) and its registration removed, answered once that is committed.
    public func unregisterBroker(_ request: UnregisterBrokerRequest) -> EventLoopFuture<UnregisterBrokerResponse> {
        let id = request.brokerId
        let unclean = topicDefaults.uncleanLeaderElection
        let logger = logger
        return submit { image in
            let decision = ControllerDecisions.unregisterBroker(image, id: id, uncleanDefault: unclean)
            if case .success = decision { logger.info("unregistering broker \(id)") }
            return decision
        }.map { _ in
            UnregisterBrokerResponse()
        }.flatMapErrorThrowing { error in
            let e = ControllerError(from: error)
            return UnregisterBrokerResponse(e.code, e.message)
        }
    }
}
