import KafkaProtocol
import NIOCore

/// The consumer-group RPCs, translated to and from the coordinator. Before the coordinator
/// runs, each answer is the coordinator's own result type carrying COORDINATOR_NOT_AVAILABLE,
/// translated like any other.
extension Broker {
    var coordinator: GroupCoordinator? { groupCoordinator.withLockedValue { $0 } }

    func joinGroup(_ r: JoinGroupRequest, version: Int16, clientId: String?, on loop: any EventLoop)
        -> EventLoopFuture<JoinGroupResponse>
    {
        let joined =
            coordinator?.join(
                group: r.groupId, memberId: r.memberId, instanceId: r.groupInstanceId, clientId: clientId ?? "consumer",
                host: "/127.0.0.1", sessionTimeoutMs: r.sessionTimeoutMs,
                rebalanceTimeoutMs: version >= 1 ? r.rebalanceTimeoutMs : r.sessionTimeoutMs,
                protocolType: r.protocolType,
                protocols: r.protocols.map { ($0.name, Array($0.metadata.readableBytesView)) },
                requireKnownMemberId: version >= 4)
            ?? loop.makeSucceededFuture(.init(error: .coordinatorNotAvailable))
        return joined.hop(to: loop).map { j in
            var out = JoinGroupResponse()
            out.errorCode = j.error.rawValue
            out.generationId = j.generation
            out.protocolType = j.protocolType
            out.protocolName = j.protocolName
            out.leader = j.leader
            out.skipAssignment = j.skipAssignment
            out.memberId = j.memberId
            out.members = j.members.map { m in
                var x = JoinGroupResponse.Member()
                x.memberId = m.id
                x.groupInstanceId = m.instanceId
                x.metadata = ByteBuffer(bytes: m.metadata)
                return x
            }
            return out
        }
    }

    func syncGroup(_ r: SyncGroupRequest, on loop: any EventLoop) -> EventLoopFuture<SyncGroupResponse> {
        let synced =
            coordinator?.sync(
                group: r.groupId, generation: r.generationId, memberId: r.memberId, instanceId: r.groupInstanceId,
                assignments: r.assignments.map { ($0.memberId, Array($0.assignment.readableBytesView)) })
            ?? loop.makeSucceededFuture(.init(error: .coordinatorNotAvailable))
        return synced.hop(to: loop).map { s in
            var out = SyncGroupResponse()
            out.errorCode = s.error.rawValue
            out.protocolType = s.protocolType
            out.protocolName = s.protocolName
            out.assignment = ByteBuffer(bytes: s.assignment)
            return out
        }
    }

    func heartbeat(_ r: HeartbeatRequest, on loop: any EventLoop) -> EventLoopFuture<HeartbeatResponse> {
        let beat =
            coordinator?.heartbeat(
                group: r.groupId, generation: r.generationId, memberId: r.memberId, instanceId: r.groupInstanceId)
            ?? loop.makeSucceededFuture(.coordinatorNotAvailable)
        return beat.hop(to: loop).map {
            var out = HeartbeatResponse()
            out.errorCode = $0.rawValue
            return out
        }
    }

    func leaveGroup(_ r: LeaveGroupRequest, version: Int16, on loop: any EventLoop) -> EventLoopFuture<
        LeaveGroupResponse
    > {
        let leaving =
            version <= 2
            ? [(memberId: r.memberId, instanceId: String?.none)] : r.members.map { ($0.memberId, $0.groupInstanceId) }
        let left =
            coordinator?.leave(group: r.groupId, members: leaving)
            ?? loop.makeSucceededFuture((.coordinatorNotAvailable, []))
        return left.hop(to: loop).map { (code, each) in
            var out = LeaveGroupResponse()
            out.errorCode = code.rawValue
            if version <= 2, code == .none, let first = each.first { out.errorCode = first.rawValue }
            if version >= 3 {
                out.members = zip(r.members, each).map { m, e in
                    var x = LeaveGroupResponse.Member()
                    x.memberId = m.memberId
                    x.groupInstanceId = m.groupInstanceId
                    x.errorCode = e.rawValue
                    return x
                }
            }
            return out
        }
    }

    func offsetCommit(_ r: OffsetCommitRequest, on loop: any EventLoop) -> EventLoopFuture<OffsetCommitResponse> {
        let flat = r.topics.flatMap { t in
            t.partitions.map {
                (
                    topic: t.name, partition: $0.partitionIndex, offset: $0.committedOffset,
                    leaderEpoch: $0.committedLeaderEpoch, metadata: $0.committedMetadata
                )
            }
        }
        @Sendable func answer(_ codes: [ErrorCode]) -> OffsetCommitResponse {
            var out = OffsetCommitResponse()
            out.topics = OffsetCommitResponse.Topic.answering(r.topics, codes: codes.map(\.rawValue))
            return out
        }
        // Commits name existing partitions only.
        let image = registry.image
        guard let c = coordinator else {
            return loop.makeSucceededFuture(answer(flat.map { _ in .coordinatorNotAvailable }))
        }
        let unknown = flat.map { image.topics[$0.topic]?.partitions[$0.partition] == nil }
        let known = zip(flat, unknown).filter { !$0.1 }.map(\.0)
        return c.commit(
            group: r.groupId, generation: r.generationId, memberId: r.memberId, instanceId: r.groupInstanceId,
            offsets: known
        )
        .hop(to: loop).map { codes in
            var it = codes.makeIterator()
            return answer(unknown.map { $0 ? .unknownTopicOrPartition : (it.next() ?? .unknownServerError) })
        }
    }

