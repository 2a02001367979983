import KafkaProtocol
import Metadata
import NIOConcurrencyHelpers
import NIOCore

extension QuorumController {
    /// ElectLeaders as the active controller decides it: on the committed image, answered once
    /// the leadership changes are committed (each partition's leader learns it from the log).
    public func electLeaders(_ request: ElectLeadersRequest) -> EventLoopFuture<ElectLeadersResponse> {
        let named = request.topicPartitions.map {
            $0.flatMap { t in t.partitions.map { (topic: t.name, partition: $0) } }
        }
        let kind: LeaderElections.Kind
        switch request.electionType {
        case ElectLeadersRequest.preferred: kind = .preferred
        case ElectLeadersRequest.unclean: kind = .unclean
        default:
            return loop.makeSucceededFuture(
                Self.electionAnswer(
                    (named ?? []).map {
                        .init(
                            topic: $0.topic, partition: $0.partition, error: .invalidRequest,
                            message: "Unknown election type \(request.electionType)")
                    }))
        }
        let outcomes = NIOLockedValueBox<[LeaderElections.Outcome]>([])
        let logger = logger
        return submit { image in
            let (records, o) = LeaderElections.elect(image, kind, partitions: named)
            outcomes.withLockedValue { $0 = o }
            for u in ControllerDecisions.uncleanElections(image, records) {
                logger.warning(
                    "unclean leader election asked for: \(u.topic)-\(u.partition) is led by \(u.leader), a replica outside its ISR; acknowledged records only the old ISR had are lost"
                )
            }
            return .success(records)
        }.map { _ in
            Self.electionAnswer(outcomes.withLockedValue { $0 })
        }.flatMapErrorThrowing { error in
            let e = ControllerError(from: error)
            return Self.electionAnswer(
                (named ?? []).map { .init(topic: $0.topic, partition: $0.partition, error: e.code, message: e.message) }
            )
        }
    }

    static func electionAnswer(_ outcomes: [LeaderElections.Outcome]) -> ElectLeadersResponse {
        var r = ElectLeadersResponse()
        r.replicaElectionResults = outcomeAnswers(outcomes)
        return r
    }

    /// Each partition's outcome, by topic in the order first named (a message only with an error).
    static func outcomeAnswers<P: PartitionAnswerWithMessage>(_ outcomes: [LeaderElections.Outcome]) -> [NamedTopic<P>]
    {
        NamedTopic.grouping(
            outcomes.map { o in (o.topic, P.failing(o.partition, o.error.rawValue, o.error == .none ? nil : o.message))
            })
    }

    /// `auto.leader.rebalance.enable`: every `leader.imbalance.check.interval.seconds` the active
    /// controller moves leadership back to preferred replicas on brokers whose imbalance is past
    /// `leader.imbalance.per.broker.percentage`.
    func balanceLeadersIfDue(_ now: Int64) {
        guard topicDefaults.autoLeaderRebalance else { return }
        let interval = Int64(topicDefaults.leaderImbalanceCheckIntervalSeconds) * 1000
        guard let due = nextLeaderBalanceMs else {
            nextLeaderBalanceMs = now + interval
            return
        }
        guard now >= due else { return }
        nextLeaderBalanceMs = now + interval
        let percent = topicDefaults.leaderImbalancePercent
        let logger = logger
        submit { image in
            let moves = LeaderElections.imbalanced(image, imbalancePercent: percent)
            guard !moves.isEmpty else { return .success([]) }
            let (records, _) = LeaderElections.elect(image, .preferred, partitions: moves)
            logger.info(
                "leader balance: moving \(records.count) partition(s) back to their preferred leader: \(moves.prefix(20).map { "\($0.topic)-\($0.partition)" }.joined(separator: ", "))\(moves.count > 20 ? ", …" : "")"
            )
            return .success(records)
        }.whenFailure { [logger] error in logger.debug("leader balance check: \(error)") }
    }
}
