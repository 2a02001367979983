import KafkaProtocol
import Metadata
import NIOConcurrencyHelpers
import NIOCore

extension QuorumController {
    /// AlterPartitionReassignments as the active controller decides it: the whole request is one
    /// operation on the committed image, answered once its partition changes are committed. The
    /// moves then complete on their own, when the new replicas have joined the ISR.
    public func alterPartitionReassignments(_ request: AlterPartitionReassignmentsRequest) -> EventLoopFuture<
        AlterPartitionReassignmentsResponse
    > {
        let moves = request.topics.flatMap { t in
            t.partitions.map { Reassignments.Move(topic: t.name, partition: $0.partitionIndex, target: $0.replicas) }
        }
        let outcomes = NIOLockedValueBox<[LeaderElections.Outcome]>([])
        let logger = logger
        return submit { image in
            let (records, o) = Reassignments.alter(image, moves)
            outcomes.withLockedValue { $0 = o }
            // One pass over each list: a request may name many thousands of partitions.
            var accepted = Set<String>()
            for x in o where x.error == .none { accepted.insert("\(x.topic)\u{0}\(x.partition)") }
            for m in moves where accepted.remove("\(m.topic)\u{0}\(m.partition)") != nil {
                logger.info(
                    "reassignment of \(m.topic)-\(m.partition): \(m.target.map { "to \($0)" } ?? "cancelled")")
            }
            return .success(records)
        }.map { _ in
            Self.reassignmentAnswer(outcomes.withLockedValue { $0 })
        }.flatMapErrorThrowing { error in
            let e = ControllerError(from: error)
            return .refusing(request, e.code, e.message)
        }
    }

    static func reassignmentAnswer(_ outcomes: [LeaderElections.Outcome]) -> AlterPartitionReassignmentsResponse {
        var r = AlterPartitionReassignmentsResponse()
        r.responses = outcomeAnswers(outcomes)
        return r
    }

    /// ListPartitionReassignments from the active controller's image (a follower's may trail).
    public func listPartitionReassignments(_ request: ListPartitionReassignmentsRequest) -> EventLoopFuture<
        ListPartitionReassignmentsResponse
    > {
        loop.submit { [self] in
            var r = ListPartitionReassignmentsResponse()
            guard isActive else {
                r.errorCode = ErrorCode.notController.rawValue
                r.errorMessage = "This node is not the active controller."
                return r
            }
            let wanted = request.topics.map { $0.map { (topic: $0.name, partitions: $0.partitions) } }
            r.topics = Self.listing(Reassignments.inProgress(image, partitions: wanted))
            return r
        }
    }

    static func listing(_ moving: [(topic: String, partition: Int32, state: MetadataImage.Partition)])
        -> [ListPartitionReassignmentsResponse.Topic]
    {
        NamedTopic.grouping(
            moving.map { m in
                var p = ListPartitionReassignmentsResponse.Partition()
                p.partitionIndex = m.partition
                p.replicas = m.state.replicas
                p.addingReplicas = m.state.adding
                p.removingReplicas = m.state.removing
                return (m.topic, p)
            })
    }
}
