import Glibc
import KafkaProtocol
import Metadata
import Raft

/// A seeded, deterministic world of three Tern nodes, past Raft: each node is a voter with the
/// active controller's core (`ControllerCore`: the operation queue, readiness after an
/// election, broker sessions), a broker that registers and heartbeats, forwards CreateTopics
/// and AlterPartition to whichever node it believes is the active controller, leads and follows
/// partitions with the leader's ISR logic (`IsrTracker`), and applies the committed log to its
/// image, taking snapshots and restarting from them. The decisions are the server's own
/// (`ControllerDecisions`); what is modelled is only the shell: the network, timers, and the
/// forwarding retry loop.
///
/// Faults: kill -9 (the active controller more often than not), controlled shutdown, a node
/// kept down long enough to fall behind a snapshot, isolated nodes, lost and delayed messages.
/// The invariant: every submitted metadata change completes or fails within its deadline; once
/// the faults stop, every change completes, every broker is unfenced and every ISR is whole.
struct ControllerSimulation {
    struct Fault: Error, CustomStringConvertible {
        var seed: UInt64
        var nowMs: Int64
        var what: String
        var description: String {
            "seed \(seed) at \(nowMs) ms: \(what)  (rerun: CONTROLLER_SEED=\(seed) swift test --filter ControllerSimulationTests)"
        }
    }

    struct Options {
        var nodes = 3
        /// Faults happen before this; after it the cluster is healthy.
        var faultyMs: Int64 = 7_000
        /// How long the healthy tail runs.
        var calmMs: Int64 = 7_000
        /// Time the cluster gets after the last fault to elect, fence and re-register.
        var recoveryMs: Int64 = 2_500
        var faultEveryMs: Int64 = 1_500
        var dropRate = 0.02
        var maxDelayMs: Int64 = 15
        var createEveryMs: Int64 = 300
        var produceEveryMs: Int64 = 100
        /// Take a snapshot after this many applied entries.
        var snapshotEveryEntries: Int64 = 25
    }

    // Timings, scaled down from the server's (sessions 9 s, heartbeats 2 s, forward 15 s).
    static let sessionTimeoutMs: Int64 = 1_200
    static let heartbeatMs: Int64 = 250
    static let fencedHeartbeatMs: Int64 = 40
    static let lifecycleTimeoutMs: Int64 = 600
    static let forwardAttemptMs: Int64 = 600
    static let forwardGiveUpMs: Int64 = 2_500
    static let forwardRetryMs: Int64 = 40
    static let replicaFetchMs: Int64 = 30
    static let replicaLagMs: Int64 = 800
    static let isrCheckMs: Int64 = 100
    static let shutdownTimeoutMs: Int64 = 800
    /// A client hears within this long of submitting (the forward gives up before it).
    static let clientDeadlineMs: Int64 = forwardGiveUpMs + forwardAttemptMs + 200

    enum Request {
        case createTopic(name: String, partitions: Int32, replicationFactor: Int16)
        case deleteTopic(name: String)
        case alterPartition(topic: String, partition: Int32, leaderEpoch: Int32, partitionEpoch: Int32, isr: [Int32])
        case register(incarnation: KafkaUUID)
        case heartbeat(brokerEpoch: Int64, metadataOffset: Int64, wantShutDown: Bool)
    }

    struct Response {
        var code: ErrorCode = .none
        var brokerEpoch: Int64 = -1
        var fenced = true
        var shouldShutDown = false
    }

    enum Payload {
        case raft(RaftMessage)
        case request(id: Int, Request)
        case response(id: Int, Response)
        /// One fetch for every partition a follower replicates from that leader, as brokers do.
        case replicaFetch([(topic: String, partition: Int32, offset: Int64)])
        case replicaData([(topic: String, partition: Int32, logEnd: Int64, highWatermark: Int64)])
    }

    struct Message {
        var deliverAtMs: Int64
        var sequence: Int
        var from: Int32
        var to: Int32
        var payload: Payload
    }

    /// A forwarded change waiting at its broker: retried against whoever leads, until it gets
    /// an answer or gives up (as ClusterGateway.route does).
    struct Forward {
        enum Origin {
            case client(Int)
            case isr(topic: String, partition: Int32)
        }
        var origin: Origin
        var request: Request
        var giveUpAtMs: Int64
        var attempt: (id: Int, to: Int32, timeoutAtMs: Int64)?
        var retryAtMs: Int64
    }

    struct Replica {
        var tracker: IsrTracker
        var logEnd: Int64 = 0
        var highWatermark: Int64 = 0
    }

    /// An operation the active controller queued, and whom to answer when it ends.
    enum Waiting {
        case answer(to: Int32, id: Int, Request)
        case transition(broker: Int32)
    }

