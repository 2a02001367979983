import KafkaClient
import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// Copies leaders' logs to this broker: one fetch loop per leader broker, each asking with
/// this broker's replica id for every partition it follows there, from its log end and last
/// epoch. A diverging answer truncates the local log to where the leader's history agrees
/// (KIP-101/279); records are appended with the leader's offsets and epochs.
/// Sendable by hand: its mutable fields are private and touched only under `lock`.
final class ReplicaFetcher: @unchecked Sendable {
    private let broker: Broker
    private let logger: Logger
    private let group: any EventLoopGroup
    /// TLS and SASL to the leaders' inter-broker listener.
    private let security: ClientSecurity
    private let lock = NIOLock()
    private var loops: [Int32: Task<Void, Never>] = [:]
    /// Each loop's connection while it has one, so `stop` can end a fetch that is waiting.
    private var connections: [Int32: KafkaConnection] = [:]
    private var stopped = false

    init(broker: Broker, group: any EventLoopGroup, security: ClientSecurity, logger: Logger) {
        self.broker = broker
        self.group = group
        self.security = security
        self.logger = logger
    }

    /// Starts a fetch loop for every leader this broker now follows.
    func update(_ image: MetadataImage) {
        let me = broker.config.nodeId
        var leaders = Set<Int32>()
        for t in image.topics.values {
            for p in t.partitions.values where p.replicas.contains(me) && p.leader >= 0 && p.leader != me {
                leaders.insert(p.leader)
            }
        }
        lock.withLock {
            guard !stopped else { return }
            for leader in leaders where loops[leader] == nil {
                loops[leader] = Task { [self] in await run(leader: leader) }
            }
        }
    }

    /// Stops every fetch loop and returns once each has ended and closed its connection (so
    /// nothing runs on the event loops after they shut down).
    func stop() async {
        let (tasks, open) = lock.withLock { () -> ([Task<Void, Never>], [KafkaConnection]) in
            stopped = true
            for t in loops.values { t.cancel() }
            defer { loops = [:] }
            return (Array(loops.values), Array(connections.values))
        }
        for c in open { c.channel.close(promise: nil) }
        for t in tasks { await t.value }
    }

    private func followed(from leader: Int32) -> [(PartitionState, Int32)] {
        let me = broker.config.nodeId
        let image = broker.registry.image
        var out: [(PartitionState, Int32)] = []
        for t in image.topics.values {
            for (index, p) in t.partitions where p.leader == leader && p.replicas.contains(me) {
                if let state = broker.registry.partition(t.name, index) { out.append((state, p.leaderEpoch)) }
            }
        }
        return out
    }

    private func run(leader: Int32) async {
        var connection: KafkaConnection?
        // The leader's fetch session for this connection (KIP-227): idle partitions cost nothing
        // per round either way.
        var session = FetchSessionClient()
        // Partitions the leader refused (not its replica yet, stale epoch), left out until then
        // (Kafka's replica.fetch.backoff.ms): one such partition would otherwise make every
        // round answer at once, and the fetcher spin on the rest.
        var refusals = RefusalBackoff()
        var idleRounds = 0
        var lastWarnedMs: Int64 = -30_000
        // A leader that cannot be reached is retried at growing intervals (100 ms to 2 s),
        // from the first success on at full speed again.
        var backoff = ExponentialBackoff(initialMs: 100, maxMs: 2_000)
        while !Task.isCancelled {
            let partitions = followed(from: leader)
            if partitions.isEmpty {
                idleRounds += 1
                if idleRounds > 50 { break }  // no longer following this leader
                try? await Task.sleep(nanoseconds: 100_000_000)
                continue
            }
            idleRounds = 0
            do {
                if connection == nil || connection?.channel.isActive != true {
                    guard let b = broker.registry.image.brokers[leader] else {
                        try? await Task.sleep(nanoseconds: 200_000_000)
                        continue
                    }
                    session.reset()
                    do {
                        connection = try await KafkaConnection.connect(
                            host: b.host, port: Int(b.port), group: group,
                            clientId: "replica-fetcher-\(broker.config.nodeId)", timeoutMs: 2000, security: security)
                        let made = connection
                        let open = lock.withLock { () -> Bool in
                            connections[leader] = made
                            return !stopped
                        }
                        guard open else { break }
                    } catch {
                        // A refused TLS handshake or login never heals by itself: say so, once
                        // every 30 s, while retrying (a leader that is down is the usual case
                        // and not worth a line).
                        let now = broker.clock.monotonicMs
                        if case KafkaClientError.connectionFailed = error {
                        } else if now - lastWarnedMs > 30_000 {
                            lastWarnedMs = now
                            logger.warning(
                                "replica fetcher cannot connect to node \(leader) at \(b.host):\(b.port): \(KafkaClientError.reason(error))"
                            )
                        }
                        throw error
                    }
                }
                try await fetchOnce(
                    from: leader, partitions, connection!, session: &session, refusals: &refusals)
                backoff.reset()
            } catch {
                session.reset()
                await connection?.close()
                connection = nil
                try? await Task.sleep(nanoseconds: backoff.nextNanoseconds)
            }
        }
        await connection?.close()
        lock.withLock {
            _ = connections.removeValue(forKey: leader)
            if !stopped { _ = loops.removeValue(forKey: leader) }
        }
    }

