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
        .createAcls, .deleteAcls,
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
        let code = ErrorCode.clusterAuthorizationFailed.rawValue
        let v = header.apiVersion
        do {
            let bytes: ByteBuffer
            switch api {
            case .vote:
                var r = VoteResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            case .beginQuorumEpoch:
                var r = BeginQuorumEpochResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            case .endQuorumEpoch:
                var r = EndQuorumEpochResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            case .fetch:
                var r = FetchResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            case .fetchSnapshot:
                var r = FetchSnapshotResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            case .describeQuorum:
                var r = DescribeQuorumResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            case .brokerRegistration:
                var r = BrokerRegistrationResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            case .brokerHeartbeat:
                var r = BrokerHeartbeatResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            case .alterPartition:
                var r = AlterPartitionResponse()
                r.errorCode = code
                bytes = try r.encoded(version: v)
            default:
                return loop.makeFailedFuture(ProtocolError.unknownApiKey(header.apiKey))
            }
            return loop.makeSucceededFuture(ResponseBody(bytes: bytes))
        } catch {
            return loop.makeFailedFuture(error)
        }
    }
}
