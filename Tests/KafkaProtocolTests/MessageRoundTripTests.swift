import KafkaProtocol
import NIOCore
import Testing

/// A type-erased check over one message sample, run at every version its API advertises.
struct MessageCase: CustomStringConvertible, Sendable {
    let name: String
    let api: ApiKey
    let roundTrip: @Sendable (Int16) throws -> (first: [UInt8], second: [UInt8], equalAtMax: Bool)
    let decode: @Sendable (ByteBuffer, Int16) throws -> Void
    let encoded: @Sendable (Int16) -> ByteBuffer

    init<M: KafkaMessage & Equatable>(_ sample: M) {
        name = "\(M.self)"
        api = M.apiKey
        roundTrip = { v in
            let first = sample.bytesForTest(version: v)
            let back = try M.decode(first, version: v)
            let second = back.bytesForTest(version: v)
            return (bytes(first), bytes(second), back == sample)
        }
        decode = { b, v in _ = try M.decode(b, version: v) }
        encoded = { v in sample.bytesForTest(version: v) }
    }

    var description: String { name }
}

let allMessages: [MessageCase] = [
    MessageCase(Samples.apiVersionsRequest), MessageCase(ApiVersionsResponse.supported()),
    MessageCase(Samples.metadataRequest), MessageCase(Samples.metadataResponse),
    MessageCase(Samples.produceRequest), MessageCase(Samples.produceResponse),
    MessageCase(Samples.fetchRequest), MessageCase(Samples.fetchResponse),
    MessageCase(Samples.listOffsetsRequest), MessageCase(Samples.listOffsetsResponse),
    MessageCase(Samples.offsetForLeaderEpochRequest), MessageCase(Samples.offsetForLeaderEpochResponse),
    MessageCase(Samples.createTopicsRequest), MessageCase(Samples.createTopicsResponse),
    MessageCase(Samples.deleteTopicsRequest), MessageCase(Samples.deleteTopicsResponse),
    MessageCase(Samples.createPartitionsRequest), MessageCase(Samples.createPartitionsResponse),
    MessageCase(Samples.electLeadersRequest), MessageCase(Samples.electLeadersResponse),
    MessageCase(Samples.describeLogDirsRequest), MessageCase(Samples.describeLogDirsResponse),
    MessageCase(Samples.alterReassignmentsRequest), MessageCase(Samples.alterReassignmentsResponse),
    MessageCase(Samples.listReassignmentsRequest), MessageCase(Samples.listReassignmentsResponse),
    MessageCase(UnregisterBrokerRequest(brokerId: 3)),
    MessageCase(UnregisterBrokerResponse(.brokerIdNotRegistered, "Broker ID 9 is not currently registered")),
    MessageCase(
        {
            var r = AddRaftVoterRequest()
            r.clusterId = "c"
            r.voterId = 3
            r.listeners = [.init(name: "CONTROLLER", host: "h", port: 65535)]
            return r
        }()),
    MessageCase(AddRaftVoterResponse(.duplicateVoter, "Node 3 is already a voter.")),
    MessageCase(
        {
            var r = RemoveRaftVoterRequest()
            r.voterId = 2
            return r
        }()), MessageCase(RemoveRaftVoterResponse(.voterNotFound, nil)),
    MessageCase(Samples.describeConfigsRequest), MessageCase(Samples.describeConfigsResponse),
    MessageCase(Samples.initProducerIdRequest), MessageCase(Samples.initProducerIdResponse),
    MessageCase(Samples.findCoordinatorRequest), MessageCase(Samples.findCoordinatorResponse),
    MessageCase(Samples.voteRequest), MessageCase(Samples.voteResponse),
    MessageCase(Samples.beginQuorumEpochRequest), MessageCase(Samples.beginQuorumEpochResponse),
    MessageCase(Samples.endQuorumEpochRequest), MessageCase(Samples.endQuorumEpochResponse),
    MessageCase(Samples.describeQuorumRequest), MessageCase(Samples.describeQuorumResponse),
    MessageCase(Samples.raftFetchRequest), MessageCase(Samples.raftFetchResponse),
    MessageCase(Samples.brokerRegistrationRequest), MessageCase(Samples.brokerRegistrationResponse),
    MessageCase(Samples.brokerHeartbeatRequest), MessageCase(Samples.brokerHeartbeatResponse),
    MessageCase(Samples.alterPartitionRequest), MessageCase(Samples.alterPartitionResponse),
    MessageCase(Samples.describeClusterRequest), MessageCase(Samples.describeClusterResponse),
    MessageCase(Samples.fetchSnapshotRequest), MessageCase(Samples.fetchSnapshotResponse),
    MessageCase(Samples.alterConfigsRequest), MessageCase(Samples.alterConfigsResponse),
    MessageCase(Samples.incrementalAlterConfigsRequest), MessageCase(Samples.incrementalAlterConfigsResponse),
    MessageCase(Samples.joinGroupRequest), MessageCase(Samples.joinGroupResponse),
    MessageCase(Samples.syncGroupRequest), MessageCase(Samples.syncGroupResponse),
    MessageCase(Samples.heartbeatRequest), MessageCase(Samples.heartbeatResponse),
    MessageCase(Samples.leaveGroupRequest), MessageCase(Samples.leaveGroupResponse),
    MessageCase(Samples.offsetCommitRequest), MessageCase(Samples.offsetCommitResponse),
    MessageCase(Samples.offsetFetchRequest), MessageCase(Samples.offsetFetchResponse),
    MessageCase(Samples.listGroupsRequest), MessageCase(Samples.listGroupsResponse),
    MessageCase(Samples.describeGroupsRequest), MessageCase(Samples.describeGroupsResponse),
    MessageCase(Samples.deleteGroupsRequest), MessageCase(Samples.deleteGroupsResponse),
    MessageCase(Samples.offsetDeleteRequest), MessageCase(Samples.offsetDeleteResponse),
    MessageCase(Samples.describeTopicPartitionsRequest), MessageCase(Samples.describeTopicPartitionsResponse),
    MessageCase(Samples.addPartitionsToTxnRequest), MessageCase(Samples.addPartitionsToTxnResponse),
    MessageCase(Samples.addOffsetsToTxnRequest), MessageCase(Samples.addOffsetsToTxnResponse),
    MessageCase(Samples.endTxnRequest), MessageCase(Samples.endTxnResponse),
    MessageCase(Samples.writeTxnMarkersRequest), MessageCase(Samples.writeTxnMarkersResponse),
    MessageCase(Samples.txnOffsetCommitRequest), MessageCase(Samples.txnOffsetCommitResponse),
    MessageCase(Samples.describeProducersRequest), MessageCase(Samples.describeProducersResponse),
    MessageCase(Samples.describeTransactionsRequest), MessageCase(Samples.describeTransactionsResponse),
    MessageCase(Samples.listTransactionsRequest), MessageCase(Samples.listTransactionsResponse),
]