    /// A class, so that the many small updates a step makes do not copy the node.
    final class Node {
        var raft: RaftNode
        var persisted: QuorumState
        var image = MetadataImage()
        var applied: Int64 = 0
        var appliedSinceSnapshot: Int64 = 0
        var core = ControllerCore<Int>(sessionTimeoutMs: ControllerSimulation.sessionTimeoutMs)
        var waiting: [Int: Waiting] = [:]
        // The broker half.
        var incarnation: KafkaUUID
        var brokerEpoch: Int64?
        var fenced = true
        var stoppingSinceMs: Int64?
        var lifecycle: (id: Int, timeoutAtMs: Int64)?
        var nextBeatMs: Int64 = 0
        var forwards: [Int: Forward] = [:]
        var replicas: [String: [Int32: Replica]] = [:]
        /// The replicas' keys in a fixed order: Swift seeds its hashing per process, and anything
        /// that draws random numbers or ids must not depend on a dictionary's order.
        var order: [(topic: String, partition: Int32)] = []
        var nextIsrCheckMs: Int64 = 0
        var nextFetchMs: Int64 = 0

        init(raft: RaftNode, persisted: QuorumState, incarnation: KafkaUUID) {
            self.raft = raft
            self.persisted = persisted
            self.incarnation = incarnation
        }
    }

    /// What survives a crash: everything written (the shell fsyncs before it sends).
    struct Disk {
        var state: QuorumState
        var log: RaftLog
        var snapshot: RaftSnapshot?
    }

    struct ClientChange {
        var name: String
        var delete = false
        var node: Int32
        var submittedMs: Int64
        var mustSucceed: Bool
    }

    let seed: UInt64
    let options: Options
    let config: RaftConfig
    var rng: SimRandom
    var nowMs: Int64 = 0
    var nodes: [Int32: Node] = [:]
    var down: [Int32: (disk: Disk, restartAtMs: Int64)] = [:]
    var network: [Message] = []
    var sequence = 0
    var isolated: Int32? = nil
    var healAtMs: Int64 = 0
    var lastFaultMs: Int64 = 0
    var lastRestartMs: Int64 = 0
    var nextId = 0
    var restarts = 0
    var topicsCreated = 0
    var pendingClients: [Int: ClientChange] = [:]
    /// Topics a delete was submitted for.
    var deleting: Set<String> = []
    /// Counts for the report: changes answered, completed, and the slowest answer.
    var answeredCount = 0
    var completed = 0
    var slowestMs: Int64 = 0
    var snapshotsLoaded = 0
    var isrChanges = 0
    var trace: [String] = []

    var ids: [Int32] { (0..<Int32(options.nodes)).map { $0 } }

    init(seed: UInt64, options: Options = Options()) {
        self.seed = seed
        self.options = options
        rng = SimRandom(seed: seed ^ 0xC0_47_80_11)
        var c = RaftConfig()
        c.fetchTimeoutMs = 500
        c.electionTimeoutMs = 250
        c.requestTimeoutMs = 150
        c.fetchBackoffMs = 20
        config = c
        for id in ids { nodes[id] = makeNode(id, disk: Disk(state: QuorumState(), log: RaftLog(), snapshot: nil)) }
    }

    mutating func makeNode(_ id: Int32, disk: Disk) -> Node {
        let raft = RaftNode(
            id: id, voters: ids, state: disk.state, log: disk.log, snapshot: disk.snapshot, config: config,
            seed: seed &+ UInt64(id) &+ UInt64(restarts) &* 7919, nowMs: nowMs)
        let n = Node(
            raft: raft, persisted: disk.state,
            incarnation: KafkaUUID(high: seed, low: UInt64(restarts) << 8 | UInt64(id)))
        // As QuorumController.init: the image from the snapshot, the log after it applied as it commits.
        if let s = disk.snapshot {
            n.image = try! MetadataImage(snapshot: s.payload)
            snapshotsLoaded += 1
        }
        n.applied = disk.log.startOffset
        n.nextBeatMs = nowMs
        restarts += 1
        return n
    }

    func fault(_ what: String) -> Fault {
        Fault(
            seed: seed, nowMs: nowMs,
            what: what + "\n" + describeState() + "\nlast events:\n" + trace.suffix(25).joined(separator: "\n"))
    }

    mutating func note(_ s: String) {
        trace.append("t=\(nowMs) \(s)")
        if trace.count > 200 { trace.removeFirst(100) }
        if getenv("CONTROLLER_TRACE") != nil { print("t=\(nowMs) \(s)") }
    }

