import KafkaProtocol

/// Moving partitions to new replicas (KIP-455), as pure decisions on an image. While a partition
/// moves, its `replicas` are the target followed by the replicas that leave, `adding` the target's
/// new replicas and `removing` those that leave; the new replicas copy the log as followers, and
/// the move completes (replicas become the target, the ISR loses the leaving replicas, leadership
/// moves into the target if it must) once every target replica is in the ISR, so no acknowledged
/// record depends on a replica that leaves.
public enum Reassignments {
    /// What one partition of a request asks: a target replica list, or nil to cancel.
    public struct Move: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var target: [Int32]?
        public init(topic: String, partition: Int32, target: [Int32]?) {
            self.topic = topic
            self.partition = partition
            self.target = target
        }
    }

    /// The records and each move's outcome. Every move is decided on the image with the moves
    /// before it applied; a partition named twice is refused the second time.
    public static func alter(_ image: MetadataImage, _ moves: [Move]) -> (
        records: [MetadataRecord], outcomes: [LeaderElections.Outcome]
    ) {
        var scratch = image
        var records: [MetadataRecord] = []
        var outcomes: [LeaderElections.Outcome] = []
        var seen = Set<String>()
        for m in moves {
            var outcome = LeaderElections.Outcome(topic: m.topic, partition: m.partition, error: .none)
            guard seen.insert("\(m.topic)\u{0}\(m.partition)").inserted else {
                outcome.error = .invalidRequest
                outcome.message = "Partition \(m.topic)-\(m.partition) appears more than once in the request."
                outcomes.append(outcome)
                continue
            }
            switch alter(scratch, m) {
            case .success(let rs):
                for r in rs {
                    scratch.apply(r, at: scratch.offset + 1)
                    records.append(r)
                }
            case .failure(let e):
                outcome.error = e.code
                outcome.message = e.message
            }
            outcomes.append(outcome)
        }
        return (records, outcomes)
    }

    /// One move: the partition change that starts it (or completes it at once when every target
    /// replica is in sync already), or why it is refused.
    public static func alter(_ image: MetadataImage, _ m: Move) -> Result<[MetadataRecord], ControllerError> {
        guard let t = image.topics[m.topic], let p = t.partitions[m.partition] else {
            return .failure(
                ControllerError(.unknownTopicOrPartition, "Unable to find partition \(m.topic)-\(m.partition)."))
        }
        let original = p.originalReplicas
        guard let target = m.target else {
            guard p.isReassigning else {
                return .failure(
                    ControllerError(
                        .noReassignmentInProgress,
                        "No reassignment of \(m.topic)-\(m.partition) is in progress."))
            }
            guard p.isr.contains(where: original.contains) else {
                return .failure(
                    ControllerError(
                        .invalidReplicaAssignment,
                        "\(m.topic)-\(m.partition) cannot go back to \(original): none of them is in sync (ISR \(p.isr)); reassign it to replicas in sync instead."
                    ))
            }
            return .success([change(image, t.id, m.partition, p, to: original, adding: [], removing: [])])
        }
        if let problem = invalid(target, image) {
            return .failure(ControllerError(.invalidReplicaAssignment, "\(m.topic)-\(m.partition): \(problem)"))
        }
        if !p.isReassigning && target == p.replicas { return .success([]) }
        let adding = target.filter { !original.contains($0) }
        let removing = original.filter { !target.contains($0) }
        if target.allSatisfy(p.isr.contains) {
            return .success([change(image, t.id, m.partition, p, to: target, adding: [], removing: [])])
        }
        // Replicas that were joining under an earlier target and are not in this one leave now.
        let replicas = target + removing
        guard p.isr.contains(where: replicas.contains) else {
            return .failure(
                ControllerError(
                    .invalidReplicaAssignment,
                    "\(m.topic)-\(m.partition): none of \(replicas) is in sync (ISR \(p.isr)); keep an in-sync replica in the target."
                ))
        }
        return .success([change(image, t.id, m.partition, p, to: replicas, adding: adding, removing: removing)])
    }

    /// Why a target replica list cannot be used, if it cannot.
    static func invalid(_ target: [Int32], _ image: MetadataImage) -> String? {
        if target.isEmpty { return "The replica list is empty." }
        if Set(target).count != target.count { return "The replica list \(target) names a broker more than once." }
        if let unknown = target.first(where: { image.brokers[$0] == nil }) {
            return "The replica list \(target) includes broker \(unknown), but no such broker is registered."
        }
        return nil
    }

    /// The change that sets a partition's replicas to `replicas` (the ISR keeping only them, the
    /// leader moving into them when it is not one of them or not in sync).
    static func change(
        _ image: MetadataImage, _ id: KafkaUUID, _ index: Int32, _ p: MetadataImage.Partition, to replicas: [Int32],
        adding: [Int32], removing: [Int32], isr given: [Int32]? = nil
    ) -> MetadataRecord {
        let isr = (given ?? p.isr).filter(replicas.contains)
        var c = MetadataRecord.PartitionChange(
            topicId: id, partition: index, replicas: replicas, adding: adding, removing: removing)
        if isr != p.isr { c.isr = isr }
        if !isr.contains(p.leader) || !replicas.contains(p.leader) {
            let live = Set(image.liveBrokers)
            c.leader = replicas.first { isr.contains($0) && live.contains($0) } ?? -1
        }
        return .partitionChange(c)
    }

    /// An ISR change of a moving partition (AlterPartition): the change that also completes the
    /// move when every target replica is now in sync; nil when the move goes on.
    static func completing(
        _ image: MetadataImage, _ id: KafkaUUID, _ index: Int32, _ p: MetadataImage.Partition, newIsr: [Int32]
    ) -> MetadataRecord? {
        guard p.isReassigning else { return nil }
        let target = p.targetReplicas
        guard target.allSatisfy(newIsr.contains) else { return nil }
        return change(image, id, index, p, to: target, adding: [], removing: [], isr: newIsr)
    }

    /// The partitions moving now, of `partitions` (nil: all), topic by topic in name order.
    public static func inProgress(_ image: MetadataImage, partitions: [(topic: String, partitions: [Int32])]?) -> [(
        topic: String, partition: Int32, state: MetadataImage.Partition
    )] {
        var out: [(String, Int32, MetadataImage.Partition)] = []
        if let partitions {
            var seen = Set<String>()
            for (topic, indexes) in partitions {
                for i in indexes where seen.insert("\(topic)\u{0}\(i)").inserted {
                    if let p = image.topics[topic]?.partitions[i], p.isReassigning { out.append((topic, i, p)) }
                }
            }
            return out
        }
        for t in image.topics.values.sorted(by: { $0.name < $1.name }) {
            for (i, p) in t.partitions.sorted(by: { $0.key < $1.key }) where p.isReassigning {
                out.append((t.name, i, p))
            }
        }
        return out
    }
}