@Suite struct MessageRoundTripTests {
    @Test(arguments: allMessages)
    func everyAdvertisedVersionReEncodesToTheSameBytes(_ m: MessageCase) throws {
        for v in m.api.supported {
            let (first, second, _) = try m.roundTrip(v)
            #expect(first == second, "\(m.name) v\(v)")
        }
    }

    @Test(arguments: allMessages)
    func highestVersionKeepsEveryField(_ m: MessageCase) throws {
        let (_, _, equal) = try m.roundTrip(m.api.supported.upperBound)
        #expect(equal, "\(m.name) v\(m.api.supported.upperBound)")
    }

    @Test(arguments: allMessages)
    func everyTruncationThrowsAndNeverTraps(_ m: MessageCase) throws {
        for v in m.api.supported {
            let full = m.encoded(v)
            for cut in 0..<full.readableBytes {
                let prefix = full.getSlice(at: full.readerIndex, length: cut)!
                #expect(throws: (any Error).self, "\(m.name) v\(v) cut at \(cut)") { try m.decode(prefix, v) }
            }
        }
    }

    @Test(arguments: allMessages)
    func randomBytesNeverTrapTheDecoder(_ m: MessageCase) {
        var rng = SplitMix64(seed: 0x7E57)
        for v in m.api.supported {
            for _ in 0..<300 {
                let n = Int.random(in: 0..<64, using: &rng)
                let junk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
                _ = try? m.decode(buffer(junk), v)
            }
            // Mutations of a valid encoding reach deeper into the decoder than pure noise.
            let valid = bytes(m.encoded(v))
            for _ in 0..<300 where !valid.isEmpty {
                var mutated = valid
                mutated[Int.random(in: 0..<mutated.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                _ = try? m.decode(buffer(mutated), v)
            }
        }
    }

    @Test func metadataV0AsksForAllTopicsWithAnEmptyList() throws {
        let request = try MetadataRequest.decode(buffer([0, 0, 0, 0]), version: 0)
        #expect(request.topics == nil)
        let v1 = try MetadataRequest.decode(buffer([0xFF, 0xFF, 0xFF, 0xFF]), version: 1)
        #expect(v1.topics == nil)
    }

    @Test func produceV9IsCompactAndTagged() {
        var r = ProduceRequest()
        r.acks = 1
        r.timeoutMs = 100
        r.topics = [.init(name: "t", partitions: [.init(index: 0, records: nil)])]
        // transactional_id null (0), acks, timeout, topics [1 entry] "t", partitions [1], index 0,
        // records null (0), partition tags, topic tags, top-level tags.
        #expect(bytes(r.bytesForTest(version: 9)) == hex("00 0001 00000064 02 0274 02 00000000 00 00 00 00"))
        #expect(
            bytes(r.bytesForTest(version: 3)) == hex("FFFF 0001 00000064 00000001 0001 74 00000001 00000000 FFFFFFFF"))
    }

    @Test func produceV10NamesTheCurrentLeaderAndWhereItListens() throws {
        var p = ProduceResponse.PartitionResponse()
        p.index = 1
        p.errorCode = ErrorCode.notLeaderOrFollower.rawValue
        p.currentLeader = .init(leaderId: 2, leaderEpoch: 7)
        var r = ProduceResponse()
        r.responses = [.init(name: "t", partitions: [p])]
        var e = ProduceResponse.NodeEndpoint()
        e.nodeId = 2
        e.host = "h"
        e.port = 9093
        r.nodeEndpoints = [e]
        // responses [1] "t", partitions [1]: index 1, error 6, three offsets -1, record_errors [],
        // error_message null, tags {0: leader 2 epoch 7}; topic tags; throttle 0;
        // tags {0: [node 2 "h" 9093 rack null]}.
        let encoded = r.bytesForTest(version: 10)
        #expect(
            bytes(encoded)
                == hex(
                    "02 0274 02 00000001 0006 FFFFFFFFFFFFFFFF FFFFFFFFFFFFFFFF FFFFFFFFFFFFFFFF 01 00"
                        + " 01 00 09 00000002 00000007 00 00 00000000 01 00 0D 02 00000002 0268 00002385 00 00"))
        #expect(try ProduceResponse.decode(encoded, version: 10) == r)
        // v9 has no place for them.
        var v9 = try ProduceResponse.decode(r.bytesForTest(version: 9), version: 9)
        #expect(v9.nodeEndpoints.isEmpty && v9.responses[0].partitions[0].currentLeader == nil)
        v9.nodeEndpoints = r.nodeEndpoints
        v9.responses[0].partitions[0].currentLeader = p.currentLeader
        #expect(v9 == r)
    }

