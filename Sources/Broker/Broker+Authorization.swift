import KafkaProtocol
import Metadata
import NIOCore

/// Who sent a request: the principal its connection authenticated as (`User:ANONYMOUS` on a
/// PLAINTEXT or one-way TLS listener) and the address it came from.
public struct Session: Sendable, Equatable {
    public var principal: String
    public var host: String
    public init(principal: String = Session.anonymous, host: String = "") {
        self.principal = principal
        self.host = host
    }
    public static let anonymous = "User:ANONYMOUS"
}

extension Broker {
    /// Whether `session` may do `operation` on the resource (always, with no authorizer).
    func allowed(
        _ session: Session, _ operation: AclOperation, _ type: AclResourceType, _ name: String, acls: AclIndex? = nil
    ) -> Bool {
        guard let a = config.authorizer else { return true }
        return a.authorize(
            principal: session.principal, host: session.host, operation, type, name,
            acls: acls ?? registry.image.acls)
    }

    /// Kafka's authorized-operations bit set: bit n for each operation n allowed.
    func authorizedOperations(_ session: Session, _ type: AclResourceType, _ name: String, acls: AclIndex) -> Int32 {
        let ops: [AclOperation]
        switch type {
        case .topic: ops = [.read, .write, .create, .delete, .alter, .describe, .describeConfigs, .alterConfigs]
        case .group: ops = [.read, .describe, .delete]
        case .cluster:
            ops = [.create, .alter, .describe, .clusterAction, .describeConfigs, .alterConfigs, .idempotentWrite]
        default: ops = []
        }
        var bits: Int32 = 0
        for op in ops where allowed(session, op, type, name, acls: acls) { bits |= 1 << Int32(op.rawValue) }
        return bits
    }

