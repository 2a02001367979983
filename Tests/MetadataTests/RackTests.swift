import KafkaProtocol
import Metadata
import Testing

@Suite struct RackTests {
    /// Every partition of every shape lands on distinct brokers, in as many racks as it can, and
    /// leadership spreads evenly over brokers.
    @Test func placementSpreadsEachPartitionOverAsManyRacksAsItCanForManyShapes() {
        let shapes: [[Int32: String]] = [
            [0: "a", 1: "b", 2: "c", 3: "a", 4: "b", 5: "c"],  // six nodes in three racks
            [0: "a", 1: "a", 2: "a", 3: "b"],  // a lopsided pair of racks
            [0: "a", 1: "b", 2: "a", 3: "b", 4: "c"],
            [0: "x", 2: "y", 5: "x"],  // ids with gaps, one broker without a rack (1)
            [:],
        ]
        for racks in shapes {
            let brokers = Array(Set(racks.keys).union([0, 1, 2])).sorted()
            let rackOf = { (b: Int32) in racks[b] ?? "none-\(b)" }
            let rackCount = Set(brokers.map(rackOf)).count
            for rf in 1...brokers.count {
                for start in [0, 1, 7] {
                    let count = brokers.count * 4
                    let placed = Racks.placement(
                        brokers: brokers, racks: racks, count: count, replicationFactor: rf, start: start)
                    #expect(placed.count == count)
                    var leaders: [Int32: Int] = [:]
                    for replicas in placed {
                        #expect(replicas.count == rf && Set(replicas).count == rf, "\(racks) rf \(rf): \(replicas)")
                        #expect(replicas.allSatisfy(brokers.contains))
                        #expect(
                            Set(replicas.map(rackOf)).count == min(rf, rackCount),
                            "\(racks) rf \(rf): \(replicas) uses too few racks")
                        leaders[replicas[0], default: 0] += 1
                    }
                    #expect(leaders.count == brokers.count && Set(leaders.values) == [4], "\(racks): \(leaders)")
                }
            }
        }
    }

    @Test func withoutRacksPlacementIsTheRotationItAlwaysWas() {
        let brokers: [Int32] = [0, 1, 2, 3]
        for start in 0..<5 {
            #expect(
                Racks.placement(brokers: brokers, racks: [:], count: 9, replicationFactor: 3, start: start)
                    == ControllerDecisions.placement(brokers: brokers, count: 9, replicationFactor: 3, start: start))
        }
    }

    @Test func placementRefusesShapesItCannotFillInsteadOfTrapping() {
        #expect(Racks.placement(brokers: [], racks: [:], count: 3, replicationFactor: 1, start: 0).isEmpty)
        #expect(Racks.placement(brokers: [0, 1], racks: [:], count: 3, replicationFactor: 3, start: 0).isEmpty)
        #expect(Racks.placement(brokers: [0, 1], racks: [:], count: 3, replicationFactor: 0, start: 0).isEmpty)
        #expect(
            Racks.placement(brokers: [0], racks: [:], count: 2, replicationFactor: 1, start: Int.max - 1).count == 2)
        #expect(
            Racks.placement(brokers: [0, 1], racks: [0: "a", 1: "b"], count: 3, replicationFactor: 2, start: Int.max)
                .count == 3)
    }

    @Test func interleavingAlternatesRacks() {
        #expect(
            Racks.interleaved([5, 4, 3, 2, 1, 0], racks: [0: "a", 1: "a", 2: "b", 3: "b", 4: "c", 5: "c"])
                == [0, 2, 4, 1, 3, 5])
        #expect(Racks.interleaved([0, 1, 2, 3], racks: [0: "a", 1: "a", 2: "a", 3: "b"]) == [0, 3, 1, 2])
    }

    @Test func createdTopicsSpreadOverRegisteredRacks() throws {
        var img = MetadataImage()
        for b: Int32 in 0..<6 {
            img.apply(
                .registerBroker(
                    .init(
                        id: b, incarnation: KafkaUUID(high: 2, low: UInt64(b)), host: "h", port: 9092 + b,
                        rack: "rack-\(b % 3)")), at: Int64(2 * b))
            img.apply(.unfenceBroker(id: b, epoch: Int64(2 * b)), at: Int64(2 * b + 1))
        }
        let records = try ControllerDecisions.createTopic(
            img, name: "t", partitions: 6, replicationFactor: 3, configs: [:], id: KafkaUUID(high: 3, low: 3)
        ).get()
        img.applyAll(records)
        for p in img.topics["t"]!.partitions.values {
            #expect(Set(p.replicas.map { $0 % 3 }) == [0, 1, 2], "\(p.replicas) is not in three racks")
        }
        img.applyAll(try ControllerDecisions.createPartitions(img, name: "t", count: 9).get())
        #expect(img.topics["t"]!.partitions.values.allSatisfy { Set($0.replicas.map { $0 % 3 }).count == 3 })
    }

    @Test func aConsumerIsSentToTheMostCaughtUpInSyncReplicaOfItsRackOnly() {
        let leader = Racks.Replica(id: 0, rack: "a", logEndOffset: 100)
        let isr = [
            leader, Racks.Replica(id: 1, rack: "b", logEndOffset: 90),
            Racks.Replica(id: 4, rack: "b", logEndOffset: 99),
            Racks.Replica(id: 2, rack: "c", logEndOffset: 100), Racks.Replica(id: 5, rack: nil, logEndOffset: 100),
        ]
        func pick(_ rack: String, _ offset: Int64, leader l: Racks.Replica = leader) -> Int32? {
            Racks.preferredReadReplica(clientRack: rack, leader: l, inSync: isr, fetchOffset: offset)
        }
        #expect(pick("b", 50) == 4)  // furthest ahead in rack b
        #expect(pick("b", 95) == 4)
        #expect(pick("b", 100) == nil)  // nobody in b holds offset 100 yet: the leader serves
        #expect(pick("c", 100) == 2)
        #expect(pick("a", 0) == nil)  // the leader is in the client's rack
        #expect(pick("", 0) == nil)  // no client.rack
        #expect(pick("d", 0) == nil)  // no replica in that rack
        #expect(pick("b", 0, leader: Racks.Replica(id: 0, rack: nil, logEndOffset: 100)) == 4)
        // Ties go to the lowest id.
        let tied = [Racks.Replica(id: 7, rack: "b", logEndOffset: 5), Racks.Replica(id: 3, rack: "b", logEndOffset: 5)]
        #expect(Racks.preferredReadReplica(clientRack: "b", leader: leader, inSync: tied, fetchOffset: 5) == 3)
    }

    @Test func replicaSelectorClassesAreKafkasNames() {
        #expect(ReplicaSelector(className: "org.apache.kafka.common.replica.RackAwareReplicaSelector") == .rackAware)
        #expect(ReplicaSelector(className: "org.apache.kafka.common.replica.LeaderSelector") == .leader)
        #expect(ReplicaSelector(className: "") == .leader)
        #expect(ReplicaSelector(className: "RackAware") == nil)
    }
}