    @Test func describeTopicPartitionsMatchesTheSpecsLayout() throws {
        // topics ["a"], limit 2000, cursor null, tags.
        var r = DescribeTopicPartitionsRequest()
        r.topics = ["a"]
        #expect(bytes(r.bytesForTest(version: 0)) == hex("02 0261 00 000007D0 FF 00"))
        // A cursor is a nullable struct: 1, then its fields and tags.
        r.cursor = .init(topicName: "a", partitionIndex: 5)
        #expect(bytes(r.bytesForTest(version: 0)) == hex("02 0261 00 000007D0 01 0261 00000005 00 00"))
        #expect(try DescribeTopicPartitionsRequest.decode(r.bytesForTest(version: 0), version: 0) == r)
    }

    @Test func deleteRecordsMatchesTheSpecsLayout() throws {
        var r = DeleteRecordsRequest()
        r.topics = [.init()]
        r.topics[0].name = "t"
        r.topics[0].partitions = [.init()]
        r.topics[0].partitions[0].partitionIndex = 1
        r.topics[0].partitions[0].offset = 42
        r.timeoutMs = 100
        // topics [1] "t", partitions [1], index 1, offset 42, (tags,) timeout.
        #expect(
            bytes(r.bytesForTest(version: 2)) == hex("02 0274 02 00000001 000000000000002A 00 00 00000064 00"))
        #expect(
            bytes(r.bytesForTest(version: 1)) == hex("00000001 0001 74 00000001 00000001 000000000000002A 00000064"))
        var a = DeleteRecordsResponse()
        a.topics = [.init()]
        a.topics[0].name = "t"
        a.topics[0].partitions = [.init()]
        a.topics[0].partitions[0].partitionIndex = 1
        a.topics[0].partitions[0].lowWatermark = 42
        a.topics[0].partitions[0].errorCode = 1
        let encoded = a.bytesForTest(version: 2)
        #expect(bytes(encoded) == hex("00000000 02 0274 02 00000001 000000000000002A 0001 00 00 00"))
        #expect(try DeleteRecordsResponse.decode(encoded, version: 2) == a)
    }

    @Test func electLeadersBytesFollowTheSpec() throws {
        var r = ElectLeadersRequest()
        r.topicPartitions = [.init(name: "t", partitions: [3])]
        r.timeoutMs = 100
        // v0: topics [1] "t" [1] 3, timeout (no election type: preferred).
        #expect(bytes(r.bytesForTest(version: 0)) == hex("00000001 0001 74 00000001 00000003 00000064"))
        r.electionType = ElectLeadersRequest.unclean
        // v2: type 1, compact topics [1] "t" [1] 3, tags, timeout, tags.
        #expect(bytes(r.bytesForTest(version: 2)) == hex("01 02 0274 02 00000003 00 00000064 00"))
        r.topicPartitions = nil
        #expect(bytes(r.bytesForTest(version: 1)) == hex("01 FFFFFFFF 00000064"), "null: every partition")
        var a = ElectLeadersResponse()
        var p = ElectLeadersResponse.PartitionResult()
        p.partitionId = 3
        p.errorCode = 84
        a.replicaElectionResults = [.init(name: "t", partitions: [p])]
        // v1: throttle, error, results [1] "t" [1] partition 3, error 84, null message.
        let v1 = a.bytesForTest(version: 1)
        #expect(bytes(v1) == hex("00000000 0000 00000001 0001 74 00000001 00000003 0054 FFFF"))
        #expect(try ElectLeadersResponse.decode(v1, version: 1) == a)
    }

    @Test func reassignmentBytesFollowTheSpec() throws {
        // timeout 100, compact topics [1] "t", partitions [2]: 0 -> [3, 1], 1 -> null (cancel); tags.
        #expect(
            bytes(Samples.alterReassignmentsRequest.bytesForTest(version: 0))
                == hex("00000064 02 0274 03 00000000 03 00000003 00000001 00 00000001 00 00 00 00"))
        // throttle, error, null message, [1] "t" [1] partition 1, error 85, message "no"; tags.
        #expect(
            bytes(Samples.alterReassignmentsResponse.bytesForTest(version: 0))
                == hex("00000000 0000 00 02 0274 02 00000001 0055 03 6E6F 00 00 00"))
        // timeout, null topics (every reassignment), tags.
        #expect(bytes(ListPartitionReassignmentsRequest().bytesForTest(version: 0)) == hex("0000EA60 00 00"))
        // throttle, error, null message, [1] "t" [1] 0: replicas [3,1,0], adding [3], removing [0].
        #expect(
            bytes(Samples.listReassignmentsResponse.bytesForTest(version: 0))
                == hex(
                    "00000000 0000 00 02 0274 02 00000000 04 00000003 00000001 00000000 02 00000003 02 00000000 00 00 00"
                ))
    }

    @Test func unregisterBrokerBytesFollowTheSpec() throws {
        // broker id 3, tags.
        #expect(bytes(UnregisterBrokerRequest(brokerId: 3).bytesForTest(version: 0)) == hex("00000003 00"))
        // throttle, error 102, compact message "no", tags; and the null message of a success.
        #expect(
            bytes(UnregisterBrokerResponse(.brokerIdNotRegistered, "no").bytesForTest(version: 0))
                == hex("00000000 0066 03 6E6F 00"))
        #expect(bytes(UnregisterBrokerResponse().bytesForTest(version: 0)) == hex("00000000 0000 00 00"))
    }

    @Test func raftVoterBytesFollowTheSpec() throws {
        var add = AddRaftVoterRequest()
        add.voterId = 3
        add.timeoutMs = 1000
        add.listeners = [.init(name: "C", host: "h", port: 19095)]
        // null cluster id, timeout, voter id, uuid zero, listeners [1]: "C" "h" port, tags; tags.
        #expect(
            bytes(add.bytesForTest(version: 0))
                == hex("00 000003E8 00000003 00000000000000000000000000000000 02 0243 0268 4A97 00 00"))
        var remove = RemoveRaftVoterRequest()
        remove.voterId = 2
        remove.clusterId = "x"
        #expect(bytes(remove.bytesForTest(version: 0)) == hex("0278 00000002 00000000000000000000000000000000 00"))
    }

    @Test func describeLogDirsBytesFollowTheSpec() throws {
        var a = Samples.describeLogDirsResponse
        // v1: throttle, results [1]: error, "/data", topics [1] "t" [1] 1, size 4096, lag 3, false.
        let v1 = hex(
            "00000000 00000001 0000 0005 2F64617461 00000001 0001 74 00000001 00000001"
                + " 0000000000001000 0000000000000003 00")
        #expect(bytes(a.bytesForTest(version: 1)) == v1)
        // v4 adds the top-level error and the file system's total and usable bytes.
        #expect(try DescribeLogDirsResponse.decode(a.bytesForTest(version: 4), version: 4) == a)
        a.results[0].totalBytes = -1
        a.results[0].usableBytes = -1
        #expect(try DescribeLogDirsResponse.decode(a.bytesForTest(version: 3), version: 3) == a)
        #expect(bytes(DescribeLogDirsRequest().bytesForTest(version: 1)) == hex("FFFFFFFF"), "null: every replica")
    }

    @Test func offsetForLeaderEpochBytesAtV2AndV4() throws {
        // v2: no replica id; topics INT32 count, INT16 name; partition, current epoch, epoch.
        let v2 = Samples.offsetForLeaderEpochRequest.bytesForTest(version: 2)
        #expect(bytes(v2) == hex("00000001 0001 74 00000001 00000001 00000004 00000003"))
        #expect(try OffsetForLeaderEpochRequest.decode(v2, version: 2).replicaId == -2, "absent before v3: -2")
        // v4: replica id, compact arrays and strings, tagged fields.
        let v4 = Samples.offsetForLeaderEpochRequest.bytesForTest(version: 4)
        #expect(bytes(v4) == hex("FFFFFFFF 02 02 74 02 00000001 00000004 00000003 00 00 00"))
        let answer = Samples.offsetForLeaderEpochResponse.bytesForTest(version: 4)
        #expect(bytes(answer) == hex("00000000 02 02 74 02 0000 00000001 00000003 000000000000002A 00 00 00"))
        let v0 = Samples.offsetForLeaderEpochResponse.bytesForTest(version: 0)
        #expect(
            bytes(v0) == hex("00000001 0001 74 00000001 0000 00000001 000000000000002A"), "v0: no epoch, no throttle")
    }

    @Test func listOffsetsV0AnswersWithAnOffsetArray() throws {
        var p = ListOffsetsResponse.Partition()
        p.partitionIndex = 1
        p.oldStyleOffsets = [42]
        var t = ListOffsetsResponse.Topic()
        t.name = "t"
        t.partitions = [p]
        var r = ListOffsetsResponse()
        r.topics = [t]
        let encoded = r.bytesForTest(version: 0)
        #expect(bytes(encoded) == hex("00000001 0001 74 00000001 00000001 0000 00000001 000000000000002A"))
        #expect(try ListOffsetsResponse.decode(encoded, version: 0).topics[0].partitions[0].oldStyleOffsets == [42])
    }

    @Test func fetchTaggedFieldsAreWrittenOnlyWhenSet() throws {
        var plain = Samples.fetchResponse
        plain.responses[0].partitions[0].records = nil
        var tagged = plain
        tagged.responses[0].partitions[0].divergingEpoch = .init(epoch: 3, endOffset: 77)
        let a = bytes(plain.bytesForTest(version: 12))
        let b = bytes(tagged.bytesForTest(version: 12))
        // Tag 0, size 13 (epoch 4 + offset 8 + empty tags 1), then the fields.
        #expect(b.count == a.count + 2 + 13)
        let back = try FetchResponse.decode(buffer(b), version: 12)
        #expect(back.responses[0].partitions[0].divergingEpoch == .init(epoch: 3, endOffset: 77))
        #expect(back.responses[0].partitions[0].currentLeader == nil)
    }

    @Test func fetchAnswerNamesTheSnapshotInTag2() throws {
        var plain = Samples.fetchResponse
        plain.responses[0].partitions[0].records = nil
        var tagged = plain
        tagged.responses[0].partitions[0].snapshotId = .init(endOffset: 500, epoch: 4)
        let a = bytes(plain.bytesForTest(version: 12))
        let b = bytes(tagged.bytesForTest(version: 12))
        // Tag 2, size 13 (end offset 8 + epoch 4 + empty tags 1).
        #expect(b.count == a.count + 2 + 13)
        let field = hex("02 0D 00000000000001F4 00000004 00")  // tag, size, end offset, epoch, no tags
        #expect((0...(b.count - field.count)).contains { Array(b[$0..<$0 + field.count]) == field })
        let back = try FetchResponse.decode(buffer(b), version: 12)
        #expect(back.responses[0].partitions[0].snapshotId == .init(endOffset: 500, epoch: 4))
        #expect(back.responses[0].partitions[0].divergingEpoch == nil)
    }

    @Test func fetchSnapshotRequestBytesFollowTheSpec() {
        var p = FetchSnapshotRequest.Partition()
        p.currentLeaderEpoch = 2
        p.endOffset = 100
        p.epoch = 1
        p.position = 64
        var r = FetchSnapshotRequest()
        r.replicaId = 1
        r.maxBytes = 1024
        r.topics = [.init()]
        r.topics[0].name = "m"
        r.topics[0].partitions = [p]
        // replica id, max bytes, topics [1] "m", partitions [1]: partition 0, current leader epoch,
        // snapshot id {end offset, epoch, no tags}, position, no tags; topic tags; no top-level tags.
        #expect(
            bytes(r.bytesForTest(version: 0))
                == hex(
                    "00000001 00000400 02 026D 02 00000000 00000002 0000000000000064 00000001 00 0000000000000040 00 00 00"
                ))
    }

    @Test func incrementalAlterConfigsV0BytesFollowTheSpec() {
        var r = IncrementalAlterConfigsRequest()
        var res = IncrementalAlterConfigsRequest.Resource()
        res.resourceType = 2
        res.resourceName = "t"
        res.configs = [.init(name: "a", operation: .delete, value: nil)]
        r.resources = [res]
        // resources [1]: type 2, name "t", configs [1]: name "a", operation 1, value null; validate_only false.
        #expect(bytes(r.bytesForTest(version: 0)) == hex("00000001 02 0001 74 00000001 0001 61 01 FFFF 00"))
        // v1 is flexible: compact arrays and strings, and a tag section after each struct.
        #expect(bytes(r.bytesForTest(version: 1)) == hex("02 02 0274 02 0261 01 00 00 00 00 00"))
    }

    @Test func joinGroupV5AndOffsetCommitV2BytesFollowTheSpec() {
        var j = JoinGroupRequest()
        j.groupId = "g"
        j.sessionTimeoutMs = 10
        j.rebalanceTimeoutMs = 20
        j.memberId = ""
        j.groupInstanceId = nil
        j.protocolType = "c"
        var p = JoinGroupRequest.JoinProtocol()
        p.name = "r"
        p.metadata = ByteBuffer(bytes: [7])
        j.protocols = [p]
        // group "g", session 10, rebalance 20, member "", instance null, type "c",
        // protocols [1]: name "r", metadata (INT32 length 1) 07.
        #expect(
            bytes(j.bytesForTest(version: 5))
                == hex("0001 67 0000000A 00000014 0000 FFFF 0001 63 00000001 0001 72 00000001 07"))
        var c = OffsetCommitRequest()
        c.groupId = "g"
        c.generationId = 1
        c.memberId = "m"
        c.retentionTimeMs = -1
        var part = OffsetCommitRequest.Partition()
        part.partitionIndex = 0
        part.committedOffset = 5
        part.committedMetadata = nil
        c.topics = [.init()]
        c.topics[0].name = "t"
        c.topics[0].partitions = [part]
        // group, generation 1, member "m", retention -1, topics [1] "t", partitions [1]: 0, offset 5, metadata null.
        #expect(
            bytes(c.bytesForTest(version: 2))
                == hex(
                    "0001 67 00000001 0001 6D FFFFFFFFFFFFFFFF 00000001 0001 74 00000001 00000000 0000000000000005 FFFF"
                ))
    }

    // MARK: - Transactions: bytes written out by hand from Kafka's JSON specs, field by field.

    /// Encodes `message` at `version`, checks the bytes, and decodes the bytes back to `message`.
    func expectBytes<M: KafkaMessage & Equatable>(
        _ message: M, version: Int16, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(bytes(message.bytesForTest(version: version)) == hex(expected), sourceLocation: sourceLocation)
        #expect(try M.decode(buffer(hex(expected)), version: version) == message, sourceLocation: sourceLocation)
    }

    @Test func transactionMessagesDecodeToWhatWasEncodedAtEveryVersion() throws {
        /// `lost` gives what a version keeps of the sample: the fields it has no place for at
        /// their defaults.
        func check<M: KafkaMessage & Equatable>(_ sample: M, lost: (inout M, Int16) -> Void = { _, _ in }) throws {
            for v in M.apiKey.supported {
                var expected = sample
                lost(&expected, v)
                #expect(try M.decode(sample.bytesForTest(version: v), version: v) == expected, "\(M.self) v\(v)")
            }
        }
        try check(Samples.addPartitionsToTxnRequest)
        try check(Samples.addPartitionsToTxnResponse)
        try check(Samples.addOffsetsToTxnRequest)
        try check(Samples.addOffsetsToTxnResponse)
        try check(Samples.endTxnRequest)
        try check(Samples.endTxnResponse)
        try check(Samples.writeTxnMarkersRequest)
        try check(Samples.writeTxnMarkersResponse)
        try check(Samples.txnOffsetCommitRequest) { r, v in
            if v < 3 {
                r.generationId = -1
                r.memberId = ""
                r.groupInstanceId = nil
            }
            if v < 2 { r.topics[0].partitions[0].committedLeaderEpoch = -1 }
        }
        try check(Samples.txnOffsetCommitResponse)
        try check(Samples.describeProducersRequest)
        try check(Samples.describeProducersResponse)
        try check(Samples.describeTransactionsRequest)
        try check(Samples.describeTransactionsResponse)
        try check(Samples.listTransactionsRequest) { r, v in if v < 1 { r.durationFilter = -1 } }
        try check(Samples.listTransactionsResponse)
    }

    @Test func addPartitionsToTxnBytesFollowTheSpec() throws {
        try expectBytes(
            Samples.addPartitionsToTxnRequest, version: 3,
            "03 7478"  // v3_and_below_transactional_id "tx" (compact string)
                + " 0000000000000005"  // v3_and_below_producer_id
                + " 0001"  // v3_and_below_producer_epoch
                + " 02"  // v3_and_below_topics: 1 entry
                + " 02 74"  // name "t"
                + " 03 00000000 00000002"  // partitions [0, 2]
                + " 00"  // topic tags
                + " 00")  // tags
        try expectBytes(
            Samples.addPartitionsToTxnRequest, version: 0,
            "0002 7478"  // transactional id (INT16 length)
                + " 0000000000000005 0001"  // producer id, epoch
                + " 00000001 0001 74"  // topics: 1 entry, name "t"
                + " 00000002 00000000 00000002")  // partitions [0, 2]
        try expectBytes(
            Samples.addPartitionsToTxnResponse, version: 3,
            "00000007"  // throttle_time_ms
                + " 02"  // results_by_topic_v3_and_below: 1 entry
                + " 02 74"  // name "t"
                + " 02"  // results_by_partition: 1 entry
                + " 00000002"  // partition_index
                + " 0033"  // partition_error_code 51
                + " 00 00"  // partition tags, topic tags
                + " 00")  // tags
    }

    @Test func addOffsetsToTxnBytesFollowTheSpec() throws {
        try expectBytes(
            Samples.addOffsetsToTxnRequest, version: 4,
            "03 7478"  // transactional_id "tx"
                + " 0000000000000005"  // producer_id
                + " 0001"  // producer_epoch
                + " 02 67"  // group_id "g"
                + " 00")  // tags
        try expectBytes(
            Samples.addOffsetsToTxnResponse, version: 4,
            "00000007"  // throttle_time_ms
                + " 005A"  // error_code 90
                + " 00")  // tags
        try expectBytes(Samples.addOffsetsToTxnResponse, version: 2, "00000007 005A")
    }

    @Test func endTxnBytesFollowTheSpec() throws {
        try expectBytes(
            Samples.endTxnRequest, version: 4,
            "03 7478"  // transactional_id "tx"
                + " 0000000000000005"  // producer_id
                + " 0001"  // producer_epoch
                + " 01"  // committed
                + " 00")  // tags
        try expectBytes(
            Samples.endTxnResponse, version: 4,
            "00000007"  // throttle_time_ms
                + " 0030"  // error_code 48
                + " 00")  // tags
    }

    @Test func writeTxnMarkersBytesFollowTheSpec() throws {
        try expectBytes(
            Samples.writeTxnMarkersRequest, version: 1,
            "02"  // markers: 1 entry
                + " 0000000000000005"  // producer_id
                + " 0001"  // producer_epoch
                + " 01"  // transaction_result: COMMIT
                + " 02"  // topics: 1 entry
                + " 02 74"  // name "t"
                + " 02 00000001"  // partition_indexes [1]
                + " 00"  // topic tags
                + " 00000003"  // coordinator_epoch (after the topics)
                + " 00"  // marker tags
                + " 00")  // tags
        try expectBytes(
            Samples.writeTxnMarkersResponse, version: 1,
            "02"  // markers: 1 entry
                + " 0000000000000005"  // producer_id
                + " 02"  // topics: 1 entry
                + " 02 74"  // name "t"
                + " 02"  // partitions: 1 entry
                + " 00000001"  // partition_index
                + " 0034"  // error_code 52
                + " 00 00 00"  // partition, topic and marker tags
                + " 00")  // tags
        try expectBytes(
            Samples.writeTxnMarkersRequest, version: 0,
            "00000001 0000000000000005 0001 01 00000001 0001 74 00000001 00000001 00000003")
    }

    @Test func txnOffsetCommitBytesFollowTheSpec() throws {
        try expectBytes(
            Samples.txnOffsetCommitRequest, version: 4,
            "03 7478"  // transactional_id "tx"
                + " 02 67"  // group_id "g"
                + " 0000000000000005"  // producer_id
                + " 0001"  // producer_epoch
                + " 00000002"  // generation_id (v3+)
                + " 02 6D"  // member_id "m" (v3+)
                + " 02 69"  // group_instance_id "i" (v3+)
                + " 02"  // topics: 1 entry
                + " 02 74"  // name "t"
                + " 02"  // partitions: 1 entry
                + " 00000000"  // partition_index
                + " 000000000000002A"  // committed_offset 42
                + " 00000004"  // committed_leader_epoch (v2+)
                + " 02 78"  // committed_metadata "x"
                + " 00 00"  // partition tags, topic tags
                + " 00")  // tags
        try expectBytes(
            Samples.txnOffsetCommitResponse, version: 4,
            "00000007"  // throttle_time_ms
                + " 02"  // topics: 1 entry
                + " 02 74"  // name "t"
                + " 02"  // partitions: 1 entry
                + " 00000000"  // partition_index
                + " 0016"  // error_code 22
                + " 00 00"  // partition tags, topic tags
                + " 00")  // tags
        // v2 has the leader epoch but not the group's generation, member and instance ids; v0
        // neither.
        var v2 = Samples.txnOffsetCommitRequest
        v2.generationId = -1
        v2.memberId = ""
        v2.groupInstanceId = nil
        try expectBytes(
            v2, version: 2,
            "0002 7478 0001 67 0000000000000005 0001"  // transactional id, group, producer id, epoch
                + " 00000001 0001 74 00000001"  // topics [1] "t", partitions [1]
                + " 00000000 000000000000002A 00000004 0001 78")  // index, offset, leader epoch, "x"
        var v0 = v2
        v0.topics[0].partitions[0].committedLeaderEpoch = -1
        try expectBytes(
            v0, version: 0,
            "0002 7478 0001 67 0000000000000005 0001 00000001 0001 74 00000001 00000000 000000000000002A 0001 78")
    }

    @Test func describeProducersBytesFollowTheSpec() throws {
        try expectBytes(
            Samples.describeProducersRequest, version: 0,
            "02"  // topics: 1 entry
                + " 02 74"  // name "t"
                + " 03 00000000 00000001"  // partition_indexes [0, 1]
                + " 00"  // topic tags
                + " 00")  // tags
        try expectBytes(
            Samples.describeProducersResponse, version: 0,
            "00000007"  // throttle_time_ms
                + " 02"  // topics: 1 entry
                + " 02 74"  // name "t"
                + " 02"  // partitions: 1 entry
                + " 00000001"  // partition_index
                + " 0006"  // error_code 6
                + " 03 6E6F"  // error_message "no"
                + " 02"  // active_producers: 1 entry
                + " 0000000000000005"  // producer_id
                + " 00000001"  // producer_epoch (INT32 here)
                + " 00000009"  // last_sequence
                + " 0000018BCFE56800"  // last_timestamp 1,700,000,000,000
                + " 00000003"  // coordinator_epoch
                + " 0000000000000064"  // current_txn_start_offset 100
                + " 00 00 00"  // producer, partition and topic tags
                + " 00")  // tags
    }

    @Test func describeTransactionsBytesFollowTheSpec() throws {
        try expectBytes(
            Samples.describeTransactionsRequest, version: 0,
            "02 03 7478"  // transactional_ids ["tx"]
                + " 00")  // tags
        try expectBytes(
            Samples.describeTransactionsResponse, version: 0,
            "00000007"  // throttle_time_ms
                + " 02"  // transaction_states: 1 entry
                + " 0000"  // error_code
                + " 03 7478"  // transactional_id "tx"
                + " 08 4F6E676F696E67"  // transaction_state "Ongoing"
                + " 0000EA60"  // transaction_timeout_ms 60,000
                + " 0000018BCFE56800"  // transaction_start_time_ms
                + " 0000000000000005"  // producer_id
                + " 0001"  // producer_epoch
                + " 02"  // topics: 1 entry
                + " 02 74"  // topic "t"
                + " 03 00000000 00000001"  // partitions [0, 1]
                + " 00 00"  // topic tags, state tags
                + " 00")  // tags
    }

    @Test func listTransactionsBytesFollowTheSpec() throws {
        try expectBytes(
            Samples.listTransactionsRequest, version: 1,
            "02 08 4F6E676F696E67"  // state_filters ["Ongoing"]
                + " 02 0000000000000005"  // producer_id_filters [5]
                + " 0000000000001388"  // duration_filter 5,000 (v1+)
                + " 00")  // tags
        var v0 = Samples.listTransactionsRequest
        v0.durationFilter = -1
        try expectBytes(v0, version: 0, "02 08 4F6E676F696E67 02 0000000000000005 00")
        try expectBytes(
            Samples.listTransactionsResponse, version: 1,
            "00000007"  // throttle_time_ms
                + " 0000"  // error_code
                + " 02 04 426164"  // unknown_state_filters ["Bad"]
                + " 02"  // transaction_states: 1 entry
                + " 03 7478"  // transactional_id "tx"
                + " 0000000000000005"  // producer_id
                + " 08 4F6E676F696E67"  // transaction_state "Ongoing"
                + " 00"  // state tags
                + " 00")  // tags
    }
}

