import KafkaProtocol
import Metadata
import Testing

func image(brokers: [Int32], fenced: Set<Int32> = []) -> MetadataImage {
    var img = MetadataImage()
    var offset: Int64 = 0
    for b in brokers {
        img.apply(
            .registerBroker(
                .init(
                    id: b, incarnation: KafkaUUID(high: 1, low: UInt64(b)), host: "localhost", port: 9092 + b,
                    endpoints: b == 0
                        ? [
                            .init(name: "INTERNAL", host: "tern-0", port: 29092),
                            .init(name: "EXTERNAL", host: "localhost", port: 9092),
                        ]
                        : [])),
            at: offset)
        offset += 1
        if !fenced.contains(b) {
            img.apply(.unfenceBroker(id: b, epoch: offset - 1), at: offset)
            offset += 1
        }
    }
    return img
}

extension MetadataImage {
    mutating func applyAll(_ records: [MetadataRecord]) {
        for r in records { apply(r, at: offset + 1) }
    }
}

@Suite struct MetadataRecordTests {
    @Test func everyRecordKindRoundTrips() throws {
        let id = KafkaUUID(high: 5, low: 6)
        let records: [MetadataRecord] = [
            .registerBroker(.init(id: 2, incarnation: id, host: "h", port: 9094, rack: "r")),
            .registerBroker(.init(id: 2, incarnation: id, host: "h", port: 9094, rack: nil)),
            .fenceBroker(id: 1, epoch: 77), .unfenceBroker(id: 1, epoch: 78), .unregisterBroker(id: 1, epoch: 79),
            .brokerConfig(broker: 2, key: "leader.replication.throttled.rate", value: "1000"),
            .brokerConfig(broker: -1, key: "follower.replication.throttled.rate", value: nil),
            .topic(name: "purchases", id: id),
            .partition(.init(topicId: id, partition: 2, replicas: [2, 0, 1], isr: [2, 0], leader: 2)),
            .partitionChange(.init(topicId: id, partition: 2, leader: 0, isr: nil)),
            .partitionChange(.init(topicId: id, partition: 2, leader: nil, isr: [0])),
            .partitionChange(.init(topicId: id, partition: 1, leader: -1, isr: [1])),
            .partitionChange(.init(topicId: id, partition: 1, replicas: [3, 1, 0], adding: [3], removing: [0])),
            .partitionChange(
                .init(topicId: id, partition: 1, leader: 3, isr: [3], replicas: [3], adding: [], removing: [])),
            .removeTopic(id: id), .config(topic: "t", key: "retention.ms", value: "1"),
            .config(topic: "t", key: "k", value: nil),
            .scramCredential(
                user: "alice",
                .init(mechanism: 2, salt: [9, 8], storedKey: [1, 2, 3], serverKey: [4], iterations: 8192)),
            .removeScramCredential(user: "alice", mechanism: 1),
        ]
        for r in records { #expect(try MetadataRecord.decode(try r.encoded()) == r) }
    }

    @Test func truncatedOrUnknownRecordsThrow() throws {
        let bytes = try MetadataRecord.topic(name: "t", id: .zero).encoded()
        for cut in 0..<bytes.count {
            #expect(throws: (any Error).self) { try MetadataRecord.decode(Array(bytes.prefix(cut))) }
        }
        #expect(throws: (any Error).self) { try MetadataRecord.decode([99, 0]) }
    }
}

@Suite struct ControllerDecisionTests {
    @Test func placementRotatesLeadersAsKafkaDescribeShows() {
        let p = ControllerDecisions.placement(brokers: [0, 1, 2], count: 3, replicationFactor: 3, start: 0)
        #expect(p == [[0, 1, 2], [1, 2, 0], [2, 0, 1]])
        let spread = ControllerDecisions.placement(brokers: [0, 1, 2], count: 6, replicationFactor: 2, start: 1)
        #expect(Dictionary(grouping: spread.map { $0[0] }, by: { $0 }).mapValues(\.count) == [0: 2, 1: 2, 2: 2])
    }

