/// The Kafka APIs Tern knows. What Tern knows about each (versions, flexible versions, the
/// listeners that serve it, its request type) is one row of `ApiKey.table`.
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
    case addPartitionsToTxn = 24
    case addOffsetsToTxn = 25
    case endTxn = 26
    case writeTxnMarkers = 27
    case txnOffsetCommit = 28
    case describeAcls = 29
    case createAcls = 30
    case deleteAcls = 31
    case describeConfigs = 32
    case alterConfigs = 33
    case describeLogDirs = 35
    case saslAuthenticate = 36
    case createPartitions = 37
    case deleteGroups = 42
    case electLeaders = 43
    case incrementalAlterConfigs = 44
    case alterPartitionReassignments = 45
    case listPartitionReassignments = 46
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
    case describeProducers = 61
    case brokerRegistration = 62
    case brokerHeartbeat = 63
    case unregisterBroker = 64
    case describeTransactions = 65
    case listTransactions = 66
    case describeTopicPartitions = 75
    case addRaftVoter = 80
    case removeRaftVoter = 81
}

/// One API as Tern implements it.
public struct ApiSpec: Sendable {
    /// The listeners that serve an API.
    public struct Listeners: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// The client listeners (PLAINTEXT, SSL, SASL_*): clients and other brokers.
        public static let client = Listeners(rawValue: 1)
        /// The CONTROLLER listener: the quorum's RPCs, the brokers' registrations and heartbeats,
        /// and the admin requests other nodes forward to the active controller.
        public static let controller = Listeners(rawValue: 2)
    }

    public let key: ApiKey
    /// Kafka's name of the API, as logs, metrics and tools print it.
    public let name: String
    /// Versions Tern encodes and decodes, advertised in ApiVersions.
    public let versions: ClosedRange<Int16>
    /// The first version that uses compact types and tagged fields (Int16.max: none).
    public let firstFlexibleVersion: Int16
    public let listeners: Listeners
    /// The request's message type: what the decoder reads a body of this API as.
    public let request: any KafkaMessage.Type

    init(
        _ key: ApiKey, _ name: String, _ versions: ClosedRange<Int16>, flexibleFrom: Int16?, on listeners: Listeners,
        _ request: any KafkaMessage.Type
    ) {
        self.key = key
        self.name = name
        self.versions = versions
        self.firstFlexibleVersion = flexibleFrom ?? .max
        self.listeners = listeners
        self.request = request
    }
}