    /// With an authorizer configured, answers a request whose resources are not all authorized
    /// (the unauthorized ones get Kafka's *_AUTHORIZATION_FAILED codes, the rest are served as
    /// usual). Nil: the request goes on unchanged.
    func authorizing(
        _ api: ApiKey, _ header: RequestHeader, body: ByteBuffer, session: Session, listener: String?,
        on loop: any EventLoop
    ) throws -> EventLoopFuture<ByteBuffer?>? {
        guard config.authorizer != nil else {
            switch api {
            case .describeAcls, .createAcls, .deleteAcls:
                return try securityDisabled(api, header.apiVersion, body, loop)
            default: return nil
            }
        }
        let v = header.apiVersion
        let acls = registry.image.acls
        @Sendable func may(_ op: AclOperation, _ type: AclResourceType, _ name: String) -> Bool {
            allowed(session, op, type, name, acls: acls)
        }
        let cluster = aclClusterResourceName
        func answer<M: KafkaMessage>(_ m: M) throws -> EventLoopFuture<ByteBuffer?> {
            loop.makeSucceededFuture(try m.encoded(version: v))
        }
        func answer<M: KafkaMessage>(_ f: EventLoopFuture<M>) -> EventLoopFuture<ByteBuffer?> {
            f.flatMapThrowing { try $0.encoded(version: v) }
        }
        let topicDenied = ErrorCode.topicAuthorizationFailed.rawValue
        let groupDenied = ErrorCode.groupAuthorizationFailed.rawValue
        let clusterDenied = ErrorCode.clusterAuthorizationFailed.rawValue
        let clusterMessage = "Cluster authorization failed."

        switch api {
        case .produce:
            var request = try ProduceRequest.decode(body, version: v)
            let txnDenied = request.transactionalId.map { !may(.write, .transactionalId, $0) } ?? false
            let denied = Self.carve(&request.topics) { txnDenied || !may(.write, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let code = txnDenied ? ErrorCode.transactionalIdAuthorizationFailed.rawValue : topicDenied
            let refused = denied.map { t in
                var r = ProduceResponse.TopicResponse()
                r.name = t.name
                r.partitions = t.partitions.map {
                    var p = ProduceResponse.PartitionResponse()
                    p.index = $0.index
                    p.errorCode = code
                    return p
                }
                return r
            }
            if request.acks == 0 {
                if !request.topics.isEmpty { _ = produce(request, version: v, fromClient: true) }
                return loop.makeSucceededFuture(nil)
            }
            return answer(
                Self.merging(
                    request.topics.isEmpty, on: loop, { produceAsync(request, version: v, on: loop, fromClient: true) }
                ) { $0.responses += refused })
        case .fetch:
            let request = try FetchRequest.decode(body, version: v)
            return answer(authorizedFetch(request, version: v, session: session, on: loop, listener: listener))
        case .listOffsets:
            var request = try ListOffsetsRequest.decode(body, version: v)
            let denied = Self.carve(&request.topics) { !may(.describe, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            var r = try listOffsets(request, version: v)
            r.topics += denied.map { t in
                var rt = ListOffsetsResponse.Topic()
                rt.name = t.name
                rt.partitions = t.partitions.map {
                    var p = ListOffsetsResponse.Partition()
                    p.partitionIndex = $0.partitionIndex
                    p.errorCode = topicDenied
                    return p
                }
                return rt
            }
            return try answer(r)
        case .offsetForLeaderEpoch:
            var request = try OffsetForLeaderEpochRequest.decode(body, version: v)
            let denied = Self.carve(&request.topics) { !may(.describe, .topic, $0.topic) }
            guard !denied.isEmpty else { return nil }
            var r = try offsetForLeaderEpoch(request)
            r.topics += denied.map { t in
                var rt = OffsetForLeaderEpochResponse.Topic()
                rt.topic = t.topic
                rt.partitions = t.partitions.map {
                    var p = OffsetForLeaderEpochResponse.Partition()
                    p.partition = $0.partition
                    p.errorCode = topicDenied
                    return p
                }
                return rt
            }
            return try answer(r)
        case .metadata:
            var request = try MetadataRequest.decode(body, version: v)
            let named = request.topics?.compactMap(\.name)
            let denied = Set((named ?? []).filter { !may(.describe, .topic, $0) })
            // A topic asked for by id alone (v10+) is checked under the name the image gives
            // it; ids are not secret, so a refusal names the id (as Kafka answers).
            let idImage = registry.image
            let deniedIds = Set(
                (request.topics ?? []).filter { t in
                    guard t.name == nil, let name = idImage.topic(id: t.topicId)?.name else { return false }
                    return !may(.describe, .topic, name)
                }.map(\.topicId))
            if request.allowAutoTopicCreation && !may(.create, .cluster, cluster) {
                let image = registry.image
                let missing = (named ?? []).filter { !denied.contains($0) && image.topics[$0] == nil }
                if !missing.allSatisfy({ may(.create, .topic, $0) }) { request.allowAutoTopicCreation = false }
            }
            if request.topics != nil {
                request.topics?.removeAll { t in
                    t.name.map(denied.contains) ?? deniedIds.contains(t.topicId)
                }
            }
            let wantsTopicOps = request.includeTopicAuthorizedOperations
            let wantsClusterOps = request.includeClusterAuthorizedOperations
            // Metadata v0 reads an empty list as every topic.
            let listAll = request.topics == nil || (v == 0 && request.topics?.isEmpty == true)
            let asked = request
            return answer(
                metadata(asked, version: v, listener: listener, on: loop).map { [self] resp in
                    var r = resp
                    if listAll { r.topics.removeAll { !may(.describe, .topic, $0.name ?? "") } }
                    for name in (named ?? []) where denied.contains(name) {
                        var t = MetadataResponse.Topic()
                        t.name = name
                        t.errorCode = topicDenied
                        r.topics.append(t)
                    }
                    for id in deniedIds {
                        var t = MetadataResponse.Topic()
                        t.topicId = id
                        t.errorCode = topicDenied
                        r.topics.append(t)
                    }
                    if wantsTopicOps {
                        for i in r.topics.indices where r.topics[i].errorCode == 0 {
                            r.topics[i].topicAuthorizedOperations = authorizedOperations(
                                session, .topic, r.topics[i].name ?? "", acls: acls)
                        }
                    }
                    if wantsClusterOps {
                        r.clusterAuthorizedOperations = authorizedOperations(session, .cluster, cluster, acls: acls)
                    }
                    return r
                })
        case .createTopics:
            var request = try CreateTopicsRequest.decode(body, version: v)
            guard !may(.create, .cluster, cluster) else { return nil }
            let denied = Self.carve(&request.topics) { !may(.create, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { t in
                var r = CreateTopicsResponse.Topic()
                r.name = t.name
                r.errorCode = topicDenied
                r.errorMessage = "Authorization failed."
                return r
            }
            return answer(
                Self.merging(request.topics.isEmpty, on: loop, { createTopics(request, version: v, on: loop) }) {
                    $0.topics += refused
                })
        case .deleteTopics:
            var request = try DeleteTopicsRequest.decode(body, version: v)
            let image = registry.image
            func name(_ t: DeleteTopicsRequest.TopicState) -> String? { t.name ?? image.topic(id: t.topicId)?.name }
            let denied = Self.carve(&request.topics) { t in name(t).map { !may(.delete, .topic, $0) } ?? false }
            guard !denied.isEmpty else { return nil }
            request.topics.removeAll { t in denied.contains(t) }
            let refused = denied.map { t in
                var r = DeleteTopicsResponse.Result()
                r.name = t.name
                r.topicId = t.topicId
                r.errorCode = topicDenied
                r.errorMessage = "Authorization failed."
                return r
            }
            return answer(
                Self.merging(request.topics.isEmpty, on: loop, { deleteTopics(request, on: loop) }) {
                    $0.responses += refused
                })
        case .createPartitions:
            var request = try CreatePartitionsRequest.decode(body, version: v)
            let denied = Self.carve(&request.topics) { !may(.alter, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { t in
                var r = CreatePartitionsResponse.Result()
                r.name = t.name
                r.errorCode = topicDenied
                r.errorMessage = "Authorization failed."
                return r
            }
            return answer(
                Self.merging(request.topics.isEmpty, on: loop, { createPartitions(request, on: loop) }) {
                    $0.results += refused
                })
        case .deleteRecords:
            var request = try DeleteRecordsRequest.decode(body, version: v)
            let denied = Self.carve(&request.topics) { !may(.delete, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            var r = request.topics.isEmpty ? DeleteRecordsResponse() : deleteRecords(request)
            r.topics += denied.map { t in
                var rt = DeleteRecordsResponse.Topic()
                rt.name = t.name
                rt.partitions = t.partitions.map {
                    var p = DeleteRecordsResponse.Partition()
                    p.partitionIndex = $0.partitionIndex
                    p.errorCode = topicDenied
                    return p
                }
                return rt
            }
            return try answer(r)
        case .initProducerId:
            let request = try InitProducerIdRequest.decode(body, version: v)
            var r = InitProducerIdResponse()
            if let txn = request.transactionalId {
                guard !may(.write, .transactionalId, txn) else { return nil }
                r.errorCode = ErrorCode.transactionalIdAuthorizationFailed.rawValue
            } else {
                // Kafka's rule for idempotent producers: IDEMPOTENT_WRITE on the cluster, or
                // WRITE on any topic.
                guard !may(.idempotentWrite, .cluster, cluster) else { return nil }
                let image = registry.image
                if image.topics.keys.contains(where: { may(.write, .topic, $0) }) { return nil }
                r.errorCode = clusterDenied
            }
            r.producerId = -1
            r.producerEpoch = -1
            return try answer(r)
        case .findCoordinator:
            let request = try FindCoordinatorRequest.decode(body, version: v)
            let type: AclResourceType = request.keyType == 1 ? .transactionalId : .group
            let code =
                type == .group ? groupDenied : ErrorCode.transactionalIdAuthorizationFailed.rawValue
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
                return try answer(r)
            }
            var r = FindCoordinatorResponse()
            r.errorCode = code
            r.errorMessage = "Authorization failed."
            return try answer(r)
        case .joinGroup:
            let request = try JoinGroupRequest.decode(body, version: v)
            guard !may(.read, .group, request.groupId) else { return nil }
            var r = JoinGroupResponse()
            r.errorCode = groupDenied
            return try answer(r)
        case .syncGroup:
            let request = try SyncGroupRequest.decode(body, version: v)
            guard !may(.read, .group, request.groupId) else { return nil }
            var r = SyncGroupResponse()
            r.errorCode = groupDenied
            return try answer(r)
        case .heartbeat:
            let request = try HeartbeatRequest.decode(body, version: v)
            guard !may(.read, .group, request.groupId) else { return nil }
            var r = HeartbeatResponse()
            r.errorCode = groupDenied
            return try answer(r)
        case .leaveGroup:
            let request = try LeaveGroupRequest.decode(body, version: v)
            guard !may(.read, .group, request.groupId) else { return nil }
            var r = LeaveGroupResponse()
            r.errorCode = groupDenied
            return try answer(r)
        case .offsetCommit:
            var request = try OffsetCommitRequest.decode(body, version: v)
            let groupOK = may(.read, .group, request.groupId)
            let denied = Self.carve(&request.topics) { !groupOK || !may(.read, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { t in
                var rt = OffsetCommitResponse.Topic()
                rt.name = t.name
                rt.partitions = t.partitions.map {
                    var p = OffsetCommitResponse.Partition()
                    p.partitionIndex = $0.partitionIndex
                    p.errorCode = groupOK ? topicDenied : groupDenied
                    return p
                }
                return rt
            }
            return answer(
                Self.merging(request.topics.isEmpty, on: loop, { offsetCommit(request, on: loop) }) {
                    $0.topics += refused
                })
        case .offsetFetch:
            var request = try OffsetFetchRequest.decode(body, version: v)
            guard may(.describe, .group, request.groupId) else {
                var r = OffsetFetchResponse()
                r.errorCode = groupDenied
                // Before v2 there is no top-level error: each asked partition carries it.
                r.topics = (request.topics ?? []).map { t in
                    var rt = OffsetFetchResponse.Topic()
                    rt.name = t.name
                    rt.partitions = t.partitionIndexes.map {
                        var p = OffsetFetchResponse.Partition()
                        p.partitionIndex = $0
                        p.errorCode = groupDenied
                        return p
                    }
                    return rt
                }
                return try answer(r)
            }
            let all = request.topics == nil
            let denied = (request.topics ?? []).filter { !may(.describe, .topic, $0.name) }
            if !all && denied.isEmpty { return nil }
            let deniedNames = Set(denied.map(\.name))
            request.topics?.removeAll { deniedNames.contains($0.name) }
            let served =
                request.topics?.isEmpty == true
                ? loop.makeSucceededFuture(OffsetFetchResponse()) : offsetFetch(request, version: v, on: loop)
            return answer(
                served.map { [self] resp in
                    var r = resp
                    if all { r.topics.removeAll { !allowed(session, .describe, .topic, $0.name, acls: acls) } }
                    r.topics += denied.map { t in
                        var rt = OffsetFetchResponse.Topic()
                        rt.name = t.name
                        rt.partitions = t.partitionIndexes.map {
                            var p = OffsetFetchResponse.Partition()
                            p.partitionIndex = $0
                            p.errorCode = topicDenied
                            return p
                        }
                        return rt
                    }
                    return r
                })
        case .listGroups:
            let request = try ListGroupsRequest.decode(body, version: v)
            guard !may(.describe, .cluster, cluster) else { return nil }
            return answer(
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
            return answer(
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
                        g.errorCode = groupDenied
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
            return answer(
                served.map {
                    var r = $0
                    r.results += denied.map {
                        var g = DeleteGroupsResponse.Result()
                        g.groupId = $0
                        g.errorCode = groupDenied
                        return g
                    }
                    return r
                })
        case .offsetDelete:
            var request = try OffsetDeleteRequest.decode(body, version: v)
            guard may(.delete, .group, request.groupId) else {
                var r = OffsetDeleteResponse()
                r.errorCode = groupDenied
                return try answer(r)
            }
            let denied = Self.carve(&request.topics) { !may(.read, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let served =
                request.topics.isEmpty
                ? loop.makeSucceededFuture(OffsetDeleteResponse()) : offsetDelete(request, on: loop)
            return answer(
                served.map {
                    var r = $0
                    r.topics += denied.map { t in
                        var rt = OffsetDeleteResponse.Topic()
                        rt.name = t.name
                        rt.partitions = t.partitionIndexes.map {
                            var p = OffsetDeleteResponse.Partition()
                            p.partitionIndex = $0
                            p.errorCode = topicDenied
                            return p
                        }
                        return rt
                    }
                    return r
                })
        case .describeConfigs:
            var request = try DescribeConfigsRequest.decode(body, version: v)
            func ok(_ r: DescribeConfigsRequest.Resource) -> Bool {
                r.resourceType == 2
                    ? may(.describeConfigs, .topic, r.resourceName) : may(.describeConfigs, .cluster, cluster)
            }
            let denied = Self.carve(&request.resources) { !ok($0) }
            guard !denied.isEmpty else { return nil }
            var r = request.resources.isEmpty ? DescribeConfigsResponse() : describeConfigs(request, version: v)
            r.results += denied.map {
                var d = DescribeConfigsResponse.Result()
                d.resourceType = $0.resourceType
                d.resourceName = $0.resourceName
                d.errorCode = $0.resourceType == 2 ? topicDenied : clusterDenied
                d.errorMessage = "Authorization failed."
                return d
            }
            return try answer(r)
        case .incrementalAlterConfigs:
            var request = try IncrementalAlterConfigsRequest.decode(body, version: v)
            func ok(_ r: IncrementalAlterConfigsRequest.Resource) -> Bool {
                r.resourceType == 2
                    ? may(.alterConfigs, .topic, r.resourceName) : may(.alterConfigs, .cluster, cluster)
            }
            let denied = Self.carve(&request.resources) { !ok($0) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { Self.configRefusal($0.resourceType, $0.resourceName) }
            return answer(
                Self.merging(request.resources.isEmpty, on: loop, { incrementalAlterConfigs(request, on: loop) }) {
                    $0.responses += refused
                })
        case .alterConfigs:
            var request = try AlterConfigsRequest.decode(body, version: v)
            func ok(_ r: AlterConfigsRequest.Resource) -> Bool {
                r.resourceType == 2
                    ? may(.alterConfigs, .topic, r.resourceName) : may(.alterConfigs, .cluster, cluster)
            }
            let denied = Self.carve(&request.resources) { !ok($0) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { Self.configRefusal($0.resourceType, $0.resourceName) }
            return answer(
                Self.merging(request.resources.isEmpty, on: loop, { alterConfigs(request, on: loop) }) {
                    $0.responses += refused
                })
        case .describeCluster:
            let request = try DescribeClusterRequest.decode(body, version: v)
            var r = describeCluster(listener: listener)
            if !may(.describe, .cluster, cluster) {
                r = DescribeClusterResponse()
                r.errorCode = clusterDenied
                r.errorMessage = clusterMessage
            } else if request.includeClusterAuthorizedOperations {
                r.clusterAuthorizedOperations = authorizedOperations(session, .cluster, cluster, acls: acls)
            }
            return try answer(r)
        case .describeQuorum:
            guard !may(.describe, .cluster, cluster) else { return nil }
            // Decoded only so that a malformed request is refused as such, before the answer.
            _ = try DescribeQuorumRequest.decode(body, version: v)
            var r = DescribeQuorumResponse()
            r.errorCode = clusterDenied
            return try answer(r)
        case .describeUserScramCredentials:
            guard !may(.describe, .cluster, cluster) else { return nil }
            // Decoded only so that a malformed request is refused as such, before the answer.
            _ = try DescribeUserScramCredentialsRequest.decode(body, version: v)
            var r = DescribeUserScramCredentialsResponse()
            r.errorCode = clusterDenied
            r.errorMessage = clusterMessage
            return try answer(r)
        case .alterUserScramCredentials:
            let request = try AlterUserScramCredentialsRequest.decode(body, version: v)
            guard !may(.alter, .cluster, cluster) else { return nil }
            var r = AlterUserScramCredentialsResponse()
            r.results = (request.deletions.map(\.name) + request.upsertions.map(\.name)).map {
                var u = AlterUserScramCredentialsResponse.Result()
                u.user = $0
                u.errorCode = clusterDenied
                u.errorMessage = clusterMessage
                return u
            }
            return try answer(r)
        case .describeAcls:
            let request = try DescribeAclsRequest.decode(body, version: v)
            guard may(.describe, .cluster, cluster) else {
                var r = DescribeAclsResponse()
                r.errorCode = clusterDenied
                r.errorMessage = clusterMessage
                return try answer(r)
            }
            return try answer(describeAcls(request, acls: acls))
        case .createAcls:
            let request = try CreateAclsRequest.decode(body, version: v)
            let n = request.creations.count
            guard may(.alter, .cluster, cluster) else {
                return try answer(CreateAclsResponse.failing(n, .clusterAuthorizationFailed, clusterMessage))
            }
            guard let gateway = gateway.withLockedValue({ $0 }) else {
                return try answer(CreateAclsResponse.failing(n, .notController, nil))
            }
            return answer(gateway.createAcls(request).hop(to: loop))
        case .deleteAcls:
            let request = try DeleteAclsRequest.decode(body, version: v)
            let n = request.filters.count
            guard may(.alter, .cluster, cluster) else {
                return try answer(DeleteAclsResponse.failing(n, .clusterAuthorizationFailed, clusterMessage))
            }
            guard let gateway = gateway.withLockedValue({ $0 }) else {
                return try answer(DeleteAclsResponse.failing(n, .notController, nil))
            }
            return answer(gateway.deleteAcls(request).hop(to: loop))
        default:
            return nil
        }
    }

    /// Fetch with each topic the session may not read (or, for a follower, every topic without
    /// CLUSTER_ACTION) answered TOPIC_AUTHORIZATION_FAILED.
    func authorizedFetch(
        _ request: FetchRequest, version v: Int16, session: Session, on loop: any EventLoop, listener: String?
    ) -> EventLoopFuture<FetchResponse> {
        guard config.authorizer != nil else { return fetch(request, version: v, on: loop, listener: listener) }
        let acls = registry.image.acls
        let replica = request.replicaId >= 0
        let clusterAction = replica && allowed(session, .clusterAction, .cluster, aclClusterResourceName, acls: acls)
        let denied = request.topics.filter {
            replica ? !clusterAction : !allowed(session, .read, .topic, $0.topic, acls: acls)
        }
        guard !denied.isEmpty else { return fetch(request, version: v, on: loop, listener: listener) }
        let refused = denied.map { t in
            var r = FetchResponse.Topic()
            r.topic = t.topic
            r.partitions = t.partitions.map {
                var p = FetchResponse.Partition()
                p.partitionIndex = $0.partition
                p.errorCode = ErrorCode.topicAuthorizationFailed.rawValue
                return p
            }
            return r
        }
        var request = request
        let served =
            request.topics.isEmpty
            ? loop.makeSucceededFuture(FetchResponse())
            : fetch(request, version: v, on: loop, listener: listener)
        return served.map {
            var r = $0
            r.responses += refused
            return r
        }
    }

    /// Takes out of `items` (and returns, in order) those `denied` picks.
    static func carve<T>(_ items: inout [T], _ denied: (T) -> Bool) -> [T] {
        let out = items.filter(denied)
        items.removeAll(where: denied)
        return out
    }

    /// The usual handler's answer for what is left of a request (an empty answer when nothing
    /// is), with the refusals added by `add`.
    static func merging<R: KafkaMessage>(
        _ nothingLeft: Bool, on loop: any EventLoop, _ serve: () -> EventLoopFuture<R>,
        add: @escaping @Sendable (inout R) -> Void
    ) -> EventLoopFuture<R> {
        (nothingLeft ? loop.makeSucceededFuture(R()) : serve()).map {
            var r = $0
            add(&r)
            return r
        }
    }

    static func configRefusal(_ type: Int8, _ name: String) -> AlterConfigsResult {
        var d = AlterConfigsResult()
        d.resourceType = type
        d.resourceName = name
        d.errorCode =
            type == 2 ? ErrorCode.topicAuthorizationFailed.rawValue : ErrorCode.clusterAuthorizationFailed.rawValue
        d.errorMessage = "Authorization failed."
        return d
    }

    /// The ACL APIs on a cluster with no authorizer: SECURITY_DISABLED, as Kafka answers.
    private func securityDisabled(_ api: ApiKey, _ v: Int16, _ body: ByteBuffer, _ loop: any EventLoop) throws
        -> EventLoopFuture<ByteBuffer?>
    {
        let code = ErrorCode.securityDisabled.rawValue
        let message = "No authorizer is configured on the broker (authorizer.class.name)"
        switch api {
        case .describeAcls:
            _ = try DescribeAclsRequest.decode(body, version: v)
            var r = DescribeAclsResponse()
            r.errorCode = code
            r.errorMessage = message
            return loop.makeSucceededFuture(try r.encoded(version: v))
        case .createAcls:
            let request = try CreateAclsRequest.decode(body, version: v)
            return loop.makeSucceededFuture(
                try CreateAclsResponse.failing(request.creations.count, .securityDisabled, message).encoded(version: v))
        default:
            let request = try DeleteAclsRequest.decode(body, version: v)
            return loop.makeSucceededFuture(
                try DeleteAclsResponse.failing(request.filters.count, .securityDisabled, message).encoded(version: v))
        }
    }

    /// DescribeAcls from this broker's image, grouped by resource pattern as Kafka answers.
    func describeAcls(_ request: DescribeAclsRequest, acls: AclIndex) -> DescribeAclsResponse {
        var r = DescribeAclsResponse()
        if let why = request.filter.invalidReason {
            r.errorCode = ErrorCode.invalidRequest.rawValue
            r.errorMessage = why
            return r
        }
        var groups: [AclEntry: [DescribeAclsResponse.Acl]] = [:]
        for acl in acls.candidates(for: request.filter) where request.filter.matches(acl) {
            var key = AclEntry()
            key.resourceType = acl.resourceType
            key.resourceName = acl.resourceName
            key.patternType = acl.patternType
            var a = DescribeAclsResponse.Acl()
            a.principal = acl.principal
            a.host = acl.host
            a.operation = acl.operation
            a.permissionType = acl.permissionType
            groups[key, default: []].append(a)
        }
        r.resources = groups.sorted { $0.key.kafkaPatternDescription < $1.key.kafkaPatternDescription }.map {
            var res = DescribeAclsResponse.Resource()
            res.resourceType = $0.key.resourceType
            res.resourceName = $0.key.resourceName
            res.patternType = $0.key.patternType
            res.acls = $0.value.sorted { ($0.principal, $0.operation, $0.host) < ($1.principal, $1.operation, $1.host) }
            return res
        }
        return r
    }
}

extension Broker {
    /// Whether `session` speaks for a node of this cluster: CLUSTER_ACTION on the cluster (super
    /// users have it), or no authorizer at all. Before this node has read the ACLs from the
    /// metadata log, only super users pass, so the nodes' own principals belong in super.users.
    public func actsForCluster(_ session: Session) -> Bool {
        allowed(session, .clusterAction, .cluster, aclClusterResourceName)
    }

    /// Whether `session` may read the cluster's state (DescribeQuorum and the like).
    public func mayDescribeCluster(_ session: Session) -> Bool {
        actsForCluster(session) || allowed(session, .describe, .cluster, aclClusterResourceName)
    }
}