@Suite struct PartitionHealthTests {
    typealias F = PartitionHealth.Facts

    @Test func aHealthyPartitionNeedsNoWords() {
        #expect(PartitionHealth.explain(F(leader: 0, replicas: [0, 1, 2], isr: [0, 1, 2], live: [0, 1, 2])) == nil)
        #expect(PartitionHealth.explain(F(leader: 0, replicas: [0], isr: [0], live: [0], minInsync: 1)) == nil)
    }

    @Test func eachReplicaOutOfSyncIsExplainedByWhatIsKnownOfIt() {
        let f = F(
            leader: 0, replicas: [0, 1, 2, 3, 4], isr: [0], live: [0, 1, 2, 3], lag: [1: 1200, 2: 1, 3: 0], minInsync: 2
        )
        #expect(
            PartitionHealth.explain(f)
                == "Under-replicated: broker 1 is 1200 records behind the high watermark; broker 2 is 1 record behind the high watermark; broker 3 has caught up and rejoins the ISR with its next fetch; broker 4 is down. acks=all writes are refused while the ISR (1) is below min.insync.replicas (2)."
        )
        #expect(
            PartitionHealth.explain(F(leader: 0, replicas: [0, 5], isr: [0], live: [0, 5]))
                == "Under-replicated: broker 5 holds no copy yet.")
    }

    @Test func aPartitionWithoutALeaderSaysWhetherAnUncleanElectionCouldHelp() {
        let unclean = PartitionHealth.explain(F(leader: -1, replicas: [1, 2, 3], isr: [1], live: [2, 3]))!
        #expect(
            unclean.hasPrefix(
                "No leader: every in-sync replica (1) is down. Brokers 2,3 hold a copy but are out of sync"))
        #expect(unclean.contains("--election-type UNCLEAN") && unclean.hasSuffix("or bring back broker 1."))
        let offline = PartitionHealth.explain(F(leader: -1, replicas: [1, 2], isr: [1, 2], live: [0]))
        #expect(
            offline == "Offline: no replica is running (replicas 1,2); it has a leader again when brokers 1,2 return.")
        // A leader that is not live is no leader; one ISR member still runs: an election is due.
        let electing = PartitionHealth.explain(F(leader: 1, replicas: [1, 2], isr: [1, 2], live: [2]))
        #expect(electing == "No leader yet: the controller is electing one of the in-sync replicas 2.")
    }
}