extension Samples {
    static var addPartitionsToTxnRequest: AddPartitionsToTxnRequest {
        var r = AddPartitionsToTxnRequest()
        r.transactionalId = "tx"
        r.producerId = 5
        r.producerEpoch = 1
        r.topics = [.init(name: "t", partitions: [0, 2])]
        return r
    }

    static var addPartitionsToTxnResponse: AddPartitionsToTxnResponse {
        var p = AddPartitionsToTxnResponse.PartitionResult()
        p.partitionIndex = 2
        p.partitionErrorCode = ErrorCode.concurrentTransactions.rawValue
        var t = AddPartitionsToTxnResponse.TopicResult()
        t.name = "t"
        t.resultsByPartition = [p]
        var r = AddPartitionsToTxnResponse()
        r.throttleTimeMs = 7
        r.results = [t]
        return r
    }

    static var addOffsetsToTxnRequest: AddOffsetsToTxnRequest {
        var r = AddOffsetsToTxnRequest()
        r.transactionalId = "tx"
        r.producerId = 5
        r.producerEpoch = 1
        r.groupId = "g"
        return r
    }

    static var addOffsetsToTxnResponse: AddOffsetsToTxnResponse {
        var r = AddOffsetsToTxnResponse()
        r.throttleTimeMs = 7
        r.errorCode = ErrorCode.producerFenced.rawValue
        return r
    }

