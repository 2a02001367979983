import KafkaProtocol

/// A refusal the controller gives back to the client, with Kafka's error code.
public struct ControllerError: Error, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code.name): \(message)" }
}

/// The controller's decisions as pure functions of the image: each returns the records to
/// append, or why it refuses. Nothing here does I/O or reads a clock.
public enum ControllerDecisions {
    /// Replica lists for `count` new partitions over `brokers` (sorted live ids): partition p's
    /// replicas are the `rf` brokers starting at `(start + p) % n`, so leaders rotate
    /// (0,1,2 / 1,2,0 / 2,0,1 for start 0). `start` spreads leadership across topics.
    public static func placement(brokers: [Int32], count: Int, replicationFactor rf: Int, start: Int) -> [[Int32]] {
        let n = brokers.count
        return (0..<count).map { p in (0..<rf).map { i in brokers[(start + p + i) % n] } }
    }

    /// The most partitions one topic may have, and the whole cluster (every replica of a
    /// partition is a directory, descriptors and memory on its brokers).
    public static let maxPartitionsPerTopic: Int32 = 10_000
    public static let maxPartitionsPerCluster = 200_000

    static func partitionsInCluster(_ image: MetadataImage) -> Int {
        image.topics.values.reduce(0) { $0 + $1.partitionCount }
    }

    static func clusterLimit(_ image: MetadataImage, adding n: Int) -> ControllerError? {
        let existing = partitionsInCluster(image)
        guard existing + n > maxPartitionsPerCluster else { return nil }
        return ControllerError(
            .invalidPartitions,
            "The cluster has \(existing) partitions; \(n) more would pass its limit of \(maxPartitionsPerCluster).")
    }

    /// A new topic: `manual` holds the client's replica list of each partition (CreateTopics'
    /// assignments, partition 0 first), in which case `partitions` is its count and
    /// `replicationFactor` is not used; without it the controller places the replicas.
    public static func createTopic(
        _ image: MetadataImage, name: String, partitions: Int32, replicationFactor: Int16, configs: [String: String],
        id: KafkaUUID, manual: [[Int32]]? = nil
    ) -> Result<[MetadataRecord], ControllerError> {
        if image.topics[name] != nil {
            return .failure(ControllerError(.topicAlreadyExists, "Topic '\(name)' already exists."))
        }
        guard partitions >= 1 else {
            return .failure(ControllerError(.invalidPartitions, "Number of partitions must be larger than 0."))
        }
        guard partitions <= maxPartitionsPerTopic else {
            return .failure(
                ControllerError(
                    .invalidPartitions, "Number of partitions \(partitions) exceeds \(maxPartitionsPerTopic)."))
        }
        if let e = clusterLimit(image, adding: Int(partitions)) { return .failure(e) }
        if let manual {
            switch checkManual(image, manual, firstPartition: 0) {
            case .failure(let e): return .failure(e)
            case .success(let isrs):
                var records: [MetadataRecord] = [.topic(name: name, id: id)]
                records += manualPartitions(topicId: id, manual, isrs: isrs, first: 0)
                for (k, v) in configs.sorted(by: { $0.key < $1.key }) {
                    records.append(.config(topic: name, key: k, value: v))
                }
                return .success(records)
            }
        }
        guard replicationFactor >= 1 else {
            return .failure(ControllerError(.invalidReplicationFactor, "Replication factor must be larger than 0."))
        }
        let live = image.liveBrokers
        guard Int(replicationFactor) <= live.count else {
            return .failure(
                ControllerError(
                    .invalidReplicationFactor,
                    "Unable to replicate the partition \(replicationFactor) time(s): The target replication factor of \(replicationFactor) cannot be reached because only \(live.count) broker(s) are registered."
                ))
        }
        let existing = image.topics.values.reduce(0) { $0 + $1.partitionCount }
        let assignment = Racks.placement(
            brokers: live, racks: image.racks, count: Int(partitions), replicationFactor: Int(replicationFactor),
            start: existing % live.count)
        var records: [MetadataRecord] = [.topic(name: name, id: id)]
        for (p, replicas) in assignment.enumerated() {
            records.append(
                .partition(
                    .init(topicId: id, partition: Int32(p), replicas: replicas, isr: replicas, leader: replicas[0])))
        }
        for (k, v) in configs.sorted(by: { $0.key < $1.key }) { records.append(.config(topic: name, key: k, value: v)) }
        return .success(records)
    }