    /// Refusals that leave a partition out of the next fetches (see `RefusalBackoff`).
    static let backsOff: Set<Int16> = [
        ErrorCode.notLeaderOrFollower.rawValue, ErrorCode.unknownTopicOrPartition.rawValue,
        ErrorCode.fencedLeaderEpoch.rawValue, ErrorCode.unknownLeaderEpoch.rawValue,
    ]

    private func fetchOnce(
        from leader: Int32, _ partitions: [(PartitionState, Int32)], _ c: KafkaConnection,
        session: inout FetchSessionClient, refusals: inout RefusalBackoff
    ) async throws {
        var request = FetchRequest()
        request.replicaId = broker.config.nodeId
        request.maxWaitMs = 500
        request.minBytes = 1
        request.maxBytes = 16 << 20
        var wanted: [(topic: String, partition: FetchRequest.Partition)] = []
        wanted.reserveCapacity(partitions.count)
        let image = broker.registry.image
        let me = broker.config.nodeId
        var throttled = Set<String>()
        let nowMs = broker.clock.monotonicMs
        refusals.forgetSettled(nowMs: nowMs)
        for (state, epoch) in partitions {
            if !refusals.isEmpty,
                refusals.leavesOut(Broker.PartitionKey(topic: state.topic, index: state.index), nowMs: nowMs)
            {
                continue
            }
            var fp = FetchRequest.Partition()
            fp.partition = state.index
            fp.currentLeaderEpoch = epoch
            fp.fetchOffset = state.log.logEndOffset
            fp.lastFetchedEpoch = state.log.lastEpoch
            fp.partitionMaxBytes = 4 << 20
            // Out of the ISR on a throttled replica: ask only for what this broker's follower
            // rate allows now, and not at all while over it.
            if let rate = ReplicationQuotas.applies(
                .follower, image: image, me: me, topic: state.topic, partition: state.index, follower: me,
                isr: state.isr)
            {
                let allowed = broker.replicationQuotas.allowance(.follower, rate: rate, nowMs: broker.clock.monotonicMs)
                guard allowed > 0 else { continue }
                fp.partitionMaxBytes = Int32(clamping: min(allowed, Int64(fp.partitionMaxBytes)))
                throttled.insert("\(state.topic)\u{0}\(state.index)")
            }
            wanted.append((state.topic, fp))
        }
        if wanted.isEmpty {
            // Every partition waits for the throttle.
            try await Task.sleep(nanoseconds: 100_000_000)
            return
        }
        session.prepare(&request, wanted: wanted)
        let response = try await c.send(request, as: FetchResponse.self, timeoutMs: 10_000)
        // A session the leader no longer holds: the next round fetches everything again.
        guard session.received(response) else { return }
        var progressed = false
        for t in response.responses {
            for p in t.partitions {
                guard let state = broker.registry.partition(t.topic, p.partitionIndex) else { continue }
                let log = state.log
                if let d = p.divergingEpoch {
                    let (_, ours) = log.endOffset(forEpoch: d.epoch)
                    let target = min(d.endOffset, ours)
                    logger.info(
                        "\(t.topic)-\(p.partitionIndex): log diverges from leader \(leader) at epoch \(d.epoch); truncating to \(target)"
                    )
                    try log.truncate(to: target)
                    progressed = true
                    continue
                }
                if p.errorCode == ErrorCode.offsetOutOfRange.rawValue && p.logStartOffset > log.logEndOffset {
                    // Retention or DeleteRecords removed what this replica lacks: start over
                    // at the leader's log start.
                    logger.info(
                        "\(t.topic)-\(p.partitionIndex): log ends at \(log.logEndOffset), before leader \(leader)'s log start \(p.logStartOffset); starting again there"
                    )
                    try log.reset(to: p.logStartOffset)
                    progressed = true
                    continue
                }
                guard p.errorCode == 0 else {
                    if Self.backsOff.contains(p.errorCode) {
                        refusals.refused(Broker.PartitionKey(topic: t.topic, index: p.partitionIndex), nowMs: nowMs)
                    }
                    continue
                }
                refusals.answered(Broker.PartitionKey(topic: t.topic, index: p.partitionIndex))
                if p.logStartOffset > log.logStartOffset { try log.advanceLogStart(to: p.logStartOffset) }
                if let records = p.records, throttled.contains("\(t.topic)\u{0}\(p.partitionIndex)") {
                    broker.replicationQuotas.record(.follower, records.readableBytes, nowMs: broker.clock.monotonicMs)
                }
                if let records = p.records, records.readableBytes > 0 {
                    broker.metrics.recordReplicationIn(records.readableBytes)
                    switch log.appendAsFollower(records: records) {
                    case .success: progressed = true
                    case .failure(let e):
                        logger.warning("\(t.topic)-\(p.partitionIndex): cannot append fetched data: \(e.message)")
                    }
                }
                log.setHighWatermark(min(p.highWatermark, log.logEndOffset), nowMs: broker.clock.monotonicMs)
                state.noteLeaderHighWatermark(p.highWatermark)
                state.notifyAppended()
            }
        }
        // (An incremental answer carries only partitions with news: it is a refusal of all only
        // when every partition fetched is in it with an error.)
        let refused = response.responses.reduce(0) { $0 + $1.partitions.count { $0.errorCode != 0 } }
        if !progressed && refused > 0 && refused >= wanted.count {
            // Every partition refused (stale epoch, or the leader moved): wait for new metadata.
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }
}
