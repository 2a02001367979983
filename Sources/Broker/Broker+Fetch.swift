import KafkaProtocol
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Storage

extension Broker {
    /// Fetch with its session fields read (KIP-227, v7+): opens, continues or closes the
    /// connection's fetch session, reads every partition the session holds (authorized as
    /// any fetch is, on each read, so a revoked ACL applies to partitions named long ago) and
    /// answers an incremental fetch with only the partitions that have something new.
    func sessionFetch(
        _ request: FetchRequest, version: Int16, session: Session, on loop: any EventLoop, listener: String?
    ) -> EventLoopFuture<FetchResponse> {
        guard version >= 7 else {
            return authorizedFetch(request, version: version, session: session, on: loop, listener: listener)
        }
        // A follower's session may take a consumer's room: only a replica fetch on the
        // inter-broker listener, with CLUSTER_ACTION where ACLs apply, is one.
        let privileged =
            request.replicaId >= 0
            && (listener == nil || config.interBrokerListener == nil || listener == config.interBrokerListener)
            && allowed(session, .clusterAction, .cluster, aclClusterResourceName, counted: false)
        let context = fetchSessions.withLockedValue {
            $0.begin(request, connection: session.connection, privileged: privileged, nowMs: clock.monotonicMs)
        }
        let read: FetchRequest
        switch context {
        case .refused(let code):
            var r = FetchResponse()
            r.errorCode = code.rawValue
            return loop.makeSucceededFuture(r)
        case .sessionless(let r), .full(let r, _), .incremental(let r, _):
            read = r
        }
        return authorizedFetch(read, version: version, session: session, on: loop, listener: listener).map {
            [self] response in
            fetchSessions.withLockedValue { $0.finish(context, response) }
        }.flatMapErrorThrowing { [self] error in
            fetchSessions.withLockedValue { $0.abandon(context) }
            throw error
        }
    }

    /// Ends the fetch session of a connection that closed.
    public func connectionClosed(_ connection: UInt64) {
        fetchSessions.withLockedValue { $0.closed(connection: connection) }
    }

    /// Fetch sessions held now and the partitions they hold (for the metrics).
    public var fetchSessionCounts: (sessions: Int, partitions: Int) {
        fetchSessions.withLockedValue { ($0.sessions.count, $0.partitionsHeld) }
    }

