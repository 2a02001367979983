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
        #expect(t.replicasNotHeardFrom(nowMs: 5) == followers)
        _ = t.followerFetched(followers[0], offset: 0, logEnd: 0, highWatermark: 0, nowMs: 1)
        #expect(t.replicasNotHeardFrom(nowMs: 5) == [followers[1]])
        // A fetch from a broker that is not a replica, or repeated fetches, change nothing else.
        _ = t.followerFetched(7, offset: 0, logEnd: 0, highWatermark: 0, nowMs: 2)
        _ = t.followerFetched(followers[0], offset: 0, logEnd: 0, highWatermark: 0, nowMs: 2)
        #expect(t.replicasNotHeardFrom(nowMs: 5) == [followers[1]])
        _ = t.followerFetched(followers[1], offset: 0, logEnd: 0, highWatermark: 0, nowMs: 3)
        #expect(t.replicasNotHeardFrom(nowMs: 5).isEmpty)
        // The same state again (another image) keeps what was heard.
        t.update(p, logEnd: 0, nowMs: 4)
        #expect(t.replicasNotHeardFrom(nowMs: 5).isEmpty)
    }

    @Test func aNewLeaderEpochStartsOverAndAFollowerHearsNothing() throws {
        let p = try partition()
        var t = IsrTracker(nodeId: p.leader)
        t.update(p, logEnd: 0, nowMs: 0)
        for r in p.replicas where r != p.leader {
            _ = t.followerFetched(r, offset: 0, logEnd: 0, highWatermark: 0, nowMs: 1)
        }
        #expect(t.replicasNotHeardFrom(nowMs: 5).isEmpty)
        let other = p.replicas.first { $0 != p.leader }!
        // Leadership moves away: a follower has no one to wait for.
        t.update(try partition(leaderMovedTo: other), logEnd: 0, nowMs: 2)
        #expect(t.replicasNotHeardFrom(nowMs: 5).isEmpty)
        // And back, in a later epoch: every follower must fetch again.
        var back = p
        back.leaderEpoch += 2
        t.update(back, logEnd: 0, nowMs: 3)
        #expect(t.replicasNotHeardFrom(nowMs: 5) == p.replicas.filter { $0 != p.leader })
    }

    /// A follower that has not fetched a partition within the window of its new leadership is
    /// down or cannot open it: it is no longer named, so appends stop waking it.
    @Test func onlyWithinTheWindowOfANewLeadership() throws {
        let p = try partition()
        var t = IsrTracker(nodeId: p.leader)
        t.update(p, logEnd: 0, nowMs: 1_000)
        let followers = p.replicas.filter { $0 != p.leader }
        #expect(t.replicasNotHeardFrom(nowMs: 1_000 + IsrTracker.newReplicasWindowMs) == followers)
        #expect(t.replicasNotHeardFrom(nowMs: 1_001 + IsrTracker.newReplicasWindowMs).isEmpty)
        // A later image of the same state does not open the window again.
        t.update(p, logEnd: 0, nowMs: 50_000)
        #expect(t.replicasNotHeardFrom(nowMs: 50_000).isEmpty)
    }

    /// A reassignment keeps the leader epoch: a replica that leaves and comes back, or a new
    /// one, must fetch again to count, and the window opens again with the change.
    @Test func aReassignmentWithinTheEpochMustBeHeardFromAgain() throws {
        var p = try partition()
        var t = IsrTracker(nodeId: p.leader)
        t.update(p, logEnd: 0, nowMs: 0)
        let followers = p.replicas.filter { $0 != p.leader }
        for r in followers { _ = t.followerFetched(r, offset: 0, logEnd: 0, highWatermark: 0, nowMs: 1) }
        #expect(t.replicasNotHeardFrom(nowMs: 2).isEmpty)
        // One follower leaves; then it and broker 7 join, 60 s later, in the same leader epoch.
        p.replicas = [p.leader, followers[0]]
        t.update(p, logEnd: 0, nowMs: 30_000)
        #expect(t.replicasNotHeardFrom(nowMs: 30_001).isEmpty)
        p.replicas = [p.leader, followers[0], followers[1], 7]
        t.update(p, logEnd: 0, nowMs: 60_000)
        #expect(t.replicasNotHeardFrom(nowMs: 60_001) == [followers[1], 7])
        _ = t.followerFetched(7, offset: 0, logEnd: 0, highWatermark: 0, nowMs: 60_002)
        #expect(t.replicasNotHeardFrom(nowMs: 60_003) == [followers[1]])
    }
}
