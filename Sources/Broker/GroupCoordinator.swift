import Glibc
import KafkaProtocol
import Logging
import Metadata
import NIOCore

/// Consumer groups with Kafka's classic protocol. A group belongs to partition
/// `javaHash(group) % partitions` of `__consumer_offsets`; the leader of that partition is its
/// coordinator. Membership (generations, rebalances, assignments) lives in the coordinator's
/// memory; committed offsets are records in that partition, written with acks=all like any
/// produce, so they survive the loss of the coordinator: the next leader reads the partition
/// back before it answers for the group (COORDINATOR_LOAD_IN_PROGRESS meanwhile). Members of a
/// group whose coordinator moved find the new one and rejoin.
///
/// All state is touched on one event loop; callers get futures.
public final class GroupCoordinator: @unchecked Sendable {
    public static let topic = "__consumer_offsets"

    enum State: String {
        case empty = "Empty"
        case preparingRebalance = "PreparingRebalance"
        case completingRebalance = "CompletingRebalance"
        case stable = "Stable"
        case dead = "Dead"
    }

    struct JoinResult {
        var error: ErrorCode = .none
        var generation: Int32 = -1
        var protocolType: String?
        var protocolName: String?
        var leader = ""
        var memberId = ""
        var members: [(id: String, instanceId: String?, metadata: [UInt8])] = []
        /// A static leader rejoining a stable group keeps the assignment it made (KIP-814).
        var skipAssignment = false
    }

    struct SyncResult {
        var error: ErrorCode = .none
        var protocolType: String?
        var protocolName: String?
        var assignment: [UInt8] = []
    }

    final class Member {
        let id: String
        var instanceId: String?
        var clientId: String
        var host: String
        var sessionTimeoutMs: Int64
        var rebalanceTimeoutMs: Int64
        var protocols: [(name: String, metadata: [UInt8])]
        var assignment: [UInt8] = []
        var joinPromise: EventLoopPromise<JoinResult>?
        var syncPromise: EventLoopPromise<SyncResult>?
        var lastHeartbeat: NIODeadline

        init(
            id: String, instanceId: String?, clientId: String, host: String, sessionTimeoutMs: Int64,
            rebalanceTimeoutMs: Int64, protocols: [(name: String, metadata: [UInt8])]
        ) {
            self.id = id
            self.instanceId = instanceId
            self.clientId = clientId
            self.host = host
            self.sessionTimeoutMs = sessionTimeoutMs
            self.rebalanceTimeoutMs = rebalanceTimeoutMs
            self.protocols = protocols
            lastHeartbeat = .now()
        }
    }

    final class Group {
        let id: String
        var state = State.empty
        var generation: Int32 = 0
        var protocolType: String?
        var protocolName: String?
        var leader: String?
        var members: [String: Member] = [:]
        /// Member ids in join order: the first is the leader when a new one is needed.
        var order: [String] = []
        /// Ids handed out with MEMBER_ID_REQUIRED and not yet used (KIP-394), with their expiry.
        var pending: [String: NIODeadline] = [:]
        var rebalanceDeadline = NIODeadline.distantFuture
        var joinNotBefore = NIODeadline.distantPast

        init(id: String) { self.id = id }

        func add(_ m: Member) {
            members[m.id] = m
            order.append(m.id)
        }

        func remove(_ id: String) {
            members[id] = nil
            order.removeAll { $0 == id }
            if leader == id { leader = nil }
        }
    }

    struct OffsetKey: Hashable {
        var topic: String
        var partition: Int32
    }

    struct Committed {
        var offset: Int64
        var leaderEpoch: Int32
        var metadata: String
        var timestamp: Int64
    }

    let loop: any EventLoop
    let nodeId: Int32
    let logger: Logger
    /// Writes records to a partition of `__consumer_offsets` with acks=all; the future gives the
    /// partition's error code.
    let write: @Sendable (Int32, ByteBuffer) -> EventLoopFuture<ErrorCode>
    /// Reads a partition of `__consumer_offsets` from `from`, up to `maxBytes` of batches.
    let read: @Sendable (Int32, Int64) -> (batches: ByteBuffer?, end: Int64)
    var initialRebalanceDelayMs: Int64 = 0
    /// `group.max.size`: members, joined or handed an id and pending (KIP-394), per group.
    var maxGroupSize = 10_000
    /// Offsets of a group without members expire this long after their last commit
    /// (`offsets.retention.minutes`, 7 days), checked every `offsetsRetentionCheckMs`.
    var offsetsRetentionMs: Int64 = 7 * 24 * 3_600_000
    var offsetsRetentionCheckMs: Int64 = 600_000
    private var lastRetentionCheck = NIODeadline.now()
    static let minSessionTimeoutMs: Int64 = 6000
    static let maxSessionTimeoutMs: Int64 = 1_800_000