    /// Answers at once when `min_bytes` are there, an error occurred or the client will not wait;
    /// otherwise parks until an append to one of the requested partitions brings enough bytes,
    /// or `max_wait_ms` passes. Nothing polls: appends wake the waiting fetch.
    func fetch(_ request: FetchRequest, version: Int16, on loop: any EventLoop, listener: String? = nil)
        -> EventLoopFuture<FetchResponse>
    {
        // A partition named twice is read once, as Kafka does (its fetch map has one entry each).
        let request = Self.droppingRepeatedPartitions(request)
        // Replica fetches come only on the inter-broker listener (they read past the high
        // watermark and move it); a client on another listener cannot pose as a follower.
        if request.replicaId >= 0, let listener, let inter = config.interBrokerListener, listener != inter {
            return loop.makeSucceededFuture(Self.refused(request, .notLeaderOrFollower))
        }
        let partitions = request.topics.flatMap { t in
            t.partitions.compactMap { registry.partition(t.topic, $0.partition) }
        }
        // Where the logs stood before the first read: an append (or a high watermark moving)
        // between that read and the waiters being armed below wakes nobody, so it is looked
        // for afterwards (without this, such a fetch slept its whole max_wait_ms).
        // What the fetch can see: the log end for a follower, the last stable offset for
        // read_committed, the high watermark otherwise (appends above it change nothing here,
        // so a read_committed fetch behind an open transaction does not spin on them).
        let isReplica = request.replicaId >= 0
        let readCommitted = !isReplica && request.isolationLevel == 1
        @Sendable func marks() -> [Int64] {
            partitions.map {
                isReplica ? $0.log.logEndOffset : readCommitted ? $0.log.lastStableOffset : $0.log.highWatermark
            }
        }
        let before = marks()
        let first = readFetch(request, version: version)
        if first.hasError && !isReplica { metrics.fetchFailed() }
        var waitMs = min(request.maxWaitMs, config.maxFetchWaitMs)
        // A follower woken lately is held only briefly (see `wakeReplicaFetches`); a wake
        // between here and the fetch being kept below is looked for afterwards by its count.
        var wakesBefore: UInt64 = 0
        if isReplica {
            let now = clock.monotonicMs
            let w = replicaFetchWaits.withLockedValue { $0[request.replicaId] } ?? FollowerFetchWaits()
            wakesBefore = w.wakes
            if w.holdBriefUntilMs > now { waitMs = min(waitMs, Self.briefHoldMs) }
        }
        if first.bytes >= Int(request.minBytes) || first.hasError || waitMs <= 0 {
            return loop.makeSucceededFuture(delivered(first))
        }
        let promise = loop.makePromise(of: FetchResponse.self)
        let pending = PendingFetch(promise: promise)
        let timeout = loop.scheduleTask(in: .milliseconds(Int64(waitMs))) { [self] in
            pending.complete { delivered(readFetch(request, version: version)) }
        }
        pending.setTimeout(timeout)
        @Sendable func recheck() {
            loop.execute { [self] in
                guard !pending.isDone else { return }
                let before = marks()
                let now = readFetch(request, version: version)
                if now.bytes >= Int(request.minBytes) || now.hasError {
                    pending.complete { delivered(now) }
                } else {
                    // The same window as the first wait: an append while re-arming is looked for.
                    arm()
                    if marks() != before { recheck() }
                }
            }
        }
        @Sendable func arm() {
            for p in partitions { p.waitForAppend(owner: pending) { recheck() } }
        }
        arm()
        if isReplica {
            @Sendable func answerNow() {
                loop.execute { [self] in pending.complete { delivered(readFetch(request, version: version)) } }
            }
            let wokenMeanwhile = holdReplicaFetch(of: request.replicaId, pending, answerNow, wakesBefore: wakesBefore)
            if wokenMeanwhile && waitMs > Self.briefHoldMs {
                // Woken while being set up: answered after a brief hold, as if it had come just after.
                loop.scheduleTask(in: .milliseconds(Int64(Self.briefHoldMs))) { answerNow() }
            }
        }
        if marks() != before { recheck() }
        return promise.futureResult
    }

    /// Keeps a held replica fetch where `wakeReplicaFetches(of:)` finds it; true when the
    /// follower was woken since its count read `wakesBefore` (a wake this fetch missed). Only
    /// for a replica id that is a registered broker (any client may put a number there), and
    /// at most `maxHeldPerFollower` each: a follower holds one fetch per leader connection, so
    /// the list stays short, and answered ones are dropped as the next is kept. A fetch not kept
    /// here still ends at an append to a partition it names, or at its max_wait_ms.
    func holdReplicaFetch(
        of follower: Int32, _ owner: PendingFetch, _ wake: @escaping @Sendable () -> Void, wakesBefore: UInt64
    ) -> Bool {
        guard registry.image.brokers[follower] != nil else { return false }
        return replicaFetchWaits.withLockedValue { all in
            var w = all[follower] ?? FollowerFetchWaits()
            w.held.removeAll { $0.owner.isDone }
            if w.held.count < Self.maxHeldPerFollower { w.held.append((owner, wake)) }
            all[follower] = w
            return w.wakes != wakesBefore
        }
    }

    static let maxHeldPerFollower = 64

