import Glibc
import KafkaProtocol
import Metadata
import Raft

/// A seeded, deterministic world of Raft voters: a network that drops, delays (and so reorders)
/// and duplicates messages, partitions, crashes that lose unflushed data, and restarts. After
/// every step the safety invariants are checked; a violation names the seed that reproduces it.
struct Simulation {
    struct Fault: Error, CustomStringConvertible {
        var seed: UInt64
        var step: Int
        var what: String
        var description: String {
            "seed \(seed) step \(step): \(what)  (rerun: RAFT_SEED=\(seed) swift test --filter RaftSimulationTests)"
        }
    }

    struct Options {
        var nodes = 3
        /// Nodes that are not voters (broker-only nodes following the log), ids after the voters'.
        var observers = 0
        var dropRate = 0.05
        var duplicateRate = 0.02
        var maxDelayMs: Int64 = 30
        var crashEveryMs: Int64 = 1500
        var partitionEveryMs: Int64 = 2000
        var durationMs: Int64 = 12_000
        var proposeEveryMs: Int64 = 40
        /// Chance per step that a random node snapshots its committed image.
        var snapshotChance = 0.01
        /// How often the leader tries to add or remove a voter (KIP-853); nil: never.
        var membershipEveryMs: Int64? = nil
    }

    struct Node {
        var raft: RaftNode?
        /// What survives a crash: the quorum state and the flushed prefix of the log.
        var durableState = QuorumState()
        var durableLog: [LogEntry] = []
        /// The latest snapshot this node stored (it survives a crash).
        var durableSnapshot: RaftSnapshot?
        /// The log as written (page cache); lost past `durableLog` on a crash.
        var volatileLog: [LogEntry] = []
        var highWatermark: Int64 = 0
        var restartAtMs: Int64?
        /// The image of the committed entries, folded as they commit.
        var image = MetadataImage()
        var imageApplied = 0
    }

    struct Message {
        var deliverAtMs: Int64
        var sequence: Int
        var from: Int32
        var to: Int32
        var message: RaftMessage
    }

    let seed: UInt64
    let options: Options
    var rng: SimRandom
    var nowMs: Int64 = 0
    var step = 0
    var nodes: [Int32: Node] = [:]
    var network: [Message] = []
    var sequence = 0
    /// Pairs of nodes that cannot reach each other, until `healAtMs`.
    var cut: Set<[Int32]> = []
    var healAtMs: Int64 = 0
    var leaders: [Int32: Int32] = [:]
    var committed: [LogEntry] = []
    var proposed = 0
    var snapshotsTaken = 0
    /// The message delivered last, named in a fault's description.
    var lastDelivered: Message?
    var snapshotsInstalled = 0
    /// Voter changes the leader made (appended), and how many of them committed.
    var voterChangesMade = 0
    let config: RaftConfig
    /// The committed image at each high watermark any node reached: every other node that
    /// reaches the same offset must hold an equal image.
    var referenceImages: [Int: MetadataImage] = [:]
    /// High watermarks a leader reached: the ends of whole controller operations. A follower
    /// catching up may stop inside one (a fetch holds at most `maxFetchEntries`), where the
    /// image's own invariants need not hold yet.
    var leaderCommitPoints: Set<Int64> = []

    init(seed: UInt64, options: Options) {
        self.seed = seed
        self.options = options
        rng = SimRandom(seed: seed)
        var c = RaftConfig()
        c.fetchTimeoutMs = 600
        c.electionTimeoutMs = 300
        c.requestTimeoutMs = 150
        c.fetchBackoffMs = 20
        c.maxSnapshotChunkBytes = 64  // several chunks per snapshot, so chunks get lost and reordered
        config = c
        let ids = (0..<Int32(options.nodes + options.observers)).map { $0 }
        for id in ids {
            var n = Node()
            n.raft = RaftNode(
                id: id, voters: (0..<Int32(options.nodes)).map { $0 }, state: QuorumState(), log: RaftLog(), config: c,
                seed: seed &+ UInt64(id), nowMs: 0
            )
            nodes[id] = n
        }
    }

    var ids: [Int32] { nodes.keys.sorted() }
    var voterIds: [Int32] { (0..<Int32(options.nodes)).map { $0 } }

    func fault(_ what: String) -> Fault { Fault(seed: seed, step: step, what: what) }

    // MARK: - Running

