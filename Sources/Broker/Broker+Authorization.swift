import KafkaProtocol
import Metadata
import NIOCore

/// Who sent a request: the principal its connection authenticated as (`User:ANONYMOUS` on a
/// PLAINTEXT or one-way TLS listener) and the address it came from.
public struct Session: Sendable, Equatable {
    public var principal: String
    public var host: String
    /// The connection's number in this process (0: none), which owns its fetch sessions.
    public var connection: UInt64
    public init(principal: String = Session.anonymous, host: String = "", connection: UInt64 = 0) {
        self.principal = principal
        self.host = host
        self.connection = connection
    }
    public static let anonymous = "User:ANONYMOUS"
}

extension Broker {
    /// Whether `session` may do `operation` on the resource (always, with no authorizer). A
    /// refusal counts in the metrics unless `counted` is false (a question, not a request).
    func allowed(
        _ session: Session, _ operation: AclOperation, _ type: AclResourceType, _ name: String, acls: AclIndex? = nil,
        counted: Bool = true
    ) -> Bool {
        guard let a = config.authorizer else { return true }
        let ok = a.authorize(
            principal: session.principal, host: session.host, operation, type, name,
            acls: acls ?? registry.image.acls)
        if !ok && counted { metrics.authorizationDenied() }
        return ok
    }

    /// The operations Kafka reports for a resource type in authorized-operations bit sets.
    static func operations(_ type: AclResourceType) -> [AclOperation] {
        switch type {
        case .topic: return [.read, .write, .create, .delete, .alter, .describe, .describeConfigs, .alterConfigs]
        case .group: return [.read, .describe, .delete]
        case .cluster:
            return [.create, .alter, .describe, .clusterAction, .describeConfigs, .alterConfigs, .idempotentWrite]
        default: return []
        }
    }

    /// Kafka's authorized-operations bit set: bit n for each operation n allowed.
    func authorizedOperations(_ session: Session, _ type: AclResourceType, _ name: String, acls: AclIndex) -> Int32 {
        var bits: Int32 = 0
        for op in Self.operations(type) where allowed(session, op, type, name, acls: acls, counted: false) {
            bits |= 1 << Int32(op.rawValue)
        }
        return bits
    }

    /// Every operation of `type`: what a broker without an authorizer reports, as Kafka does,
    /// when a request asks for authorized operations.
    static func allOperations(_ type: AclResourceType) -> Int32 {
        operations(type).reduce(0) { $0 | 1 << Int32($1.rawValue) }
    }

    /// With an authorizer configured, answers a request whose resources are not all authorized
    /// (the unauthorized ones get Kafka's *_AUTHORIZATION_FAILED codes, the rest are served as
    /// usual). Nil: the request goes on unchanged.
    func authorizing(_ c: ApiCall) throws -> EventLoopFuture<ByteBuffer?>? {
        guard config.authorizer != nil else { return nil }
        let acls = registry.image.acls
        switch c.api {
        case .produce, .fetch, .listOffsets, .offsetForLeaderEpoch, .initProducerId:
            return try authorizingProduceFetch(c, acls: acls)
        case .metadata, .createTopics, .deleteTopics, .createPartitions, .deleteRecords, .describeTopicPartitions:
            return try authorizingTopics(c, acls: acls)
        case .findCoordinator, .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit, .offsetFetch,
            .listGroups, .describeGroups, .deleteGroups, .offsetDelete:
            return try authorizingGroups(c, acls: acls)
        case .describeConfigs, .incrementalAlterConfigs, .alterConfigs, .describeCluster, .describeQuorum,
            .electLeaders, .describeLogDirs, .alterPartitionReassignments, .listPartitionReassignments,
            .unregisterBroker, .addRaftVoter, .removeRaftVoter,
            .describeUserScramCredentials, .alterUserScramCredentials, .describeAcls, .createAcls, .deleteAcls:
            return try authorizingCluster(c, acls: acls)
        default:
            return nil
        }
    }

    static let topicDenied = ErrorCode.topicAuthorizationFailed.rawValue
    static let clusterDenied = ErrorCode.clusterAuthorizationFailed.rawValue
    static let groupDenied = ErrorCode.groupAuthorizationFailed.rawValue

    /// Whether `session` may do `op` on a resource, by `acls`.
    func mayFor(_ session: Session, _ acls: AclIndex) -> @Sendable (AclOperation, AclResourceType, String) -> Bool {
        { [self] op, type, name in allowed(session, op, type, name, acls: acls) }
    }

    /// The ACL APIs on a cluster with no authorizer: SECURITY_DISABLED, as Kafka answers.
    func securityDisabled(_ c: ApiCall) throws -> EventLoopFuture<ByteBuffer?> {
        let message = "No authorizer is configured on the broker (authorizer.class.name)"
        switch c.api {
        case .describeAcls:
            _ = try c.decode(DescribeAclsRequest.self)
            var r = DescribeAclsResponse()
            r.errorCode = ErrorCode.securityDisabled.rawValue
            r.errorMessage = message
            return try c.answer(r)
        case .createAcls:
            return try c.answer(
                CreateAclsResponse.failing(c.decode(CreateAclsRequest.self).creations.count, .securityDisabled, message)
            )
        default:
            return try c.answer(
                DeleteAclsResponse.failing(c.decode(DeleteAclsRequest.self).filters.count, .securityDisabled, message))
        }
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
