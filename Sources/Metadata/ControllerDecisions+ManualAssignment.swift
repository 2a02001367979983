import KafkaProtocol

extension ControllerDecisions {
    /// Replica lists a client chose (CreateTopics' and CreatePartitions' assignments), checked
    /// as Kafka's controller checks them: each list names at least one broker, none twice, only
    /// registered brokers, at least one that is not fenced, and as many as the others (or as
    /// `replicationFactor`). Returns each list's ISR (its unfenced brokers, in the list's order:
    /// the first leads), or why it refuses.
    static func checkManual(
        _ image: MetadataImage, _ lists: [[Int32]], firstPartition: Int, replicationFactor: Int? = nil
    ) -> Result<[[Int32]], ControllerError> {
        var isrs: [[Int32]] = []
        isrs.reserveCapacity(lists.count)
        let rf = replicationFactor ?? lists.first?.count ?? 0
        for (i, replicas) in lists.enumerated() {
            let p = firstPartition + i
            guard !replicas.isEmpty else {
                return .failure(
                    ControllerError(
                        .invalidReplicaAssignment,
                        "The manual partition assignment includes an empty replica list for partition \(p)."))
            }
            guard replicas.count == rf else {
                return .failure(
                    ControllerError(
                        .invalidReplicaAssignment,
                        "The manual partition assignment includes a partition with \(replicas.count) replica(s), but this is not consistent with previous partitions, which have \(rf) replica(s)."
                    ))
            }
            var seen = Set<Int32>()
            for id in replicas {
                guard seen.insert(id).inserted else {
                    return .failure(
                        ControllerError(
                            .invalidReplicaAssignment,
                            "The manual partition assignment includes broker \(id) more than once for partition \(p)."))
                }
                guard image.brokers[id] != nil else {
                    return .failure(
                        ControllerError(
                            .invalidReplicaAssignment,
                            "The manual partition assignment includes broker \(id), but no such broker is registered."))
                }
            }
            let isr = replicas.filter { image.brokers[$0]?.fenced == false }
            guard !isr.isEmpty else {
                return .failure(
                    ControllerError(
                        .invalidReplicaAssignment,
                        "All brokers specified in the manual partition assignment for partition \(p) are fenced."))
            }
            isrs.append(isr)
        }
        return .success(isrs)
    }

    /// The partition records of `lists` (already checked) from partition `first` on.
    static func manualPartitions(topicId: KafkaUUID, _ lists: [[Int32]], isrs: [[Int32]], first: Int)
        -> [MetadataRecord]
    {
        zip(lists, isrs).enumerated().map { i, pair in
            .partition(
                .init(topicId: topicId, partition: Int32(first + i), replicas: pair.0, isr: pair.1, leader: pair.1[0]))
        }
    }
}