    mutating func run() throws {
        var nextCrash = options.crashEveryMs
        var nextPartition = options.partitionEveryMs
        var nextPropose: Int64 = 0
        var nextFlush: Int64 = 0
        var nextMembership = options.membershipEveryMs ?? Int64.max
        while nowMs < options.durationMs {
            step += 1
            // Faults on a schedule with jitter; none in the last third so liveness can be checked.
            let calm = nowMs > options.durationMs * 2 / 3
            if !calm && nowMs >= nextCrash {
                crashRandomNode()
                try checkMajorityHolds()
                nextCrash = nowMs + options.crashEveryMs / 2 + Int64(rng.below(Int(options.crashEveryMs)))
            }
            if !calm && nowMs >= nextPartition {
                partitionRandomly()
                nextPartition = nowMs + options.partitionEveryMs / 2 + Int64(rng.below(Int(options.partitionEveryMs)))
            }
            if nowMs >= healAtMs { cut = [] }
            for id in ids where nodes[id]!.raft == nil && nodes[id]!.restartAtMs.map({ nowMs >= $0 }) == true {
                restart(id)
            }
            if nowMs >= nextPropose {
                try proposeAtLeader()
                nextPropose = nowMs + options.proposeEveryMs
            }
            if nowMs >= nextMembership {
                try changeVotersAtLeader()
                nextMembership =
                    nowMs + (options.membershipEveryMs ?? 0) / 2 + Int64(rng.below(Int(options.membershipEveryMs ?? 1)))
            }
            if nowMs >= nextFlush {
                try flushAll()
                nextFlush = nowMs + 10 + Int64(rng.below(20))
            }
            if rng.chance(options.snapshotChance) { try snapshotRandomNode() }
            try deliverDueMessages()
            for id in ids where nodes[id]!.raft != nil {
                let actions = nodes[id]!.raft!.tick(nowMs: nowMs)
                try carryOut(actions, at: id)
            }
            try checkInvariants()
            nowMs += 5
        }
        try checkLiveness()
    }

    /// A node snapshots the image it has applied (as the controller does every so many bytes)
    /// and forgets the log entries below it; the snapshot is stored before they go.
    mutating func snapshotRandomNode() throws {
        let alive = ids.filter { nodes[$0]!.raft != nil }
        guard !alive.isEmpty else { return }
        let id = alive[rng.below(alive.count)]
        let n = nodes[id]!
        guard Int64(n.imageApplied) > n.raft!.log.startOffset + 5 else { return }
        let payload = try! n.image.snapshotBytes()
        if getenv("SIMTRACE") != nil { print("t=\(nowMs) \(id) snapshot at \(n.imageApplied)") }
        if nodes[id]!.raft!.takeSnapshot(upTo: Int64(n.imageApplied), payload: payload) {
            nodes[id]!.durableSnapshot = nodes[id]!.raft!.snapshot
            snapshotsTaken += 1
        }
    }

    mutating func crashRandomNode() {
        let alive = ids.filter { nodes[$0]!.raft != nil }
        guard alive.count > 0 else { return }
        let victim = alive[rng.below(alive.count)]
        if getenv("SIMTRACE") != nil { print("t=\(nowMs) \(victim) CRASH") }
        var n = nodes[victim]!
        n.raft = nil
        n.volatileLog = n.durableLog  // unflushed writes are gone
        n.restartAtMs = nowMs + 100 + Int64(rng.below(800))
        nodes[victim] = n
        network.removeAll { $0.to == victim }
    }

    mutating func restart(_ id: Int32) {
        var n = nodes[id]!
        let snap = n.durableSnapshot
        let start = Int(snap?.endOffset ?? 0)
        n.raft = RaftNode(
            id: id, voters: voterIds, state: n.durableState,
            log: RaftLog(
                entries: Array(n.durableLog.dropFirst(start)), startOffset: Int64(start), startEpoch: snap?.epoch ?? 0),
            snapshot: snap, config: config, seed: seed &+ UInt64(id) &+ UInt64(step), nowMs: nowMs)
        n.volatileLog = n.durableLog
        n.highWatermark = Int64(start)
        n.restartAtMs = nil
        n.image = snap.map { try! MetadataImage(snapshot: $0.payload) } ?? MetadataImage()
        n.imageApplied = start
        nodes[id] = n
    }

    mutating func partitionRandomly() {
        cut = []
        let shuffled = ids.shuffled(using: &rng)
        let side = 1 + rng.below(max(1, ids.count - 1))
        let a = Set(shuffled.prefix(side))
        for x in ids {
            for y in ids where x < y && a.contains(x) != a.contains(y) { cut.insert([x, y]) }
        }
        healAtMs = nowMs + 200 + Int64(rng.below(1500))
    }

    func reachable(_ a: Int32, _ b: Int32) -> Bool { !cut.contains([min(a, b), max(a, b)]) }

