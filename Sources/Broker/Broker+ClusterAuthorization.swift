import KafkaProtocol
import Metadata
import NIOCore

extension Broker {
    /// `authorizing` for the configuration, cluster, quorum, SCRAM credential and ACL APIs.
    func authorizingCluster(_ c: ApiCall, acls: AclIndex) throws -> EventLoopFuture<ByteBuffer?>? {
        let (api, v, body, session, listener, loop) = (c.api, c.version, c.body, c.session, c.listener, c.loop)
        let (may, cluster) = (mayFor(c.session, acls), aclClusterResourceName)
        let clusterMessage = "Cluster authorization failed."
        // A config resource is a topic (type 2) or, for the broker types, the cluster.
        func mayConfig(_ op: AclOperation, _ type: Int8, _ name: String) -> Bool {
            type == 2 ? may(op, .topic, name) : may(op, .cluster, cluster)
        }

        switch api {
        case .describeConfigs:
            var request = try DescribeConfigsRequest.decode(body, version: v)
            let denied = Self.carve(&request.resources) {
                !mayConfig(.describeConfigs, $0.resourceType, $0.resourceName)
            }
            guard !denied.isEmpty else { return nil }
            var r = request.resources.isEmpty ? DescribeConfigsResponse() : describeConfigs(request, version: v)
            r.results += denied.map {
                var d = DescribeConfigsResponse.Result()
                d.resourceType = $0.resourceType
                d.resourceName = $0.resourceName
                d.errorCode = $0.resourceType == 2 ? Self.topicDenied : Self.clusterDenied
                d.errorMessage = "Authorization failed."
                return d
            }
            return try c.answer(r)
        case .incrementalAlterConfigs:
            var request = try IncrementalAlterConfigsRequest.decode(body, version: v)
            let denied = Self.carve(&request.resources) { !mayConfig(.alterConfigs, $0.resourceType, $0.resourceName) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { Self.configRefusal($0.resourceType, $0.resourceName) }
            return c.answer(
                Self.merging(request.resources.isEmpty, on: loop, { incrementalAlterConfigs(request, on: loop) }) {
                    $0.responses += refused
                })
        case .alterConfigs:
            var request = try AlterConfigsRequest.decode(body, version: v)
            let denied = Self.carve(&request.resources) { !mayConfig(.alterConfigs, $0.resourceType, $0.resourceName) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { Self.configRefusal($0.resourceType, $0.resourceName) }
            return c.answer(
                Self.merging(request.resources.isEmpty, on: loop, { alterConfigs(request, on: loop) }) {
                    $0.responses += refused
                })
        case .describeCluster:
            let request = try DescribeClusterRequest.decode(body, version: v)
            var r = describeCluster(listener: listener)
            if !may(.describe, .cluster, cluster) {
                r = DescribeClusterResponse()
                r.errorCode = Self.clusterDenied
                r.errorMessage = clusterMessage
            } else if request.includeClusterAuthorizedOperations {
                r.clusterAuthorizedOperations = authorizedOperations(session, .cluster, cluster, acls: acls)
            }
            return try c.answer(r)
        case .describeLogDirs:
            guard !may(.describe, .cluster, cluster) else { return nil }
            var r = DescribeLogDirsResponse()
            r.errorCode = Self.clusterDenied
            return try c.answer(r)
        case .electLeaders:
            guard !may(.alter, .cluster, cluster) else { return nil }
            return try c.answer(
                ElectLeadersResponse.refusing(
                    try ElectLeadersRequest.decode(body, version: v), .clusterAuthorizationFailed, clusterMessage))
        case .alterPartitionReassignments:
            let request = try AlterPartitionReassignmentsRequest.decode(body, version: v)
            guard !may(.alter, .cluster, cluster) else { return nil }
            return try c.answer(
                AlterPartitionReassignmentsResponse.refusing(request, .clusterAuthorizationFailed, clusterMessage))
        case .unregisterBroker:
            _ = try UnregisterBrokerRequest.decode(body, version: v)
            guard !may(.alter, .cluster, cluster) else { return nil }
            return try c.answer(UnregisterBrokerResponse(.clusterAuthorizationFailed, clusterMessage))
        case .addRaftVoter:
            _ = try AddRaftVoterRequest.decode(body, version: v)
            guard !may(.alter, .cluster, cluster) else { return nil }
            return try c.answer(AddRaftVoterResponse(.clusterAuthorizationFailed, clusterMessage))
        case .removeRaftVoter:
            _ = try RemoveRaftVoterRequest.decode(body, version: v)
            guard !may(.alter, .cluster, cluster) else { return nil }
            return try c.answer(RemoveRaftVoterResponse(.clusterAuthorizationFailed, clusterMessage))
        case .listPartitionReassignments:
            _ = try ListPartitionReassignmentsRequest.decode(body, version: v)
            guard !may(.describe, .cluster, cluster) else { return nil }
            var r = ListPartitionReassignmentsResponse()
            r.errorCode = Self.clusterDenied
            r.errorMessage = clusterMessage
            return try c.answer(r)
        case .describeQuorum:
            guard !may(.describe, .cluster, cluster) else { return nil }
            // Decoded only so that a malformed request is refused as such, before the answer.
            _ = try DescribeQuorumRequest.decode(body, version: v)
            var r = DescribeQuorumResponse()
            r.errorCode = Self.clusterDenied
            return try c.answer(r)
        case .describeUserScramCredentials:
            guard !may(.describe, .cluster, cluster) else { return nil }
            // Decoded only so that a malformed request is refused as such, before the answer.
            _ = try DescribeUserScramCredentialsRequest.decode(body, version: v)
            var r = DescribeUserScramCredentialsResponse()
            r.errorCode = Self.clusterDenied
            r.errorMessage = clusterMessage
            return try c.answer(r)
        case .alterUserScramCredentials:
            let request = try AlterUserScramCredentialsRequest.decode(body, version: v)
            guard !may(.alter, .cluster, cluster) else { return nil }
            var r = AlterUserScramCredentialsResponse()
            r.results = (request.deletions.map(\.name) + request.upsertions.map(\.name)).map {
                var u = AlterUserScramCredentialsResponse.Result()
                u.user = $0
                u.errorCode = Self.clusterDenied
                u.errorMessage = clusterMessage
                return u
            }
            return try c.answer(r)
        case .describeAcls:
            let request = try DescribeAclsRequest.decode(body, version: v)
            guard may(.describe, .cluster, cluster) else {
                var r = DescribeAclsResponse()
                r.errorCode = Self.clusterDenied
                r.errorMessage = clusterMessage
                return try c.answer(r)
            }
            return try c.answer(describeAcls(request, acls: acls))
        case .createAcls:
            let request = try CreateAclsRequest.decode(body, version: v)
            let n = request.creations.count
            guard may(.alter, .cluster, cluster) else {
                return try c.answer(CreateAclsResponse.failing(n, .clusterAuthorizationFailed, clusterMessage))
            }
            guard let gateway = gateway.withLockedValue({ $0 }) else {
                return try c.answer(CreateAclsResponse.failing(n, .notController, nil))
            }
            return c.answer(gateway.createAcls(request).hop(to: loop))
        case .deleteAcls:
            let request = try DeleteAclsRequest.decode(body, version: v)
            let n = request.filters.count
            guard may(.alter, .cluster, cluster) else {
                return try c.answer(DeleteAclsResponse.failing(n, .clusterAuthorizationFailed, clusterMessage))
            }
            guard let gateway = gateway.withLockedValue({ $0 }) else {
                return try c.answer(DeleteAclsResponse.failing(n, .notController, nil))
            }
            return c.answer(gateway.deleteAcls(request).hop(to: loop))
        default:
            return nil
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
}
