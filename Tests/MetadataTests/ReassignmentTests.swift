import KafkaProtocol
import Metadata
import Testing

/// Moving partitions (KIP-455) on images built from records: a move starts with the union of old
/// and new replicas, completes only once every target replica is in sync, can be cancelled, and
/// refuses what cannot be done.
@Suite struct ReassignmentTests {
    /// Four brokers, topic "t" with 2 partitions of RF 3 on brokers 0-2 (broker 3 holds nothing).
    func cluster() throws -> MetadataImage {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 2, replicationFactor: 3, configs: [:], id: KafkaUUID(high: 9, low: 9)
            ).get())
        img.applyAll([.registerBroker(.init(id: 3, incarnation: KafkaUUID(high: 3, low: 3), host: "h", port: 1))])
        img.applyAll([.unfenceBroker(id: 3, epoch: img.offset)])
        return img
    }

    func p(_ img: MetadataImage, _ i: Int32 = 0) -> MetadataImage.Partition { img.topics["t"]!.partitions[i]! }

    func move(_ img: inout MetadataImage, _ i: Int32, _ target: [Int32]?) -> [LeaderElections.Outcome] {
        let (records, outcomes) = Reassignments.alter(img, [.init(topic: "t", partition: i, target: target)])
        img.applyAll(records)
        return outcomes
    }

    /// The leader (broker `leader`) asks for `isr` after its followers caught up.
    func alterIsr(_ img: inout MetadataImage, _ i: Int32, _ isr: [Int32]) throws {
        let q = p(img, i)
        img.applyAll(
            try ControllerDecisions.alterIsr(
                img, topic: "t", partition: i, from: q.leader, leaderEpoch: q.leaderEpoch,
                partitionEpoch: q.partitionEpoch, newIsr: isr
            ).get())
    }

    @Test func aMoveCompletesOnlyWhenTheNewReplicaIsInSync() throws {
        var img = try cluster()
        #expect(p(img).replicas == [0, 1, 2] && p(img).leader == 0)
        #expect(move(&img, 0, [3, 1, 2]).map(\.error) == [.none])
        var q = p(img)
        #expect(q.replicas == [3, 1, 2, 0] && q.adding == [3] && q.removing == [0])
        #expect(q.isr == [0, 1, 2] && q.leader == 0, "nothing leaves and leadership stays until the move completes")
        #expect(Reassignments.inProgress(img, partitions: nil).map(\.partition) == [0])
        // The leader adds broker 3 to the ISR: the move completes in the same change.
        let epoch = q.leaderEpoch
        try alterIsr(&img, 0, [0, 1, 2, 3])
        q = p(img)
        #expect(q.replicas == [3, 1, 2] && q.adding.isEmpty && q.removing.isEmpty)
        #expect(q.isr == [1, 2, 3])
        #expect(q.leader == 3 && q.leaderEpoch == epoch + 1, "the leaving leader hands over to the target's first")
        #expect(Reassignments.inProgress(img, partitions: nil).isEmpty)
    }

    @Test func aMoveWithinTheIsrCompletesAtOnce() throws {
        var img = try cluster()
        #expect(move(&img, 1, [2, 1]).map(\.error) == [.none])
        let q = p(img, 1)
        #expect(q.replicas == [2, 1] && q.isr == [1, 2] && !q.isReassigning)
        #expect(q.leader == 1, "the leader is in the target and in sync: it keeps leading")
        // The same target again: nothing to do.
        let (records, outcomes) = Reassignments.alter(img, [.init(topic: "t", partition: 1, target: [2, 1])])
        #expect(records.isEmpty && outcomes.map(\.error) == [.none])
    }

    @Test func aShrinkWaitsForItsTargetToBeInSync() throws {
        var img = try cluster()
        // Broker 2 fell out of the ISR; moving to [2] alone waits until it is back in.
        try alterIsr(&img, 0, [0, 1])
        #expect(move(&img, 0, [2]).map(\.error) == [.none])
        #expect(p(img).isReassigning && p(img).removing == [0, 1] && p(img).adding.isEmpty)
        try alterIsr(&img, 0, [0, 1, 2])
        #expect(p(img).replicas == [2] && p(img).isr == [2] && p(img).leader == 2)
    }

    @Test func cancellingGoesBackToTheOriginalReplicas() throws {
        var img = try cluster()
        _ = move(&img, 0, [3, 1, 2])
        #expect(move(&img, 0, nil).map(\.error) == [.none])
        let q = p(img)
        #expect(Set(q.replicas) == [0, 1, 2] && !q.isReassigning && q.isr == [0, 1, 2] && q.leader == 0)
        #expect(move(&img, 0, nil).map(\.error) == [.noReassignmentInProgress])
    }

    @Test func aNewTargetReplacesTheOneInProgress() throws {
        var img = try cluster()
        _ = move(&img, 0, [3, 1, 2])
        // Broker 3 caught up partly and is dropped from the target: it leaves, 0 stays.
        #expect(move(&img, 0, [0, 1]).map(\.error) == [.none])
        let q = p(img)
        #expect(q.replicas == [0, 1] && !q.isReassigning && q.isr == [0, 1] && q.leader == 0)
    }

    @Test func refusalsSayWhy() throws {
        var img = try cluster()
        let (records, outcomes) = Reassignments.alter(
            img,
            [
                .init(topic: "t", partition: 0, target: []),
                .init(topic: "t", partition: 0, target: [1, 1]),
                .init(topic: "t", partition: 1, target: [1, 7]),
                .init(topic: "t", partition: 1, target: [Int32.max]),
                .init(topic: "t", partition: 9, target: [1]),
                .init(topic: "nope", partition: 0, target: [1]),
            ])
        #expect(records.isEmpty)
        #expect(
            outcomes.map(\.error) == [
                .invalidReplicaAssignment, .invalidRequest, .invalidReplicaAssignment, .invalidRequest,
                .unknownTopicOrPartition, .unknownTopicOrPartition,
            ])
        #expect(outcomes[2].message?.contains("broker 7") == true)
        // The same partition 400 times: the first is decided, every other one refused.
        let many = Reassignments.alter(
            img, (0..<400).map { _ in .init(topic: "t", partition: 1, target: [3, 1, 2]) })
        #expect(many.records.count == 1 && many.outcomes.filter { $0.error == .invalidRequest }.count == 399)
        _ = move(&img, 0, [0, 1, 2])
        #expect(!p(img).isReassigning)
    }

    @Test func aFencedLeaderDuringAMoveFailsOverWithinTheIsr() throws {
        var img = try cluster()
        _ = move(&img, 0, [3, 1, 2])
        img.applyAll(ControllerDecisions.fenceBroker(img, id: 0))
        let q = p(img)
        #expect(q.leader == 1 && q.isr == [1, 2] && q.isReassigning, "broker 3 is not in sync: it cannot lead")
        try alterIsr(&img, 0, [1, 2, 3])
        #expect(p(img).replicas == [3, 1, 2] && p(img).leader == 1 && !p(img).isReassigning)
    }
}