    @Test func replicationFactorAboveLiveBrokersSaysHowManyAreLive() {
        let img = image(brokers: [0, 1, 2], fenced: [2])
        guard
            case .failure(let e) = ControllerDecisions.createTopic(
                img, name: "t", partitions: 3, replicationFactor: 3, configs: [:], id: .zero)
        else {
            Issue.record("accepted")
            return
        }
        #expect(e.code == .invalidReplicationFactor)
        #expect(e.message.contains("only 2 broker(s)"))
    }

    @Test func partitionCountsAreBoundedBeforeAnythingIsPlaced() throws {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 1, replicationFactor: 1, configs: [:], id: KafkaUUID(high: 2, low: 2)
            ).get())
        // Int32.max partitions would be billions of placements: refused, per topic and for an increase.
        for decision in [
            ControllerDecisions.createTopic(
                img, name: "u", partitions: .max, replicationFactor: 1, configs: [:], id: .zero),
            ControllerDecisions.createPartitions(img, name: "t", count: .max),
            ControllerDecisions.createPartitions(img, name: "t", count: ControllerDecisions.maxPartitionsPerTopic + 1),
        ] {
            guard case .failure(let e) = decision else {
                Issue.record("accepted")
                continue
            }
            #expect(e.code == .invalidPartitions)
        }
        #expect((try? ControllerDecisions.createPartitions(img, name: "t", count: 10_000).get())?.count == 9_999)
    }

    @Test func createdTopicIsInTheImageWithFullIsr() throws {
        var img = image(brokers: [0, 1, 2])
        let id = KafkaUUID(high: 9, low: 9)
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "purchases", partitions: 3, replicationFactor: 3, configs: ["retention.ms": "5"], id: id
            ).get())
        let t = try #require(img.topics["purchases"])
        #expect(t.partitionCount == 3)
        #expect(t.partitions[1]?.isr == t.partitions[1]?.replicas)
        #expect(t.configs == ["retention.ms": "5"])
        #expect(img.topic(id: id)?.name == "purchases")
        guard
            case .failure(let e) = ControllerDecisions.createTopic(
                img, name: "purchases", partitions: 1, replicationFactor: 1, configs: [:], id: id)
        else {
            Issue.record("duplicate accepted")
            return
        }
        #expect(e.code == .topicAlreadyExists)
    }

    @Test func fencingALeaderMovesLeadershipToTheIsrAndBack() throws {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 3, replicationFactor: 3, configs: [:], id: KafkaUUID(high: 1, low: 1)
            ).get())
        img.applyAll(ControllerDecisions.fenceBroker(img, id: 1))
        let t = img.topics["t"]!
        for (_, p) in t.partitions {
            #expect(p.leader != 1)
            #expect(!p.isr.contains(1))
            #expect(p.isr.contains(p.leader))
        }
        #expect(t.partitions[1]?.leader == 2)  // replicas 1,2,0: next in order
        #expect(t.partitions[1]?.leaderEpoch == 1)
        img.applyAll(ControllerDecisions.unfenceBroker(img, id: 1))
        #expect(img.brokers[1]?.fenced == false)
    }

    @Test func unregisteringABrokerMovesItsLeadershipsAndRemovesOnlyThatRegistration() throws {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 3, replicationFactor: 2, configs: [:], id: KafkaUUID(high: 1, low: 1)
            ).get())
        let epoch = img.brokers[1]!.epoch
        let records = try ControllerDecisions.unregisterBroker(img, id: 1).get()
        #expect(records.last == .unregisterBroker(id: 1, epoch: epoch))
        img.applyAll(records)
        #expect(img.brokers[1] == nil && img.brokers.count == 2)
        for (_, p) in img.topics["t"]!.partitions {
            #expect(p.leader != 1 && !p.isr.contains(1) && p.leader >= 0)
        }
        // Its replicas stay assigned (as Kafka's): a reassignment moves them.
        #expect(img.topics["t"]!.partitions.values.contains { $0.replicas.contains(1) })
        for id: Int32 in [1, Int32.max, -1] {
            guard case .failure(let e) = ControllerDecisions.unregisterBroker(img, id: id) else {
                Issue.record("unregistering unknown broker \(id) succeeded")
                continue
            }
            #expect(e.code == .brokerIdNotRegistered)
        }
        // A record naming an older registration leaves a broker that registered again alone.
        img.apply(.registerBroker(.init(id: 1, incarnation: KafkaUUID(high: 9, low: 9), host: "h", port: 1)), at: 500)
        img.apply(.unregisterBroker(id: 1, epoch: epoch), at: 501)
        #expect(img.brokers[1]?.epoch == 500)
    }

    @Test func brokersInControlledShutdownAreLeavingUntilFencedOrRegisteredAgain() {
        var img = image(brokers: [0, 1, 2])
        var core = ControllerCore<Int>(sessionTimeoutMs: 9000)
        core.becameActive(logEnd: 0, brokers: img.brokers.keys, nowMs: 0)
        for b: Int32 in [0, 1, 2] {
            let epoch = img.brokers[b]!.epoch
            let decision = core.heartbeat(
                image: img, broker: b, brokerEpoch: epoch, metadataOffset: epoch, wantShutDown: b != 2, nowMs: 10)
            #expect((decision == .fenceForShutdown(caughtUp: true)) == (b != 2))
        }
        #expect(core.stillLeaving(image: img, except: 0) == [1])
        #expect(core.stillLeaving(image: img, except: 2) == [0, 1])
        img.applyAll(ControllerDecisions.fenceBroker(img, id: 1))
        #expect(core.stillLeaving(image: img, except: 2) == [0])
        core.registered(0, nowMs: 20)
        #expect(core.stillLeaving(image: img, except: 2) == [])
    }

    @Test func anInheritedSessionThatNeverHeartbeatsStopsKeepingOutANewIncarnation() {
        let img = image(brokers: [0, 1])
        var core = ControllerCore<Int>(sessionTimeoutMs: 9000)
        core.becameActive(logEnd: 0, brokers: img.brokers.keys, nowMs: 1000)
        let newcomer = KafkaUUID(high: 7, low: 7)
        let grace = ControllerCore<Int>.inheritedSessionGraceMs
        // Within the grace the registered incarnation may still be alive and about to heartbeat.
        #expect(core.refusesRegistration(image: img, broker: 0, incarnation: newcomer, nowMs: 1000 + grace) != nil)
        // It never spoke to this controller: the broker restarted, admit the new incarnation.
        #expect(core.refusesRegistration(image: img, broker: 0, incarnation: newcomer, nowMs: 1001 + grace) == nil)
        // One that heartbeats keeps its session for the whole session timeout.
        _ = core.heartbeat(
            image: img, broker: 1, brokerEpoch: img.brokers[1]!.epoch, metadataOffset: img.brokers[1]!.epoch,
            wantShutDown: false, nowMs: 2000)
        #expect(core.refusesRegistration(image: img, broker: 1, incarnation: newcomer, nowMs: 1001 + grace) != nil)
        #expect(core.refusesRegistration(image: img, broker: 1, incarnation: newcomer, nowMs: 2000 + 9001) == nil)
    }

    @Test func lastIsrMemberFencedLeavesThePartitionLeaderlessUntilItReturns() throws {
        var img = image(brokers: [0, 1])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 1, replicationFactor: 1, configs: [:], id: KafkaUUID(high: 2, low: 2)
            ).get())
        let owner = img.topics["t"]!.partitions[0]!.leader
        img.applyAll(ControllerDecisions.fenceBroker(img, id: owner))
        #expect(img.topics["t"]!.partitions[0]!.leader == -1)
        #expect(img.topics["t"]!.partitions[0]!.isr == [owner])  // its data is not forgotten
        img.applyAll(ControllerDecisions.unfenceBroker(img, id: owner))
        #expect(img.topics["t"]!.partitions[0]!.leader == owner)
    }

    @Test func uncleanElectionPicksALiveReplicaOutsideTheIsrOnlyWhereAllowed() throws {
        var img = image(brokers: [0, 1, 2])
        for (name, configs) in [("clean", [String: String]()), ("unclean", ["unclean.leader.election.enable": "true"])]
        {
            img.applyAll(
                try ControllerDecisions.createTopic(
                    img, name: name, partitions: 3, replicationFactor: 2, configs: configs,
                    id: KafkaUUID(high: 9, low: UInt64(name.count))
                ).get())
        }
        // Partition 0 of each topic is on brokers 0 and 1 (rotation restarts per 3 partitions).
        #expect(img.topics["clean"]!.partitions[0]!.replicas == img.topics["unclean"]!.partitions[0]!.replicas)
        let replicas = img.topics["clean"]!.partitions[0]!.replicas
        let (first, second) = (replicas[0], replicas[1])
        img.applyAll(ControllerDecisions.fenceBroker(img, id: second))  // leaves the ISR
        img.applyAll(ControllerDecisions.fenceBroker(img, id: first))  // the last ISR member goes
        for name in ["clean", "unclean"] {
            #expect(img.topics[name]!.partitions[0]!.leader == -1)
            #expect(img.topics[name]!.partitions[0]!.isr == [first])
        }
        let back = ControllerDecisions.unfenceBroker(img, id: second)
        let unclean = ControllerDecisions.uncleanElections(img, back)
        #expect(unclean.map(\.topic) == ["unclean"])
        img.applyAll(back)
        #expect(img.topics["clean"]!.partitions[0]!.leader == -1)  // waits for its ISR
        #expect(img.topics["unclean"]!.partitions[0]!.leader == second)
        #expect(img.topics["unclean"]!.partitions[0]!.isr == [second])
        // The cluster default applies to topics without their own setting.
        var img2 = img
        img2.applyAll(ControllerDecisions.fenceBroker(img2, id: second))
        img2.applyAll(ControllerDecisions.unfenceBroker(img2, id: second, uncleanDefault: true))
        #expect(img2.topics["clean"]!.partitions[0]!.leader == second)
        // When the leader dies and only out-of-ISR replicas are live, fencing elects one at once.
        var img3 = image(brokers: [0, 1, 2])
        img3.applyAll(
            try ControllerDecisions.createTopic(
                img3, name: "u", partitions: 1, replicationFactor: 3,
                configs: ["unclean.leader.election.enable": "true"], id: KafkaUUID(high: 8, low: 8)
            ).get())
        let p = img3.topics["u"]!.partitions[0]!
        img3.applyAll(
            try ControllerDecisions.alterIsr(
                img3, topic: "u", partition: 0, from: p.leader, leaderEpoch: p.leaderEpoch,
                partitionEpoch: p.partitionEpoch, newIsr: [p.leader]
            ).get())
        img3.applyAll(ControllerDecisions.fenceBroker(img3, id: p.leader))
        let q = img3.topics["u"]!.partitions[0]!
        #expect(q.leader == p.replicas[1])
        #expect(q.isr == [p.replicas[1]])
        #expect(q.leaderEpoch == p.leaderEpoch + 1)
    }

    @Test func reRegisteringALeaderFencesItAndMovesLeadershipFirst() throws {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 3, replicationFactor: 2, configs: [:], id: KafkaUUID(high: 4, low: 4)
            ).get())
        let records = ControllerDecisions.registerBroker(
            img, .init(id: 0, incarnation: KafkaUUID(high: 7, low: 7), host: "h", port: 1))
        #expect(records.first == .fenceBroker(id: 0, epoch: img.brokers[0]!.epoch))
        img.applyAll(records)
        #expect(img.brokers[0]?.fenced == true)
        #expect(img.topics["t"]!.partitions.values.allSatisfy { $0.leader != 0 })
    }

    @Test func alterIsrFromAStaleLeaderIsRefused() throws {
        var img = image(brokers: [0, 1, 2])
        img.applyAll(
            try ControllerDecisions.createTopic(
                img, name: "t", partitions: 1, replicationFactor: 3, configs: [:], id: KafkaUUID(high: 3, low: 3)
            ).get())
        let r = ControllerDecisions.alterIsr(
            img, topic: "t", partition: 0, from: 1, leaderEpoch: 0, partitionEpoch: 0, newIsr: [1])
        guard case .failure(let e) = r else {
            Issue.record("non-leader accepted")
            return
        }
        #expect(e.code == .fencedLeaderEpoch)
        img.applyAll(
            try ControllerDecisions.alterIsr(
                img, topic: "t", partition: 0, from: 0, leaderEpoch: 0, partitionEpoch: 0, newIsr: [0, 2]
            ).get())
        #expect(img.topics["t"]!.partitions[0]!.isr == [0, 2])
        // The same request again carries a stale partition epoch now.
        guard
            case .failure = ControllerDecisions.alterIsr(
                img, topic: "t", partition: 0, from: 0, leaderEpoch: 0, partitionEpoch: 0, newIsr: [0])
        else {
            Issue.record("stale partition epoch accepted")
            return
        }
    }

    /// Random sequences of broker fences, unfences, topic creations and ISR changes over many
    /// seeds: after every step no fenced broker leads, every leader is in its ISR, the ISR only
    /// names replicas, and leader epochs never go back.
    @Test func invariantsHoldOverRandomOperationSequences() throws {
        for seed in 0..<UInt64(300) {
            var rng = Rng(seed)
            let unclean = seed % 2 == 1
            var img = image(brokers: [0, 1, 2, 3, 4])
            var epochs: [String: Int32] = [:]
            for step in 0..<60 {
                switch rng.below(7) {
                case 6:
                    // A move begun (or completed at once) of some partition.
                    guard let t = img.topics.values.sorted(by: { $0.name < $1.name }).first else { break }
                    var pool: [Int32] = [0, 1, 2, 3]
                    let target = (0...rng.below(3)).map { _ in pool.remove(at: rng.below(pool.count)) }
                    let (rs, _) = Reassignments.alter(
                        img, [.init(topic: t.name, partition: Int32(rng.below(t.partitionCount)), target: target)])
                    img.applyAll(rs)
                case 5:
                    let b = Int32(rng.below(5))
                    img.applyAll(
                        ControllerDecisions.registerBroker(
                            img,
                            .init(id: b, incarnation: KafkaUUID(high: seed, low: UInt64(step)), host: "h", port: 1),
                            uncleanDefault: unclean))
                case 0:
                    img.applyAll(ControllerDecisions.fenceBroker(img, id: Int32(rng.below(5)), uncleanDefault: unclean))
                case 1:
                    img.applyAll(
                        ControllerDecisions.unfenceBroker(img, id: Int32(rng.below(5)), uncleanDefault: unclean))
                case 2:
                    let rf = Int16(1 + rng.below(3))
                    if case .success(let rs) = ControllerDecisions.createTopic(
                        img, name: "t\(step)", partitions: Int32(1 + rng.below(4)), replicationFactor: rf, configs: [:],
                        id: KafkaUUID(high: seed, low: UInt64(step)))
                    {
                        img.applyAll(rs)
                    }
                case 3:
                    if let t = img.topics.values.sorted(by: { $0.name < $1.name }).first, let p = t.partitions[0],
                        p.leader >= 0
                    {
                        let isr = p.replicas.filter { $0 == p.leader || rng.below(2) == 0 }
                        if case .success(let rs) = ControllerDecisions.alterIsr(
                            img, topic: t.name, partition: 0, from: p.leader, leaderEpoch: p.leaderEpoch,
                            partitionEpoch: p.partitionEpoch, newIsr: isr)
                        {
                            img.applyAll(rs)
                        }
                    }
                default:
                    if let name = img.topics.keys.sorted().last, rng.below(4) == 0 {
                        img.applyAll(try ControllerDecisions.deleteTopic(img, name: name).get())
                    }
                }
                for t in img.topics.values {
                    for (i, p) in t.partitions {
                        let key = "\(t.name)-\(i)"
                        #expect(p.leaderEpoch >= epochs[key] ?? 0, "seed \(seed) step \(step): epoch went back")
                        epochs[key] = p.leaderEpoch
                        #expect(p.isr.allSatisfy { p.replicas.contains($0) }, "seed \(seed): ISR outside replicas")
                        if p.leader >= 0 {
                            #expect(p.isr.contains(p.leader), "seed \(seed) step \(step): leader not in ISR")
                            #expect(img.brokers[p.leader]?.fenced == false, "seed \(seed) step \(step): fenced leader")
                        }
                    }
                }
            }
        }
    }
}