    private var groups: [String: Group] = [:]
    private var offsets: [String: [OffsetKey: Committed]] = [:]
    /// Partitions of `__consumer_offsets` this node leads and has loaded.
    private var owned: Set<Int32> = []
    private var loading: Set<Int32> = []
    private var partitionCount: Int32 = 0
    private var tick: RepeatedTask?

    init(
        loop: any EventLoop, nodeId: Int32, logger: Logger,
        write: @escaping @Sendable (Int32, ByteBuffer) -> EventLoopFuture<ErrorCode>,
        read: @escaping @Sendable (Int32, Int64) -> (batches: ByteBuffer?, end: Int64)
    ) {
        self.loop = loop
        self.nodeId = nodeId
        self.logger = logger
        self.write = write
        self.read = read
        tick = loop.scheduleRepeatedTask(initialDelay: .milliseconds(200), delay: .milliseconds(200)) { [self] _ in
            expire()
        }
    }

    func stop() { tick?.cancel() }

    /// Java's String.hashCode, as Kafka uses it to place a group.
    static func javaHash(_ s: String) -> Int32 {
        var h: Int32 = 0
        for unit in s.utf16 { h = h &* 31 &+ Int32(unit) }
        return h
    }

    static func partition(for group: String, count: Int32) -> Int32 {
        count <= 0 ? 0 : (javaHash(group) & 0x7fff_ffff) % count
    }

    // MARK: - Ownership

    /// Follows the image: loads the groups of partitions this node now leads, drops those of
    /// partitions it no longer leads.
    func update(_ image: MetadataImage) {
        loop.execute { [self] in
            guard let t = image.topics[Self.topic] else {
                for p in owned.union(loading) { unload(p) }
                partitionCount = 0
                return
            }
            partitionCount = Int32(t.partitionCount)
            let leading = Set(t.partitions.filter { $0.value.leader == nodeId }.map(\.key))
            for p in owned.union(loading) where !leading.contains(p) { unload(p) }
            for p in leading where !owned.contains(p) && !loading.contains(p) {
                loading.insert(p)
                // Give the partition a moment to take up leadership before reading it.
                loop.scheduleTask(in: .milliseconds(50)) { [self] in load(p) }
            }
        }
    }

    private func unload(_ p: Int32) {
        owned.remove(p)
        loading.remove(p)
        for (id, g) in groups where Self.partition(for: id, count: partitionCount) == p {
            for m in g.members.values {
                m.joinPromise?.succeed(JoinResult(error: .notCoordinator))
                m.syncPromise?.succeed(SyncResult(error: .notCoordinator))
            }
            groups[id] = nil
        }
        for id in offsets.keys where Self.partition(for: id, count: partitionCount) == p { offsets[id] = nil }
    }

    /// Reads the partition's offset commits back (the last record per key wins; a null value
    /// removes it).
    private func load(_ p: Int32) {
        guard loading.contains(p) else { return }
        var position: Int64 = 0
        var count = 0
        while true {
            let (data, end) = read(p, position)
            guard var data, data.readableBytes > 0 else {
                if position < end { position = end }
                break
            }
            while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize <= data.readableBytes {
                let batch = data.readSlice(length: h.totalSize)!
                position = h.nextOffset
                guard !h.isControl, let records = try? Record.decodeAll(batch: batch, header: h) else { continue }
                for r in records {
                    guard let key = r.key, let (group, k) = Self.decodeOffsetKey(key) else { continue }
                    if let value = r.value, let c = Self.decodeOffsetValue(value) {
                        offsets[group, default: [:]][k] = c
                    } else {
                        offsets[group]?[k] = nil
                    }
                    count += 1
                }
            }
            if position >= end { break }
        }
        loading.remove(p)
        owned.insert(p)
        logger.info("coordinator for \(Self.topic)-\(p): loaded \(count) offset records")
    }

    /// NONE when this node coordinates the group now.
    private func ownership(_ group: String) -> ErrorCode {
        guard partitionCount > 0 else { return .coordinatorNotAvailable }
        let p = Self.partition(for: group, count: partitionCount)
        if loading.contains(p) { return .coordinatorLoadInProgress }
        return owned.contains(p) ? .none : .notCoordinator
    }

