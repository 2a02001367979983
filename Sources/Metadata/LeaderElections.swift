import KafkaProtocol

/// Leader elections asked for by an operator (ElectLeaders) or by the controller's leader
/// balance check: pure decisions on an image.
public enum LeaderElections {
    public enum Kind: Sendable, Equatable {
        /// Back to the first replica of the list, when it is live and in the ISR.
        case preferred
        /// A leaderless partition gets the first live replica of its ISR, else any live replica
        /// (acknowledged data that only the old ISR had is lost).
        case unclean
    }

    /// One partition's outcome: `.none` when this election moves its leader.
    public struct Outcome: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var error: ErrorCode
        public var message: String?
        public init(topic: String, partition: Int32, error: ErrorCode, message: String? = nil) {
            self.topic = topic
            self.partition = partition
            self.error = error
            self.message = message
        }
    }

    /// The records and the per-partition outcomes of electing `partitions` (nil: every partition
    /// of the cluster, where only the partitions that need an election are answered, as Kafka
    /// does). A partition named twice is answered once.
    public static func elect(
        _ image: MetadataImage, _ kind: Kind, partitions: [(topic: String, partition: Int32)]?
    ) -> (records: [MetadataRecord], outcomes: [Outcome]) {
        let live = Set(image.liveBrokers)
        var records: [MetadataRecord] = []
        var outcomes: [Outcome] = []
        var seen = Set<String>()
        let wanted: [(topic: String, partition: Int32)] =
            partitions
            ?? image.topics.values.sorted { $0.name < $1.name }.flatMap { t in
                t.partitions.keys.sorted().map { (t.name, $0) }
            }
        for (topic, index) in wanted where seen.insert("\(topic)\u{0}\(index)").inserted {
            guard let t = image.topics[topic], let p = t.partitions[index] else {
                outcomes.append(
                    .init(
                        topic: topic, partition: index, error: .unknownTopicOrPartition,
                        message: "The partition does not exist."))
                continue
            }
            let (leader, error, message) = decide(p, kind, live: live)
            if let leader {
                let isr = p.isr.contains(leader) ? nil : [leader]
                records.append(.partitionChange(.init(topicId: t.id, partition: index, leader: leader, isr: isr)))
            }
            if partitions == nil && error == .electionNotNeeded { continue }
            outcomes.append(.init(topic: topic, partition: index, error: error, message: message))
        }
        return (records, outcomes)
    }

    /// The new leader for one partition, or why there is none.
    static func decide(_ p: MetadataImage.Partition, _ kind: Kind, live: Set<Int32>) -> (
        Int32?, ErrorCode, String?
    ) {
        switch kind {
        case .preferred:
            guard let preferred = p.replicas.first else {
                return (nil, .preferredLeaderNotAvailable, "The partition has no replicas.")
            }
            if p.leader == preferred {
                return (nil, .electionNotNeeded, "Leader election not needed for topic partition.")
            }
            guard live.contains(preferred), p.isr.contains(preferred) else {
                return (
                    nil, .preferredLeaderNotAvailable,
                    "Failed to elect leader: the preferred replica \(preferred) is not live and in sync."
                )
            }
            return (preferred, .none, nil)
        case .unclean:
            if p.leader >= 0 && live.contains(p.leader) {
                return (nil, .electionNotNeeded, "Leader election not needed for topic partition.")
            }
            guard
                let leader = p.replicas.first(where: { live.contains($0) && p.isr.contains($0) })
                    ?? p.replicas.first(where: { live.contains($0) })
            else {
                return (nil, .eligibleLeadersNotAvailable, "No replica of the partition is live.")
            }
            return (leader, .none, nil)
        }
    }

    /// The partitions whose preferred leader should lead again, for `auto.leader.rebalance.enable`:
    /// for each broker whose share of partitions led by someone else among those it prefers is
    /// above `imbalancePercent` (`leader.imbalance.per.broker.percentage`), every such partition
    /// whose preferred replica can lead now.
    public static func imbalanced(_ image: MetadataImage, imbalancePercent: Int) -> [(topic: String, partition: Int32)]
    {
        let live = Set(image.liveBrokers)
        var preferredCount: [Int32: Int] = [:]
        var elsewhere: [Int32: [(topic: String, partition: Int32)]] = [:]
        for t in image.topics.values.sorted(by: { $0.name < $1.name }) {
            for (index, p) in t.partitions.sorted(by: { $0.key < $1.key }) {
                guard let preferred = p.replicas.first else { continue }
                preferredCount[preferred, default: 0] += 1
                if p.leader != preferred, live.contains(preferred), p.isr.contains(preferred) {
                    elsewhere[preferred, default: []].append((t.name, index))
                }
            }
        }
        var out: [(topic: String, partition: Int32)] = []
        for (broker, moves) in elsewhere.sorted(by: { $0.key < $1.key }) {
            let total = preferredCount[broker] ?? 0
            if total > 0 && moves.count * 100 > imbalancePercent * total { out += moves }
        }
        return out
    }
}
