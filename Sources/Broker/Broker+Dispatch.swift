import KafkaProtocol
import NIOCore

extension Broker {
    /// Who answers each API of the client listeners (the table in ApiKey says which those are).
    static let clientApis = ApiDispatch<Broker>(
        .client,
        [
            .apiVersions: { _, c in try c.answerApiVersions(for: .client) },
            .metadata: { b, c in
                c.answer(b.metadata(try c.decode(), version: c.version, listener: c.listener, on: c.loop))
            },
            .produce: { b, c in
                let request = try c.decode(ProduceRequest.self)
                if request.acks == 0 {
                    _ = b.produce(request, version: c.version, fromClient: true)
                    return c.loop.makeSucceededFuture(nil)
                }
                return c.answer(
                    b.produceAsync(request, version: c.version, on: c.loop, fromClient: true, listener: c.listener))
            },
            .fetch: { b, c in
                c.answer(
                    b.sessionFetch(
                        try c.decode(), version: c.version, session: c.session, on: c.loop, listener: c.listener))
            },
            .listOffsets: { b, c in try c.answer(b.listOffsets(c.decode(), version: c.version)) },
            .describeTopicPartitions: { b, c in
                try c.answer(b.describeTopicPartitions(c.decode(), operations: { _ in Broker.allOperations(.topic) }))
            },
            .offsetForLeaderEpoch: { b, c in try c.answer(b.offsetForLeaderEpoch(c.decode())) },
            .createTopics: { b, c in c.answer(b.createTopics(try c.decode(), version: c.version, on: c.loop)) },
            .deleteRecords: { b, c in try c.answer(b.deleteRecords(c.decode())) },
            .deleteTopics: { b, c in c.answer(b.deleteTopics(try c.decode(), on: c.loop)) },
            .createPartitions: { b, c in c.answer(b.createPartitions(try c.decode(), on: c.loop)) },
            .electLeaders: { b, c in try b.electLeaders(c) },
            .alterPartitionReassignments: { b, c in
                let request = try c.decode(AlterPartitionReassignmentsRequest.self)
                guard let gateway = b.gateway.withLockedValue({ $0 }) else {
                    return try c.answer(
                        AlterPartitionReassignmentsResponse.refusing(
                            request, .notController, "There is no active controller."))
                }
                return c.answer(gateway.alterPartitionReassignments(request))
            },
            .listPartitionReassignments: { b, c in
                let request = try c.decode(ListPartitionReassignmentsRequest.self)
                guard let gateway = b.gateway.withLockedValue({ $0 }) else {
                    var r = ListPartitionReassignmentsResponse()
                    r.errorCode = ErrorCode.notController.rawValue
                    r.errorMessage = "There is no active controller."
                    return try c.answer(r)
                }
                return c.answer(gateway.listPartitionReassignments(request))
            },
            .unregisterBroker: { b, c in
                let request = try c.decode(UnregisterBrokerRequest.self)
                guard let gateway = b.gateway.withLockedValue({ $0 }) else {
                    return try c.answer(UnregisterBrokerResponse(.notController, "There is no active controller."))
                }
                return c.answer(gateway.unregisterBroker(request))
            },
            .addRaftVoter: { b, c in
                let request = try c.decode(AddRaftVoterRequest.self)
                guard let gateway = b.gateway.withLockedValue({ $0 }) else {
                    return try c.answer(AddRaftVoterResponse(.notController, "There is no active controller."))
                }
                return c.answer(gateway.addRaftVoter(request))
            },
            .removeRaftVoter: { b, c in
                let request = try c.decode(RemoveRaftVoterRequest.self)
                guard let gateway = b.gateway.withLockedValue({ $0 }) else {
                    return try c.answer(RemoveRaftVoterResponse(.notController, "There is no active controller."))
                }
                return c.answer(gateway.removeRaftVoter(request))
            },
            .describeConfigs: { b, c in try c.answer(b.describeConfigs(c.decode(), version: c.version)) },
            .describeLogDirs: { b, c in try c.answer(b.describeLogDirs(c.decode())) },
            .findCoordinator: { b, c in
                try c.answer(b.findCoordinator(c.decode(), version: c.version, listener: c.listener))
            },
            .initProducerId: { b, c in
                let request = try c.decode(InitProducerIdRequest.self)
                guard request.transactionalId != nil else { return try c.answer(b.initProducerId(request)) }
                return c.answer(b.initTransactionalProducerId(request, session: c.session, on: c.loop))
            },
            .addPartitionsToTxn: { b, c in
                c.answer(b.addPartitionsToTxn(try c.decode(), version: c.version, session: c.session, on: c.loop))
            },
            .addOffsetsToTxn: { b, c in
                c.answer(b.addOffsetsToTxn(try c.decode(), version: c.version, session: c.session, on: c.loop))
            },
            .endTxn: { b, c in c.answer(b.endTxn(try c.decode(), version: c.version, session: c.session, on: c.loop)) },
            .txnOffsetCommit: { b, c in
                c.answer(b.txnOffsetCommit(try c.decode(), version: c.version, session: c.session, on: c.loop))
            },
            .writeTxnMarkers: { b, c in
                let request = try c.decode(WriteTxnMarkersRequest.self)
                // Markers come from transaction coordinators: other brokers, on the inter-broker
                // listener, with CLUSTER_ACTION. A client elsewhere cannot end transactions.
                let onInterBroker = c.listener == nil || b.config.interBrokerListener.map { $0 == c.listener } ?? true
                guard onInterBroker && b.actsForCluster(c.session) else {
                    var r = WriteTxnMarkersResponse()
                    r.markers = request.markers.map { m in
                        var x = WriteTxnMarkersResponse.Marker()
                        x.producerId = m.producerId
                        x.topics = m.topics.map { t in
                            var topic = WriteTxnMarkersResponse.Topic()
                            topic.name = t.name
                            topic.partitions = t.partitionIndexes.map {
                                var p = WriteTxnMarkersResponse.Partition()
                                p.partitionIndex = $0
                                p.errorCode = Broker.clusterDenied
                                return p
                            }
                            return topic
                        }
                        return x
                    }
                    return try c.answer(r)
                }
                return c.answer(b.writeTxnMarkers(request, on: c.loop))
            },
            .describeTransactions: { b, c in
                c.answer(b.describeTransactions(try c.decode(), session: c.session, on: c.loop))
            },
            .listTransactions: { b, c in c.answer(b.listTransactions(try c.decode(), session: c.session, on: c.loop)) },
            .describeProducers: { b, c in try c.answer(b.describeProducers(c.decode(), session: c.session)) },
            .joinGroup: { b, c in
                c.answer(b.joinGroup(try c.decode(), version: c.version, clientId: c.header.clientId, on: c.loop))
            },
            .syncGroup: { b, c in c.answer(b.syncGroup(try c.decode(), on: c.loop)) },
            .heartbeat: { b, c in c.answer(b.heartbeat(try c.decode(), on: c.loop)) },
            .leaveGroup: { b, c in c.answer(b.leaveGroup(try c.decode(), version: c.version, on: c.loop)) },
            .offsetCommit: { b, c in c.answer(b.offsetCommit(try c.decode(), on: c.loop)) },
            .offsetFetch: { b, c in c.answer(b.offsetFetch(try c.decode(), version: c.version, on: c.loop)) },
            .listGroups: { b, c in c.answer(b.listGroups(try c.decode(), on: c.loop)) },
            .describeGroups: { b, c in c.answer(b.describeGroups(try c.decode(), on: c.loop)) },
            .offsetDelete: { b, c in c.answer(b.offsetDelete(try c.decode(), on: c.loop)) },
            .deleteGroups: { b, c in c.answer(b.deleteGroups(try c.decode(), on: c.loop)) },
            .incrementalAlterConfigs: { b, c in c.answer(b.incrementalAlterConfigs(try c.decode(), on: c.loop)) },
            .alterConfigs: { b, c in c.answer(b.alterConfigs(try c.decode(), on: c.loop)) },
            .describeUserScramCredentials: { b, c in try c.answer(b.describeUserScramCredentials(c.decode())) },
            .alterUserScramCredentials: { b, c in try b.alterUserScramCredentials(c) },
            .describeCluster: { b, c in
                let request = try c.decode(DescribeClusterRequest.self)
                return try c.answer(
                    b.describeCluster(
                        listener: c.listener, includeOperations: request.includeClusterAuthorizedOperations))
            },
            .describeQuorum: { b, c in
                _ = try c.decode(DescribeQuorumRequest.self)
                guard let describe = b.describeQuorum.withLockedValue({ $0 }) else {
                    return c.loop.makeFailedFuture(ProtocolError.unknownApiKey(c.header.apiKey))
                }
                return c.answer(describe())
            },
            // A listener with SASL answers these before the broker sees them; here there is none.
            .saslHandshake: { _, c in
                _ = try c.decode(SaslHandshakeRequest.self)
                var r = SaslHandshakeResponse()
                r.errorCode = ErrorCode.illegalSaslState.rawValue
                return try c.answer(r)
            },
            .saslAuthenticate: { _, c in
                _ = try c.decode(SaslAuthenticateRequest.self)
                var r = SaslAuthenticateResponse()
                r.errorCode = ErrorCode.illegalSaslState.rawValue
                r.errorMessage = "listener \(c.listener ?? "?") does not use SASL"
                return try c.answer(r)
            },
            // With an authorizer, `authorizing` answers the ACL APIs; without one they are disabled.
            .describeAcls: { b, c in try b.securityDisabled(c) },
            .createAcls: { b, c in try b.securityDisabled(c) },
            .deleteAcls: { b, c in try b.securityDisabled(c) },
        ])

