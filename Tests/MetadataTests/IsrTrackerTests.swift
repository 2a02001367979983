import KafkaProtocol
import Metadata
import Testing

/// The leader's view of which followers have fetched a partition since it began leading it.
@Suite struct IsrTrackerTests {
    func partition(leaderMovedTo leader: Int32? = nil) throws -> MetadataImage.Partition {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 1, replicationFactor: 3, configs: [:], id: KafkaUUID(high: 1, low: 1)
            ).get())
        var p = img.topics["t"]!.partitions[0]!
        if let leader {
            p.leader = leader
            p.leaderEpoch += 1
        }
        return p
    }

    @Test func followersNotHeardFromUntilEachFetches() throws {
        let p = try partition()
        var t = IsrTracker(nodeId: p.leader)
        t.update(p, logEnd: 0, nowMs: 0)
        let followers = p.replicas.filter { $0 != p.leader }
        #expect(t.replicasNotHeardFrom == followers)
        _ = t.followerFetched(followers[0], offset: 0, logEnd: 0, highWatermark: 0, nowMs: 1)
        #expect(t.replicasNotHeardFrom == [followers[1]])
        // A fetch from a broker that is not a replica, or repeated fetches, change nothing else.
        _ = t.followerFetched(7, offset: 0, logEnd: 0, highWatermark: 0, nowMs: 2)
        _ = t.followerFetched(followers[0], offset: 0, logEnd: 0, highWatermark: 0, nowMs: 2)
        #expect(t.replicasNotHeardFrom == [followers[1]])
        _ = t.followerFetched(followers[1], offset: 0, logEnd: 0, highWatermark: 0, nowMs: 3)
        #expect(t.replicasNotHeardFrom.isEmpty)
        // The same state again (another image) keeps what was heard.
        t.update(p, logEnd: 0, nowMs: 4)
        #expect(t.replicasNotHeardFrom.isEmpty)
    }

    @Test func aNewLeaderEpochStartsOverAndAFollowerHearsNothing() throws {
        let p = try partition()
        var t = IsrTracker(nodeId: p.leader)
        t.update(p, logEnd: 0, nowMs: 0)
        for r in p.replicas where r != p.leader {
            _ = t.followerFetched(r, offset: 0, logEnd: 0, highWatermark: 0, nowMs: 1)
        }
        #expect(t.replicasNotHeardFrom.isEmpty)
        let other = p.replicas.first { $0 != p.leader }!
        // Leadership moves away: a follower has no one to wait for.
        t.update(try partition(leaderMovedTo: other), logEnd: 0, nowMs: 2)
        #expect(t.replicasNotHeardFrom.isEmpty)
        // And back, in a later epoch: every follower must fetch again.
        var back = p
        back.leaderEpoch += 2
        t.update(back, logEnd: 0, nowMs: 3)
        #expect(t.replicasNotHeardFrom == p.replicas.filter { $0 != p.leader })
    }
}