    func offsetFetch(_ r: OffsetFetchRequest, version: Int16, on loop: any EventLoop) -> EventLoopFuture<
        OffsetFetchResponse
    > {
        let asked = r.topics.map { ts in
            ts.flatMap { t in t.partitionIndexes.map { GroupCoordinator.OffsetKey(topic: t.name, partition: $0) } }
        }
        let fetched =
            coordinator?.fetchOffsets(group: r.groupId, partitions: asked, requireStable: r.requireStable)
            ?? loop.makeSucceededFuture((.coordinatorNotAvailable, [], []))
        return fetched.hop(to: loop).map { (code, found, unstable) in
            var out = OffsetFetchResponse()
            if code != .none {
                out.errorCode = code.rawValue
                // v0-1 have no top-level error: it goes on every partition asked for.
                if version <= 1 {
                    out.topics = (r.topics ?? []).map { OffsetFetchResponse.Topic.failing($0, code.rawValue) }
                }
                return out
            }
            var byTopic: [String: [OffsetFetchResponse.Partition]] = [:]
            var order: [String] = []
            for (k, committed) in found {
                var p = OffsetFetchResponse.Partition()
                p.partitionIndex = k.partition
                p.committedOffset = committed?.offset ?? -1
                p.committedLeaderEpoch = committed?.leaderEpoch ?? -1
                p.metadata = committed?.metadata ?? ""
                if unstable.contains(k) {
                    p.errorCode = ErrorCode.unstableOffsetCommit.rawValue
                    p.committedOffset = -1
                }
                if byTopic[k.topic] == nil { order.append(k.topic) }
                byTopic[k.topic, default: []].append(p)
            }
            out.topics = order.map { name in
                var t = OffsetFetchResponse.Topic()
                t.name = name
                t.partitions = byTopic[name]!
                return t
            }
            return out
        }
    }

    func listGroups(_ r: ListGroupsRequest, on loop: any EventLoop) -> EventLoopFuture<ListGroupsResponse> {
        let listed = coordinator?.listGroups() ?? loop.makeSucceededFuture([])
        // Filters as sets: a request naming a million states costs one pass, not one per group.
        let states = Set(r.statesFilter)
        // Every group here is a classic one (JoinGroup/SyncGroup); types compare case-blind.
        let classicWanted = r.typesFilter.isEmpty || r.typesFilter.contains { $0.lowercased() == "classic" }
        return listed.hop(to: loop).map { groups in
            var out = ListGroupsResponse()
            guard classicWanted else { return out }
            out.groups =
                groups.filter { states.isEmpty || states.contains($0.state) }.map { g in
                    var x = ListGroupsResponse.Group()
                    x.groupId = g.id
                    x.protocolType = g.protocolType
                    x.groupState = g.state
                    x.groupType = "classic"
                    return x
                }
            return out
        }
    }

    func describeGroups(_ r: DescribeGroupsRequest, on loop: any EventLoop) -> EventLoopFuture<
        DescribeGroupsResponse
    > {
        let described =
            coordinator?.describe(r.groups)
            ?? loop.makeSucceededFuture(
                r.groups.map {
                    (
                        .coordinatorNotAvailable,
                        .init(id: $0, state: "", protocolType: "", protocolName: "", members: [])
                    )
                })
        let allOps = r.includeAuthorizedOperations && config.authorizer == nil ? Self.allOperations(.group) : nil
        return described.hop(to: loop).map { found in
            var out = DescribeGroupsResponse()
            out.groups = found.map { code, s in
                var g = DescribeGroupsResponse.Group()
                g.groupId = s.id
                g.errorCode = code.rawValue
                guard code == .none else { return g }
                g.groupState = s.state
                g.protocolType = s.protocolType
                g.protocolData = s.protocolName
                // Without an authorizer every operation is allowed, and said so when asked.
                if let allOps { g.authorizedOperations = allOps }
                g.members = s.members.map { m in
                    var x = DescribeGroupsResponse.Member()
                    x.memberId = m.id
                    x.groupInstanceId = m.instanceId
                    x.clientId = m.clientId
                    x.clientHost = m.host
                    x.memberMetadata = ByteBuffer(bytes: m.metadata)
                    x.memberAssignment = ByteBuffer(bytes: m.assignment)
                    return x
                }
                return g
            }
            return out
        }
    }

    func deleteGroups(_ r: DeleteGroupsRequest, on loop: any EventLoop) -> EventLoopFuture<DeleteGroupsResponse> {
        let deleted =
            coordinator?.delete(r.groupsNames)
            ?? loop.makeSucceededFuture(r.groupsNames.map { _ in .coordinatorNotAvailable })
        return deleted.hop(to: loop).map { codes in
            var out = DeleteGroupsResponse()
            out.results = zip(r.groupsNames, codes).map { name, code in
                var x = DeleteGroupsResponse.Result()
                x.groupId = name
                x.errorCode = code.rawValue
                return x
            }
            return out
        }
    }

    func offsetDelete(_ r: OffsetDeleteRequest, on loop: any EventLoop) -> EventLoopFuture<OffsetDeleteResponse> {
        let keys = r.topics.flatMap { t in
            t.partitionIndexes.map { GroupCoordinator.OffsetKey(topic: t.name, partition: $0) }
        }
        let deleted =
            coordinator?.deleteOffsets(group: r.groupId, partitions: keys)
            ?? loop.makeSucceededFuture((.coordinatorNotAvailable, []))
        return deleted.hop(to: loop).map { code, each in
            var out = OffsetDeleteResponse()
            out.errorCode = code.rawValue
            guard code == .none else { return out }
            out.topics = OffsetDeleteResponse.Topic.answering(r.topics, codes: each.map(\.rawValue))
            return out
        }
    }
}