    /// More partitions for a topic, up to `count`; `manual` holds the client's replica list of
    /// each new partition (CreatePartitions' assignments), each as long as the topic's
    /// replication factor.
    public static func createPartitions(
        _ image: MetadataImage, name: String, count: Int32, manual: [[Int32]]? = nil
    ) -> Result<[MetadataRecord], ControllerError> {
        guard let t = image.topics[name] else {
            return .failure(ControllerError(.unknownTopicOrPartition, "Topic \(name) does not exist."))
        }
        guard count > t.partitionCount else {
            return .failure(
                ControllerError(
                    .invalidPartitions,
                    "Topic currently has \(t.partitionCount) partitions, \(count) would not be an increase."))
        }
        guard count <= maxPartitionsPerTopic else {
            return .failure(
                ControllerError(.invalidPartitions, "Number of partitions \(count) exceeds \(maxPartitionsPerTopic)."))
        }
        if let e = clusterLimit(image, adding: Int(count) - t.partitionCount) { return .failure(e) }
        let rf = t.replicationFactor
        if let manual {
            let adding = Int(count) - t.partitionCount
            guard manual.count == adding else {
                return .failure(
                    ControllerError(
                        .invalidReplicaAssignment,
                        "Attempted to add \(adding) additional partition(s), but only \(manual.count) assignment(s) were specified."
                    ))
            }
            return checkManual(image, manual, firstPartition: t.partitionCount, replicationFactor: rf).map { isrs in
                manualPartitions(topicId: t.id, manual, isrs: isrs, first: t.partitionCount)
            }
        }
        let live = image.liveBrokers
        guard rf <= live.count else {
            return .failure(
                ControllerError(
                    .invalidReplicationFactor,
                    "Replication factor \(rf) is larger than the \(live.count) live broker(s)."))
        }
        let assignment = Racks.placement(
            brokers: live, racks: image.racks, count: Int(count), replicationFactor: rf, start: 0)
        return .success(
            (t.partitionCount..<Int(count)).map { p in
                .partition(
                    .init(
                        topicId: t.id, partition: Int32(p), replicas: assignment[p], isr: assignment[p],
                        leader: assignment[p][0]))
            })
    }

    public static func deleteTopic(_ image: MetadataImage, name: String) -> Result<[MetadataRecord], ControllerError> {
        guard let t = image.topics[name] else {
            return .failure(ControllerError(.unknownTopicOrPartition, "Topic \(name) does not exist."))
        }
        return .success([.removeTopic(id: t.id)])
    }

    /// Sets (a value) or removes (nil) dynamic configs of a topic; names already so are left out.
    public static func alterTopicConfigs(
        _ image: MetadataImage, name: String, changes: [(key: String, value: String?)]
    ) -> Result<[MetadataRecord], ControllerError> {
        guard let t = image.topics[name] else {
            return .failure(ControllerError(.unknownTopicOrPartition, "Topic \(name) does not exist."))
        }
        return .success(
            changes.filter { t.configs[$0.key] != $0.value }.map { .config(topic: name, key: $0.key, value: $0.value) })
    }

    /// The leader to choose for a partition: the first replica, in replica order, that is in
    /// the ISR and live. Replica order keeps the preferred leader first.
    public static func electLeader(_ p: MetadataImage.Partition, live: Set<Int32>, excluding: Int32? = nil) -> Int32? {
        p.replicas.first { $0 != excluding && live.contains($0) && p.isr.contains($0) }
    }