    static var endTxnRequest: EndTxnRequest {
        var r = EndTxnRequest()
        r.transactionalId = "tx"
        r.producerId = 5
        r.producerEpoch = 1
        r.committed = true
        return r
    }

    static var endTxnResponse: EndTxnResponse {
        var r = EndTxnResponse()
        r.throttleTimeMs = 7
        r.errorCode = ErrorCode.invalidTxnState.rawValue
        return r
    }

    static var writeTxnMarkersRequest: WriteTxnMarkersRequest {
        var t = WriteTxnMarkersRequest.Topic()
        t.name = "t"
        t.partitionIndexes = [1]
        var m = WriteTxnMarkersRequest.Marker()
        m.producerId = 5
        m.producerEpoch = 1
        m.transactionResult = true
        m.topics = [t]
        m.coordinatorEpoch = 3
        var r = WriteTxnMarkersRequest()
        r.markers = [m]
        return r
    }

    static var writeTxnMarkersResponse: WriteTxnMarkersResponse {
        var p = WriteTxnMarkersResponse.Partition()
        p.partitionIndex = 1
        p.errorCode = ErrorCode.transactionCoordinatorFenced.rawValue
        var m = WriteTxnMarkersResponse.Marker()
        m.producerId = 5
        m.topics = [.init(name: "t", partitions: [p])]
        var r = WriteTxnMarkersResponse()
        r.markers = [m]
        return r
    }