    /// Ends the held fetches of `follower`: it has a partition here to fetch that its held
    /// fetch does not name (created, or led here, after the fetch was sent). Without this, an
    /// acks=all write to a new partition waited for the held fetch's max_wait_ms (500 ms).
    /// For `briefHoldWindowMs` after, that follower's fetches are held at most `briefHoldMs`:
    /// woken before it took the image naming the partition, it would ask again without it and
    /// be held the full 500 ms (a tenth of first writes to new topics still waited that long).
    ///
    /// Held fetches are ended at most once per `briefHoldMs` per follower (fetches that began
    /// since the last wake are held that briefly anyway): the first appends to a burst of new
    /// partitions, or a follower that does not fetch one (down, or unable to open it; woken only
    /// within `IsrTracker.newReplicasWindowMs` of the partition's new leadership), cost at most
    /// 100 wakes a second.
    func wakeReplicaFetches(of follower: Int32) {
        let now = clock.monotonicMs
        let toWake = replicaFetchWaits.withLockedValue { all -> [HeldReplicaFetch] in
            var w = all[follower] ?? FollowerFetchWaits()
            w.wakes &+= 1
            w.holdBriefUntilMs = now + Self.briefHoldWindowMs
            var taken: [HeldReplicaFetch] = []
            if now - w.lastWakeMs >= Int64(Self.briefHoldMs) {
                w.lastWakeMs = now
                swap(&taken, &w.held)
            }
            all[follower] = w
            return taken
        }
        for w in toWake where !w.owner.isDone { w.wake() }
    }

    static let briefHoldMs: Int32 = 10
    static let briefHoldWindowMs: Int64 = 1_000

    typealias HeldReplicaFetch = (owner: PendingFetch, wake: @Sendable () -> Void)

    /// One follower's held fetches and wakes: how many wakes so far (a fetch being set up
    /// compares the count before and after), the last that ended held fetches, and until when
    /// its fetches are held briefly. One entry per broker id among replicas or registered
    /// brokers, so the table stays the size of the cluster.
    struct FollowerFetchWaits: Sendable {
        var held: [HeldReplicaFetch] = []
        var wakes: UInt64 = 0
        var lastWakeMs: Int64 = .min / 2
        var holdBriefUntilMs: Int64 = 0
    }

    struct FetchRead {
        var response: FetchResponse
        var bytes: Int
        var hasError: Bool
        /// Record bytes read, by topic, and whether a follower asked (for the metrics, counted
        /// only for the read that is answered: a parked fetch reads again before it answers).
        var bytesByTopic: [String: Int] = [:]
        var replica = false
    }

    /// The answer of a read that is sent: its bytes are counted out.
    func delivered(_ read: FetchRead) -> FetchResponse {
        for (topic, n) in read.bytesByTopic where n > 0 {
            if read.replica { metrics.recordReplicationOut(n) } else { metrics.recordBytesOut(topic, n) }
        }
        return read.response
    }

    static func droppingRepeatedPartitions(_ request: FetchRequest) -> FetchRequest {
        var request = request
        var seen = Set<PartitionKey>()
        for i in request.topics.indices {
            let name = request.topics[i].topic
            request.topics[i].partitions.removeAll { p in
                !seen.insert(PartitionKey(topic: name, index: p.partition)).inserted
            }
        }
        request.topics.removeAll { $0.partitions.isEmpty }
        return request
    }

    /// Every partition of the request answered with `code`.
    static func refused(_ request: FetchRequest, _ code: ErrorCode) -> FetchResponse {
        var response = FetchResponse()
        response.responses = request.topics.map { .failing($0, code.rawValue) }
        return response
    }

    /// Each file slice in an answer holds a duplicated descriptor until it is sent; past this many
    /// in one answer, records are copied instead, so one Fetch of many partitions cannot use up
    /// the process's descriptors.
    static let maxFileSlicesPerAnswer = 64

