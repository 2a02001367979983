import KafkaProtocol
import NIOCore

/// One filled-in value of every message type, with non-default values in every field, so that a
/// round trip exercises each field at each version.
enum Samples {
    static var records: ByteBuffer {
        var b = RecordBatchBuilder()
        b.append(key: Array("k".utf8), value: Array("v".utf8), headers: [("h", [1])], timestamp: 1_700_000_000_000)
        return b.build()
    }

    static var produceRequest: ProduceRequest {
        var r = ProduceRequest()
        r.transactionalId = nil
        r.acks = -1
        r.timeoutMs = 1500
        r.topics = [.init(name: "t", partitions: [.init(index: 2, records: records), .init(index: 3, records: nil)])]
        return r
    }

    static var produceResponse: ProduceResponse {
        var p = ProduceResponse.PartitionResponse()
        p.index = 1
        p.errorCode = 2
        p.baseOffset = 99
        p.logAppendTimeMs = 5
        p.logStartOffset = 3
        var e = ProduceResponse.RecordError()
        e.batchIndex = 0
        e.message = "bad"
        p.recordErrors = [e]
        p.errorMessage = "oops"
        var t = ProduceResponse.TopicResponse()
        t.name = "t"
        t.partitions = [p]
        var r = ProduceResponse()
        r.responses = [t]
        r.throttleTimeMs = 4
        return r
    }

    static var fetchRequest: FetchRequest {
        var p = FetchRequest.Partition()
        p.partition = 1
        p.currentLeaderEpoch = 2
        p.fetchOffset = 300
        p.lastFetchedEpoch = 1
        p.logStartOffset = 0
        p.partitionMaxBytes = 1 << 20
        var t = FetchRequest.Topic()
        t.topic = "t"
        t.partitions = [p]
        var f = FetchRequest.ForgottenTopic()
        f.topic = "old"
        f.partitions = [4, 5]
        var r = FetchRequest()
        r.replicaId = -1
        r.maxWaitMs = 500
        r.minBytes = 1
        r.maxBytes = 50 << 20
        r.isolationLevel = 1
        r.sessionId = 0
        r.sessionEpoch = -1
        r.topics = [t]
        r.forgottenTopicsData = [f]
        r.rackId = "rack-a"
        return r
    }

    static var fetchResponse: FetchResponse {
        var p = FetchResponse.Partition()
        p.partitionIndex = 1
        p.errorCode = 0
        p.highWatermark = 10
        p.lastStableOffset = 10
        p.logStartOffset = 0
        var a = FetchResponse.AbortedTransaction()
        a.producerId = 7
        a.firstOffset = 3
        p.abortedTransactions = [a]
        p.preferredReadReplica = -1
        p.records = records
        var t = FetchResponse.Topic()
        t.topic = "t"
        t.partitions = [p]
        var r = FetchResponse()
        r.throttleTimeMs = 1
        r.errorCode = 0
        r.sessionId = 0
        r.responses = [t]
        return r
    }

    static var metadataRequest: MetadataRequest {
        var r = MetadataRequest()
        r.topics = [MetadataRequest.Topic(name: "a"), MetadataRequest.Topic(name: "b")]
        r.allowAutoTopicCreation = false
        r.includeTopicAuthorizedOperations = true
        return r
    }

    static var metadataResponse: MetadataResponse {
        var p = MetadataResponse.Partition()
        p.partitionIndex = 0
        p.leaderId = 1
        p.leaderEpoch = 3
        p.replicaNodes = [1, 2, 0]
        p.isrNodes = [1, 2]
        p.offlineReplicas = [0]
        var t = MetadataResponse.Topic()
        t.name = "purchases"
        t.topicId = KafkaUUID(high: 1, low: 2)
        t.isInternal = false
        t.partitions = [p]
        t.topicAuthorizedOperations = 0
        var r = MetadataResponse()
        r.throttleTimeMs = 0
        r.brokers = [.init(nodeId: 1, host: "localhost", port: 9093, rack: "r1")]
        r.clusterId = "cluster"
        r.controllerId = 1
        r.topics = [t]
        return r
    }