    /// Whether a topic allows a replica outside its ISR to lead (`unclean.leader.election.enable`,
    /// else the cluster's default).
    public static func allowsUnclean(_ t: MetadataImage.Topic, default d: Bool) -> Bool {
        t.configs["unclean.leader.election.enable"].map { $0 == "true" } ?? d
    }

    /// A new leader and ISR for a partition whose leader is gone: from the ISR when a member is
    /// live (clean), else, when the topic allows it, the first live replica with an ISR of itself
    /// alone (unclean: what only the old ISR had is lost). Nil when no replica may lead.
    static func chooseLeader(
        _ p: MetadataImage.Partition, isr: [Int32], live: Set<Int32>, unclean: Bool
    ) -> (leader: Int32, isr: [Int32])? {
        var q = p
        q.isr = isr
        if let l = electLeader(q, live: live) { return (l, isr) }
        if unclean, let l = p.replicas.first(where: { live.contains($0) }) { return (l, [l]) }
        return nil
    }

    /// Registers a broker (at start-up, also after a restart). A registration leaves the broker
    /// fenced until it has caught up, so a broker that was live is first fenced properly: the
    /// partitions it led get new leaders before the registration lands.
    public static func registerBroker(
        _ image: MetadataImage, _ registration: MetadataRecord.BrokerRegistration, uncleanDefault: Bool = false
    ) -> [MetadataRecord] {
        fenceBroker(image, id: registration.id, uncleanDefault: uncleanDefault) + [.registerBroker(registration)]
    }

    /// Removes a broker's registration (`kafka-cluster.sh unregister`): it is fenced first, so
    /// the partitions it led move to the rest of their ISRs, then it leaves the cluster's broker
    /// list. Its replicas stay assigned to it, as in Kafka (move them with a reassignment); a
    /// broker that is still running registers again with its next heartbeat.
    public static func unregisterBroker(_ image: MetadataImage, id: Int32, uncleanDefault: Bool = false) -> Result<
        [MetadataRecord], ControllerError
    > {
        guard let b = image.brokers[id] else {
            return .failure(ControllerError(.brokerIdNotRegistered, "Broker ID \(id) is not currently registered"))
        }
        return .success(
            fenceBroker(image, id: id, uncleanDefault: uncleanDefault) + [.unregisterBroker(id: id, epoch: b.epoch)])
    }

    /// Fences a broker: every partition it led gets a new leader from the rest of its ISR, and it
    /// leaves every ISR it was in, except where it is the last member (then the partition has no
    /// leader, and the broker stays in the ISR so that its data is not forgotten) — unless the
    /// topic allows unclean election and another replica is live.
    public static func fenceBroker(_ image: MetadataImage, id: Int32, uncleanDefault: Bool = false) -> [MetadataRecord]
    {
        guard let b = image.brokers[id], !b.fenced else { return [] }
        var records: [MetadataRecord] = [.fenceBroker(id: id, epoch: b.epoch)]
        let live = Set(image.liveBrokers).subtracting([id])
        for t in image.topics.values.sorted(by: { $0.name < $1.name }) {
            let unclean = allowsUnclean(t, default: uncleanDefault)
            for (index, p) in t.partitions.sorted(by: { $0.key < $1.key }) where p.isr.contains(id) || p.leader == id {
                let remaining = p.isr.filter { $0 != id }
                var change = MetadataRecord.PartitionChange(topicId: t.id, partition: index)
                var newIsr = remaining.isEmpty ? p.isr : remaining
                if p.leader == id {
                    if let chosen = chooseLeader(p, isr: remaining, live: live, unclean: unclean) {
                        change.leader = chosen.leader
                        newIsr = chosen.isr
                    } else {
                        change.leader = -1
                    }
                }
                if newIsr != p.isr { change.isr = newIsr }
                if change.isr != nil || change.leader != nil { records.append(.partitionChange(change)) }
            }
        }
        return records
    }