    func readFetch(_ request: FetchRequest, version: Int16) -> FetchRead {
        var response = FetchResponse()
        // The answer's record bytes stay within the request's max_bytes and fetch.max.bytes; only
        // the first batch of the first partition with data may pass them (KIP-74), so that a
        // batch larger than the limit can still be consumed.
        var budget = max(min(Int(request.maxBytes), config.fetchMaxBytes), 1)
        // One image for the whole answer (throttles, racks), not a locked read per partition.
        let image = registry.image
        // Whether a follower asking may join an ISR (registered and not fenced): once per answer.
        let followerEligible = request.replicaId >= 0 && (image.brokers[request.replicaId].map { !$0.fenced } ?? false)
        var total = 0
        var files = 0
        var hasError = false
        var bytesByTopic: [String: Int] = [:]
        for topic in request.topics {
            var tr = FetchResponse.Topic()
            tr.topic = topic.topic
            for fp in topic.partitions {
                var pr = FetchResponse.Partition()
                pr.partitionIndex = fp.partition
                pr.records = ByteBuffer()
                defer { tr.partitions.append(pr) }
                guard let partition = registry.partition(topic.topic, fp.partition) else {
                    let known = image.topics[topic.topic]?.partitions[fp.partition] != nil
                    pr.errorCode = (known ? ErrorCode.notLeaderOrFollower : .unknownTopicOrPartition).rawValue
                    hasError = true
                    continue
                }
                let (leader, leaderEpoch) = partition.leadership
                let isReplica = request.replicaId >= 0
                // KIP-392: a follower serves consumers that can be sent to it (Fetch v11+), up to
                // the high watermark its leader last told it.
                let asFollower =
                    leader != config.nodeId && leader >= 0 && !isReplica && version >= 11
                    && partition.replicas.contains(config.nodeId)
                guard leader == config.nodeId || asFollower else {
                    pr.errorCode = ErrorCode.notLeaderOrFollower.rawValue
                    pr.currentLeader = .init(leaderId: leader, leaderEpoch: leaderEpoch)
                    hasError = true
                    continue
                }
                let log = partition.log
                if isReplica && !partition.replicas.contains(request.replicaId) {
                    // Kafka's answer to a fetch from a broker that is not a replica of the partition.
                    pr.errorCode = ErrorCode.notLeaderOrFollower.rawValue
                    hasError = true
                    continue
                }
                if fp.currentLeaderEpoch >= 0 && fp.currentLeaderEpoch != leaderEpoch {
                    pr.errorCode =
                        (fp.currentLeaderEpoch < leaderEpoch ? ErrorCode.fencedLeaderEpoch : .unknownLeaderEpoch)
                        .rawValue
                    pr.currentLeader = .init(leaderId: leader, leaderEpoch: leaderEpoch)
                    hasError = true
                    continue
                }
                if isReplica && fp.lastFetchedEpoch >= 0 && fp.fetchOffset > 0 {
                    // KIP-595/320 divergence check: where does the follower's last epoch end here?
                    let (epoch, end) = log.endOffset(forEpoch: fp.lastFetchedEpoch)
                    if epoch < fp.lastFetchedEpoch || end < fp.fetchOffset {
                        pr.divergingEpoch = .init(epoch: epoch, endOffset: end)
                        pr.highWatermark = log.highWatermark
                        hasError = true
                        continue
                    }
                }
                if isReplica,
                    let newIsr = partition.followerFetched(
                        request.replicaId, offset: fp.fetchOffset, nowMs: clock.monotonicMs,
                        eligible: followerEligible)
                {
                    proposeIsr(partition, newIsr, reason: "broker \(request.replicaId) caught up")
                }
                // read_committed consumers read up to the last stable offset: no transaction
                // below it is still open.
                let readCommitted = !isReplica && request.isolationLevel == 1
                let stable = log.lastStableOffset
                let end = isReplica ? log.logEndOffset : readCommitted ? stable : log.highWatermark
                pr.highWatermark = log.highWatermark
                pr.lastStableOffset = stable
                pr.logStartOffset = log.logStartOffset
                pr.abortedTransactions = nil
                if !isReplica, !asFollower, version >= 11,
                    let replica = preferredReadReplica(partition, request, fp, image: image)
                {
                    // Sent to a replica in the consumer's rack: no records from here, and the
                    // answer goes at once (as an error's would) so the consumer moves on.
                    pr.preferredReadReplica = replica
                    hasError = true
                    continue
                }
                // The first partition with data always gets at least one batch (KIP-74); later
                // ones only what fits the budget left.
                var limit = min(max(Int(fp.partitionMaxBytes), 1), budget)
                // A follower catching up on a throttled replica gets what the leader's rate allows
                // now (nothing while over it: the fetch waits and asks again).
                let throttle =
                    isReplica
                    ? ReplicationQuotas.applies(
                        .leader, image: image, me: config.nodeId, topic: topic.topic,
                        partition: fp.partition, follower: request.replicaId, isr: partition.isr) : nil
                if let rate = throttle {
                    limit = min(limit, Int(replicationQuotas.allowance(.leader, rate: rate, nowMs: clock.monotonicMs)))
                }
                guard limit > 0 else { continue }
                do {
                    // Reads of 64 KiB or more go from the file to the socket (sendfile).
                    guard
                        let data = try log.readForSending(
                            from: fp.fetchOffset, maxBytes: limit, upTo: end,
                            fileAtLeast: files < Self.maxFileSlicesPerAnswer ? 64 << 10 : Int.max,
                            atLeastOneBatch: total == 0)
                    else {
                        pr.errorCode = ErrorCode.offsetOutOfRange.rawValue
                        hasError = true
                        continue
                    }
                    pr.records = data.bytes ?? ByteBuffer()
                    pr.recordsFile = data.file.map(FileBytes.init)
                    if readCommitted && (data.file != nil || (data.bytes?.readableBytes ?? 0) > 0) {
                        // The aborted transactions among what is returned (those beginning before
                        // the next batch not sent), for the consumer to drop their batches.
                        pr.abortedTransactions = log.abortedTransactions(from: fp.fetchOffset, upTo: data.nextOffset)
                            .map {
                                var a = FetchResponse.AbortedTransaction()
                                a.producerId = $0.producerId
                                a.firstOffset = $0.firstOffset
                                return a
                            }
                    } else if readCommitted {
                        pr.abortedTransactions = []
                    }
                    if data.file != nil { files += 1 }
                    let n = data.file?.length ?? data.bytes?.readableBytes ?? 0
                    total += n
                    if n > 0 { bytesByTopic[partition.topic, default: 0] += n }
                    if throttle != nil { replicationQuotas.record(.leader, n, nowMs: clock.monotonicMs) }
                    budget -= n
                } catch {
                    logger.error("read of \(topic.topic)-\(fp.partition) at \(fp.fetchOffset) failed: \(error)")
                    pr.errorCode = ErrorCode.unknownServerError.rawValue
                    hasError = true
                }
            }
            response.responses.append(tr)
        }
        return FetchRead(
            response: response, bytes: total, hasError: hasError, bytesByTopic: bytesByTopic,
            replica: request.replicaId >= 0)
    }
}