    // MARK: - Membership

    func join(
        group groupId: String, memberId: String, instanceId: String?, clientId: String, host: String,
        sessionTimeoutMs: Int32, rebalanceTimeoutMs: Int32, protocolType: String,
        protocols: [(name: String, metadata: [UInt8])], requireKnownMemberId: Bool
    ) -> EventLoopFuture<JoinResult> {
        loop.submit { [self] () -> EventLoopFuture<JoinResult> in
            func fail(_ e: ErrorCode) -> EventLoopFuture<JoinResult> {
                loop.makeSucceededFuture(JoinResult(error: e, memberId: memberId))
            }
            if groupId.isEmpty { return fail(.invalidGroupId) }
            let owner = ownership(groupId)
            if owner != .none { return fail(owner) }
            let session = Int64(sessionTimeoutMs)
            guard (Self.minSessionTimeoutMs...Self.maxSessionTimeoutMs).contains(session) else {
                return fail(.invalidSessionTimeout)
            }
            let g = groups[groupId] ?? Group(id: groupId)
            groups[groupId] = g
            if !g.members.isEmpty {
                if g.protocolType != protocolType { return fail(.inconsistentGroupProtocol) }
                let common = candidates(g).intersection(protocols.map(\.name))
                if common.isEmpty { return fail(.inconsistentGroupProtocol) }
            }
            if protocols.isEmpty { return fail(.inconsistentGroupProtocol) }
            var id = memberId
            let replacesStatic = instanceId.map { i in g.members.values.contains { $0.instanceId == i } } ?? false
            if id.isEmpty && !replacesStatic && g.members.count + g.pending.count >= maxGroupSize {
                return fail(.groupMaxSizeReached)
            }
            if id.isEmpty {
                // Kafka's form, client id and a UUID; the client id is cut so the id still fits a
                // string field (a client id may itself be 32,767 bytes).
                id = "\(clientId.truncatedUTF8(toBytes: 1000))-\(KafkaUUID.random())"
                if let instance = instanceId, let old = g.members.values.first(where: { $0.instanceId == instance }) {
                    // A static member restarted: the new one takes its place, the old id is fenced.
                    old.joinPromise?.succeed(JoinResult(error: .fencedInstanceId, memberId: old.id))
                    old.syncPromise?.succeed(SyncResult(error: .fencedInstanceId))
                    if let same = rejoinWithoutRebalance(
                        g, old: old, id: id, clientId: clientId, host: host, session: session,
                        rebalanceTimeoutMs: Int64(rebalanceTimeoutMs), protocols: protocols)
                    {
                        return loop.makeSucceededFuture(same)
                    }
                    g.remove(old.id)
                } else if requireKnownMemberId && instanceId == nil {
                    g.pending[id] = .now() + .milliseconds(session)
                    return fail(.memberIdRequired).map { r in
                        var r = r
                        r.memberId = id
                        return r
                    }
                }
            } else if g.pending.removeValue(forKey: id) == nil {
                // Neither new nor handed out just now: it must be a member already.
                guard let m = g.members[id] else { return fail(.unknownMemberId) }
                m.protocols = protocols
                m.sessionTimeoutMs = session
                m.rebalanceTimeoutMs = Int64(rebalanceTimeoutMs)
            }
            if g.members[id] == nil {
                g.add(
                    Member(
                        id: id, instanceId: instanceId, clientId: clientId, host: host, sessionTimeoutMs: session,
                        rebalanceTimeoutMs: Int64(rebalanceTimeoutMs), protocols: protocols))
            }
            g.protocolType = protocolType
            let m = g.members[id]!
            m.lastHeartbeat = .now()
            let promise = loop.makePromise(of: JoinResult.self)
            m.joinPromise?.succeed(JoinResult(error: .rebalanceInProgress, memberId: id))
            m.joinPromise = promise
            if g.state != .preparingRebalance { prepareRebalance(g) }
            tryCompleteJoin(g, force: false)
            return promise.futureResult
        }.flatMap { $0 }
    }