extension ApiKey {
    /// Every API Tern knows, in the order ApiVersions lists them. The versions follow a Kafka
    /// 2.8/3.x release closely enough that clients which infer the broker version from the set
    /// (kafka-python) pick modern request versions. Produce starts at 0 as Kafka's does:
    /// librdkafka disables compression when it does not (v0-v2 message sets of magic 0/1 are
    /// converted to v2 batches, as Kafka 3.x converts them). The
    /// quorum RPCs belong to the CONTROLLER listener only, as in Kafka.
    public static let table: [ApiSpec] = [
        .init(.produce, "Produce", 0...10, flexibleFrom: 9, on: [.client], ProduceRequest.self),
        .init(.fetch, "Fetch", 0...12, flexibleFrom: 12, on: [.client, .controller], FetchRequest.self),
        .init(.listOffsets, "ListOffsets", 0...9, flexibleFrom: 6, on: [.client], ListOffsetsRequest.self),
        .init(.metadata, "Metadata", 0...12, flexibleFrom: 9, on: [.client], MetadataRequest.self),
        .init(.offsetCommit, "OffsetCommit", 0...8, flexibleFrom: 8, on: [.client], OffsetCommitRequest.self),
        .init(.offsetFetch, "OffsetFetch", 0...7, flexibleFrom: 6, on: [.client], OffsetFetchRequest.self),
        .init(.findCoordinator, "FindCoordinator", 0...4, flexibleFrom: 3, on: [.client], FindCoordinatorRequest.self),
        .init(.joinGroup, "JoinGroup", 0...9, flexibleFrom: 6, on: [.client], JoinGroupRequest.self),
        .init(.heartbeat, "Heartbeat", 0...4, flexibleFrom: 4, on: [.client], HeartbeatRequest.self),
        .init(.leaveGroup, "LeaveGroup", 0...5, flexibleFrom: 4, on: [.client], LeaveGroupRequest.self),
        .init(.syncGroup, "SyncGroup", 0...5, flexibleFrom: 4, on: [.client], SyncGroupRequest.self),
        .init(.describeGroups, "DescribeGroups", 0...5, flexibleFrom: 5, on: [.client], DescribeGroupsRequest.self),
        .init(.listGroups, "ListGroups", 0...5, flexibleFrom: 3, on: [.client], ListGroupsRequest.self),
        .init(.saslHandshake, "SaslHandshake", 0...1, flexibleFrom: nil, on: [.client], SaslHandshakeRequest.self),
        .init(
            .apiVersions, "ApiVersions", 0...3, flexibleFrom: 3, on: [.client, .controller], ApiVersionsRequest.self),
        .init(
            .createTopics, "CreateTopics", 0...7, flexibleFrom: 5, on: [.client, .controller], CreateTopicsRequest.self),
        .init(
            .deleteTopics, "DeleteTopics", 0...6, flexibleFrom: 4, on: [.client, .controller], DeleteTopicsRequest.self),
        .init(.deleteRecords, "DeleteRecords", 0...2, flexibleFrom: 2, on: [.client], DeleteRecordsRequest.self),
        .init(.initProducerId, "InitProducerId", 0...4, flexibleFrom: 2, on: [.client], InitProducerIdRequest.self),
        .init(
            .offsetForLeaderEpoch, "OffsetForLeaderEpoch", 0...4, flexibleFrom: 4, on: [.client],
            OffsetForLeaderEpochRequest.self),
        .init(
            .addPartitionsToTxn, "AddPartitionsToTxn", 0...3, flexibleFrom: 3, on: [.client],
            AddPartitionsToTxnRequest.self),
        .init(.addOffsetsToTxn, "AddOffsetsToTxn", 0...4, flexibleFrom: 3, on: [.client], AddOffsetsToTxnRequest.self),
        .init(.endTxn, "EndTxn", 0...4, flexibleFrom: 3, on: [.client], EndTxnRequest.self),
        .init(.writeTxnMarkers, "WriteTxnMarkers", 0...1, flexibleFrom: 1, on: [.client], WriteTxnMarkersRequest.self),
        .init(.txnOffsetCommit, "TxnOffsetCommit", 0...4, flexibleFrom: 3, on: [.client], TxnOffsetCommitRequest.self),
        .init(.describeAcls, "DescribeAcls", 0...3, flexibleFrom: 2, on: [.client], DescribeAclsRequest.self),
        .init(.createAcls, "CreateAcls", 0...3, flexibleFrom: 2, on: [.client, .controller], CreateAclsRequest.self),
        .init(.deleteAcls, "DeleteAcls", 0...3, flexibleFrom: 2, on: [.client, .controller], DeleteAclsRequest.self),
        .init(.describeConfigs, "DescribeConfigs", 0...4, flexibleFrom: 4, on: [.client], DescribeConfigsRequest.self),
        .init(.alterConfigs, "AlterConfigs", 0...2, flexibleFrom: 2, on: [.client], AlterConfigsRequest.self),
        .init(
            .describeLogDirs, "DescribeLogDirs", 0...4, flexibleFrom: 2, on: [.client], DescribeLogDirsRequest.self),
        .init(
            .saslAuthenticate, "SaslAuthenticate", 0...2, flexibleFrom: 2, on: [.client], SaslAuthenticateRequest.self),
        .init(
            .createPartitions, "CreatePartitions", 0...3, flexibleFrom: 2, on: [.client, .controller],
            CreatePartitionsRequest.self),
        .init(.deleteGroups, "DeleteGroups", 0...2, flexibleFrom: 2, on: [.client], DeleteGroupsRequest.self),
        .init(
            .electLeaders, "ElectLeaders", 0...2, flexibleFrom: 2, on: [.client, .controller], ElectLeadersRequest.self),
        .init(
            .incrementalAlterConfigs, "IncrementalAlterConfigs", 0...1, flexibleFrom: 1, on: [.client, .controller],
            IncrementalAlterConfigsRequest.self),
        .init(
            .alterPartitionReassignments, "AlterPartitionReassignments", 0...0, flexibleFrom: 0,
            on: [.client, .controller], AlterPartitionReassignmentsRequest.self),
        .init(
            .listPartitionReassignments, "ListPartitionReassignments", 0...0, flexibleFrom: 0,
            on: [.client, .controller], ListPartitionReassignmentsRequest.self),
        .init(.offsetDelete, "OffsetDelete", 0...0, flexibleFrom: nil, on: [.client], OffsetDeleteRequest.self),
        .init(
            .describeUserScramCredentials, "DescribeUserScramCredentials", 0...0, flexibleFrom: 0, on: [.client],
            DescribeUserScramCredentialsRequest.self),
        .init(
            .alterUserScramCredentials, "AlterUserScramCredentials", 0...0, flexibleFrom: 0,
            on: [.client, .controller], AlterUserScramCredentialsRequest.self),
        .init(.vote, "Vote", 0...2, flexibleFrom: 0, on: [.controller], VoteRequest.self),
        .init(
            .beginQuorumEpoch, "BeginQuorumEpoch", 0...1, flexibleFrom: 1, on: [.controller],
            BeginQuorumEpochRequest.self),
        .init(.endQuorumEpoch, "EndQuorumEpoch", 0...0, flexibleFrom: 1, on: [.controller], EndQuorumEpochRequest.self),
        .init(
            .describeQuorum, "DescribeQuorum", 0...1, flexibleFrom: 0, on: [.client, .controller],
            DescribeQuorumRequest.self),
        .init(.alterPartition, "AlterPartition", 0...1, flexibleFrom: 0, on: [.controller], AlterPartitionRequest.self),
        .init(.fetchSnapshot, "FetchSnapshot", 0...0, flexibleFrom: 0, on: [.controller], FetchSnapshotRequest.self),
        .init(.describeCluster, "DescribeCluster", 0...1, flexibleFrom: 0, on: [.client], DescribeClusterRequest.self),
        .init(
            .describeProducers, "DescribeProducers", 0...0, flexibleFrom: 0, on: [.client],
            DescribeProducersRequest.self),
        .init(
            .brokerRegistration, "BrokerRegistration", 0...1, flexibleFrom: 0, on: [.controller],
            BrokerRegistrationRequest.self),
        .init(
            .brokerHeartbeat, "BrokerHeartbeat", 0...0, flexibleFrom: 0, on: [.controller], BrokerHeartbeatRequest.self),
        .init(
            .unregisterBroker, "UnregisterBroker", 0...0, flexibleFrom: 0, on: [.client, .controller],
            UnregisterBrokerRequest.self),
        .init(
            .describeTransactions, "DescribeTransactions", 0...0, flexibleFrom: 0, on: [.client],
            DescribeTransactionsRequest.self),
        .init(
            .listTransactions, "ListTransactions", 0...1, flexibleFrom: 0, on: [.client], ListTransactionsRequest.self),
        .init(
            .describeTopicPartitions, "DescribeTopicPartitions", 0...0, flexibleFrom: 0, on: [.client],
            DescribeTopicPartitionsRequest.self),
        .init(
            .addRaftVoter, "AddRaftVoter", 0...0, flexibleFrom: 0, on: [.client, .controller], AddRaftVoterRequest.self),
        .init(
            .removeRaftVoter, "RemoveRaftVoter", 0...0, flexibleFrom: 0, on: [.client, .controller],
            RemoveRaftVoterRequest.self),
    ]

