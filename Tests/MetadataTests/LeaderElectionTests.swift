import KafkaProtocol
import Metadata
import Testing

/// Preferred and unclean elections, and the balance check, on images built from records.
@Suite struct LeaderElectionTests {
    /// Three brokers, topic "t" with 3 partitions of RF 3 (each led by its first replica).
    func cluster() throws -> MetadataImage {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 3, replicationFactor: 3, configs: [:], id: KafkaUUID(high: 7, low: 7)
            ).get())
        return img
    }

    func leaders(_ img: MetadataImage) -> [Int32] {
        (0..<3).map { img.topics["t"]!.partitions[Int32($0)]!.leader }
    }

    @Test func afterABrokerComesBackItsPartitionsGoBackToIt() throws {
        var img = try cluster()
        let preferred = leaders(img)
        let away = preferred[0]
        img.applyAll(ControllerDecisions.fenceBroker(img, id: away))
        #expect(!leaders(img).contains(away))
        // Fenced, it cannot lead again: nothing moves, and the answer says why.
        let (none, refused) = LeaderElections.elect(img, .preferred, partitions: [("t", 0)])
        #expect(none.isEmpty && refused.map(\.error) == [.preferredLeaderNotAvailable])
        // Back and in the ISR again: the election moves exactly its partition back.
        img.applyAll(ControllerDecisions.unfenceBroker(img, id: away))
        let p0 = img.topics["t"]!.partitions[0]!
        img.applyAll([.partitionChange(.init(topicId: img.topics["t"]!.id, partition: 0, isr: p0.replicas))])
        let epoch = img.topics["t"]!.partitions[0]!.leaderEpoch
        let (records, outcomes) = LeaderElections.elect(img, .preferred, partitions: nil)
        #expect(outcomes.map(\.error) == [.none], "only partitions that need an election are answered for 'all'")
        img.applyAll(records)
        #expect(leaders(img) == preferred)
        #expect(img.topics["t"]!.partitions[0]!.leaderEpoch == epoch + 1)
        // Asked again by name: not needed.
        #expect(
            LeaderElections.elect(img, .preferred, partitions: [("t", 0)]).outcomes.map(\.error) == [.electionNotNeeded]
        )
    }

    @Test func namedPartitionsAreAnsweredOnceAndUnknownOnesSaySo() throws {
        let img = try cluster()
        let (records, outcomes) = LeaderElections.elect(
            img, .preferred, partitions: [("t", 1), ("t", 1), ("t", 9), ("nope", 0)])
        #expect(records.isEmpty)
        #expect(outcomes.map(\.error) == [.electionNotNeeded, .unknownTopicOrPartition, .unknownTopicOrPartition])
    }

    @Test func uncleanElectionGivesALeaderlessPartitionAnyLiveReplica() throws {
        var img = try cluster()
        let t = img.topics["t"]!
        // Partition 0 leaderless with an ISR of a fenced broker only.
        let p = t.partitions[0]!
        let gone = p.replicas[0]
        img.applyAll(ControllerDecisions.fenceBroker(img, id: gone))
        img.applyAll([.partitionChange(.init(topicId: t.id, partition: 0, leader: -1, isr: [gone]))])
        #expect(
            LeaderElections.elect(img, .preferred, partitions: [("t", 0)]).outcomes[0].error
                == .preferredLeaderNotAvailable)
        let (records, outcomes) = LeaderElections.elect(img, .unclean, partitions: [("t", 0), ("t", 1)])
        #expect(outcomes.map(\.error) == [.none, .electionNotNeeded])
        #expect(ControllerDecisions.uncleanElections(img, records).map(\.partition) == [0], "logged as unclean")
        img.applyAll(records)
        let after = img.topics["t"]!.partitions[0]!
        #expect(after.leader == p.replicas[1] && after.isr == [p.replicas[1]])
    }

    @Test func theBalanceCheckMovesOnlyPastTheImbalanceThreshold() throws {
        var img = try cluster()
        let t = img.topics["t"]!
        // Partition 0's preferred leader is p.replicas[0]; lead it from the second replica.
        let p = t.partitions[0]!
        img.applyAll([.partitionChange(.init(topicId: t.id, partition: 0, leader: p.replicas[1]))])
        // That broker prefers 1 partition and leads 0 of it: 100% imbalance.
        #expect(LeaderElections.imbalanced(img, imbalancePercent: 10).map(\.partition) == [0])
        #expect(LeaderElections.imbalanced(img, imbalancePercent: 100).isEmpty, "at most 100% is never past 100%")
        img.applyAll(
            LeaderElections.elect(img, .preferred, partitions: LeaderElections.imbalanced(img, imbalancePercent: 10))
                .records)
        #expect(LeaderElections.imbalanced(img, imbalancePercent: 0).isEmpty)
    }
}