@Suite struct ReplicationThrottleTests {
    @Test func aThrottledReplicasListNamesPartitionsOnBrokers() {
        #expect(ReplicationThrottle.names("0:1, 2:3", partition: 2, broker: 3))
        #expect(ReplicationThrottle.names("0:1,2:3", partition: 0, broker: 1))
        #expect(!ReplicationThrottle.names("0:1,2:3", partition: 1, broker: 1))
        #expect(!ReplicationThrottle.names("10:1", partition: 0, broker: 1))  // not a prefix match
        #expect(ReplicationThrottle.names(" * ", partition: 9, broker: 9))
        #expect(
            !ReplicationThrottle.names(nil, partition: 0, broker: 0)
                && !ReplicationThrottle.names("", partition: 0, broker: 0))
    }

    @Test func ratesOutsideTheRangeThrottleNothing() {
        #expect(ReplicationThrottle.rate("1000") == 1000 && ReplicationThrottle.rate("0") == 0)
        #expect(ReplicationThrottle.rate(nil) == nil && ReplicationThrottle.rate("-1") == nil)
        #expect(ReplicationThrottle.rate("\(Int64.max)") == nil && ReplicationThrottle.rate("lots") == nil)
    }

    @Test func theBucketLetsTheRateThroughAndMakesOvershootWait() {
        var b = ByteRateLimiter(bytesPerSecond: 1000, nowMs: 0)
        #expect(b.allowance(nowMs: 0) == 1000)
        b.record(600, nowMs: 0)
        #expect(b.allowance(nowMs: 0) == 400)
        #expect(b.allowance(nowMs: 300) == 700)  // 300 ms drained 300 bytes
        b.record(3000, nowMs: 300)  // a first batch larger than the allowance: a debt
        #expect(b.allowance(nowMs: 300) == 0)
        #expect(b.allowance(nowMs: 2600) == 0)  // 3300 outstanding drain by 3.6 s
        #expect(b.allowance(nowMs: 3600) == 1000)
        // Time going backwards or leaping forward neither traps nor grants more than a second's worth.
        #expect(b.allowance(nowMs: 0) == 1000)
        b.record(Int.max, nowMs: 0)
        #expect(b.allowance(nowMs: Int64.max) == 0)  // 10 s of draining at most per step
        var huge = ByteRateLimiter(bytesPerSecond: .max, nowMs: 0)
        #expect(huge.allowance(nowMs: 10) == ReplicationThrottle.unthrottled)
        huge.record(Int.max, nowMs: 10)
        #expect(huge.allowance(nowMs: .max) >= 0)
    }

    @Test func brokerConfigsFallBackToTheClusterDefaultAndLeaveWhenDeleted() {
        var img = MetadataImage()
        img.apply(.brokerConfig(broker: -1, key: ReplicationThrottle.leaderRate, value: "10"), at: 0)
        img.apply(.brokerConfig(broker: 2, key: ReplicationThrottle.leaderRate, value: "20"), at: 1)
        #expect(img.brokerConfig(2, ReplicationThrottle.leaderRate) == "20")
        #expect(img.brokerConfig(1, ReplicationThrottle.leaderRate) == "10")
        img.apply(.brokerConfig(broker: 2, key: ReplicationThrottle.leaderRate, value: nil), at: 2)
        img.apply(.brokerConfig(broker: -1, key: ReplicationThrottle.leaderRate, value: nil), at: 3)
        #expect(img.brokerConfig(2, ReplicationThrottle.leaderRate) == nil && img.brokerConfigs.isEmpty)
    }
}