    func describeState() -> String {
        ids.map { id in
            guard let n = nodes[id] else { return "node \(id): down" }
            let brokers = n.image.brokers.values.sorted { $0.id < $1.id }.map {
                "\($0.id)\($0.fenced ? "F" : "")@\($0.epoch)"
            }
            return
                "node \(id): \(n.raft.role) epoch \(n.raft.epoch) leader \(n.raft.leaderId.map(String.init) ?? "-") log \(n.raft.log.startOffset)..<\(n.raft.log.endOffset) hw \(n.raft.highWatermark) applied \(n.applied); controller active \(n.core.isActive) readyAt \(n.core.readyAt) queued \(n.core.queuedCount) inFlight \(n.core.inFlightCount); broker epoch \(n.brokerEpoch.map(String.init) ?? "-") fenced \(n.fenced); image brokers \(brokers), \(n.image.topics.count) topics; forwards \(n.forwards.count)"
        }.joined(separator: "\n")
    }

    // MARK: - Running

    mutating func run() throws {
        var nextFault = options.faultEveryMs
        var nextCreate: Int64 = 300
        var nextProduce: Int64 = 0
        let end = options.faultyMs + options.calmMs
        while nowMs < end {
            if nowMs < options.faultyMs && nowMs >= nextFault {
                injectFault()
                nextFault = nowMs + options.faultEveryMs / 2 + Int64(rng.below(Int(options.faultEveryMs)))
            }
            if nowMs >= healAtMs { isolated = nil }
            for (id, d) in down where nowMs >= d.restartAtMs {
                down[id] = nil
                nodes[id] = makeNode(id, disk: d.disk)
                lastRestartMs = nowMs
                note("node \(id) restarts (snapshot \(d.disk.snapshot.map { "at \($0.endOffset)" } ?? "none"))")
            }
            if nowMs >= nextCreate && nowMs < end - 1_000 {
                submitClientChange()
                nextCreate = nowMs + options.createEveryMs / 2 + Int64(rng.below(Int(options.createEveryMs)))
            }
            if nowMs >= nextProduce {
                produce()
                nextProduce = nowMs + options.produceEveryMs
            }
            try deliverDue()
            for id in ids where nodes[id] != nil { try tick(id) }
            try checkDeadlines()
            nowMs += 10
        }
        // The last changes commit and reach every node: settled within a few seconds.
        let settleBy = nowMs + 4_000
        while true {
            do {
                try checkSettled()
                return
            } catch let error as Fault {
                if nowMs >= settleBy { throw error }
            }
            for _ in 0..<10 {
                try deliverDue()
                for id in ids where nodes[id] != nil { try tick(id) }
                try checkDeadlines()
                nowMs += 10
            }
        }
    }

    var calmFromMs: Int64 { max(options.faultyMs, lastFaultMs, lastRestartMs) + options.recoveryMs }

    mutating func injectFault() {
        lastFaultMs = nowMs
        let alive = ids.filter { nodes[$0] != nil }
        // Keep a majority: with a node already down, only network faults.
        guard alive.count == options.nodes, alive.allSatisfy({ nodes[$0]!.stoppingSinceMs == nil }) else {
            if rng.chance(0.5) { isolate() }
            return
        }
        let active = alive.first { nodes[$0]!.core.isActive }
        let victim = active.flatMap { rng.chance(0.6) ? $0 : nil } ?? alive[rng.below(alive.count)]
        switch rng.below(5) {
        case 0, 1:
            crash(victim, downMs: 100 + Int64(rng.below(900)), why: "kill -9")
        case 2:
            // Long enough for the others to snapshot past its log.
            crash(victim, downMs: 1_500 + Int64(rng.below(1_500)), why: "kill -9, kept down")
        case 3:
            nodes[victim]!.stoppingSinceMs = nowMs
            note("node \(victim) shutting down (SIGTERM)")
        default:
            isolate()
        }
    }

    mutating func isolate() {
        let alive = ids.filter { nodes[$0] != nil }
        isolated = alive[rng.below(alive.count)]
        healAtMs = nowMs + 200 + Int64(rng.below(1_000))
        note("node \(isolated!) isolated until \(healAtMs)")
    }

    mutating func crash(_ id: Int32, downMs: Int64, why: String) {
        guard let n = nodes[id] else { return }
        note("node \(id) stops (\(why)) for \(downMs) ms")
        down[id] = (Disk(state: n.persisted, log: n.raft.log, snapshot: n.raft.snapshot), nowMs + downMs)
        nodes[id] = nil
        network.removeAll { $0.to == id }
        // The clients connected to it lose their connections: their changes fail now.
        for (cid, c) in pendingClients where c.node == id {
            pendingClients[cid] = nil
            answeredCount += 1
        }
    }

    func reachable(_ a: Int32, _ b: Int32) -> Bool { isolated == nil || (a != isolated && b != isolated) || a == b }

    mutating func send(_ payload: Payload, from: Int32, to: Int32) {
        // Messages are lost only while faults happen (a lost answer is a broken connection).
        let lossy = nowMs < options.faultyMs
        if from != to && ((lossy && rng.chance(options.dropRate)) || !reachable(from, to)) { return }
        sequence += 1
        let delay = from == to ? 0 : 1 + Int64(rng.below(Int(options.maxDelayMs)))
        network.append(Message(deliverAtMs: nowMs + delay, sequence: sequence, from: from, to: to, payload: payload))
    }

