/// The Kafka APIs Tern knows, with the version facts from Kafka's message specs:
/// the range Tern implements and the first flexible version.
public enum ApiKey: Int16, CaseIterable, Sendable {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case describeGroups = 15
    case listGroups = 16
    case saslHandshake = 17
    case apiVersions = 18
    case createTopics = 19
    case deleteTopics = 20
    case deleteRecords = 21
    case initProducerId = 22
    case offsetForLeaderEpoch = 23
    case describeAcls = 29
    case createAcls = 30
    case deleteAcls = 31
    case describeConfigs = 32
    case alterConfigs = 33
    case saslAuthenticate = 36
    case createPartitions = 37
    case deleteGroups = 42
    case incrementalAlterConfigs = 44
    case offsetDelete = 47
    case describeUserScramCredentials = 50
    case alterUserScramCredentials = 51
    case vote = 52
    case beginQuorumEpoch = 53
    case endQuorumEpoch = 54
    case describeQuorum = 55
    case alterPartition = 56
    case fetchSnapshot = 59
    case describeCluster = 60
    case brokerRegistration = 62
    case brokerHeartbeat = 63

    /// Versions Tern encodes and decodes, advertised in ApiVersions. They follow a Kafka 2.8/3.x
    /// release closely enough that clients which infer the broker version from the set
    /// (kafka-python) pick modern request versions. Produce starts at 0 as Kafka's does:
    /// librdkafka disables compression when it does not (v0-v2 are answered with an error).
    public var supported: ClosedRange<Int16> {
        switch self {
        case .produce: return 0...9
        case .fetch: return 0...12
        case .listOffsets: return 0...6
        case .metadata: return 0...12
        case .findCoordinator: return 0...4
        case .offsetCommit: return 0...8
        case .offsetFetch: return 0...7
        case .joinGroup: return 0...9
        case .heartbeat: return 0...4
        case .leaveGroup: return 0...5
        case .syncGroup: return 0...5
        case .describeGroups: return 0...5
        case .listGroups: return 0...4
        case .saslHandshake: return 0...1
        case .saslAuthenticate: return 0...2
        case .deleteGroups: return 0...2
        case .offsetDelete: return 0...0
        case .describeUserScramCredentials, .alterUserScramCredentials: return 0...0
        case .describeAcls, .createAcls, .deleteAcls: return 0...3
        case .apiVersions: return 0...3
        case .createTopics: return 0...7
        case .deleteTopics: return 0...6
        case .deleteRecords: return 0...2
        case .initProducerId: return 0...4
        case .offsetForLeaderEpoch: return 0...4
        case .describeConfigs: return 0...4
        case .alterConfigs: return 0...2
        case .incrementalAlterConfigs: return 0...1
        case .createPartitions: return 0...3
        case .vote: return 0...2
        case .beginQuorumEpoch: return 0...1
        case .endQuorumEpoch: return 0...0
        case .describeQuorum: return 0...1
        case .alterPartition: return 0...1
        case .fetchSnapshot: return 0...0
        case .describeCluster: return 0...1
        case .brokerRegistration: return 0...1
        case .brokerHeartbeat: return 0...0
        }
    }

    /// The first version that uses compact types and tagged fields.
    public var firstFlexibleVersion: Int16 {
        switch self {
        case .produce: return 9
        case .fetch: return 12
        case .listOffsets: return 6
        case .metadata: return 9
        case .findCoordinator: return 3
        case .offsetCommit: return 8
        case .offsetFetch: return 6
        case .joinGroup: return 6
        case .heartbeat: return 4
        case .leaveGroup: return 4
        case .syncGroup: return 4
        case .describeGroups: return 5
        case .listGroups: return 3
        case .saslHandshake: return Int16.max
        case .saslAuthenticate: return 2
        case .deleteGroups: return 2
        case .offsetDelete: return Int16.max
        case .describeUserScramCredentials, .alterUserScramCredentials: return 0
        case .describeAcls, .createAcls, .deleteAcls: return 2
        case .apiVersions: return 3
        case .createTopics: return 5
        case .deleteTopics: return 4
        case .deleteRecords: return 2
        case .initProducerId: return 2
        case .offsetForLeaderEpoch: return 4
        case .describeConfigs: return 4
        case .alterConfigs: return 2
        case .incrementalAlterConfigs: return 1
        case .createPartitions: return 2
        case .vote: return 0
        case .beginQuorumEpoch: return 1
        case .endQuorumEpoch: return 1
        case .describeQuorum: return 0
        case .alterPartition: return 0
        case .fetchSnapshot: return 0
        case .describeCluster: return 0
        case .brokerRegistration: return 0
        case .brokerHeartbeat: return 0
        }
    }

