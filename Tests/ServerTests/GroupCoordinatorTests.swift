import KafkaProtocol
import Logging
import Metadata
import NIOCore
import NIOEmbedded
import Storage
import Testing

@testable import Broker

/// The coordinator's membership rules on an embedded event loop, with the offsets partition's
/// writes and reads handed in (a commit succeeds, the partition starts empty).
@Suite struct GroupCoordinatorTests {
    /// The coordinator's clock: it moves only when a test advances it.
    let clock = ManualClock(wallMs: SystemClock().wallMs)

    @Test func groupsLandOnKafkasPartitionForTheirName() {
        // Java's "hello".hashCode() is 99162322; Kafka places by abs(hash) % partitions.
        #expect(GroupCoordinator.javaHash("hello") == 99_162_322)
        #expect(GroupCoordinator.javaHash("my-group") == -1_906_497_762)
        #expect(GroupCoordinator.partition(for: "my-group", count: 50) == 36)
        #expect(GroupCoordinator.partition(for: "first-app", count: 50) == 26)
        #expect(GroupCoordinator.partition(for: "ü-group", count: 50) == 12)
    }

    @Test func offsetRecordsUseKafkasKeyAndValueLayout() throws {
        let key = try GroupCoordinator.encodeOffsetKey("g", .init(topic: "t", partition: 3))
        // version 1, "g", "t", partition 3
        #expect(key == [0, 1, 0, 1, 0x67, 0, 1, 0x74, 0, 0, 0, 3])
        let value = GroupCoordinator.Committed(offset: 42, leaderEpoch: 5, metadata: "m", timestamp: 7)
        let back = try #require(GroupCoordinator.decodeOffsetValue(try GroupCoordinator.encodeOffsetValue(value)))
        #expect(back.offset == 42 && back.leaderEpoch == 5 && back.metadata == "m" && back.timestamp == 7)
        #expect(GroupCoordinator.decodeOffsetKey(key)?.0 == "g")
    }

    func coordinator(_ loop: EmbeddedEventLoop) -> GroupCoordinator {
        let c = GroupCoordinator(
            loop: loop, nodeId: 0, clock: clock, logger: Logger(label: "test"),
            write: { _, _ in loop.makeSucceededFuture(.none) },
            read: { _, _ in (nil, 0) })
        var image = MetadataImage()
        image.apply(.registerBroker(.init(id: 0, incarnation: KafkaUUID(high: 1, low: 1), host: "h", port: 1)), at: 0)
        image.apply(.unfenceBroker(id: 0, epoch: 0), at: 1)
        let id = KafkaUUID(high: 2, low: 2)
        image.apply(.topic(name: GroupCoordinator.topic, id: id), at: 2)
        for p in Int32(0)..<3 {
            image.apply(.partition(.init(topicId: id, partition: p, replicas: [0], isr: [0], leader: 0)), at: 3)
        }
        c.update(image)
        loop.run()
        loop.advanceTime(by: .milliseconds(100))
        return c
    }

    /// An embedded loop runs only when told to: run it, then take the answer.
    func done<T: Sendable>(_ f: EventLoopFuture<T>, on loop: EmbeddedEventLoop) throws -> T {
        loop.run()
        return try f.wait()
    }

    func join(_ c: GroupCoordinator, _ loop: EmbeddedEventLoop, member: String = "", known: Bool = true)
        -> EventLoopFuture<GroupCoordinator.JoinResult>
    {
        let f = c.join(
            group: "g", memberId: member, instanceId: nil, clientId: "client", host: "/h", sessionTimeoutMs: 10_000,
            rebalanceTimeoutMs: 10_000, protocolType: "consumer", protocols: [("range", [1]), ("roundrobin", [2])],
            requireKnownMemberId: known)
        loop.run()
        return f
    }