    mutating func deliverDue() throws {
        let due = network.filter { $0.deliverAtMs <= nowMs }.sorted {
            ($0.deliverAtMs, $0.sequence) < ($1.deliverAtMs, $1.sequence)
        }
        network.removeAll { $0.deliverAtMs <= nowMs }
        for m in due where nodes[m.to] != nil && reachable(m.from, m.to) {
            try receive(m)
        }
    }

    mutating func receive(_ m: Message) throws {
        switch m.payload {
        case .raft(let message):
            let actions = nodes[m.to]!.raft.receive(message, from: m.from, nowMs: nowMs)
            try carryOut(actions, at: m.to)
        case .request(let id, let request):
            try serve(request, id: id, from: m.from, at: m.to)
        case .response(let id, let response):
            try answered(id, response, at: m.to)
        case .replicaFetch(let partitions):
            try leaderServesFetch(partitions, from: m.from, at: m.to)
        case .replicaData(let partitions):
            let n = nodes[m.to]!
            for (topic, partition, logEnd, hw) in partitions {
                guard var r = n.replicas[topic]?[partition], !r.tracker.isLeader, r.tracker.leader == m.from else {
                    continue
                }
                r.logEnd = logEnd  // extended, or truncated to the leader's log
                r.highWatermark = min(hw, logEnd)
                n.replicas[topic]![partition] = r
            }
        }
    }

    mutating func tick(_ id: Int32) throws {
        try carryOut(nodes[id]!.raft.tick(nowMs: nowMs), at: id)
        guard nodes[id] != nil else { return }
        // The active controller fences brokers whose sessions expired.
        let expired = nodes[id]!.core.expiredSessions(image: nodes[id]!.image, nowMs: nowMs)
        for (broker, silent) in expired {
            note("controller \(id) fences broker \(broker) (silent \(silent) ms)")
            try submit(at: id, .transition(broker: broker)) { img in
                .success(ControllerDecisions.fenceBroker(img, id: broker))
            }
        }
        try lifecycleTick(id)
        guard nodes[id] != nil else { return }
        try forwardTick(id)
        replicaTick(id)
    }

    // MARK: - Raft and the image (the shell's carryOut)

    mutating func carryOut(_ actions: [RaftAction], at id: Int32) throws {
        var queue = actions[...]
        var wrote = false
        while let action = queue.popFirst() {
            guard nodes[id] != nil else { return }
            switch action {
            case .persist(let s): nodes[id]!.persisted = s
            case .append, .truncate: wrote = true
            case .send(let to, let message):
                if wrote {
                    wrote = false
                    queue = nodes[id]!.raft.flushed(upTo: nodes[id]!.raft.log.endOffset)[...] + [action] + queue
                    continue
                }
                send(.raft(message), from: id, to: to)
            case .commit(let hw): try apply(upTo: hw, at: id)
            case .becameLeader(let epoch):
                let n = nodes[id]!
                nodes[id]!.core.becameActive(logEnd: n.raft.log.endOffset, brokers: n.image.brokers.keys, nowMs: nowMs)
                note(
                    "node \(id) is the active controller in epoch \(epoch) (readyAt \(n.raft.log.endOffset), applied \(n.applied))"
                )
            case .lostLeadership:
                for ticket in nodes[id]!.core.resign() {
                    try finish(ticket, at: id, .failure(ControllerError(.notController, "resigned")))
                }
            case .installSnapshot(let snap):
                nodes[id]!.image = try MetadataImage(snapshot: snap.payload)
                nodes[id]!.applied = snap.endOffset
                nodes[id]!.appliedSinceSnapshot = 0
                note("node \(id) installed the leader's snapshot at \(snap.endOffset)")
                try published(id)
            case .votersChanged:
                break
            }
            if queue.isEmpty && wrote {
                wrote = false
                queue = nodes[id]!.raft.flushed(upTo: nodes[id]!.raft.log.endOffset)[...]
            }
        }
    }

    mutating func apply(upTo hw: Int64, at id: Int32) throws {
        let n = nodes[id]!
        let before = n.applied
        while n.applied < hw, let e = n.raft.log.entry(at: n.applied) {
            if !e.isControl {
                let record: MetadataRecord
                do { record = try MetadataRecord.decode(e.payload) } catch {
                    throw fault("node \(id) cannot decode the committed record at \(n.applied): \(error)")
                }
                n.image.apply(record, at: n.applied)
            }
            n.applied += 1
            n.appliedSinceSnapshot += 1
        }
        nodes[id] = n
        guard n.applied > before else { return }
        try published(id)
        if n.appliedSinceSnapshot >= options.snapshotEveryEntries, n.applied > n.raft.log.startOffset {
            let payload = try n.image.snapshotBytes()
            if nodes[id]!.raft.takeSnapshot(upTo: n.applied, payload: payload) {
                nodes[id]!.appliedSinceSnapshot = 0
            }
        }
    }

