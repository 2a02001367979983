import KafkaProtocol
import Metadata
import NIOCore

extension Broker {
    /// `authorizing` for FindCoordinator and the consumer-group APIs: JoinGroup, SyncGroup, Heartbeat,
    /// LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups and OffsetDelete.
    func authorizingGroups(_ c: ApiCall, acls: AclIndex) throws -> EventLoopFuture<ByteBuffer?>? {
        let (api, v, body, session, listener, loop) = (c.api, c.version, c.body, c.session, c.listener, c.loop)
        let (may, cluster) = (mayFor(c.session, acls), aclClusterResourceName)

        switch api {
        case .findCoordinator:
            let request = try FindCoordinatorRequest.decode(body, version: v)
            let type: AclResourceType = request.keyType == 1 ? .transactionalId : .group
            let code =
                type == .group ? Self.groupDenied : ErrorCode.transactionalIdAuthorizationFailed.rawValue
            let keys = request.keys
            let denied = keys.filter { !may(.describe, type, $0) }
            guard !denied.isEmpty else { return nil }
            if !request.coordinatorKeys.isEmpty {
                var allowedRequest = request
                allowedRequest.coordinatorKeys = keys.filter { !denied.contains($0) }
                var r =
                    allowedRequest.coordinatorKeys.isEmpty
                    ? FindCoordinatorResponse()
                    : findCoordinator(allowedRequest, version: v, listener: listener)
                r.coordinators += denied.map {
                    var c = FindCoordinatorResponse.Coordinator()
                    c.key = $0
                    c.errorCode = code
                    c.errorMessage = "Authorization failed."
                    return c
                }
                return try c.answer(r)
            }
            var r = FindCoordinatorResponse()
            r.errorCode = code
            r.errorMessage = "Authorization failed."
            return try c.answer(r)
        case .joinGroup:
            let request = try JoinGroupRequest.decode(body, version: v)
            guard !may(.read, .group, request.groupId) else { return nil }
            var r = JoinGroupResponse()
            r.errorCode = Self.groupDenied
            return try c.answer(r)
        case .syncGroup:
            let request = try SyncGroupRequest.decode(body, version: v)
            guard !may(.read, .group, request.groupId) else { return nil }
            var r = SyncGroupResponse()
            r.errorCode = Self.groupDenied
            return try c.answer(r)
        case .heartbeat:
            let request = try HeartbeatRequest.decode(body, version: v)
            guard !may(.read, .group, request.groupId) else { return nil }
            var r = HeartbeatResponse()
            r.errorCode = Self.groupDenied
            return try c.answer(r)
        case .leaveGroup:
            let request = try LeaveGroupRequest.decode(body, version: v)
            guard !may(.read, .group, request.groupId) else { return nil }
            var r = LeaveGroupResponse()
            r.errorCode = Self.groupDenied
            return try c.answer(r)
        case .offsetCommit:
            var request = try OffsetCommitRequest.decode(body, version: v)
            let groupOK = may(.read, .group, request.groupId)
            let denied = Self.carve(&request.topics) { !groupOK || !may(.read, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map {
                OffsetCommitResponse.Topic.failing($0, groupOK ? Self.topicDenied : Self.groupDenied)
            }
            return c.answer(
                Self.merging(request.topics.isEmpty, on: loop, { offsetCommit(request, on: loop) }) {
                    $0.topics += refused
                })
        case .offsetFetch:
            var request = try OffsetFetchRequest.decode(body, version: v)
            guard may(.describe, .group, request.groupId) else {
                var r = OffsetFetchResponse()
                r.errorCode = Self.groupDenied
                // Before v2 there is no top-level error: each asked partition carries it.
                r.topics = (request.topics ?? []).map { OffsetFetchResponse.Topic.failing($0, Self.groupDenied) }
                return try c.answer(r)
            }
            let all = request.topics == nil
            let denied = (request.topics ?? []).filter { !may(.describe, .topic, $0.name) }
            if !all && denied.isEmpty { return nil }
            let deniedNames = Set(denied.map(\.name))
            request.topics?.removeAll { deniedNames.contains($0.name) }
            let served =
                request.topics?.isEmpty == true
                ? loop.makeSucceededFuture(OffsetFetchResponse()) : offsetFetch(request, version: v, on: loop)
            return c.answer(
                served.map { [self] resp in
                    var r = resp
                    if all { r.topics.removeAll { !allowed(session, .describe, .topic, $0.name, acls: acls) } }
                    r.topics += denied.map { OffsetFetchResponse.Topic.failing($0, Self.topicDenied) }
                    return r
                })
        case .listGroups:
            let request = try ListGroupsRequest.decode(body, version: v)
            guard !may(.describe, .cluster, cluster) else { return nil }
            return c.answer(
                listGroups(request, on: loop).map { [self] resp in
                    var r = resp
                    r.groups.removeAll { !allowed(session, .describe, .group, $0.groupId, acls: acls) }
                    return r
                })
        case .describeGroups:
            var request = try DescribeGroupsRequest.decode(body, version: v)
            let denied = request.groups.filter { !may(.describe, .group, $0) }
            let wantsOps = request.includeAuthorizedOperations
            guard !denied.isEmpty || wantsOps else { return nil }
            request.groups.removeAll { denied.contains($0) }
            let served =
                request.groups.isEmpty
                ? loop.makeSucceededFuture(DescribeGroupsResponse()) : describeGroups(request, on: loop)
            return c.answer(
                served.map { [self] resp in
                    var r = resp
                    if wantsOps {
                        for i in r.groups.indices {
                            r.groups[i].authorizedOperations = authorizedOperations(
                                session, .group, r.groups[i].groupId, acls: acls)
                        }
                    }
                    r.groups += denied.map {
                        var g = DescribeGroupsResponse.Group()
                        g.groupId = $0
                        g.errorCode = Self.groupDenied
                        return g
                    }
                    return r
                })
        case .deleteGroups:
            var request = try DeleteGroupsRequest.decode(body, version: v)
            let denied = Self.carve(&request.groupsNames) { !may(.delete, .group, $0) }
            guard !denied.isEmpty else { return nil }
            let served =
                request.groupsNames.isEmpty
                ? loop.makeSucceededFuture(DeleteGroupsResponse()) : deleteGroups(request, on: loop)
            return c.answer(
                served.map {
                    var r = $0
                    r.results += denied.map {
                        var g = DeleteGroupsResponse.Result()
                        g.groupId = $0
                        g.errorCode = Self.groupDenied
                        return g
                    }
                    return r
                })
        case .offsetDelete:
            var request = try OffsetDeleteRequest.decode(body, version: v)
            guard may(.delete, .group, request.groupId) else {
                var r = OffsetDeleteResponse()
                r.errorCode = Self.groupDenied
                return try c.answer(r)
            }
            let denied = Self.carve(&request.topics) { !may(.read, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let served =
                request.topics.isEmpty
                ? loop.makeSucceededFuture(OffsetDeleteResponse()) : offsetDelete(request, on: loop)
            return c.answer(
                served.map {
                    var r = $0
                    r.topics += denied.map { OffsetDeleteResponse.Topic.failing($0, Self.topicDenied) }
                    return r
                })
        default:
            return nil
        }
    }
}
