import KafkaProtocol
import NIOCore
import Testing

@Suite struct HeaderTests {
    @Test func requestHeaderV2KeepsClassicClientIdThenTaggedFields() throws {
        // Metadata v9 is flexible: header v2. client_id stays INT16-length.
        var b = ByteBufferAllocator().buffer(capacity: 32)
        RequestHeader(apiKey: 3, apiVersion: 9, correlationId: 7, clientId: "ab").encode(into: &b)
        #expect(bytes(b) == hex("0003 0009 00000007 0002 6162 00"))
        var r = KafkaReader(b)
        let h = try RequestHeader.decode(from: &r)
        #expect(h == RequestHeader(apiKey: 3, apiVersion: 9, correlationId: 7, clientId: "ab"))
        #expect(r.remaining == 0)
        #expect(r.flexible)
    }

    @Test func requestHeaderV1HasNoTaggedFields() throws {
        var b = ByteBufferAllocator().buffer(capacity: 32)
        RequestHeader(apiKey: 0, apiVersion: 7, correlationId: 1, clientId: nil).encode(into: &b)
        #expect(bytes(b) == hex("0000 0007 00000001 FFFF"))
    }

    @Test func headerVersionsFollowFlexibleBoundaries() {
        // From Kafka's specs: the first flexible version of each API.
        let expected: [ApiKey: Int16] = [
            .apiVersions: 3, .metadata: 9, .produce: 9, .fetch: 12, .listOffsets: 6, .createTopics: 5,
            .deleteTopics: 4, .deleteRecords: 2, .describeConfigs: 4, .initProducerId: 2, .createPartitions: 2,
            .findCoordinator: 3, .offsetForLeaderEpoch: 4,
            .vote: 0, .beginQuorumEpoch: 1, .endQuorumEpoch: 1, .describeQuorum: 0, .brokerRegistration: 0,
            .brokerHeartbeat: 0, .alterPartition: 0, .describeCluster: 0, .fetchSnapshot: 0,
            .alterConfigs: 2, .incrementalAlterConfigs: 1, .offsetCommit: 8, .offsetFetch: 6, .joinGroup: 6,
            .heartbeat: 4, .leaveGroup: 4, .syncGroup: 4, .describeGroups: 5, .listGroups: 3, .deleteGroups: 2,
            .offsetDelete: Int16.max, .saslHandshake: Int16.max, .saslAuthenticate: 2,
            .describeUserScramCredentials: 0, .alterUserScramCredentials: 0, .describeAcls: 2, .createAcls: 2,
            .deleteAcls: 2, .electLeaders: 2, .describeLogDirs: 2, .alterPartitionReassignments: 0,
            .listPartitionReassignments: 0, .unregisterBroker: 0, .describeTopicPartitions: 0, .addRaftVoter: 0,
            .removeRaftVoter: 0, .addPartitionsToTxn: 3, .addOffsetsToTxn: 3, .endTxn: 3, .writeTxnMarkers: 1,
            .txnOffsetCommit: 3, .describeProducers: 0, .describeTransactions: 0, .listTransactions: 0,
        ]
        for api in ApiKey.allCases {
            let first = expected[api]!
            #expect(api.firstFlexibleVersion == first)
            #expect(api.requestHeaderVersion(first) == 2)
            if first > 0 { #expect(api.requestHeaderVersion(first - 1) == 1) }
            #expect(api.responseHeaderVersion(first) == (api == .apiVersions ? 0 : 1))
        }
    }

    @Test func theApiTableHasOneRowPerApiWithItsOwnRequestType() {
        #expect(ApiKey.table.map(\.key) == ApiKey.allCases)
        for spec in ApiKey.table {
            #expect(spec.request.apiKey == spec.key, "\(spec.name)")
            #expect(!spec.listeners.isEmpty, "\(spec.name)")
            #expect(spec.versions.lowerBound >= 0)
        }
        // The quorum's own RPCs are served on the CONTROLLER listener only, as in Kafka.
        let controllerOnly: Set<ApiKey> = [
            .vote, .beginQuorumEpoch, .endQuorumEpoch, .brokerRegistration, .brokerHeartbeat, .alterPartition,
            .fetchSnapshot,
        ]
        #expect(Set(ApiKey.allCases).subtracting(ApiKey.clientListener) == controllerOnly)
        #expect(controllerOnly.isSubset(of: ApiKey.controllerListener))
        #expect(ApiKey.controllerListener.contains(.apiVersions) && ApiKey.controllerListener.contains(.fetch))
    }

    @Test func apiVersionsV0AnswerListsRangesWithError35() throws {
        let r = ApiVersionsResponse.supported(errorCode: .unsupportedVersion)
        let encoded = r.bytesForTest(version: 0)
        // error_code INT16 35, then INT32 count of entries.
        #expect(Array(bytes(encoded).prefix(6)) == hex("0023 00000032"))  // 50 client APIs
        let back = try ApiVersionsResponse.decode(encoded, version: 0)
        #expect(back.errorCode == 35)
        #expect(back.apiKeys.count == ApiKey.clientListener.count)
        #expect(!back.apiKeys.contains { $0.apiKey == ApiKey.vote.rawValue })
        #expect(back.apiKeys.first { $0.apiKey == 0 }?.minVersion == 0)
    }

    @Test func apiVersionsV3AnswerCarriesNoTaggedFieldsBesidesEmptySections() {
        // librdkafka 2.0.2 (Debian's kcat) misreads default-valued tagged fields: none may appear.
        var r = ApiVersionsResponse()
        r.apiKeys = [.init(apiKey: 18, minVersion: 0, maxVersion: 3)]
        #expect(bytes(r.bytesForTest(version: 3)) == hex("0000 02 0012 0000 0003 00 00000000 00"))
    }
}