    /// KIP-345: a static member that comes back (a new member id, the same group.instance.id) to
    /// a stable group with the same subscription takes the old member's place and assignment,
    /// and nobody else rebalances. Nil when a rebalance is needed after all.
    private func rejoinWithoutRebalance(
        _ g: Group, old: Member, id: String, clientId: String, host: String, session: Int64,
        rebalanceTimeoutMs: Int64, protocols: [(name: String, metadata: [UInt8])]
    ) -> JoinResult? {
        guard g.state == .stable, let name = g.protocolName,
            let wanted = protocols.first(where: { $0.name == name })?.metadata,
            old.protocols.first(where: { $0.name == name })?.metadata == wanted
        else { return nil }
        let m = Member(
            id: id, instanceId: old.instanceId, clientId: clientId, host: host, sessionTimeoutMs: session,
            rebalanceTimeoutMs: rebalanceTimeoutMs, protocols: protocols)
        m.assignment = old.assignment
        g.members[old.id] = nil
        g.members[id] = m
        if let i = g.order.firstIndex(of: old.id) { g.order[i] = id } else { g.order.append(id) }
        if g.leader == old.id { g.leader = id }
        var r = JoinResult()
        r.generation = g.generation
        r.protocolType = g.protocolType
        r.protocolName = name
        r.leader = g.leader ?? id
        r.memberId = id
        if id == g.leader {
            r.members = g.order.compactMap { g.members[$0] }.map { x in
                (id: x.id, instanceId: x.instanceId, metadata: x.protocols.first { $0.name == name }?.metadata ?? [])
            }
            r.skipAssignment = true
        }
        return r
    }

    /// The protocols every member supports.
    private func candidates(_ g: Group) -> Set<String> {
        var common: Set<String>? = nil
        for m in g.members.values {
            let names = Set(m.protocols.map(\.name))
            common = common.map { $0.intersection(names) } ?? names
        }
        return common ?? []
    }

    private func prepareRebalance(_ g: Group) {
        if g.state == .completingRebalance {
            for m in g.members.values {
                m.syncPromise?.succeed(SyncResult(error: .rebalanceInProgress))
                m.syncPromise = nil
            }
        }
        let wasEmpty = g.state == .empty
        g.state = .preparingRebalance
        let longest = g.members.values.map(\.rebalanceTimeoutMs).max() ?? 0
        g.rebalanceDeadline = .now() + .milliseconds(max(longest, 1000))
        g.joinNotBefore = wasEmpty ? .now() + .milliseconds(initialRebalanceDelayMs) : .distantPast
    }

    /// Completes the join phase once every member has rejoined (or, forced, when the rebalance
    /// timeout ran out: members that did not rejoin are dropped). A new generation starts.
    private func tryCompleteJoin(_ g: Group, force: Bool) {
        guard g.state == .preparingRebalance else { return }
        let allJoined = g.members.values.allSatisfy { $0.joinPromise != nil } && g.pending.isEmpty
        guard force || (allJoined && NIODeadline.now() >= g.joinNotBefore) else { return }
        for m in g.members.values where m.joinPromise == nil { g.remove(m.id) }
        g.pending = [:]
        g.generation += 1
        guard !g.members.isEmpty else {
            g.state = .empty
            g.protocolName = nil
            g.leader = nil
            return
        }
        g.protocolName = selectProtocol(g)
        if g.leader == nil || g.members[g.leader!] == nil { g.leader = g.order.first }
        g.state = .completingRebalance
        let name = g.protocolName!
        let all = g.order.compactMap { g.members[$0] }.map { m in
            (id: m.id, instanceId: m.instanceId, metadata: m.protocols.first { $0.name == name }?.metadata ?? [])
        }
        for m in g.members.values {
            var r = JoinResult()
            r.generation = g.generation
            r.protocolType = g.protocolType
            r.protocolName = name
            r.leader = g.leader!
            r.memberId = m.id
            if m.id == g.leader { r.members = all }
            m.joinPromise?.succeed(r)
            m.joinPromise = nil
            m.lastHeartbeat = .now()
        }
        logger.info(
            "group \(g.id): generation \(g.generation) with \(g.members.count) member(s), protocol \(name), leader \(g.leader!)"
        )
    }

    /// Each member votes for its most preferred protocol that all support; most votes wins.
    private func selectProtocol(_ g: Group) -> String {
        let common = candidates(g)
        var votes: [String: Int] = [:]
        for m in g.members.values {
            if let pick = m.protocols.first(where: { common.contains($0.name) }) { votes[pick.name, default: 0] += 1 }
        }
        let firstMember = g.order.first.flatMap { g.members[$0] }
        return votes.max { a, b in
            a.value != b.value
                ? a.value < b.value
                : (firstMember?.protocols.firstIndex { $0.name == a.key } ?? 0)
                    > (firstMember?.protocols.firstIndex { $0.name == b.key } ?? 0)
        }?.key ?? common.sorted().first ?? ""
    }

