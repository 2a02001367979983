import NIOCore

/// Decodes a whole request frame (after its length prefix) as the server would: the header,
/// then the body with the message type of its API and version. Used by the fuzzers and their
/// regression tests; every API Tern knows is here (the switch is exhaustive).
public enum RequestDecoder {
    public static func decode(_ frame: ByteBuffer) throws -> (header: RequestHeader, body: any KafkaMessage) {
        var reader = KafkaReader(frame)
        let header = try RequestHeader.decode(from: &reader)
        guard let api = ApiKey(rawValue: header.apiKey) else { throw ProtocolError.unknownApiKey(header.apiKey) }
        guard api.supported.contains(header.apiVersion) else {
            throw ProtocolError.unsupportedVersion(api: header.apiKey, version: header.apiVersion)
        }
        return (header, try body(api, header, reader.buffer))
    }

    static func body(_ api: ApiKey, _ header: RequestHeader, _ body: ByteBuffer) throws -> any KafkaMessage {
        switch api {
        case .apiVersions: return try ApiVersionsRequest.decode(body, version: header.apiVersion)
        case .metadata: return try MetadataRequest.decode(body, version: header.apiVersion)
        case .produce: return try ProduceRequest.decode(body, version: header.apiVersion)
        case .fetch: return try FetchRequest.decode(body, version: header.apiVersion)
        case .listOffsets: return try ListOffsetsRequest.decode(body, version: header.apiVersion)
        case .offsetForLeaderEpoch: return try OffsetForLeaderEpochRequest.decode(body, version: header.apiVersion)
        case .createTopics: return try CreateTopicsRequest.decode(body, version: header.apiVersion)
        case .deleteTopics: return try DeleteTopicsRequest.decode(body, version: header.apiVersion)
        case .deleteRecords: return try DeleteRecordsRequest.decode(body, version: header.apiVersion)
        case .initProducerId: return try InitProducerIdRequest.decode(body, version: header.apiVersion)
        case .describeConfigs: return try DescribeConfigsRequest.decode(body, version: header.apiVersion)
        case .createPartitions: return try CreatePartitionsRequest.decode(body, version: header.apiVersion)
        case .findCoordinator: return try FindCoordinatorRequest.decode(body, version: header.apiVersion)
        case .vote: return try VoteRequest.decode(body, version: header.apiVersion)
        case .beginQuorumEpoch: return try BeginQuorumEpochRequest.decode(body, version: header.apiVersion)
        case .endQuorumEpoch: return try EndQuorumEpochRequest.decode(body, version: header.apiVersion)
        case .describeQuorum: return try DescribeQuorumRequest.decode(body, version: header.apiVersion)
        case .brokerRegistration: return try BrokerRegistrationRequest.decode(body, version: header.apiVersion)
        case .brokerHeartbeat: return try BrokerHeartbeatRequest.decode(body, version: header.apiVersion)
        case .alterPartition: return try AlterPartitionRequest.decode(body, version: header.apiVersion)
        case .describeCluster: return try DescribeClusterRequest.decode(body, version: header.apiVersion)
        case .fetchSnapshot: return try FetchSnapshotRequest.decode(body, version: header.apiVersion)
        case .alterConfigs: return try AlterConfigsRequest.decode(body, version: header.apiVersion)
        case .incrementalAlterConfigs:
            return try IncrementalAlterConfigsRequest.decode(body, version: header.apiVersion)
        case .joinGroup: return try JoinGroupRequest.decode(body, version: header.apiVersion)
        case .syncGroup: return try SyncGroupRequest.decode(body, version: header.apiVersion)
        case .heartbeat: return try HeartbeatRequest.decode(body, version: header.apiVersion)
        case .leaveGroup: return try LeaveGroupRequest.decode(body, version: header.apiVersion)
        case .offsetCommit: return try OffsetCommitRequest.decode(body, version: header.apiVersion)
        case .offsetFetch: return try OffsetFetchRequest.decode(body, version: header.apiVersion)
        case .listGroups: return try ListGroupsRequest.decode(body, version: header.apiVersion)
        case .describeGroups: return try DescribeGroupsRequest.decode(body, version: header.apiVersion)
        case .deleteGroups: return try DeleteGroupsRequest.decode(body, version: header.apiVersion)
        case .offsetDelete: return try OffsetDeleteRequest.decode(body, version: header.apiVersion)
        case .saslHandshake: return try SaslHandshakeRequest.decode(body, version: header.apiVersion)
        case .describeUserScramCredentials:
            return try DescribeUserScramCredentialsRequest.decode(body, version: header.apiVersion)
        case .alterUserScramCredentials:
            return try AlterUserScramCredentialsRequest.decode(body, version: header.apiVersion)
        case .describeAcls: return try DescribeAclsRequest.decode(body, version: header.apiVersion)
        case .createAcls: return try CreateAclsRequest.decode(body, version: header.apiVersion)
        case .deleteAcls: return try DeleteAclsRequest.decode(body, version: header.apiVersion)
        case .saslAuthenticate: return try SaslAuthenticateRequest.decode(body, version: header.apiVersion)
        }
    }

    /// Checks every batch of a records field and decodes every record (decompressing when
    /// needed), as the broker and the tools do; returns the number of records.
    public static func records(_ buffer: ByteBuffer) throws -> Int {
        switch RecordBatches.validate(buffer) {
        case .failure(let e): throw e
        case .success(let batches):
            var n = 0
            for (index, h) in batches {
                n += try Decompression.records(batch: buffer.getSlice(at: index, length: h.totalSize)!, header: h).count
            }
            return n
        }
    }
}