    public func isFlexible(_ version: Int16) -> Bool { version >= firstFlexibleVersion }

    /// APIs a client listener serves and advertises. The quorum RPCs belong to the CONTROLLER
    /// listener, as in Kafka.
    public static let clientListener: [ApiKey] = allCases.filter { !controllerOnly.contains($0) }
    public static let controllerOnly: Set<ApiKey> = [
        .vote, .beginQuorumEpoch, .endQuorumEpoch, .brokerRegistration, .brokerHeartbeat, .alterPartition,
        .fetchSnapshot,
    ]

    /// Request header v2 for flexible versions, v1 otherwise.
    public func requestHeaderVersion(_ version: Int16) -> Int16 { isFlexible(version) ? 2 : 1 }

    /// Response header v1 for flexible versions, v0 otherwise. ApiVersions always answers with
    /// header v0, so a client that does not yet know our versions can read the answer.
    public func responseHeaderVersion(_ version: Int16) -> Int16 {
        self == .apiVersions ? 0 : (isFlexible(version) ? 1 : 0)
    }
}

extension ApiKey: CustomStringConvertible {
    public var description: String {
        switch self {
        case .produce: return "Produce"
        case .fetch: return "Fetch"
        case .listOffsets: return "ListOffsets"
        case .metadata: return "Metadata"
        case .findCoordinator: return "FindCoordinator"
        case .offsetCommit: return "OffsetCommit"
        case .offsetFetch: return "OffsetFetch"
        case .joinGroup: return "JoinGroup"
        case .heartbeat: return "Heartbeat"
        case .leaveGroup: return "LeaveGroup"
        case .syncGroup: return "SyncGroup"
        case .describeGroups: return "DescribeGroups"
        case .listGroups: return "ListGroups"
        case .saslHandshake: return "SaslHandshake"
        case .saslAuthenticate: return "SaslAuthenticate"
        case .deleteGroups: return "DeleteGroups"
        case .offsetDelete: return "OffsetDelete"
        case .describeUserScramCredentials: return "DescribeUserScramCredentials"
        case .alterUserScramCredentials: return "AlterUserScramCredentials"
        case .apiVersions: return "ApiVersions"
        case .createTopics: return "CreateTopics"
        case .deleteTopics: return "DeleteTopics"
        case .deleteRecords: return "DeleteRecords"
        case .initProducerId: return "InitProducerId"
        case .offsetForLeaderEpoch: return "OffsetForLeaderEpoch"
        case .describeAcls: return "DescribeAcls"
        case .createAcls: return "CreateAcls"
        case .deleteAcls: return "DeleteAcls"
        case .describeConfigs: return "DescribeConfigs"
        case .alterConfigs: return "AlterConfigs"
        case .incrementalAlterConfigs: return "IncrementalAlterConfigs"
        case .createPartitions: return "CreatePartitions"
        case .vote: return "Vote"
        case .beginQuorumEpoch: return "BeginQuorumEpoch"
        case .endQuorumEpoch: return "EndQuorumEpoch"
        case .describeQuorum: return "DescribeQuorum"
        case .alterPartition: return "AlterPartition"
        case .fetchSnapshot: return "FetchSnapshot"
        case .describeCluster: return "DescribeCluster"
        case .brokerRegistration: return "BrokerRegistration"
        case .brokerHeartbeat: return "BrokerHeartbeat"
        }
    }
}