    func sync(group groupId: String, generation: Int32, memberId: String, assignments: [(String, [UInt8])])
        -> EventLoopFuture<SyncResult>
    {
        loop.submit { [self] () -> EventLoopFuture<SyncResult> in
            func fail(_ e: ErrorCode) -> EventLoopFuture<SyncResult> { loop.makeSucceededFuture(SyncResult(error: e)) }
            let owner = ownership(groupId)
            if owner != .none { return fail(owner) }
            guard let g = groups[groupId], let m = g.members[memberId] else { return fail(.unknownMemberId) }
            guard generation == g.generation else { return fail(.illegalGeneration) }
            m.lastHeartbeat = .now()
            switch g.state {
            case .preparingRebalance: return fail(.rebalanceInProgress)
            case .empty, .dead: return fail(.unknownMemberId)
            case .stable:
                return loop.makeSucceededFuture(
                    SyncResult(protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment))
            case .completingRebalance:
                let promise = loop.makePromise(of: SyncResult.self)
                m.syncPromise?.succeed(SyncResult(error: .rebalanceInProgress))
                m.syncPromise = promise
                if memberId == g.leader {
                    let given = Dictionary(assignments, uniquingKeysWith: { _, last in last })
                    for other in g.members.values { other.assignment = given[other.id] ?? [] }
                    g.state = .stable
                    for other in g.members.values {
                        other.syncPromise?.succeed(
                            SyncResult(
                                protocolType: g.protocolType, protocolName: g.protocolName,
                                assignment: other.assignment))
                        other.syncPromise = nil
                    }
                }
                return promise.futureResult
            }
        }.flatMap { $0 }
    }

    func heartbeat(group groupId: String, generation: Int32, memberId: String) -> EventLoopFuture<ErrorCode> {
        loop.submit { [self] () -> ErrorCode in
            let owner = ownership(groupId)
            if owner != .none { return owner }
            guard let g = groups[groupId], let m = g.members[memberId] else { return .unknownMemberId }
            guard generation == g.generation else { return .illegalGeneration }
            m.lastHeartbeat = .now()
            return g.state == .preparingRebalance ? .rebalanceInProgress : .none
        }
    }

    /// Removes members; each gets its own result (UNKNOWN_MEMBER_ID when not in the group).
    func leave(group groupId: String, members: [(memberId: String, instanceId: String?)]) -> EventLoopFuture<
        (ErrorCode, [ErrorCode])
    > {
        loop.submit { [self] () -> (ErrorCode, [ErrorCode]) in
            let owner = ownership(groupId)
            if owner != .none { return (owner, []) }
            guard let g = groups[groupId] else { return (.none, members.map { _ in .unknownMemberId }) }
            var results: [ErrorCode] = []
            var removed = false
            for (memberId, instanceId) in members {
                let m =
                    g.members[memberId]
                    ?? instanceId.flatMap { inst in g.members.values.first { $0.instanceId == inst } }
                guard let m else {
                    results.append(.unknownMemberId)
                    continue
                }
                m.joinPromise?.succeed(JoinResult(error: .unknownMemberId, memberId: m.id))
                m.syncPromise?.succeed(SyncResult(error: .unknownMemberId))
                g.remove(m.id)
                removed = true
                results.append(.none)
                logger.info("group \(g.id): member \(m.id) left")
            }
            if removed {
                prepareRebalance(g)
                tryCompleteJoin(g, force: false)
            }
            return (.none, results)
        }
    }

    /// Removes the offsets of groups without members whose last commit is older than the
    /// retention: tombstones go to the log, so a later coordinator does not bring them back.
    /// Returns how many offsets expired.
    @discardableResult
    func expireOffsets(nowMs: Int64) -> EventLoopFuture<Int> {
        loop.submit { [self] () -> EventLoopFuture<Int> in
            var futures: [EventLoopFuture<Int>] = []
            for (id, committed) in offsets where ownership(id) == .none && (groups[id]?.members.isEmpty ?? true) {
                let old = committed.filter { nowMs - $0.value.timestamp > offsetsRetentionMs }.map(\.key)
                guard !old.isEmpty else { continue }
                futures.append(
                    removeOffsets(id, old, nowMs: nowMs).map { [self] code in
                        guard code == .none else { return 0 }
                        logger.info("group \(id): \(old.count) committed offset(s) expired (offsets.retention.minutes)")
                        return old.count
                    })
            }
            return EventLoopFuture.whenAllSucceed(futures, on: loop).map { $0.reduce(0, +) }
        }.flatMap { $0 }
    }