    /// After the image moved: the controller's completed operations, and the broker's partitions.
    mutating func published(_ id: Int32) throws {
        for d in nodes[id]!.core.committed(upTo: nodes[id]!.applied) {
            try finish(d.ticket, at: id, .success(()))
        }
        try runNext(id)
        let image = nodes[id]!.image
        var replicas: [String: [Int32: Replica]] = [:]
        for (name, t) in image.topics {
            for (index, p) in t.partitions where p.replicas.contains(id) {
                var r = nodes[id]!.replicas[name]?[index] ?? Replica(tracker: IsrTracker(nodeId: id))
                r.tracker.update(p, logEnd: r.logEnd, nowMs: nowMs)
                replicas[name, default: [:]][index] = r
            }
        }
        nodes[id]!.replicas = replicas
        nodes[id]!.order = replicas.keys.sorted().flatMap { t in replicas[t]!.keys.sorted().map { (t, $0) } }
    }

    // MARK: - The active controller

    mutating func submit(at id: Int32, _ waiting: Waiting, _ decide: @escaping ControllerCore<Int>.Decide) throws {
        nextId += 1
        let ticket = nextId
        if nodes[id]!.core.enqueue(ticket, decide) {
            nodes[id]!.waiting[ticket] = waiting
            try runNext(id)
        } else {
            nodes[id]!.waiting[ticket] = waiting
            try finish(ticket, at: id, .failure(ControllerError(.notController, "not active")))
        }
    }

    mutating func runNext(_ id: Int32) throws {
        let n = nodes[id]!
        guard n.raft.isLeader,
            let batch = nodes[id]!.core.nextBatch(image: n.image, appliedOffset: n.applied, base: n.raft.log.endOffset)
        else { return }
        for (ticket, error) in batch.refused { try finish(ticket, at: id, .failure(error)) }
        for ticket in batch.unchanged { try finish(ticket, at: id, .success(())) }
        guard !batch.records.isEmpty else { return }
        let entries = try batch.records.map { try $0.encoded() }
        guard let (offset, actions) = nodes[id]!.raft.propose(entries) else {
            for d in batch.decided { try finish(d.ticket, at: id, .failure(ControllerError(.notController, "lost"))) }
            return
        }
        nodes[id]!.core.proposed(batch, at: offset)
        try carryOut(actions, at: id)
    }

    /// An operation ended: answer whoever waits for it, as the server's futures do.
    mutating func finish(_ ticket: Int, at id: Int32, _ result: Result<Void, ControllerError>) throws {
        guard let waiting = nodes[id]?.waiting.removeValue(forKey: ticket) else { return }
        let image = nodes[id]!.image
        switch waiting {
        case .transition(let broker):
            nodes[id]!.core.transitionDone(broker)
        case .answer(let to, let rid, let request):
            var r = Response()
            switch (request, result) {
            case (_, .failure(let e)):
                r.code = e.code
            case (.register(_), .success):
                nodes[id]!.core.registered(to, nowMs: nowMs)
                r.brokerEpoch = image.brokers[to]?.epoch ?? -1
            case (.heartbeat(_, _, let wantShutDown), .success):
                if wantShutDown {
                    r.fenced = true
                    r.shouldShutDown = true
                } else {
                    nodes[id]!.core.transitionDone(to)
                    r.fenced = image.brokers[to]?.fenced ?? true
                }
            default: break
            }
            if case .heartbeat(_, _, false) = request, case .failure = result { nodes[id]!.core.transitionDone(to) }
            send(.response(id: rid, r), from: id, to: to)
        }
    }