    /// The table indexed by API key (a unit test checks that every case has its row).
    private static let specs: [ApiSpec?] = {
        var byKey = [ApiSpec?](repeating: nil, count: Int(allCases.map(\.rawValue).max()!) + 1)
        for spec in table { byKey[Int(spec.key.rawValue)] = spec }
        return byKey
    }()

    /// This API's row of the table.
    public var spec: ApiSpec { Self.specs[Int(rawValue)]! }

    /// Versions Tern encodes and decodes, advertised in ApiVersions.
    public var supported: ClosedRange<Int16> { spec.versions }

    /// The first version that uses compact types and tagged fields.
    public var firstFlexibleVersion: Int16 { spec.firstFlexibleVersion }

    public func isFlexible(_ version: Int16) -> Bool { version >= firstFlexibleVersion }

    /// APIs a client listener serves and advertises.
    public static let clientListener: [ApiKey] = table.filter { $0.listeners.contains(.client) }.map(\.key)
    /// APIs the CONTROLLER listener serves and advertises.
    public static let controllerListener: [ApiKey] = table.filter { $0.listeners.contains(.controller) }.map(\.key)

    /// Request header v2 for flexible versions, v1 otherwise.
    public func requestHeaderVersion(_ version: Int16) -> Int16 { isFlexible(version) ? 2 : 1 }

    /// Response header v1 for flexible versions, v0 otherwise. ApiVersions always answers with
    /// header v0, so a client that does not yet know our versions can read the answer.
    public func responseHeaderVersion(_ version: Int16) -> Int16 {
        self == .apiVersions ? 0 : (isFlexible(version) ? 1 : 0)
    }
}

extension ApiKey: CustomStringConvertible {
    public var description: String { spec.name }
}