struct Rng {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &+ 0x1234_5678 }
    mutating func below(_ n: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(n))
    }
}

@Suite struct MetadataSnapshotTests {
    /// Random images (brokers fenced and not, topics with configs, partitions moved between
    /// leaders) read back from their snapshot bytes equal, down to every epoch and the offset.
    @Test func imagesSurviveTheirSnapshotBytes() throws {
        for seed in 0..<UInt64(100) {
            var rng = Rng(seed)
            var img = image(brokers: [0, 1, 2, 3])
            for step in 0..<30 {
                switch rng.below(7) {
                case 6:
                    let key =
                        rng.below(2) == 0 ? "leader.replication.throttled.rate" : "follower.replication.throttled.rate"
                    let broker = Int32(rng.below(3)) - 1
                    img.applyAll([.brokerConfig(broker: broker, key: key, value: rng.below(3) == 0 ? nil : "\(step)")])
                case 5:
                    let acl = AclEntry(
                        resourceType: 2, resourceName: "t\(rng.below(3))", patternType: Int8(3 + rng.below(2)),
                        principal: "User:u\(rng.below(3))", host: "*", operation: Int8(3 + rng.below(3)),
                        permissionType: Int8(2 + rng.below(2)))
                    img.applyAll(rng.below(3) == 0 ? [.removeAcl(acl)] : [.acl(acl)])
                case 4:
                    let user = "u\(rng.below(3))"
                    let m = Int8(1 + rng.below(2))
                    img.applyAll(
                        rng.below(3) == 0
                            ? [.removeScramCredential(user: user, mechanism: m)]
                            : [
                                .scramCredential(
                                    user: user,
                                    .init(
                                        mechanism: m, salt: [UInt8(step)], storedKey: [1, 2, 3], serverKey: [4, 5],
                                        iterations: 4096 + Int32(step)))
                            ])
                case 0: img.applyAll(ControllerDecisions.fenceBroker(img, id: Int32(rng.below(4))))
                case 1: img.applyAll(ControllerDecisions.unfenceBroker(img, id: Int32(rng.below(4))))
                default:
                    if case .success(let rs) = ControllerDecisions.createTopic(
                        img, name: "t\(step)", partitions: Int32(1 + rng.below(4)),
                        replicationFactor: Int16(1 + rng.below(2)),
                        configs: rng.below(2) == 0 ? [:] : ["retention.ms": "\(step)", "cleanup.policy": "compact"],
                        id: KafkaUUID(high: seed, low: UInt64(step)))
                    {
                        img.applyAll(rs)
                    }
                }
            }
            let bytes = try img.snapshotBytes()
            let back = try MetadataImage(snapshot: bytes)
            #expect(back == img, "seed \(seed)")
            #expect(try back.snapshotBytes() == bytes)
            // The restored image goes on folding records exactly as the original does.
            var a = img
            var b = back
            a.applyAll(ControllerDecisions.fenceBroker(a, id: 0))
            b.applyAll(ControllerDecisions.fenceBroker(b, id: 0))
            #expect(a == b)
        }
    }