    static var listOffsetsRequest: ListOffsetsRequest {
        var p = ListOffsetsRequest.Partition()
        p.partitionIndex = 2
        p.currentLeaderEpoch = 1
        p.timestamp = -2
        var t = ListOffsetsRequest.Topic()
        t.name = "t"
        t.partitions = [p]
        var r = ListOffsetsRequest()
        r.isolationLevel = 1
        r.topics = [t]
        return r
    }

    static var listOffsetsResponse: ListOffsetsResponse {
        var p = ListOffsetsResponse.Partition()
        p.partitionIndex = 2
        p.timestamp = 1000
        p.offset = 42
        p.leaderEpoch = 1
        var t = ListOffsetsResponse.Topic()
        t.name = "t"
        t.partitions = [p]
        var r = ListOffsetsResponse()
        r.throttleTimeMs = 0
        r.topics = [t]
        return r
    }

    static var offsetForLeaderEpochRequest: OffsetForLeaderEpochRequest {
        var p = OffsetForLeaderEpochRequest.Partition()
        p.partition = 1
        p.currentLeaderEpoch = 4
        p.leaderEpoch = 3
        var t = OffsetForLeaderEpochRequest.Topic()
        t.topic = "t"
        t.partitions = [p]
        var r = OffsetForLeaderEpochRequest()
        r.replicaId = -1
        r.topics = [t]
        return r
    }

    static var offsetForLeaderEpochResponse: OffsetForLeaderEpochResponse {
        var p = OffsetForLeaderEpochResponse.Partition()
        p.partition = 1
        p.leaderEpoch = 3
        p.endOffset = 42
        var t = OffsetForLeaderEpochResponse.Topic()
        t.topic = "t"
        t.partitions = [p]
        var r = OffsetForLeaderEpochResponse()
        r.topics = [t]
        return r
    }

    static var createTopicsRequest: CreateTopicsRequest {
        var a = CreateTopicsRequest.Assignment()
        a.partitionIndex = 0
        a.brokerIds = [0, 1]
        var t = CreateTopicsRequest.Topic()
        t.name = "new"
        t.numPartitions = -1
        t.replicationFactor = -1
        t.assignments = [a]
        t.configs = [.init(name: "retention.ms", value: "1000"), .init(name: "x", value: nil)]
        var r = CreateTopicsRequest()
        r.topics = [t]
        r.timeoutMs = 5000
        r.validateOnly = true
        return r
    }

    static var createTopicsResponse: CreateTopicsResponse {
        var c = CreateTopicsResponse.Config()
        c.name = "retention.ms"
        c.value = "1000"
        c.configSource = 1
        var t = CreateTopicsResponse.Topic()
        t.name = "new"
        t.topicId = KafkaUUID(high: 9, low: 9)
        t.errorCode = 0
        t.errorMessage = "fine"
        t.numPartitions = 3
        t.replicationFactor = 1
        t.configs = [c]
        var r = CreateTopicsResponse()
        r.throttleTimeMs = 0
        r.topics = [t]
        return r
    }

    static var deleteTopicsRequest: DeleteTopicsRequest { DeleteTopicsRequest(names: ["a", "b"]) }

    static var deleteTopicsResponse: DeleteTopicsResponse {
        var res = DeleteTopicsResponse.Result()
        res.name = "a"
        res.errorCode = 3
        res.errorMessage = "gone"
        var r = DeleteTopicsResponse()
        r.responses = [res]
        return r
    }

    static var createPartitionsRequest: CreatePartitionsRequest {
        var t = CreatePartitionsRequest.Topic()
        t.name = "t"
        t.count = 6
        var a = CreatePartitionsRequest.Assignment()
        a.brokerIds = [0]
        t.assignments = [a]
        var r = CreatePartitionsRequest()
        r.topics = [t]
        r.validateOnly = true
        return r
    }