    /// Drops members whose sessions ran out and completes joins whose time is up.
    private func expire() {
        let now = NIODeadline.now()
        if now - lastRetentionCheck >= .milliseconds(offsetsRetentionCheckMs) {
            lastRetentionCheck = now
            expireOffsets(nowMs: Self.wallMs())
        }
        for g in groups.values {
            g.pending = g.pending.filter { $0.value > now }
            var lost = false
            for m in g.members.values where m.joinPromise == nil {
                if now - m.lastHeartbeat > .milliseconds(m.sessionTimeoutMs) {
                    logger.info("group \(g.id): member \(m.id) missed its session timeout; removing it")
                    m.syncPromise?.succeed(SyncResult(error: .unknownMemberId))
                    g.remove(m.id)
                    lost = true
                }
            }
            if lost && g.state != .preparingRebalance { prepareRebalance(g) }
            if g.state == .preparingRebalance { tryCompleteJoin(g, force: now >= g.rebalanceDeadline) }
        }
    }

    // MARK: - Offsets

    /// Commits offsets: checked against the group's membership (a commit without a member and
    /// generation is allowed when the group has no members), written to the group's partition
    /// with acks=all, and answered once replicated.
    func commit(
        group groupId: String, generation: Int32, memberId: String,
        offsets commits: [(topic: String, partition: Int32, offset: Int64, leaderEpoch: Int32, metadata: String?)]
    ) -> EventLoopFuture<[ErrorCode]> {
        loop.submit { [self] () -> EventLoopFuture<[ErrorCode]> in
            func all(_ e: ErrorCode) -> EventLoopFuture<[ErrorCode]> {
                loop.makeSucceededFuture(commits.map { _ in e })
            }
            if groupId.isEmpty { return all(.invalidGroupId) }
            let owner = ownership(groupId)
            if owner != .none { return all(owner) }
            if let g = groups[groupId], !(generation < 0 && memberId.isEmpty && g.members.isEmpty) {
                guard let m = g.members[memberId] else { return all(.unknownMemberId) }
                guard generation == g.generation else { return all(.illegalGeneration) }
                if g.state == .completingRebalance { return all(.rebalanceInProgress) }
                m.lastHeartbeat = .now()
            } else if generation >= 0 || !memberId.isEmpty {
                return all(.unknownMemberId)
            }
            var b = RecordBatchBuilder()
            let now = Self.wallMs()
            var results: [ErrorCode] = []
            var accepted: [(OffsetKey, Committed)] = []
            for c in commits {
                if (c.metadata?.utf8.count ?? 0) > 4096 {
                    results.append(.offsetMetadataTooLarge)
                    continue
                }
                let k = OffsetKey(topic: c.topic, partition: c.partition)
                let v = Committed(
                    offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata ?? "", timestamp: now)
                guard let key = try? Self.encodeOffsetKey(groupId, k), let value = try? Self.encodeOffsetValue(v)
                else {
                    results.append(.invalidRequest)
                    continue
                }
                results.append(.none)
                b.append(key: key, value: value, timestamp: now)
                accepted.append((k, v))
            }
            guard b.count > 0 else { return loop.makeSucceededFuture(results) }
            return write(group: groupId, b).map { [self] code in
                guard code == .none else {
                    let mapped: ErrorCode =
                        [.notLeaderOrFollower, .unknownTopicOrPartition].contains(code)
                        ? .notCoordinator : code == .notEnoughReplicas ? .coordinatorNotAvailable : code
                    return results.map { $0 == .none ? mapped : $0 }
                }
                for (k, v) in accepted { offsets[groupId, default: [:]][k] = v }
                return results
            }
        }.flatMap { $0 }
    }

    /// Committed offsets of a group: all of them (`partitions` nil) or those asked for, -1 for
    /// partitions without a commit.
    func fetchOffsets(group groupId: String, partitions: [OffsetKey]?) -> EventLoopFuture<
        (ErrorCode, [(OffsetKey, Committed?)])
    > {
        loop.submit { [self] in
            let owner = ownership(groupId)
            if owner != .none { return (owner, []) }
            let known = offsets[groupId] ?? [:]
            if let partitions { return (.none, partitions.map { ($0, known[$0]) }) }
            return (
                .none,
                known.sorted { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }.map {
                    ($0.key, $0.value)
                }
            )
        }
    }