    /// Unfences a broker and gives a leader to every leaderless partition it can lead (from the
    /// ISR, or uncleanly where the topic allows it).
    public static func unfenceBroker(_ image: MetadataImage, id: Int32, uncleanDefault: Bool = false)
        -> [MetadataRecord]
    {
        guard let b = image.brokers[id], b.fenced else { return [] }
        var records: [MetadataRecord] = [.unfenceBroker(id: id, epoch: b.epoch)]
        let live = Set(image.liveBrokers).union([id])
        for t in image.topics.values.sorted(by: { $0.name < $1.name }) {
            let unclean = allowsUnclean(t, default: uncleanDefault)
            for (index, p) in t.partitions.sorted(by: { $0.key < $1.key }) where p.leader == -1 {
                if let chosen = chooseLeader(p, isr: p.isr, live: live, unclean: unclean) {
                    records.append(
                        .partitionChange(
                            .init(
                                topicId: t.id, partition: index, leader: chosen.leader,
                                isr: chosen.isr == p.isr ? nil : chosen.isr)))
                }
            }
        }
        return records
    }

    /// The partitions these records give a leader from outside the ISR the image had: each is an
    /// unclean election, where acknowledged data may be lost. The controller logs them.
    public static func uncleanElections(_ image: MetadataImage, _ records: [MetadataRecord]) -> [(
        topic: String, partition: Int32, leader: Int32
    )] {
        records.compactMap { r in
            guard case .partitionChange(let c) = r, let leader = c.leader, leader >= 0,
                let t = image.topic(id: c.topicId), let p = t.partitions[c.partition], !p.isr.contains(leader)
            else { return nil }
            return (t.name, c.partition, leader)
        }
    }

    /// A leader's request to change a partition's ISR (AlterPartition). Refused when it comes from
    /// a broker that is not the current leader, carries a stale partition epoch, or names a
    /// fenced broker or a non-replica.
    public static func alterIsr(
        _ image: MetadataImage, topic: String, partition: Int32, from leader: Int32, leaderEpoch: Int32,
        partitionEpoch: Int32,
        newIsr: [Int32]
    ) -> Result<[MetadataRecord], ControllerError> {
        guard let t = image.topics[topic], let p = t.partitions[partition] else {
            return .failure(ControllerError(.unknownTopicOrPartition, "\(topic)-\(partition) does not exist."))
        }
        guard p.leader == leader, p.leaderEpoch == leaderEpoch else {
            return .failure(
                ControllerError(
                    .fencedLeaderEpoch,
                    "broker \(leader) at epoch \(leaderEpoch) does not lead \(topic)-\(partition) (leader \(p.leader), epoch \(p.leaderEpoch))."
                ))
        }
        guard p.partitionEpoch == partitionEpoch else {
            return .failure(
                ControllerError(
                    .invalidUpdateVersion,
                    "\(topic)-\(partition): stale partition epoch \(partitionEpoch); current is \(p.partitionEpoch) (ISR \(p.isr))."
                ))
        }
        let live = Set(image.liveBrokers)
        guard newIsr.contains(leader), newIsr.allSatisfy({ p.replicas.contains($0) }) else {
            return .failure(
                ControllerError(
                    .invalidRequest,
                    "\(topic)-\(partition): ISR \(newIsr) must contain the leader \(leader) and only replicas of \(p.replicas)."
                ))
        }
        if let fenced = newIsr.first(where: { $0 != leader && !live.contains($0) }) {
            return .failure(
                ControllerError(
                    .invalidRequest,
                    "\(topic)-\(partition): ISR \(newIsr) names broker \(fenced), which is fenced or not registered."))
        }
        if let done = Reassignments.completing(image, t.id, partition, p, newIsr: newIsr) { return .success([done]) }
        return .success([.partitionChange(.init(topicId: t.id, partition: partition, isr: newIsr))])
    }
}