    @Test func membersJoinSyncHeartbeatAndRebalanceWithKafkasErrors() throws {
        let loop = EmbeddedEventLoop()
        func done<T: Sendable>(_ f: EventLoopFuture<T>) throws -> T { try self.done(f, on: loop) }
        let c = coordinator(loop)
        // KIP-394: the first join only hands out a member id.
        let first = try join(c, loop).wait()
        #expect(first.error == .memberIdRequired && !first.memberId.isEmpty)
        let a = try join(c, loop, member: first.memberId).wait()
        #expect(a.error == .none && a.generation == 1 && a.leader == first.memberId && a.protocolName == "range")
        #expect(a.members.map(\.id) == [first.memberId])
        let synced = c.sync(group: "g", generation: 1, memberId: a.memberId, assignments: [(a.memberId, [9, 9])])
        loop.run()
        #expect(try synced.wait().assignment == [9, 9])
        #expect(try done(c.heartbeat(group: "g", generation: 1, memberId: a.memberId)) == .none)
        #expect(try done(c.heartbeat(group: "g", generation: 0, memberId: a.memberId)) == .illegalGeneration)
        #expect(try done(c.heartbeat(group: "g", generation: 1, memberId: "nobody")) == .unknownMemberId)

        // A second member: the first learns of the rebalance by heartbeat and rejoins.
        let bFuture = join(c, loop, known: false)
        #expect(try done(c.heartbeat(group: "g", generation: 1, memberId: a.memberId)) == .rebalanceInProgress)
        let a2 = try join(c, loop, member: a.memberId).wait()
        let b = try bFuture.wait()
        #expect(a2.generation == 2 && b.generation == 2 && a2.leader == a.memberId && b.members.isEmpty)
        #expect(a2.members.count == 2)
        // A commit from the old generation is refused; one from the new is written.
        let stale = c.commit(group: "g", generation: 1, memberId: a.memberId, offsets: [("t", 0, 5, -1, nil)])
        loop.run()
        #expect(try stale.wait() == [.illegalGeneration])
        let followerSync = c.sync(group: "g", generation: 2, memberId: b.memberId, assignments: [])
        let leaderSync = c.sync(
            group: "g", generation: 2, memberId: a.memberId, assignments: [(a.memberId, [1]), (b.memberId, [2])])
        loop.run()
        #expect(try followerSync.wait().assignment == [2])
        #expect(try leaderSync.wait().assignment == [1])
        let ok = c.commit(group: "g", generation: 2, memberId: b.memberId, offsets: [("t", 0, 5, -1, "meta")])
        loop.run()
        #expect(try ok.wait() == [.none])
        let fetched = c.fetchOffsets(
            group: "g", partitions: [.init(topic: "t", partition: 0), .init(topic: "t", partition: 1)])
        loop.run()
        let (code, rows, _) = try fetched.wait()
        #expect(code == .none && rows.map { $0.1?.offset ?? -1 } == [5, -1])

        // Leaving: the group rebalances to the remaining member; a non-empty group is not deleted.
        let left = c.leave(group: "g", members: [(b.memberId, nil)])
        loop.run()
        #expect(try left.wait().1 == [.none])
        let deleted = c.delete(["g"])
        loop.run()
        #expect(try deleted.wait() == [.nonEmptyGroup])
        let other = c.join(
            group: "g", memberId: "", instanceId: nil, clientId: "x", host: "/h", sessionTimeoutMs: 10_000,
            rebalanceTimeoutMs: 10_000, protocolType: "other", protocols: [("p", [])], requireKnownMemberId: false)
        loop.run()
        #expect(try other.wait().error == .inconsistentGroupProtocol)
        let tooShort = c.join(
            group: "h", memberId: "", instanceId: nil, clientId: "x", host: "/h", sessionTimeoutMs: 100,
            rebalanceTimeoutMs: 100, protocolType: "consumer", protocols: [("range", [])], requireKnownMemberId: false)
        loop.run()
        #expect(try tooShort.wait().error == .invalidSessionTimeout)
        c.stop()
    }