    struct GroupSummary {
        var id: String
        var state: String
        var protocolType: String
        var protocolName: String
        var members:
            [(id: String, instanceId: String?, clientId: String, host: String, metadata: [UInt8], assignment: [UInt8])]
    }

    /// A group and its committed offsets.
    public struct GroupOffsets: Sendable {
        public var id: String
        public var state: String
        public var members: Int
        public var offsets: [(topic: String, partition: Int32, offset: Int64)]
    }

    /// Every group this node coordinates, with its committed offsets.
    public func offsetsSnapshot() -> EventLoopFuture<[GroupOffsets]> {
        loop.submit { [self] in
            let ids = Set(groups.keys).union(offsets.filter { !$0.value.isEmpty }.keys).filter {
                ownership($0) == .none
            }
            return ids.sorted().map { id in
                let s = summary(id)
                let committed = (offsets[id] ?? [:]).map {
                    (topic: $0.key.topic, partition: $0.key.partition, offset: $0.value.offset)
                }
                .sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
                return GroupOffsets(id: id, state: s.state, members: s.members.count, offsets: committed)
            }
        }
    }

    /// Groups this node coordinates: those with members, and those with committed offsets only.
    /// A group whose last member left without committing is gone (Dead), as DescribeGroups says,
    /// so it is not listed either.
    func listGroups() -> EventLoopFuture<[GroupSummary]> {
        loop.submit { [self] in
            var ids = Set(groups.keys).union(offsets.filter { !$0.value.isEmpty }.keys)
            ids = ids.filter { ownership($0) == .none }
            return ids.sorted().map { summary($0) }.filter { $0.state != State.dead.rawValue }
        }
    }

    func describe(_ ids: [String]) -> EventLoopFuture<[(ErrorCode, GroupSummary)]> {
        loop.submit { [self] in
            ids.map { id in
                let owner = ownership(id)
                return (owner, summary(id))
            }
        }
    }

    private func summary(_ id: String) -> GroupSummary {
        guard let g = groups[id], !(g.members.isEmpty && g.state == .empty && offsets[id]?.isEmpty != false) else {
            let hasOffsets = offsets[id]?.isEmpty == false
            return GroupSummary(
                id: id, state: hasOffsets ? State.empty.rawValue : State.dead.rawValue,
                protocolType: hasOffsets ? "consumer" : "", protocolName: "", members: [])
        }
        let name = g.protocolName ?? ""
        return GroupSummary(
            id: id, state: g.state.rawValue, protocolType: g.protocolType ?? "consumer", protocolName: name,
            members: g.order.compactMap { g.members[$0] }.map { m in
                (
                    m.id, m.instanceId, m.clientId, m.host, m.protocols.first { $0.name == name }?.metadata ?? [],
                    m.assignment
                )
            })
    }

    /// Deletes groups that have no members: their offsets get tombstones in the log.
    func delete(_ ids: [String]) -> EventLoopFuture<[ErrorCode]> {
        loop.submit { [self] () -> EventLoopFuture<[ErrorCode]> in
            var futures: [EventLoopFuture<ErrorCode>] = []
            for id in ids {
                let owner = ownership(id)
                if owner != .none {
                    futures.append(loop.makeSucceededFuture(owner))
                    continue
                }
                if let g = groups[id], !g.members.isEmpty {
                    futures.append(loop.makeSucceededFuture(.nonEmptyGroup))
                    continue
                }
                guard groups[id] != nil || offsets[id]?.isEmpty == false else {
                    futures.append(loop.makeSucceededFuture(.groupIdNotFound))
                    continue
                }
                groups[id] = nil
                let keys = Array((offsets[id] ?? [:]).keys)
                guard !keys.isEmpty else {
                    futures.append(loop.makeSucceededFuture(.none))
                    continue
                }
                futures.append(removeOffsets(id, keys, nowMs: Self.wallMs()))
            }
            return EventLoopFuture.whenAllSucceed(futures, on: loop)
        }.flatMap { $0 }
    }

    /// Topics the members subscribe to, read from their consumer-protocol metadata.
    private func subscribedTopics(_ g: Group) -> Set<String> {
        var out = Set<String>()
        for m in g.members.values {
            guard
                let meta = m.protocols.first(where: { $0.name == g.protocolName })?.metadata
                    ?? m.protocols.first?.metadata
            else { continue }
            out.formUnion(ConsumerProtocol.subscribedTopics(ByteBuffer(bytes: meta)))
        }
        return out
    }