    /// A controller RPC arriving at node `id` (the CONTROLLER listener).
    mutating func serve(_ request: Request, id rid: Int, from: Int32, at id: Int32) throws {
        let n = nodes[id]!
        guard n.core.isActive else {
            send(.response(id: rid, Response(code: .notController)), from: id, to: from)
            return
        }
        let waiting = Waiting.answer(to: from, id: rid, request)
        switch request {
        case .createTopic(let name, let partitions, let rf):
            let topicId = KafkaUUID(high: seed | 1, low: UInt64(rid))
            try submit(at: id, waiting) { img in
                ControllerDecisions.createTopic(
                    img, name: name, partitions: partitions, replicationFactor: rf, configs: [:], id: topicId)
            }
        case .deleteTopic(let name):
            try submit(at: id, waiting) { img in ControllerDecisions.deleteTopic(img, name: name) }
        case .alterPartition(let topic, let partition, let leaderEpoch, let partitionEpoch, let isr):
            try submit(at: id, waiting) { img in
                ControllerDecisions.alterIsr(
                    img, topic: topic, partition: partition, from: from, leaderEpoch: leaderEpoch,
                    partitionEpoch: partitionEpoch, newIsr: isr)
            }
        case .register(let incarnation):
            if n.core.refusesRegistration(image: n.image, broker: from, incarnation: incarnation, nowMs: nowMs) != nil {
                send(.response(id: rid, Response(code: .duplicateBrokerRegistration)), from: id, to: from)
                return
            }
            let registration = MetadataRecord.BrokerRegistration(
                id: from, incarnation: incarnation, host: "node\(from)", port: 9092 + from)
            try submit(at: id, waiting) { img in
                if let b = img.brokers[from], b.incarnation == incarnation { return .success([]) }
                return .success(ControllerDecisions.registerBroker(img, registration))
            }
        case .heartbeat(let brokerEpoch, let offset, let wantShutDown):
            let decision = nodes[id]!.core.heartbeat(
                image: n.image, broker: from, brokerEpoch: brokerEpoch, metadataOffset: offset,
                wantShutDown: wantShutDown, nowMs: nowMs)
            var r = Response()
            switch decision {
            case .notController: r.code = .notController
            case .staleBrokerEpoch: r.code = .staleBrokerEpoch
            case .answer(_, let fenced): r.fenced = fenced
            case .fenceForShutdown, .unfence:
                let fence = wantShutDown
                try submit(at: id, waiting) { img in
                    .success(
                        fence
                            ? ControllerDecisions.fenceBroker(img, id: from)
                            : ControllerDecisions.unfenceBroker(img, id: from))
                }
                return
            }
            send(.response(id: rid, r), from: id, to: from)
        }
    }

    // MARK: - The broker: lifecycle, forwarding, replication

    mutating func lifecycleTick(_ id: Int32) throws {
        let n = nodes[id]!
        if let l = n.lifecycle, nowMs >= l.timeoutAtMs { n.lifecycle = nil }
        if let since = n.stoppingSinceMs, nowMs - since > Self.shutdownTimeoutMs {
            nodes[id] = n
            crash(id, downMs: 100 + Int64(rng.below(400)), why: "controlled shutdown timed out")
            return
        }
        guard n.lifecycle == nil, nowMs >= n.nextBeatMs, let leader = n.raft.leaderId else {
            nodes[id] = n
            return
        }
        nextId += 1
        let request: Request =
            n.brokerEpoch.map {
                .heartbeat(brokerEpoch: $0, metadataOffset: n.applied - 1, wantShutDown: n.stoppingSinceMs != nil)
            } ?? .register(incarnation: n.incarnation)
        n.lifecycle = (nextId, nowMs + Self.lifecycleTimeoutMs)
        n.nextBeatMs = nowMs + (n.fenced || n.stoppingSinceMs != nil ? Self.fencedHeartbeatMs : Self.heartbeatMs)
        nodes[id] = n
        send(.request(id: nextId, request), from: id, to: leader)
    }

    mutating func forwardTick(_ id: Int32) throws {
        for fid in nodes[id]!.forwards.keys.sorted() {
            guard var f = nodes[id]!.forwards[fid] else { continue }
            if nowMs >= f.giveUpAtMs {
                nodes[id]!.forwards[fid] = nil
                try forwardEnded(f, Response(code: .requestTimedOut), at: id)
                continue
            }
            if let a = f.attempt, nowMs >= a.timeoutAtMs {
                f.attempt = nil
                f.retryAtMs = nowMs + Self.forwardRetryMs
            }
            if f.attempt == nil, nowMs >= f.retryAtMs, let leader = nodes[id]!.raft.leaderId {
                nextId += 1
                f.attempt = (nextId, leader, nowMs + Self.forwardAttemptMs)
                send(.request(id: nextId, f.request), from: id, to: leader)
            }
            nodes[id]!.forwards[fid] = f
        }
    }

    mutating func forward(_ request: Request, _ origin: Forward.Origin, at id: Int32) throws {
        nextId += 1
        nodes[id]!.forwards[nextId] = Forward(
            origin: origin, request: request, giveUpAtMs: nowMs + Self.forwardGiveUpMs, attempt: nil, retryAtMs: nowMs)
        try forwardTick(id)
    }