    mutating func send(_ message: RaftMessage, from: Int32, to: Int32) {
        if rng.chance(options.dropRate) || !reachable(from, to) { return }
        let copies = rng.chance(options.duplicateRate) ? 2 : 1
        for _ in 0..<copies {
            sequence += 1
            network.append(
                Message(
                    deliverAtMs: nowMs + 1 + Int64(rng.below(Int(options.maxDelayMs))), sequence: sequence, from: from,
                    to: to, message: message))
        }
    }

    mutating func deliverDueMessages() throws {
        let due = network.filter { $0.deliverAtMs <= nowMs }.sorted {
            ($0.deliverAtMs, $0.sequence) < ($1.deliverAtMs, $1.sequence)
        }
        network.removeAll { $0.deliverAtMs <= nowMs }
        for m in due where nodes[m.to]!.raft != nil && reachable(m.from, m.to) {
            lastDelivered = m
            let actions = nodes[m.to]!.raft!.receive(m.message, from: m.from, nowMs: nowMs)
            try carryOut(actions, at: m.to)
        }
    }

    /// The leader decides one controller operation as the active controller does: only when
    /// everything in its log is committed (one operation in flight at a time), and on its
    /// committed image.
    mutating func proposeAtLeader() throws {
        for id in ids where nodes[id]!.raft?.isLeader == true {
            proposed += 1
            let raft = nodes[id]!.raft!
            guard raft.highWatermark == raft.log.endOffset, nodes[id]!.imageApplied == Int(raft.highWatermark) else {
                continue
            }
            let records = decide(nodes[id]!.image)
            if records.isEmpty { continue }
            if let (_, actions) = nodes[id]!.raft!.propose(records.map { try! $0.encoded() }) {
                try carryOut(actions, at: id)
            }
        }
    }

    /// The leader adds a node that is not a voter, or removes a voter (down to one), as
    /// `kafka-metadata-quorum.sh add-controller / remove-controller` would ask; a refusal (not
    /// ready, a change still uncommitted) is fine and tried again later.
    mutating func changeVotersAtLeader() throws {
        for id in ids where nodes[id]!.raft?.isLeader == true {
            let raft = nodes[id]!.raft!
            let outsiders = ids.filter { !raft.voters.contains($0) }
            let add = !outsiders.isEmpty && (raft.voters.count <= 1 || rng.below(2) == 0)
            let result =
                add
                ? nodes[id]!.raft!.addVoter(
                    VoterEndpoint(id: outsiders[rng.below(outsiders.count)], host: "", port: 0), nowMs: nowMs)
                : nodes[id]!.raft!.removeVoter(raft.voters[rng.below(raft.voters.count)], nowMs: nowMs)
            if case .success(let (_, actions)) = result {
                voterChangesMade += 1
                if getenv("SIMTRACE") != nil { print("t=\(nowMs) \(id) voters -> \(nodes[id]!.raft!.voters)") }
                try carryOut(actions, at: id)
            }
        }
    }

    mutating func decide(_ img: MetadataImage) -> [MetadataRecord] {
        let brokers: [Int32] = [0, 1, 2, 3]
        let b = brokers[rng.below(brokers.count)]
        switch rng.below(6) {
        case 0:
            return ControllerDecisions.registerBroker(
                img, .init(id: b, incarnation: KafkaUUID(high: seed, low: UInt64(proposed)), host: "h", port: 9092 + b))
        case 1: return ControllerDecisions.unfenceBroker(img, id: b)
        case 2: return ControllerDecisions.fenceBroker(img, id: b)
        case 3:
            let result = ControllerDecisions.createTopic(
                img, name: "t\(rng.below(8))", partitions: Int32(1 + rng.below(3)),
                replicationFactor: Int16(1 + rng.below(3)),
                configs: [:], id: KafkaUUID(high: seed, low: UInt64(proposed)))
            return (try? result.get()) ?? []
        case 4:
            guard let t = img.topics.values.sorted(by: { $0.name < $1.name }).first, let p = t.partitions[0],
                p.leader >= 0
            else { return [] }
            let isr = p.replicas.filter { $0 == p.leader || rng.below(2) == 0 }
            let result = ControllerDecisions.alterIsr(
                img, topic: t.name, partition: 0, from: p.leader, leaderEpoch: p.leaderEpoch,
                partitionEpoch: p.partitionEpoch, newIsr: isr)
            return (try? result.get()) ?? []
        default:
            guard let name = img.topics.keys.sorted().first, rng.below(3) == 0 else { return [] }
            return (try? ControllerDecisions.deleteTopic(img, name: name).get()) ?? []
        }
    }