    /// The encoded response body for a request, or nil when none is sent (Produce with acks=0).
    /// A future that fails means the request could not be decoded: the connection is closed.
    /// `listener` names the client listener the request arrived on; Metadata, FindCoordinator
    /// and DescribeCluster answer with that listener's addresses.
    public func handle(
        _ header: RequestHeader, body: ByteBuffer, on loop: any EventLoop, listener: String? = nil,
        session: Session = Session()
    ) -> EventLoopFuture<ByteBuffer?> {
        Self.clientApis.dispatch(self, header, body: body, on: loop, listener: listener, session: session) {
            try authorizing($0)
        }
    }

    /// ElectLeaders goes to the active controller; without one every partition is refused.
    private func electLeaders(_ c: ApiCall) throws -> EventLoopFuture<ByteBuffer?> {
        let request = try c.decode(ElectLeadersRequest.self)
        guard let gateway = gateway.withLockedValue({ $0 }) else {
            return try c.answer(
                ElectLeadersResponse.refusing(request, .notController, "There is no active controller."))
        }
        return c.answer(gateway.electLeaders(request))
    }

    private func alterUserScramCredentials(_ c: ApiCall) throws -> EventLoopFuture<ByteBuffer?> {
        let request = try c.decode(AlterUserScramCredentialsRequest.self)
        guard let gateway = gateway.withLockedValue({ $0 }) else {
            var r = AlterUserScramCredentialsResponse()
            r.results = (request.deletions.map(\.name) + request.upsertions.map(\.name)).map {
                var u = AlterUserScramCredentialsResponse.Result()
                u.user = $0
                u.errorCode = ErrorCode.notController.rawValue
                return u
            }
            return try c.answer(r)
        }
        return c.answer(gateway.alterUserScramCredentials(request))
    }
}
