import KafkaProtocol
import Metadata
import NIOCore
import Storage

extension Broker {
    /// Leader: asks the active controller to change a partition's ISR. The change takes effect
    /// when the committed record reaches this broker's image.
    func proposeIsr(_ partition: PartitionState, _ newIsr: [Int32], reason: String) {
        guard let gateway = gateway.withLockedValue({ $0 }) else {
            partition.isrChangeFailed()
            return
        }
        let (leaderEpoch, partitionEpoch) = partition.alterPartitionFields
        var p = AlterPartitionRequest.Partition()
        p.partitionIndex = partition.index
        p.leaderEpoch = leaderEpoch
        p.newIsr = newIsr
        p.partitionEpoch = partitionEpoch
        var t = AlterPartitionRequest.Topic()
        t.topicName = partition.topic
        t.partitions = [p]
        var request = AlterPartitionRequest()
        request.brokerId = config.nodeId
        request.topics = [t]
        logger.info("\(partition.topic)-\(partition.index): proposing ISR \(newIsr) (\(reason))")
        gateway.alterPartition(request).whenComplete { [logger] result in
            switch result {
            case .success(let r):
                let answer = r.topics.first?.partitions.first
                let code = answer?.errorCode ?? r.errorCode
                if code != 0 {
                    let current = answer.map {
                        "; the controller has leader \($0.leaderId) at epoch \($0.leaderEpoch), partition epoch \($0.partitionEpoch), ISR \($0.isr)"
                    }
                    logger.info(
                        "\(partition.topic)-\(partition.index): ISR change \(newIsr) at leader epoch \(leaderEpoch), partition epoch \(partitionEpoch) refused: \(ErrorCode(rawValue: code))\(current ?? "")"
                    )
                    partition.isrChangeFailed(
                        staleEpoch: code == ErrorCode.fencedLeaderEpoch.rawValue
                            || code == ErrorCode.invalidUpdateVersion.rawValue)
                }
            case .failure(let error):
                logger.info("\(partition.topic)-\(partition.index): ISR change failed: \(error)")
                partition.isrChangeFailed()
            }
        }
    }

    /// Leader: takes followers that have not caught up for `replica.lag.time.max.ms` out of
    /// the ISR. Run periodically by the server.
    public func checkIsr() {
        let now = clock.monotonicMs
        for p in registry.all() where p.isLeader {
            if let keep = p.isrShrink(nowMs: now, lagMs: Int64(config.replicaLagTimeMaxMs)) {
                proposeIsr(p, keep, reason: "followers behind for more than \(config.replicaLagTimeMaxMs) ms")
            }
        }
    }

    func minInsyncReplicas(_ topic: String) -> Int {
        registry.image.topics[topic]?.configs["min.insync.replicas"].flatMap(Int.init) ?? Int(config.minInsyncReplicas)
    }

    /// Produce: each partition is appended now; with acks=all the answer for it waits until the
    /// high watermark passes the batch (every ISR member has it) or the request times out.
    func produceAsync(
        _ request: ProduceRequest, version: Int16, on loop: any EventLoop, fromClient: Bool = false,
        listener: String? = nil
    ) -> EventLoopFuture<ProduceResponse> {
        let (response, lastOffsets) = produce(request, version: version, fromClient: fromClient, listener: listener)
        guard request.acks == -1 else { return loop.makeSucceededFuture(response) }
        var waits: [EventLoopFuture<(Int, Int, ErrorCode)>] = []
        for (ti, topic) in response.responses.enumerated() {
            for (pi, pr) in topic.partitions.enumerated() where pr.errorCode == 0 {
                guard let partition = registry.partition(topic.name, pr.index),
                    let last = lastOffsets[PartitionKey(topic: topic.name, index: pr.index)]
                else {
                    continue
                }
                let promise = loop.makePromise(of: (Int, Int, ErrorCode).self)
                let timeout = loop.scheduleTask(in: .milliseconds(Int64(max(1, request.timeoutMs)))) {
                    partition.expireAckWaiter(offset: last)?(.requestTimedOut)
                }
                partition.waitForHighWatermark(past: last, nowMs: clock.monotonicMs) { code in
                    timeout.cancel()
                    promise.succeed((ti, pi, code))
                }
                waits.append(promise.futureResult)
            }
        }
        return EventLoopFuture.whenAllSucceed(waits, on: loop).map { results in
            var answer = response
            for (ti, pi, code) in results where code != .none {
                answer.responses[ti].partitions[pi].errorCode = code.rawValue
            }
            return answer
        }
    }
}
