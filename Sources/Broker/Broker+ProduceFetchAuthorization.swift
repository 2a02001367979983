import KafkaProtocol
import Metadata
import NIOCore

extension Broker {
    /// `authorizing` for Produce, Fetch, ListOffsets, OffsetForLeaderEpoch and InitProducerId.
    func authorizingProduceFetch(_ c: ApiCall, acls: AclIndex) throws -> EventLoopFuture<ByteBuffer?>? {
        let (api, v, body, session, listener, loop) = (c.api, c.version, c.body, c.session, c.listener, c.loop)
        let (may, cluster) = (mayFor(c.session, acls), aclClusterResourceName)

        switch api {
        case .produce:
            var request = try ProduceRequest.decode(body, version: v)
            let txnDenied = request.transactionalId.map { !may(.write, .transactionalId, $0) } ?? false
            let denied = Self.carve(&request.topics) { txnDenied || !may(.write, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let code = txnDenied ? ErrorCode.transactionalIdAuthorizationFailed.rawValue : Self.topicDenied
            let refused = denied.map { ProduceResponse.TopicResponse.failing($0, code) }
            if request.acks == 0 {
                if !request.topics.isEmpty { _ = produce(request, version: v, fromClient: true) }
                return loop.makeSucceededFuture(nil)
            }
            return c.answer(
                Self.merging(
                    request.topics.isEmpty, on: loop,
                    {
                        produceAsync(request, version: v, on: loop, fromClient: true, listener: listener)
                    }
                ) { $0.responses += refused })
        case .fetch:
            let request = try FetchRequest.decode(body, version: v)
            return c.answer(sessionFetch(request, version: v, session: session, on: loop, listener: listener))
        case .listOffsets:
            var request = try ListOffsetsRequest.decode(body, version: v)
            let denied = Self.carve(&request.topics) { !may(.describe, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            var r = try listOffsets(request, version: v)
            r.topics += denied.map { ListOffsetsResponse.Topic.failing($0, Self.topicDenied) }
            return try c.answer(r)
        case .offsetForLeaderEpoch:
            var request = try OffsetForLeaderEpochRequest.decode(body, version: v)
            let denied = Self.carve(&request.topics) { !may(.describe, .topic, $0.topic) }
            guard !denied.isEmpty else { return nil }
            var r = try offsetForLeaderEpoch(request)
            r.topics += denied.map { OffsetForLeaderEpochResponse.Topic.failing($0, Self.topicDenied) }
            return try c.answer(r)
        case .initProducerId:
            let request = try InitProducerIdRequest.decode(body, version: v)
            var r = InitProducerIdResponse()
            if let txn = request.transactionalId {
                guard !may(.write, .transactionalId, txn) else { return nil }
                r.errorCode = ErrorCode.transactionalIdAuthorizationFailed.rawValue
            } else {
                // Kafka's rule for idempotent producers: IDEMPOTENT_WRITE on the cluster, or
                // WRITE on any topic.
                guard !may(.idempotentWrite, .cluster, cluster) else { return nil }
                let image = registry.image
                if image.topics.keys.contains(where: { may(.write, .topic, $0) }) { return nil }
                r.errorCode = Self.clusterDenied
            }
            r.producerId = -1
            r.producerEpoch = -1
            return try c.answer(r)
        default:
            return nil
        }
    }

    /// Fetch with each topic the session may not read (or, for a follower, every topic without
    /// CLUSTER_ACTION) answered TOPIC_AUTHORIZATION_FAILED.
    func authorizedFetch(
        _ request: FetchRequest, version v: Int16, session: Session, on loop: any EventLoop, listener: String?
    ) -> EventLoopFuture<FetchResponse> {
        guard config.authorizer != nil else { return fetch(request, version: v, on: loop, listener: listener) }
        let acls = registry.image.acls
        let replica = request.replicaId >= 0
        let clusterAction = replica && allowed(session, .clusterAction, .cluster, aclClusterResourceName, acls: acls)
        let isDenied: (FetchRequest.Topic) -> Bool = { [self] in
            replica ? !clusterAction : !allowed(session, .read, .topic, $0.topic, acls: acls)
        }
        let denied = request.topics.filter(isDenied)
        guard !denied.isEmpty else { return fetch(request, version: v, on: loop, listener: listener) }
        let refused = denied.map { FetchResponse.Topic.failing($0, ErrorCode.topicAuthorizationFailed.rawValue) }
        // Only the topics the session may read are fetched; the others are answered refused.
        var request = request
        request.topics.removeAll(where: isDenied)
        let served =
            request.topics.isEmpty
            ? loop.makeSucceededFuture(FetchResponse())
            : fetch(request, version: v, on: loop, listener: listener)
        return served.map {
            var r = $0
            r.responses += refused
            return r
        }
    }
}
