import KafkaProtocol
import Logging
import NIOCore
import Storage

extension GroupCoordinator {
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
                    g.pending[id] = clock.now + .milliseconds(session)
                    return fail(.memberIdRequired).map { [id] r in
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
                        rebalanceTimeoutMs: Int64(rebalanceTimeoutMs), protocols: protocols, now: clock.now))
            }
            g.protocolType = protocolType
            let m = g.members[id]!
            m.lastHeartbeat = clock.now
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
            rebalanceTimeoutMs: rebalanceTimeoutMs, protocols: protocols, now: clock.now)
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
        g.rebalanceDeadline = clock.now + .milliseconds(max(longest, 1000))
        g.joinNotBefore = wasEmpty ? clock.now + .milliseconds(initialRebalanceDelayMs) : .distantPast
    }

    /// Completes the join phase once every member has rejoined (or, forced, when the rebalance
    /// timeout ran out: members that did not rejoin are dropped). A new generation starts.
    private func tryCompleteJoin(_ g: Group, force: Bool) {
        guard g.state == .preparingRebalance else { return }
        let allJoined = g.members.values.allSatisfy { $0.joinPromise != nil } && g.pending.isEmpty
        guard force || (allJoined && clock.now >= g.joinNotBefore) else { return }
        for m in g.members.values where m.joinPromise == nil { g.remove(m.id) }
        g.pending = [:]
        g.generation += 1
        metrics?.groupRebalanced()
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
            m.lastHeartbeat = clock.now
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

    func sync(
        group groupId: String, generation: Int32, memberId: String, instanceId: String? = nil,
        assignments: [(String, [UInt8])]
    )
        -> EventLoopFuture<SyncResult>
    {
        loop.submit { [self] () -> EventLoopFuture<SyncResult> in
            func fail(_ e: ErrorCode) -> EventLoopFuture<SyncResult> { loop.makeSucceededFuture(SyncResult(error: e)) }
            let owner = ownership(groupId)
            if owner != .none { return fail(owner) }
            if groups[groupId]?.fences(instanceId: instanceId, memberId: memberId) == true {
                return fail(.fencedInstanceId)
            }
            guard let g = groups[groupId], let m = g.members[memberId] else { return fail(.unknownMemberId) }
            guard generation == g.generation else { return fail(.illegalGeneration) }
            m.lastHeartbeat = clock.now
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

    func heartbeat(group groupId: String, generation: Int32, memberId: String, instanceId: String? = nil)
        -> EventLoopFuture<ErrorCode>
    {
        loop.submit { [self] () -> ErrorCode in
            let owner = ownership(groupId)
            if owner != .none { return owner }
            if groups[groupId]?.fences(instanceId: instanceId, memberId: memberId) == true { return .fencedInstanceId }
            guard let g = groups[groupId], let m = g.members[memberId] else { return .unknownMemberId }
            guard generation == g.generation else { return .illegalGeneration }
            m.lastHeartbeat = clock.now
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

    /// Drops members whose sessions ran out and completes joins whose time is up.
    func expire() {
        let now = clock.now
        if now - lastRetentionCheck >= .milliseconds(offsetsRetentionCheckMs) {
            lastRetentionCheck = now
            expireOffsets(nowMs: clock.wallMs)
        }
        var soonest = NIODeadline.distantFuture
        for g in groups.values {
            g.pending = g.pending.filter { $0.value > now }
            var lost = false
            for m in g.members.values where m.joinPromise == nil {
                let deadline = m.lastHeartbeat + .milliseconds(m.sessionTimeoutMs)
                if now >= deadline {
                    logger.info("group \(g.id): member \(m.id) missed its session timeout; removing it")
                    m.syncPromise?.succeed(SyncResult(error: .unknownMemberId))
                    g.remove(m.id)
                    lost = true
                } else {
                    soonest = min(soonest, deadline)
                }
            }
            if lost && g.state != .preparingRebalance { prepareRebalance(g) }
            if g.state == .preparingRebalance { tryCompleteJoin(g, force: now >= g.rebalanceDeadline) }
        }
        // A session that ends before the next tick gets an expiry of its own at its end.
        if soonest < now + .milliseconds(Self.tickMs) {
            nextDeadline?.cancel()
            // A delay (at least 1 ms) from the coordinator's own clock, not a loop deadline, so
            // an injected clock cannot make it fire at once again and again.
            nextDeadline = loop.scheduleTask(in: max(soonest - now, .milliseconds(1))) { [self] in expire() }
        }
    }
}