    mutating func answered(_ rid: Int, _ r: Response, at id: Int32) throws {
        if let l = nodes[id]!.lifecycle, l.id == rid {
            nodes[id]!.lifecycle = nil
            let n = nodes[id]!
            if n.brokerEpoch == nil {
                if r.code == .none && r.brokerEpoch >= 0 {
                    n.brokerEpoch = r.brokerEpoch
                    note("broker \(id) registered: epoch \(r.brokerEpoch)")
                }
            } else if r.code == .staleBrokerEpoch {
                n.brokerEpoch = nil
            } else if r.code == .none {
                n.fenced = r.fenced
                if r.shouldShutDown && n.stoppingSinceMs != nil {
                    nodes[id] = n
                    crash(id, downMs: 100 + Int64(rng.below(600)), why: "controlled shutdown done")
                    return
                }
            }
            nodes[id] = n
            return
        }
        guard let (fid, f) = nodes[id]!.forwards.first(where: { $0.value.attempt?.id == rid }) else { return }
        if r.code == .notController {
            nodes[id]!.forwards[fid]!.attempt = nil
            nodes[id]!.forwards[fid]!.retryAtMs = nowMs + Self.forwardRetryMs
            return
        }
        nodes[id]!.forwards[fid] = nil
        try forwardEnded(f, r, at: id)
    }

    mutating func forwardEnded(_ f: Forward, _ r: Response, at id: Int32) throws {
        switch f.origin {
        case .client(let cid):
            guard let c = pendingClients.removeValue(forKey: cid) else { return }
            answeredCount += 1
            slowestMs = max(slowestMs, nowMs - c.submittedMs)
            // A retried attempt after a lost answer finds its own topic: the change was made.
            let exists = nodes[id]!.image.topics[c.name] != nil
            let made =
                r.code == .none || (!c.delete && r.code == .topicAlreadyExists && exists)
                || (c.delete && r.code == .unknownTopicOrPartition && !exists)
            if made {
                completed += 1
                topicsCreated += 1
            } else if c.mustSucceed {
                throw fault(
                    "\(c.delete ? "DeleteTopics" : "CreateTopics") \(c.name) on a healthy cluster failed after \(nowMs - c.submittedMs) ms: \(r.code.name)"
                )
            }
            note(
                "\(c.delete ? "DeleteTopics" : "CreateTopics") \(c.name) answered \(r.code.name) after \(nowMs - c.submittedMs) ms"
            )
        case .isr(let topic, let partition):
            guard var rep = nodes[id]!.replicas[topic]?[partition] else { return }
            if r.code != .none {
                note("broker \(id): ISR change of \(topic)-\(partition) refused: \(r.code.name)")
                rep.tracker.proposalFailed(staleEpoch: r.code == .fencedLeaderEpoch || r.code == .invalidUpdateVersion)
            } else {
                isrChanges += 1
            }
            nodes[id]!.replicas[topic]![partition] = rep
        }
    }

    mutating func submitClientChange() {
        let alive = ids.filter { nodes[$0] != nil }
        guard !alive.isEmpty else { return }
        let at = alive[rng.below(alive.count)]
        nextId += 1
        let healthy =
            nowMs >= calmFromMs && down.isEmpty && ids.allSatisfy { nodes[$0]!.stoppingSinceMs == nil }
        // Deletes keep the cluster to a few dozen partitions; each topic is deleted once.
        let existing = nodes[at]!.image.topics.keys.filter { !deleting.contains($0) }.sorted()
        if existing.count > 6 && rng.chance(0.5) {
            let name = existing[rng.below(existing.count)]
            deleting.insert(name)
            pendingClients[nextId] = ClientChange(
                name: name, delete: true, node: at, submittedMs: nowMs, mustSucceed: healthy)
            try? forward(.deleteTopic(name: name), .client(nextId), at: at)
            return
        }
        let name = "t\(nextId)"
        // While a node is down RF 3 may be refused (fewer live brokers); that is an answer too.
        let rf = Int16(healthy ? 3 : 2 + rng.below(2))
        pendingClients[nextId] = ClientChange(name: name, node: at, submittedMs: nowMs, mustSucceed: healthy)
        try? forward(
            .createTopic(name: name, partitions: Int32(1 + rng.below(2)), replicationFactor: rf), .client(nextId),
            at: at)
    }

    mutating func produce() {
        for id in ids where nodes[id] != nil {
            let n = nodes[id]!
            for (topic, p) in n.order where n.replicas[topic]![p]!.tracker.isLeader && rng.chance(0.1) {
                n.replicas[topic]![p]!.logEnd += 1 + Int64(rng.below(5))
                advanceHighWatermark(id, topic, p)
            }
        }
    }

    mutating func advanceHighWatermark(_ id: Int32, _ topic: String, _ partition: Int32) {
        guard var r = nodes[id]!.replicas[topic]?[partition], r.tracker.isLeader else { return }
        r.highWatermark = max(r.highWatermark, r.tracker.isrEndOffset(logEnd: r.logEnd))
        nodes[id]!.replicas[topic]![partition] = r
    }