    @Test func brokersAnswerWithTheListenerAsked() throws {
        let img = image(brokers: [0, 1])
        #expect(img.brokers[0]!.endpoint("EXTERNAL")! == ("localhost", 9092))
        #expect(img.brokers[0]!.endpoint("INTERNAL")! == ("tern-0", 29092))
        #expect(img.brokers[0]!.endpoint("OTHER") == nil)
        #expect(img.brokers[1]!.endpoint("ANY")! == ("localhost", 9093), "no listeners recorded: the primary address")
        let registration = MetadataRecord.registerBroker(
            .init(
                id: 4, incarnation: KafkaUUID(high: 4, low: 4), host: "h", port: 1,
                endpoints: [.init(name: "A", host: "a", port: 2)]))
        #expect(try MetadataRecord.decode(try registration.encoded()) == registration)
    }

    @Test func damagedSnapshotBytesAreRefused() throws {
        let bytes = try image(brokers: [0, 1]).snapshotBytes()
        #expect(throws: (any Error).self) { try MetadataImage(snapshot: Array(bytes.dropLast(3))) }
        var wrongMagic = bytes
        wrongMagic[0] ^= 0xFF
        #expect(throws: (any Error).self) { try MetadataImage(snapshot: wrongMagic) }
        #expect(throws: (any Error).self) { try MetadataImage(snapshot: bytes + [0]) }
    }
}
