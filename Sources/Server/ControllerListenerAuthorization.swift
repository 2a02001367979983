import Broker
import KafkaProtocol
import Logging
import NIOCore

/// With an authorizer, the controller listener serves the cluster's own nodes: principals with
/// CLUSTER_ACTION on the cluster (super users). Anyone else may ask ApiVersions, may read
/// DescribeQuorum with DESCRIBE on the cluster, and may send the admin requests that brokers
/// forward, which are then checked against the principal's own ACLs exactly as a broker
/// listener checks them; quorum RPCs, registrations, heartbeats and AlterPartition get
/// CLUSTER_AUTHORIZATION_FAILED, as Kafka's controllers answer them.
enum ControllerListenerAuthorization {
    static let forwardedAdminApis: Set<ApiKey> = [
        .createTopics, .deleteTopics, .createPartitions, .incrementalAlterConfigs, .alterUserScramCredentials,
        .createAcls, .deleteAcls, .electLeaders, .alterPartitionReassignments, .listPartitionReassignments,
        .unregisterBroker, .addRaftVoter, .removeRaftVoter,
    ]

    /// Nil: the request goes to the quorum controller as it is.
    static func refusal(
        _ header: RequestHeader, body: ByteBuffer, session: Session, broker: Broker, listener: String,
        on loop: any EventLoop, logger: Logger, limiter: LogLimiter
    ) -> EventLoopFuture<ResponseBody?>? {
        guard broker.config.authorizer != nil, let api = ApiKey(rawValue: header.apiKey),
            api.supported.contains(header.apiVersion), !broker.actsForCluster(session)
        else { return nil }
        if api == .apiVersions { return nil }
        if api == .describeQuorum, broker.mayDescribeCluster(session) { return nil }
        if forwardedAdminApis.contains(api) {
            return broker.respond(header, body: body, on: loop, listener: listener, session: session)
        }
        limiter.warn(
            logger,
            "refused \(api) from \(session.principal) at \(session.host) on the \(listener) listener: it is not a node of this cluster (no CLUSTER_ACTION on the cluster)"
        )
        /// The response of `api` with nothing in it but its top-level error code.
        func refused<M: KafkaMessage>(_: M.Type, _ field: WritableKeyPath<M, Int16>) throws -> ByteBuffer {
            var r = M()
            r[keyPath: field] = ErrorCode.clusterAuthorizationFailed.rawValue
            return try r.encoded(version: header.apiVersion)
        }
        do {
            let bytes: ByteBuffer
            switch api {
            case .vote: bytes = try refused(VoteResponse.self, \.errorCode)
            case .beginQuorumEpoch: bytes = try refused(BeginQuorumEpochResponse.self, \.errorCode)
            case .endQuorumEpoch: bytes = try refused(EndQuorumEpochResponse.self, \.errorCode)
            case .fetch: bytes = try refused(FetchResponse.self, \.errorCode)
            case .fetchSnapshot: bytes = try refused(FetchSnapshotResponse.self, \.errorCode)
            case .describeQuorum: bytes = try refused(DescribeQuorumResponse.self, \.errorCode)
            case .brokerRegistration: bytes = try refused(BrokerRegistrationResponse.self, \.errorCode)
            case .brokerHeartbeat: bytes = try refused(BrokerHeartbeatResponse.self, \.errorCode)
            case .alterPartition: bytes = try refused(AlterPartitionResponse.self, \.errorCode)
            default: return loop.makeFailedFuture(ProtocolError.unknownApiKey(header.apiKey))
            }
            return loop.makeSucceededFuture(ResponseBody(bytes: bytes))
        } catch {
            return loop.makeFailedFuture(error)
        }
    }
}