    static var txnOffsetCommitRequest: TxnOffsetCommitRequest {
        var p = TxnOffsetCommitRequest.Partition()
        p.partitionIndex = 0
        p.committedOffset = 42
        p.committedLeaderEpoch = 4
        p.committedMetadata = "x"
        var r = TxnOffsetCommitRequest()
        r.transactionalId = "tx"
        r.groupId = "g"
        r.producerId = 5
        r.producerEpoch = 1
        r.generationId = 2
        r.memberId = "m"
        r.groupInstanceId = "i"
        r.topics = [.init(name: "t", partitions: [p])]
        return r
    }

    static var txnOffsetCommitResponse: TxnOffsetCommitResponse {
        var p = TxnOffsetCommitResponse.Partition()
        p.partitionIndex = 0
        p.errorCode = ErrorCode.illegalGeneration.rawValue
        var r = TxnOffsetCommitResponse()
        r.throttleTimeMs = 7
        r.topics = [.init(name: "t", partitions: [p])]
        return r
    }

    static var describeProducersRequest: DescribeProducersRequest {
        var t = DescribeProducersRequest.Topic()
        t.name = "t"
        t.partitionIndexes = [0, 1]
        var r = DescribeProducersRequest()
        r.topics = [t]
        return r
    }

    static var describeProducersResponse: DescribeProducersResponse {
        var a = DescribeProducersResponse.ProducerState()
        a.producerId = 5
        a.producerEpoch = 1
        a.lastSequence = 9
        a.lastTimestamp = 1_700_000_000_000
        a.coordinatorEpoch = 3
        a.currentTxnStartOffset = 100
        var p = DescribeProducersResponse.Partition()
        p.partitionIndex = 1
        p.errorCode = ErrorCode.notLeaderOrFollower.rawValue
        p.errorMessage = "no"
        p.activeProducers = [a]
        var r = DescribeProducersResponse()
        r.throttleTimeMs = 7
        r.topics = [.init(name: "t", partitions: [p])]
        return r
    }

