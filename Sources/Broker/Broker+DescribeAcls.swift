import KafkaProtocol
import Metadata

extension Broker {
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