    @Test func aRestartedStaticMemberTakesItsPlaceWithoutARebalance() throws {
        let loop = EmbeddedEventLoop()
        let c = coordinator(loop)
        func staticJoin(_ instance: String, member: String = "", protocols: [(String, [UInt8])] = [("range", [1])])
            -> EventLoopFuture<GroupCoordinator.JoinResult>
        {
            let f = c.join(
                group: "g", memberId: member, instanceId: instance, clientId: instance, host: "/h",
                sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, protocolType: "consumer",
                protocols: protocols.map { (name: $0.0, metadata: $0.1) }, requireKnownMemberId: true)
            loop.run()
            return f
        }
        // "a" joins alone (generation 1), then "b" joins and "a" rejoins: generation 2.
        let a1 = try staticJoin("a").wait()
        #expect(a1.error == .none && a1.generation == 1)
        let bFuture = staticJoin("b")
        let a = try staticJoin("a", member: a1.memberId).wait()
        let b = try bFuture.wait()
        #expect(a.generation == 2 && b.generation == 2 && a.leader == a.memberId)
        let ls = c.sync(
            group: "g", generation: 2, memberId: a.memberId, assignments: [(a.memberId, [0xA]), (b.memberId, [0xB])])
        let fs = c.sync(group: "g", generation: 2, memberId: b.memberId, assignments: [])
        loop.run()
        #expect(try ls.wait().assignment == [0xA] && fs.wait().assignment == [0xB])

        // "a" restarts: a new member id, the same instance id and subscription.
        let back = try staticJoin("a").wait()
        #expect(back.error == .none && back.memberId != a.memberId && back.generation == 2, "no new generation")
        #expect(back.leader == back.memberId && back.skipAssignment && back.members.count == 2, "still the leader")
        let synced = c.sync(group: "g", generation: 2, memberId: back.memberId, assignments: [])
        loop.run()
        #expect(try synced.wait().assignment == [0xA], "the old member's assignment")
        let bBeat = c.heartbeat(group: "g", generation: 2, memberId: b.memberId)
        loop.run()
        #expect(try bBeat.wait() == .none, "the other member is not asked to rebalance")
        let oldBeat = c.heartbeat(group: "g", generation: 2, memberId: a.memberId)
        loop.run()
        #expect(try oldBeat.wait() != .none, "the old id is gone")
        // The old process, still running, names its instance id: it is fenced (KIP-345), so it
        // stops instead of taking the place back; so are its syncs and commits.
        let fencedBeat = c.heartbeat(group: "g", generation: 2, memberId: a.memberId, instanceId: "a")
        let fencedSync = c.sync(group: "g", generation: 2, memberId: a.memberId, instanceId: "a", assignments: [])
        let fencedCommit = c.commit(
            group: "g", generation: 2, memberId: a.memberId, instanceId: "a", offsets: [("t", 0, 1, -1, nil)])
        let ownBeat = c.heartbeat(group: "g", generation: 2, memberId: back.memberId, instanceId: "a")
        loop.run()
        #expect(try fencedBeat.wait() == .fencedInstanceId && fencedSync.wait().error == .fencedInstanceId)
        #expect(try fencedCommit.wait() == [.fencedInstanceId])
        #expect(try ownBeat.wait() == .none)

        // With a different subscription the group rebalances, as Kafka does.
        let changed = staticJoin("a", protocols: [("range", [2])])
        let bRejoin = c.heartbeat(group: "g", generation: 2, memberId: b.memberId)
        loop.run()
        #expect(try bRejoin.wait() == .rebalanceInProgress)
        _ = changed
        c.stop()
    }

    @Test func offsetsOfAnEmptyGroupExpireAfterTheRetention() throws {
        let loop = EmbeddedEventLoop()
        let c = coordinator(loop)
        func done<T: Sendable>(_ f: EventLoopFuture<T>) throws -> T { try self.done(f, on: loop) }
        #expect(
            try done(c.commit(group: "idle", generation: -1, memberId: "", offsets: [("t", 0, 7, -1, nil)])) == [.none])
        let now = clock.wallMs
        #expect(try done(c.expireOffsets(nowMs: now + 1000)) == 0, "not yet")
        c.offsetsRetentionMs = 60_000
        #expect(try done(c.expireOffsets(nowMs: now + 61_000)) == 1)
        let (_, rows, _) = try done(c.fetchOffsets(group: "idle", partitions: [.init(topic: "t", partition: 0)]))
        #expect(rows.first?.1 == nil)
        c.stop()
    }
}