    static var describeTransactionsRequest: DescribeTransactionsRequest {
        var r = DescribeTransactionsRequest()
        r.transactionalIds = ["tx"]
        return r
    }

    static var describeTransactionsResponse: DescribeTransactionsResponse {
        var d = DescribeTransactionsResponse.TopicData()
        d.topic = "t"
        d.partitions = [0, 1]
        var t = DescribeTransactionsResponse.TransactionState()
        t.transactionalId = "tx"
        t.transactionState = "Ongoing"
        t.transactionTimeoutMs = 60_000
        t.transactionStartTimeMs = 1_700_000_000_000
        t.producerId = 5
        t.producerEpoch = 1
        t.topics = [d]
        var r = DescribeTransactionsResponse()
        r.throttleTimeMs = 7
        r.transactionStates = [t]
        return r
    }

    static var listTransactionsRequest: ListTransactionsRequest {
        var r = ListTransactionsRequest()
        r.stateFilters = ["Ongoing"]
        r.producerIdFilters = [5]
        r.durationFilter = 5000
        return r
    }

    static var listTransactionsResponse: ListTransactionsResponse {
        var t = ListTransactionsResponse.TransactionState()
        t.transactionalId = "tx"
        t.producerId = 5
        t.transactionState = "Ongoing"
        var r = ListTransactionsResponse()
        r.throttleTimeMs = 7
        r.unknownStateFilters = ["Bad"]
        r.transactionStates = [t]
        return r
    }
}
