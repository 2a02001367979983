import KafkaProtocol
import Metadata
import Testing

/// Replica lists a client chooses in CreateTopics and CreatePartitions.
@Suite struct ManualAssignmentTests {
    func refusal(_ decision: Result<[MetadataRecord], ControllerError>) -> ControllerError? {
        if case .failure(let e) = decision { return e }
        return nil
    }

    @Test func theClientsListsAreTheReplicasAndTheFirstUnfencedOneLeads() throws {
        var img = image(brokers: [0, 1, 2, 3], fenced: [3])
        let id = KafkaUUID(high: 9, low: 9)
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "m", partitions: 3, replicationFactor: -1, configs: [:], id: id,
                manual: [[2, 0], [3, 1], [1, 2]]
            ).get())
        let t = try #require(img.topics["m"])
        #expect(t.partitions[0]?.replicas == [2, 0] && t.partitions[0]?.leader == 2)
        // Broker 3 is fenced: it is a replica, but not in the ISR and not the leader.
        #expect(t.partitions[1]?.replicas == [3, 1] && t.partitions[1]?.isr == [1] && t.partitions[1]?.leader == 1)
        img.applyAll(
            try ControllerDecisions.createPartitions(img, name: "m", count: 5, manual: [[0, 1], [1, 0]]).get())
        #expect(img.topics["m"]?.partitions[4]?.replicas == [1, 0])
    }

    @Test func listsThatKafkaRefusesAreRefusedWithItsReason() {
        let img = image(brokers: [0, 1, 2, 3], fenced: [3])
        func create(_ lists: [[Int32]]) -> ControllerError? {
            refusal(
                ControllerDecisions.createTopic(
                    img, name: "m", partitions: Int32(lists.count), replicationFactor: -1, configs: [:], id: .zero,
                    manual: lists))
        }
        #expect(create([[0, 1], []])?.message.contains("empty replica list") == true)
        #expect(create([[0, 0]])?.message.contains("broker 0 more than once") == true)
        #expect(create([[0, 7]])?.message.contains("broker 7, but no such broker is registered") == true)
        #expect(create([[3]])?.message.contains("are fenced") == true)
        #expect(create([[0, 1], [2]])?.message.contains("not consistent with previous partitions") == true)
        #expect(create([[Int32.max], [Int32.min]])?.code == .invalidReplicaAssignment)
        for e in [create([[]]), create([[0, 0]]), create([[3]])] { #expect(e?.code == .invalidReplicaAssignment) }
    }

    @Test func addedPartitionsNeedOneListEachOfTheTopicsReplicationFactor() throws {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "m", partitions: 1, replicationFactor: 2, configs: [:], id: KafkaUUID(high: 1, low: 1)
            ).get())
        let few = refusal(ControllerDecisions.createPartitions(img, name: "m", count: 3, manual: [[0, 1]]))
        #expect(few?.code == .invalidReplicaAssignment && few?.message.contains("only 1 assignment(s)") == true)
        let wide = refusal(ControllerDecisions.createPartitions(img, name: "m", count: 2, manual: [[0, 1, 2]]))
        #expect(wide?.message.contains("which have 2 replica(s)") == true)
    }
}