    mutating func flushAll() throws {
        for id in ids where nodes[id]!.raft != nil {
            nodes[id]!.durableLog = nodes[id]!.volatileLog
            let actions = nodes[id]!.raft!.flushed(upTo: Int64(nodes[id]!.volatileLog.count))
            try carryOut(actions, at: id)
        }
    }

    /// Applies actions in order. A `send` makes earlier appends durable first: that is the
    /// contract the shell keeps (fsync before answering).
    mutating func carryOut(_ actions: [RaftAction], at id: Int32) throws {
        for action in actions {
            if getenv("SIMTRACE") != nil {
                switch action {
                case .send(let to, let m):
                    var text = "\(m)"
                    if text.count > 160 { text = String(text.prefix(160)) }
                    print("t=\(nowMs) \(id)->\(to) \(text)")
                case .append(let o, let es): print("t=\(nowMs) \(id) append \(o) \(es.map(\.epoch))")
                case .installSnapshot(let sn): print("t=\(nowMs) \(id) install \(sn.endOffset) e\(sn.epoch)")
                default: print("t=\(nowMs) \(id) \(action)")
                }
            }
            switch action {
            case .persist(let state):
                nodes[id]!.durableState = state
            case .append(let offset, let entries):
                guard offset == Int64(nodes[id]!.volatileLog.count) else {
                    throw fault("node \(id) appended at \(offset) but its log ends at \(nodes[id]!.volatileLog.count)")
                }
                nodes[id]!.volatileLog += entries
            case .truncate(let offset):
                if offset < Int64(committed.count) && offset < nodes[id]!.highWatermark {
                    let r = nodes[id]!.raft
                    throw fault(
                        "node \(id) truncated to \(offset), below its high watermark \(nodes[id]!.highWatermark) (log starts at \(r?.log.startOffset ?? -1), raft high watermark \(r?.highWatermark ?? -1), role \(String(describing: r?.role)), last message \(String(describing: lastDelivered)))"
                    )
                }
                nodes[id]!.volatileLog = Array(nodes[id]!.volatileLog.prefix(Int(offset)))
                nodes[id]!.durableLog = Array(nodes[id]!.durableLog.prefix(Int(offset)))
            case .send(let to, let message):
                if nodes[id]!.raft?.isLeader != true { nodes[id]!.durableLog = nodes[id]!.volatileLog }
                send(message, from: id, to: to)
            case .commit(let hw):
                try commit(hw, at: id)
            case .becameLeader(let epoch):
                if let other = leaders[epoch], other != id {
                    throw fault("two leaders in epoch \(epoch): \(other) and \(id)")
                }
                leaders[epoch] = id
                // A node outside its newest voter set leads only to finish removing itself.
                if nodes[id]!.raft?.mayCampaign != true {
                    throw fault("observer \(id) became leader in epoch \(epoch)")
                }
            case .lostLeadership:
                break
            case .installSnapshot(let snap):
                try install(snap, at: id)
            case .votersChanged:
                break
            }
        }
    }

    /// A snapshot from the leader replaces this node's log and image: it must stand for entries
    /// that were committed, and its image must equal every other node's at the same offset.
    mutating func install(_ snap: RaftSnapshot, at id: Int32) throws {
        var n = nodes[id]!
        let end = Int(snap.endOffset)
        guard end <= committed.count else {
            throw fault("node \(id) installed a snapshot ending at \(end), past the committed \(committed.count)")
        }
        guard snap.endOffset >= n.highWatermark else {
            throw fault("node \(id) installed a snapshot at \(end), below its high watermark \(n.highWatermark)")
        }
        let image: MetadataImage
        do { image = try MetadataImage(snapshot: snap.payload) } catch {
            throw fault("node \(id) cannot read the snapshot at \(end): \(error)")
        }
        if let reference = referenceImages[end], reference != image {
            throw fault("node \(id) installed a snapshot at \(end) whose image differs from another node's")
        }
        n.volatileLog = Array(committed.prefix(end))
        n.durableLog = n.volatileLog
        n.durableSnapshot = snap
        n.image = image
        n.imageApplied = end
        n.highWatermark = snap.endOffset
        nodes[id] = n
        snapshotsInstalled += 1
    }