    static var createPartitionsResponse: CreatePartitionsResponse {
        var res = CreatePartitionsResponse.Result()
        res.name = "t"
        res.errorCode = 37
        res.errorMessage = "no"
        var r = CreatePartitionsResponse()
        r.results = [res]
        return r
    }

    static var electLeadersRequest: ElectLeadersRequest {
        var r = ElectLeadersRequest()
        r.electionType = ElectLeadersRequest.unclean
        r.topicPartitions = [.init(name: "t", partitions: [0, 2])]
        r.timeoutMs = 5000
        return r
    }

    static var electLeadersResponse: ElectLeadersResponse {
        var p = ElectLeadersResponse.PartitionResult()
        p.partitionId = 2
        p.errorCode = 84
        p.errorMessage = "not needed"
        var r = ElectLeadersResponse()
        r.throttleTimeMs = 1
        r.replicaElectionResults = [.init(name: "t", partitions: [p])]
        return r
    }

    static var alterReassignmentsRequest: AlterPartitionReassignmentsRequest {
        var r = AlterPartitionReassignmentsRequest()
        r.timeoutMs = 100
        r.topics = [.init(name: "t", partitions: [.init(0, [3, 1]), .init(1, nil)])]
        return r
    }

    static var alterReassignmentsResponse: AlterPartitionReassignmentsResponse {
        var p = AlterPartitionReassignmentsResponse.Partition()
        p.partitionIndex = 1
        p.errorCode = 85
        p.errorMessage = "no"
        var r = AlterPartitionReassignmentsResponse()
        r.responses = [.init(name: "t", partitions: [p])]
        return r
    }

    static var listReassignmentsRequest: ListPartitionReassignmentsRequest {
        var r = ListPartitionReassignmentsRequest()
        r.topics = [.init(name: "t", partitions: [0, 1])]
        return r
    }

    static var listReassignmentsResponse: ListPartitionReassignmentsResponse {
        var p = ListPartitionReassignmentsResponse.Partition()
        p.replicas = [3, 1, 0]
        p.addingReplicas = [3]
        p.removingReplicas = [0]
        var r = ListPartitionReassignmentsResponse()
        r.topics = [.init(name: "t", partitions: [p])]
        return r
    }

    static var describeLogDirsRequest: DescribeLogDirsRequest {
        var r = DescribeLogDirsRequest()
        r.topics = [.init(name: "t", partitions: [1])]
        return r
    }

    static var describeLogDirsResponse: DescribeLogDirsResponse {
        var p = DescribeLogDirsResponse.Partition()
        p.partitionIndex = 1
        p.partitionSize = 4096
        p.offsetLag = 3
        var d = DescribeLogDirsResponse.Result()
        d.logDir = "/data"
        d.topics = [.init(name: "t", partitions: [p])]
        d.totalBytes = 1 << 40
        d.usableBytes = 1 << 30
        var r = DescribeLogDirsResponse()
        r.results = [d]
        return r
    }

    static var describeConfigsRequest: DescribeConfigsRequest {
        var res = DescribeConfigsRequest.Resource()
        res.resourceType = 2
        res.resourceName = "t"
        res.configurationKeys = ["retention.ms"]
        var r = DescribeConfigsRequest()
        r.resources = [res]
        r.includeSynonyms = true
        r.includeDocumentation = true
        return r
    }

    static var describeConfigsResponse: DescribeConfigsResponse {
        var c = DescribeConfigsResponse.Config()
        c.name = "retention.ms"
        c.value = "1000"
        c.readOnly = false
        c.isDefault = false
        c.configSource = 1
        c.isSensitive = false
        var s = DescribeConfigsResponse.Synonym()
        s.name = "log.retention.ms"
        s.value = "1000"
        s.source = 4
        c.synonyms = [s]
        c.configType = 5
        c.documentation = "doc"
        var res = DescribeConfigsResponse.Result()
        res.resourceType = 2
        res.resourceName = "t"
        res.configs = [c]
        var r = DescribeConfigsResponse()
        r.results = [res]
        return r
    }

