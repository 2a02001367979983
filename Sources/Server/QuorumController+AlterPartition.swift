import KafkaProtocol
import Metadata
import NIOCore

extension QuorumController {
    /// AlterPartition from a partition leader: each ISR change is decided on the committed
    /// image (stale leader epochs and partition epochs are refused) and answered once committed.
    public func alterPartition(_ request: AlterPartitionRequest) -> EventLoopFuture<AlterPartitionResponse> {
        var futures: [EventLoopFuture<(String, AlterPartitionResponse.Partition)>] = []
        for t in request.topics {
            for p in t.partitions {
                var base = AlterPartitionResponse.Partition()
                base.partitionIndex = p.partitionIndex
                let result = base
                let topic = t.topicName
                let f = submit { image in
                    ControllerDecisions.alterIsr(
                        image, topic: topic, partition: p.partitionIndex, from: request.brokerId,
                        leaderEpoch: p.leaderEpoch,
                        partitionEpoch: p.partitionEpoch, newIsr: p.newIsr)
                }.map { [self] _ -> (String, AlterPartitionResponse.Partition) in
                    var r = result
                    if let now = image.topics[topic]?.partitions[p.partitionIndex] {
                        r.leaderId = now.leader
                        r.leaderEpoch = now.leaderEpoch
                        r.isr = now.isr
                        r.partitionEpoch = now.partitionEpoch
                    }
                    return (topic, r)
                }.flatMapErrorThrowing { [self] error -> (String, AlterPartitionResponse.Partition) in
                    var r = result
                    let e = ControllerError(from: error)
                    r.errorCode = e.code.rawValue
                    // The current state rides along so the leader can say what was stale.
                    if let now = image.topics[topic]?.partitions[p.partitionIndex] {
                        r.leaderId = now.leader
                        r.leaderEpoch = now.leaderEpoch
                        r.isr = now.isr
                        r.partitionEpoch = now.partitionEpoch
                    }
                    if e.code != .notController {
                        logger.info("AlterPartition from broker \(request.brokerId) refused: \(e)")
                    }
                    return (topic, r)
                }
                futures.append(f)
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { results in
            var r = AlterPartitionResponse()
            for (topic, p) in results {
                if let i = r.topics.firstIndex(where: { $0.topicName == topic }) {
                    r.topics[i].partitions.append(p)
                } else {
                    var t = AlterPartitionResponse.Topic()
                    t.topicName = topic
                    t.partitions = [p]
                    r.topics.append(t)
                }
            }
            return r
        }
    }
}