    mutating func replicaTick(_ id: Int32) {
        guard nodes[id] != nil else { return }
        let checkIsr = nowMs >= nodes[id]!.nextIsrCheckMs
        if checkIsr { nodes[id]!.nextIsrCheckMs = nowMs + Self.isrCheckMs }
        let fetch = nowMs >= nodes[id]!.nextFetchMs
        if fetch { nodes[id]!.nextFetchMs = nowMs + Self.replicaFetchMs }
        guard checkIsr || fetch else { return }
        var fetches: [Int32: [(topic: String, partition: Int32, offset: Int64)]] = [:]
        let n = nodes[id]!
        for (topic, p) in n.order {
            var r = n.replicas[topic]![p]!
            if r.tracker.isLeader {
                guard checkIsr, let keep = r.tracker.shrink(nowMs: nowMs, lagMs: Self.replicaLagMs) else { continue }
                n.replicas[topic]![p] = r
                proposeIsr(id, topic, p, keep, reason: "followers behind")
            } else if r.tracker.leader >= 0 && fetch {
                fetches[r.tracker.leader, default: []].append((topic, p, r.logEnd))
            }
        }
        for leader in fetches.keys.sorted() { send(.replicaFetch(fetches[leader]!), from: id, to: leader) }
    }

    mutating func leaderServesFetch(
        _ partitions: [(topic: String, partition: Int32, offset: Int64)], from: Int32, at id: Int32
    ) throws {
        let n = nodes[id]!
        let eligible = n.image.brokers[from].map { !$0.fenced } ?? false
        var answer: [(topic: String, partition: Int32, logEnd: Int64, highWatermark: Int64)] = []
        for (topic, p, offset) in partitions {
            guard var r = n.replicas[topic]?[p], r.tracker.isLeader else { continue }
            let proposal = r.tracker.followerFetched(
                from, offset: min(offset, r.logEnd), logEnd: r.logEnd, highWatermark: r.highWatermark, nowMs: nowMs,
                eligible: eligible)
            r.highWatermark = max(r.highWatermark, r.tracker.isrEndOffset(logEnd: r.logEnd))
            n.replicas[topic]![p] = r
            if let isr = proposal { proposeIsr(id, topic, p, isr, reason: "broker \(from) caught up") }
            answer.append((topic, p, r.logEnd, r.highWatermark))
        }
        send(.replicaData(answer), from: id, to: from)
    }

    mutating func proposeIsr(_ id: Int32, _ topic: String, _ p: Int32, _ isr: [Int32], reason: String) {
        let t = nodes[id]!.replicas[topic]![p]!.tracker
        note(
            "broker \(id): \(topic)-\(p) proposing ISR \(isr) (\(reason)) at leader epoch \(t.leaderEpoch), partition epoch \(t.partitionEpoch)"
        )
        try? forward(
            .alterPartition(
                topic: topic, partition: p, leaderEpoch: t.leaderEpoch, partitionEpoch: t.partitionEpoch, isr: isr),
            .isr(topic: topic, partition: p), at: id)
    }

    // MARK: - Invariants

    func checkDeadlines() throws {
        for c in pendingClients.values where nowMs - c.submittedMs > Self.clientDeadlineMs {
            throw fault(
                "CreateTopics \(c.name) submitted at \(c.submittedMs) ms to node \(c.node) is unanswered after \(nowMs - c.submittedMs) ms (deadline \(Self.clientDeadlineMs) ms)"
            )
        }
    }

    /// After the healthy tail: every node agrees, every broker is registered and unfenced, every
    /// partition has a leader and its whole replica set in the ISR, and nothing waits.
    mutating func checkSettled() throws {
        guard down.isEmpty, ids.allSatisfy({ nodes[$0] != nil }) else {
            throw fault("nodes still down at the end: \(down.keys.sorted())")
        }
        let leaders = ids.filter { nodes[$0]!.raft.isLeader }
        guard leaders.count == 1, let leader = leaders.first else { throw fault("no single quorum leader at the end") }
        let image = nodes[leader]!.image
        for id in ids {
            let n = nodes[id]!
            guard n.applied == nodes[leader]!.applied, n.image == image else {
                throw fault("node \(id) has not applied the leader's image (applied \(n.applied))")
            }
            guard let b = image.brokers[id], !b.fenced, n.brokerEpoch == b.epoch else {
                throw fault("broker \(id) is not registered and unfenced at the end")
            }
            guard n.forwards.isEmpty else { throw fault("node \(id) still forwards \(n.forwards.count) changes") }
        }
        guard nodes[leader]!.core.queuedCount == 0, nodes[leader]!.core.inFlightCount == 0 else {
            throw fault("the active controller still has operations queued or in flight")
        }
        for t in image.topics.values {
            for (index, p) in t.partitions {
                guard p.leader >= 0, Set(p.isr) == Set(p.replicas) else {
                    throw fault(
                        "\(t.name)-\(index) did not heal: leader \(p.leader), replicas \(p.replicas), ISR \(p.isr), leader epoch \(p.leaderEpoch), partition epoch \(p.partitionEpoch)"
                    )
                }
            }
        }
        guard pendingClients.isEmpty else { throw fault("\(pendingClients.count) client changes unanswered") }
    }
}