    static var initProducerIdRequest: InitProducerIdRequest {
        var r = InitProducerIdRequest()
        r.transactionTimeoutMs = 60000
        r.producerId = 5
        r.producerEpoch = 1
        return r
    }

    static var initProducerIdResponse: InitProducerIdResponse {
        var r = InitProducerIdResponse()
        r.producerId = 1000
        r.producerEpoch = 2
        return r
    }

    static var apiVersionsRequest: ApiVersionsRequest {
        var r = ApiVersionsRequest()
        r.clientSoftwareName = "tern-test"
        r.clientSoftwareVersion = "1.0"
        return r
    }

    static var findCoordinatorRequest: FindCoordinatorRequest {
        var r = FindCoordinatorRequest()
        r.keyType = 0
        r.coordinatorKeys = ["group-a", "group-b"]
        return r
    }

    static var findCoordinatorResponse: FindCoordinatorResponse {
        var c = FindCoordinatorResponse.Coordinator()
        c.key = "group-a"
        c.nodeId = 1
        c.host = "localhost"
        c.port = 9093
        c.errorMessage = "none"
        var r = FindCoordinatorResponse()
        r.coordinators = [c]
        return r
    }

    static var voteRequest: VoteRequest {
        var p = VoteRequest.Partition()
        p.candidateEpoch = 4
        p.candidateId = 2
        p.candidateDirectoryId = KafkaUUID(high: 1, low: 1)
        p.voterDirectoryId = KafkaUUID(high: 2, low: 2)
        p.lastOffsetEpoch = 3
        p.lastOffset = 100
        p.preVote = true
        var t = VoteRequest.Topic()
        t.topicName = "__cluster_metadata"
        t.partitions = [p]
        var r = VoteRequest()
        r.clusterId = "c"
        r.voterId = 1
        r.topics = [t]
        return r
    }

    static var quorumResult: [QuorumTopicResult] {
        var p = QuorumPartitionResult()
        p.leaderId = 1
        p.leaderEpoch = 4
        p.voteGranted = true
        var t = QuorumTopicResult()
        t.topicName = "__cluster_metadata"
        t.partitions = [p]
        return [t]
    }

    static var voteResponse: VoteResponse {
        var r = VoteResponse()
        r.topics = quorumResult
        return r
    }

    static var beginQuorumEpochRequest: BeginQuorumEpochRequest {
        var p = BeginQuorumEpochRequest.Partition()
        p.voterDirectoryId = KafkaUUID(high: 3, low: 3)
        p.leaderId = 1
        p.leaderEpoch = 4
        var t = BeginQuorumEpochRequest.Topic()
        t.topicName = "__cluster_metadata"
        t.partitions = [p]
        var e = BeginQuorumEpochRequest.Endpoint()
        e.name = "CONTROLLER"
        e.host = "localhost"
        e.port = 19093
        var r = BeginQuorumEpochRequest()
        r.clusterId = "c"
        r.voterId = 2
        r.topics = [t]
        r.leaderEndpoints = [e]
        return r
    }

    static var beginQuorumEpochResponse: BeginQuorumEpochResponse {
        var r = BeginQuorumEpochResponse()
        r.topics = quorumResult.map { t in
            var t = t
            t.partitions = t.partitions.map {
                var p = $0; p.voteGranted = false; return p
            }
            return t
        }
        return r
    }

    static var endQuorumEpochRequest: EndQuorumEpochRequest {
        var p = EndQuorumEpochRequest.Partition()
        p.leaderId = 1
        p.leaderEpoch = 4
        p.preferredSuccessors = [2, 0]
        var t = EndQuorumEpochRequest.Topic()
        t.topicName = "__cluster_metadata"
        t.partitions = [p]
        var r = EndQuorumEpochRequest()
        r.topics = [t]
        return r
    }

    static var endQuorumEpochResponse: EndQuorumEpochResponse {
        var r = EndQuorumEpochResponse()
        r.topics = beginQuorumEpochResponse.topics
        return r
    }

