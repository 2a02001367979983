import KafkaProtocol
import Metadata

extension Broker {
    /// DescribeUserScramCredentials from this broker's image: each user's mechanisms and
    /// iterations (RESOURCE_NOT_FOUND for a named user without any, DUPLICATE_RESOURCE for a
    /// user named twice).
    func describeUserScramCredentials(_ request: DescribeUserScramCredentialsRequest)
        -> DescribeUserScramCredentialsResponse
    {
        let all = registry.image.scramCredentials
        var r = DescribeUserScramCredentialsResponse()
        let names = request.users.map { $0.map(\.name) } ?? []
        let asked = names.isEmpty ? all.keys.sorted() : names
        var counts: [String: Int] = [:]
        for n in names { counts[n, default: 0] += 1 }
        var reported = Set<String>()
        for name in asked where reported.insert(name).inserted {
            var result = DescribeUserScramCredentialsResponse.Result()
            result.user = name
            if counts[name, default: 0] > 1 {
                result.errorCode = ErrorCode.duplicateResource.rawValue
                result.errorMessage =
                    "Cannot describe SCRAM credentials for the same user twice in a single request: \(name)"
            } else if let entries = all[name], !entries.isEmpty {
                result.credentialInfos = entries.sorted { $0.key < $1.key }.map {
                    var c = DescribeUserScramCredentialsResponse.CredentialInfo()
                    c.mechanism = $0.key
                    c.iterations = $0.value.iterations
                    return c
                }
            } else {
                result.errorCode = ErrorCode.resourceNotFound.rawValue
                result.errorMessage = "Attempt to describe a user credential that does not exist: \(name)"
            }
            r.results.append(result)
        }
        return r
    }
}