    /// OffsetDelete: removes committed offsets of partitions whose topic no member consumes.
    func deleteOffsets(group groupId: String, partitions: [OffsetKey]) -> EventLoopFuture<(ErrorCode, [ErrorCode])> {
        loop.submit { [self] () -> EventLoopFuture<(ErrorCode, [ErrorCode])> in
            let owner = ownership(groupId)
            if owner != .none { return loop.makeSucceededFuture((owner, [])) }
            guard groups[groupId] != nil || offsets[groupId]?.isEmpty == false else {
                return loop.makeSucceededFuture((.groupIdNotFound, []))
            }
            let busy = groups[groupId].map(subscribedTopics) ?? []
            let codes: [ErrorCode] = partitions.map { busy.contains($0.topic) ? .groupSubscribedToTopic : .none }
            let gone = zip(partitions, codes).filter { $0.1 == .none && offsets[groupId]?[$0.0] != nil }.map(\.0)
            guard !gone.isEmpty else { return loop.makeSucceededFuture((.none, codes)) }
            return removeOffsets(groupId, gone, nowMs: Self.wallMs()).map { code in
                (.none, code == .none ? codes : codes.map { $0 == .none ? code : $0 })
            }
        }.flatMap { $0 }
    }

    /// Appends records to the group's partition of `__consumer_offsets`; answered on the loop.
    private func write(group: String, _ b: RecordBatchBuilder) -> EventLoopFuture<ErrorCode> {
        write(Self.partition(for: group, count: partitionCount), b.build()).hop(to: loop)
    }

    /// Writes tombstones for some of a group's offsets and, once they are replicated, forgets
    /// them, so a later coordinator reading the partition does not bring them back.
    private func removeOffsets(_ group: String, _ keys: [OffsetKey], nowMs: Int64) -> EventLoopFuture<ErrorCode> {
        var b = RecordBatchBuilder()
        for k in keys {
            guard let key = try? Self.encodeOffsetKey(group, k) else { continue }
            b.append(key: key, value: nil, timestamp: nowMs)
        }
        return write(group: group, b).map { [self] code in
            guard code == .none else { return code }
            for k in keys { offsets[group]?[k] = nil }
            if offsets[group]?.isEmpty == true { offsets[group] = nil }
            return code
        }
    }

    // MARK: - Records in __consumer_offsets (Kafka's layout)

    static func wallMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Key v1: version, group, topic, partition.
    static func encodeOffsetKey(_ group: String, _ k: OffsetKey) throws -> [UInt8] {
        var w = KafkaWriter(flexible: false)
        var version: Int16 = 1
        var g = group
        var t = k.topic
        var p = k.partition
        try w.int16(&version)
        try w.string(&g, field: "group")
        try w.string(&t, field: "topic")
        try w.int32(&p)
        return Array(w.buffer.readableBytesView)
    }

    static func decodeOffsetKey(_ bytes: [UInt8]) -> (String, OffsetKey)? {
        var r = KafkaReader(ByteBuffer(bytes: bytes), flexible: false)
        var version: Int16 = 0
        var g = ""
        var t = ""
        var p: Int32 = 0
        guard (try? r.int16(&version)) != nil, version <= 1, (try? r.string(&g, field: "group")) != nil,
            (try? r.string(&t, field: "topic")) != nil, (try? r.int32(&p)) != nil
        else { return nil }
        return (g, OffsetKey(topic: t, partition: p))
    }

    /// Value v3: version, offset, leader epoch, metadata, commit timestamp.
    static func encodeOffsetValue(_ c: Committed) throws -> [UInt8] {
        var w = KafkaWriter(flexible: false)
        var version: Int16 = 3
        var c = c
        try w.int16(&version)
        try w.int64(&c.offset)
        try w.int32(&c.leaderEpoch)
        try w.string(&c.metadata, field: "metadata")
        try w.int64(&c.timestamp)
        return Array(w.buffer.readableBytesView)
    }

    static func decodeOffsetValue(_ bytes: [UInt8]) -> Committed? {
        var r = KafkaReader(ByteBuffer(bytes: bytes), flexible: false)
        var version: Int16 = 0
        var c = Committed(offset: 0, leaderEpoch: -1, metadata: "", timestamp: 0)
        guard (try? r.int16(&version)) != nil, (try? r.int64(&c.offset)) != nil else { return nil }
        if version >= 3 { _ = try? r.int32(&c.leaderEpoch) }
        _ = try? r.string(&c.metadata, field: "metadata")
        _ = try? r.int64(&c.timestamp)
        return c
    }
}