    static var describeQuorumRequest: DescribeQuorumRequest {
        var t = DescribeQuorumRequest.Topic()
        t.topicName = "__cluster_metadata"
        t.partitions = [0]
        var r = DescribeQuorumRequest()
        r.topics = [t]
        return r
    }

    static var describeQuorumResponse: DescribeQuorumResponse {
        var v = DescribeQuorumResponse.ReplicaState()
        v.replicaId = 1
        v.logEndOffset = 50
        v.lastFetchTimestamp = 1000
        v.lastCaughtUpTimestamp = 999
        var p = DescribeQuorumResponse.Partition()
        p.leaderId = 1
        p.leaderEpoch = 4
        p.highWatermark = 50
        p.currentVoters = [v, v]
        p.observers = [v]
        var t = DescribeQuorumResponse.Topic()
        t.topicName = "__cluster_metadata"
        t.partitions = [p]
        var r = DescribeQuorumResponse()
        r.topics = [t]
        return r
    }

    static var raftFetchResponse: FetchResponse {
        var r = fetchResponse
        r.responses[0].partitions[0].divergingEpoch = .init(epoch: 3, endOffset: 77)
        r.responses[0].partitions[0].currentLeader = .init(leaderId: 2, leaderEpoch: 5)
        return r
    }

    static var raftFetchRequest: FetchRequest {
        var r = fetchRequest
        r.clusterId = "cluster-x"
        r.replicaId = 1
        return r
    }

    static var brokerRegistrationRequest: BrokerRegistrationRequest {
        var l = BrokerRegistrationRequest.Listener()
        l.name = "PLAINTEXT"
        l.host = "localhost"
        l.port = 50000
        var f = BrokerRegistrationRequest.Feature()
        f.name = "metadata.version"
        f.minSupportedVersion = 1
        f.maxSupportedVersion = 1
        var r = BrokerRegistrationRequest()
        r.brokerId = 2
        r.clusterId = "c"
        r.incarnationId = KafkaUUID(high: 4, low: 4)
        r.listeners = [l]
        r.features = [f]
        r.rack = "r"
        r.isMigratingZkBroker = false
        return r
    }

    static var brokerRegistrationResponse: BrokerRegistrationResponse {
        var r = BrokerRegistrationResponse()
        r.brokerEpoch = 42
        return r
    }

    static var brokerHeartbeatRequest: BrokerHeartbeatRequest {
        var r = BrokerHeartbeatRequest()
        r.brokerId = 2
        r.brokerEpoch = 42
        r.currentMetadataOffset = 100
        r.wantShutDown = true
        return r
    }

    static var brokerHeartbeatResponse: BrokerHeartbeatResponse {
        var r = BrokerHeartbeatResponse()
        r.isCaughtUp = true
        r.isFenced = false
        r.shouldShutDown = true
        return r
    }

    static var fetchSnapshotRequest: FetchSnapshotRequest {
        var p = FetchSnapshotRequest.Partition()
        p.currentLeaderEpoch = 5
        p.endOffset = 1200
        p.epoch = 4
        p.position = 4096
        var t = FetchSnapshotRequest.Topic()
        t.name = "__cluster_metadata"
        t.partitions = [p]
        var r = FetchSnapshotRequest()
        r.clusterId = "tern-cluster"
        r.replicaId = 2
        r.maxBytes = 1 << 20
        r.topics = [t]
        return r
    }

    static var fetchSnapshotResponse: FetchSnapshotResponse {
        var p = FetchSnapshotResponse.Partition()
        p.endOffset = 1200
        p.epoch = 4
        p.currentLeader = .init(leaderId: 0, leaderEpoch: 5)
        p.size = 9000
        p.position = 4096
        p.bytes = ByteBuffer(bytes: [1, 2, 3, 4, 5])
        var t = FetchSnapshotResponse.Topic()
        t.name = "__cluster_metadata"
        t.partitions = [p]
        var r = FetchSnapshotResponse()
        r.topics = [t]
        return r
    }