    mutating func commit(_ hw: Int64, at id: Int32) throws {
        var n = nodes[id]!
        guard hw >= n.highWatermark else {
            throw fault("node \(id) high watermark went back from \(n.highWatermark) to \(hw)")
        }
        guard hw <= Int64(n.volatileLog.count) else {
            throw fault("node \(id) committed \(hw) past its log end \(n.volatileLog.count)")
        }
        // Offsets below this node's previous high watermark were checked when it reached them
        // (and truncating below a high watermark is itself a fault).
        for offset in Int(n.highWatermark)..<Int(hw) {
            let entry = n.volatileLog[offset]
            if offset < committed.count {
                if committed[offset] != entry {
                    throw fault("node \(id) committed a different entry at offset \(offset) than was committed before")
                }
            } else {
                committed.append(entry)
            }
        }
        n.highWatermark = hw
        // Fold the newly committed entries into this node's image and compare it with the
        // image any other node had at the same offset.
        for offset in n.imageApplied..<Int(hw) where !n.volatileLog[offset].isControl {
            do {
                n.image.apply(try MetadataRecord.decode(n.volatileLog[offset].payload), at: Int64(offset))
            } catch {
                throw fault("node \(id) cannot decode committed record at \(offset): \(error)")
            }
        }
        n.imageApplied = Int(hw)
        if let reference = referenceImages[Int(hw)] {
            if reference != n.image {
                throw fault("node \(id) image at committed offset \(hw) differs from another node's")
            }
        } else {
            referenceImages[Int(hw)] = n.image
        }
        if n.raft?.isLeader == true { leaderCommitPoints.insert(hw) }
        for t in n.image.topics.values where leaderCommitPoints.contains(hw) {
            for (index, p) in t.partitions where p.leader >= 0 {
                if n.image.brokers[p.leader]?.fenced != false {
                    throw fault("node \(id): fenced or unknown broker \(p.leader) leads \(t.name)-\(index)")
                }
                if !p.isr.contains(p.leader) {
                    throw fault("node \(id): leader \(p.leader) of \(t.name)-\(index) not in ISR")
                }
            }
        }
        nodes[id] = n
    }

    func checkInvariants() throws {
        guard step % 100 == 0 else { return }
        try checkMajorityHolds()
    }

    /// Every committed entry is held, durably, by so many voters that no majority can be formed
    /// without one of them (no crash of a minority can lose it; observers' copies do not count).
    /// With voter changes that is checked against the committed voter set and each leader's
    /// (which differs from it by one voter at most); a node whose log lags the committed set
    /// cannot win an election, as the voters that know the newer set refuse it.
    func checkMajorityHolds() throws {
        var committedSet = Set(voterIds)
        for e in committed { if let set = e.voterSet { committedSet = Set(set.map(\.id)) } }
        var sets: Set<Set<Int32>> = [committedSet]
        // The newest leader's (an older one cut off from its voters cannot commit any more).
        if let newest = ids.compactMap({ nodes[$0]!.raft }).filter(\.isLeader).max(by: { $0.epoch < $1.epoch }) {
            sets.insert(Set(newest.voters))
        }
        for offset in 0..<committed.count {
            let holders = Set(
                ids.filter { id in
                    let log = nodes[id]!.durableLog
                    return offset < log.count && log[offset] == committed[offset]
                })
            for set in sets {
                let held = set.intersection(holders).count
                if held <= set.count - (set.count / 2 + 1) {
                    throw fault(
                        "committed offset \(offset) is held by only \(held) durable logs of voters \(set.sorted())")
                }
            }
        }
    }

    mutating func checkLiveness() throws {
        cut = []
        for id in ids where nodes[id]!.raft == nil { restart(id) }
        let before = committed.count
        let deadline = nowMs + 10_000
        while nowMs < deadline {
            step += 1
            try deliverDueMessages()
            for id in ids {
                let actions = nodes[id]!.raft!.tick(nowMs: nowMs)
                try carryOut(actions, at: id)
            }
            if step % 8 == 0 { try proposeAtLeader() }
            if step % 4 == 0 { try flushAll() }
            nowMs += 5
            if committed.count > before + 5
                && ids.allSatisfy({ nodes[$0]!.highWatermark == Int64(committed.count) || nodes[$0]!.raft!.isLeader })
            {
                break
            }
        }
        guard committed.count > before else {
            throw fault(
                "no progress in 10 s after all faults healed (roles: \(ids.map { "\($0):\(nodes[$0]!.raft!.role)" }))")
        }
        // Observers find the leader and catch up as the voters do.
        let leaderVoters = ids.compactMap { nodes[$0]!.raft }.first { $0.isLeader }?.voters ?? voterIds
        for id in ids where !leaderVoters.contains(id) && nodes[id]!.highWatermark < Int64(committed.count) {
            throw fault(
                "observer \(id) is at \(nodes[id]!.highWatermark) of \(committed.count) committed 10 s after the faults healed (role \(nodes[id]!.raft!.role))"
            )
        }
        try checkInvariants()
    }
}

struct SimRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x2545_F491_4F6C_DD1D &+ 1 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < p }
}