extension Broker {
    /// Leader, with `replica.selector.class` rack-aware: the in-sync replica in the consumer's
    /// rack (`client.rack`, the request's rack_id) to read from instead of this one, if any.
    func preferredReadReplica(
        _ partition: PartitionState, _ request: FetchRequest, _ fp: FetchRequest.Partition, image: MetadataImage
    ) -> Int32? {
        guard config.replicaSelector == .rackAware, !request.rackId.isEmpty else { return nil }
        let brokers = image.brokers
        let leader = Racks.Replica(id: config.nodeId, rack: config.rack, logEndOffset: partition.log.logEndOffset)
        let inSync = partition.inSyncEnds.compactMap { r -> Racks.Replica? in
            guard let b = brokers[r.id], !b.fenced else { return nil }
            return Racks.Replica(id: r.id, rack: b.rack, logEndOffset: r.logEndOffset)
        }
        return Racks.preferredReadReplica(
            clientRack: request.rackId, leader: leader, inSync: inSync, fetchOffset: fp.fetchOffset)
    }
}

/// A fetch parked until data arrives or its deadline; completes exactly once.
/// Sendable by hand: its mutable fields are private and touched only under `lock`.
final class PendingFetch: @unchecked Sendable {
    private let lock = NIOLock()
    private var done = false
    private var timeout: Scheduled<Void>?
    private let promise: EventLoopPromise<FetchResponse>

    init(promise: EventLoopPromise<FetchResponse>) { self.promise = promise }

    var isDone: Bool { lock.withLock { done } }

    func setTimeout(_ t: Scheduled<Void>) { lock.withLock { timeout = t } }

    func complete(_ make: () -> FetchResponse) {
        let (won, t) = lock.withLock { () -> (Bool, Scheduled<Void>?) in
            if done { return (false, nil) }
            done = true
            return (true, timeout)
        }
        guard won else { return }
        t?.cancel()
        promise.succeed(make())
    }
}