    static var alterConfigsRequest: AlterConfigsRequest {
        var c = AlterConfigsRequest.Config()
        c.name = "retention.ms"
        c.value = "60000"
        var res = AlterConfigsRequest.Resource()
        res.resourceType = 2
        res.resourceName = "purchases"
        res.configs = [c]
        var r = AlterConfigsRequest()
        r.resources = [res]
        r.validateOnly = true
        return r
    }

    static var alterConfigsResult: AlterConfigsResult {
        var x = AlterConfigsResult()
        x.errorCode = 40
        x.errorMessage = "Unknown topic config name: x"
        x.resourceType = 2
        x.resourceName = "purchases"
        return x
    }

    static var alterConfigsResponse: AlterConfigsResponse {
        var r = AlterConfigsResponse()
        r.throttleTimeMs = 3
        r.responses = [alterConfigsResult]
        return r
    }

    static var incrementalAlterConfigsRequest: IncrementalAlterConfigsRequest {
        var res = IncrementalAlterConfigsRequest.Resource()
        res.resourceType = 2
        res.resourceName = "purchases"
        res.configs = [
            .init(name: "cleanup.policy", operation: .append, value: "compact"),
            .init(name: "retention.ms", operation: .delete, value: nil),
        ]
        var r = IncrementalAlterConfigsRequest()
        r.resources = [res]
        return r
    }

    static var incrementalAlterConfigsResponse: IncrementalAlterConfigsResponse {
        var r = IncrementalAlterConfigsResponse()
        r.responses = [alterConfigsResult]
        return r
    }

    static var joinGroupRequest: JoinGroupRequest {
        var proto = JoinGroupRequest.JoinProtocol()
        proto.name = "range"
        proto.metadata = ByteBuffer(bytes: [0, 1, 0, 0, 0, 1, 0, 1, 0x74])
        var r = JoinGroupRequest()
        r.groupId = "first-app"
        r.sessionTimeoutMs = 10_000
        r.rebalanceTimeoutMs = 300_000
        r.memberId = "m-1"
        r.groupInstanceId = "instance-1"
        r.protocolType = "consumer"
        r.protocols = [proto]
        r.reason = "rejoin"
        return r
    }

    static var joinGroupResponse: JoinGroupResponse {
        var m = JoinGroupResponse.Member()
        m.memberId = "m-1"
        m.groupInstanceId = "instance-1"
        m.metadata = ByteBuffer(bytes: [1, 2, 3])
        var r = JoinGroupResponse()
        r.throttleTimeMs = 1
        r.generationId = 4
        r.protocolType = "consumer"
        r.protocolName = "range"
        r.leader = "m-1"
        r.skipAssignment = true
        r.memberId = "m-1"
        r.members = [m]
        return r
    }

    static var syncGroupRequest: SyncGroupRequest {
        var a = SyncGroupRequest.Assignment()
        a.memberId = "m-1"
        a.assignment = ByteBuffer(bytes: [0, 1, 2])
        var r = SyncGroupRequest()
        r.groupId = "first-app"
        r.generationId = 4
        r.memberId = "m-1"
        r.groupInstanceId = "instance-1"
        r.protocolType = "consumer"
        r.protocolName = "range"
        r.assignments = [a]
        return r
    }

    static var syncGroupResponse: SyncGroupResponse {
        var r = SyncGroupResponse()
        r.throttleTimeMs = 2
        r.errorCode = 27
        r.protocolType = "consumer"
        r.protocolName = "range"
        r.assignment = ByteBuffer(bytes: [9, 9])
        return r
    }

    static var heartbeatRequest: HeartbeatRequest {
        var r = HeartbeatRequest()
        r.groupId = "first-app"
        r.generationId = 4
        r.memberId = "m-1"
        r.groupInstanceId = "instance-1"
        return r
    }

    static var heartbeatResponse: HeartbeatResponse {
        var r = HeartbeatResponse()
        r.throttleTimeMs = 3
        r.errorCode = 22
        return r
    }

    static var leaveGroupRequest: LeaveGroupRequest {
        var m = LeaveGroupRequest.Member()
        m.memberId = "m-1"
        m.groupInstanceId = "instance-1"
        m.reason = "bye"
        var r = LeaveGroupRequest()
        r.groupId = "first-app"
        r.members = [m]  // memberId (v0-2 only) stays at its default: the highest version drops it
        return r
    }

    static var leaveGroupResponse: LeaveGroupResponse {
        var m = LeaveGroupResponse.Member()
        m.memberId = "m-1"
        m.groupInstanceId = "instance-1"
        m.errorCode = 25
        var r = LeaveGroupResponse()
        r.throttleTimeMs = 1
        r.members = [m]
        return r
    }

    static var offsetCommitRequest: OffsetCommitRequest {
        var p = OffsetCommitRequest.Partition()
        p.partitionIndex = 2
        p.committedOffset = 42
        p.committedLeaderEpoch = 3
        p.committedMetadata = "m"
        var t = OffsetCommitRequest.Topic()
        t.name = "purchases"
        t.partitions = [p]
        var r = OffsetCommitRequest()
        r.groupId = "first-app"
        r.generationId = 4
        r.memberId = "m-1"
        r.groupInstanceId = "instance-1"
        r.topics = [t]
        return r
    }

    static var offsetCommitResponse: OffsetCommitResponse {
        var p = OffsetCommitResponse.Partition()
        p.partitionIndex = 2
        p.errorCode = 25
        var t = OffsetCommitResponse.Topic()
        t.name = "purchases"
        t.partitions = [p]
        var r = OffsetCommitResponse()
        r.throttleTimeMs = 1
        r.topics = [t]
        return r
    }

    static var offsetFetchRequest: OffsetFetchRequest {
        var t = OffsetFetchRequest.Topic()
        t.name = "purchases"
        t.partitionIndexes = [0, 2]
        var r = OffsetFetchRequest()
        r.groupId = "first-app"
        r.topics = [t]
        r.requireStable = true
        return r
    }

    static var offsetFetchResponse: OffsetFetchResponse {
        var p = OffsetFetchResponse.Partition()
        p.partitionIndex = 2
        p.committedOffset = 42
        p.committedLeaderEpoch = 3
        p.metadata = "m"
        p.errorCode = 0
        var t = OffsetFetchResponse.Topic()
        t.name = "purchases"
        t.partitions = [p]
        var r = OffsetFetchResponse()
        r.throttleTimeMs = 1
        r.topics = [t]
        r.errorCode = 16
        return r
    }

    static var listGroupsRequest: ListGroupsRequest {
        var r = ListGroupsRequest()
        r.statesFilter = ["Stable"]
        r.typesFilter = ["classic"]
        return r
    }

    static var listGroupsResponse: ListGroupsResponse {
        var g = ListGroupsResponse.Group()
        g.groupId = "first-app"
        g.protocolType = "consumer"
        g.groupState = "Stable"
        g.groupType = "classic"
        var r = ListGroupsResponse()
        r.throttleTimeMs = 1
        r.groups = [g]
        return r
    }

    static var describeGroupsRequest: DescribeGroupsRequest {
        var r = DescribeGroupsRequest()
        r.groups = ["first-app", "other"]
        r.includeAuthorizedOperations = true
        return r
    }

    static var describeGroupsResponse: DescribeGroupsResponse {
        var m = DescribeGroupsResponse.Member()
        m.memberId = "m-1"
        m.groupInstanceId = "instance-1"
        m.clientId = "consumer-1"
        m.clientHost = "/127.0.0.1"
        m.memberMetadata = ByteBuffer(bytes: [1])
        m.memberAssignment = ByteBuffer(bytes: [2, 3])
        var g = DescribeGroupsResponse.Group()
        g.groupId = "first-app"
        g.groupState = "Stable"
        g.protocolType = "consumer"
        g.protocolData = "range"
        g.members = [m]
        g.authorizedOperations = 5
        var r = DescribeGroupsResponse()
        r.throttleTimeMs = 1
        r.groups = [g]
        return r
    }

    static var deleteGroupsRequest: DeleteGroupsRequest {
        var r = DeleteGroupsRequest()
        r.groupsNames = ["first-app"]
        return r
    }

    static var deleteGroupsResponse: DeleteGroupsResponse {
        var x = DeleteGroupsResponse.Result()
        x.groupId = "first-app"
        x.errorCode = 68
        var r = DeleteGroupsResponse()
        r.throttleTimeMs = 1
        r.results = [x]
        return r
    }

    static var offsetDeleteRequest: OffsetDeleteRequest {
        var t = OffsetDeleteRequest.Topic()
        t.name = "purchases"
        t.partitionIndexes = [0, 2]
        var r = OffsetDeleteRequest()
        r.groupId = "first-app"
        r.topics = [t]
        return r
    }

    static var offsetDeleteResponse: OffsetDeleteResponse {
        var p = OffsetDeleteResponse.Partition()
        p.partitionIndex = 2
        p.errorCode = 86
        var t = OffsetDeleteResponse.Topic()
        t.name = "purchases"
        t.partitions = [p]
        var r = OffsetDeleteResponse()
        r.throttleTimeMs = 1
        r.topics = [t]
        return r
    }

    static var alterPartitionRequest: AlterPartitionRequest {
        var p = AlterPartitionRequest.Partition()
        p.partitionIndex = 1
        p.leaderEpoch = 3
        p.newIsr = [0, 2]
        p.leaderRecoveryState = 0
        p.partitionEpoch = 7
        var t = AlterPartitionRequest.Topic()
        t.topicName = "purchases"
        t.partitions = [p]
        var r = AlterPartitionRequest()
        r.brokerId = 0
        r.brokerEpoch = 12
        r.topics = [t]
        return r
    }

    static var alterPartitionResponse: AlterPartitionResponse {
        var p = AlterPartitionResponse.Partition()
        p.partitionIndex = 1
        p.leaderId = 0
        p.leaderEpoch = 3
        p.isr = [0, 2]
        p.partitionEpoch = 8
        var t = AlterPartitionResponse.Topic()
        t.topicName = "purchases"
        t.partitions = [p]
        var r = AlterPartitionResponse()
        r.topics = [t]
        return r
    }

    static var describeClusterRequest: DescribeClusterRequest {
        var r = DescribeClusterRequest()
        r.includeClusterAuthorizedOperations = true
        r.endpointType = 1
        return r
    }

    static var describeClusterResponse: DescribeClusterResponse {
        var b = DescribeClusterResponse.Broker()
        b.brokerId = 1
        b.host = "localhost"
        b.port = 9093
        b.rack = "r1"
        var r = DescribeClusterResponse()
        r.errorMessage = "none"
        r.clusterId = "c"
        r.controllerId = 1
        r.brokers = [b]
        return r
    }

    static var describeTopicPartitionsRequest: DescribeTopicPartitionsRequest {
        var r = DescribeTopicPartitionsRequest()
        r.topics = ["a", "b"]
        r.responsePartitionLimit = 10
        r.cursor = .init(topicName: "b", partitionIndex: 3)
        return r
    }

    static var describeTopicPartitionsResponse: DescribeTopicPartitionsResponse {
        var p = DescribeTopicPartitionsResponse.Partition()
        p.partitionIndex = 3
        p.leaderId = 1
        p.leaderEpoch = 4
        p.replicaNodes = [1, 2]
        p.isrNodes = [1]
        p.offlineReplicas = [2]
        var t = DescribeTopicPartitionsResponse.Topic()
        t.name = "b"
        t.topicId = KafkaUUID(high: 1, low: 2)
        t.partitions = [p]
        var r = DescribeTopicPartitionsResponse()
        r.topics = [t]
        r.nextCursor = .init(topicName: "b", partitionIndex: 4)
        return r
    }
}
