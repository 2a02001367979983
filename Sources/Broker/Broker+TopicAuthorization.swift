import KafkaProtocol
import Metadata
import NIOCore

extension Broker {
    /// `authorizing` for Metadata, DescribeTopicPartitions, CreateTopics, DeleteTopics,
    /// CreatePartitions and DeleteRecords.
    func authorizingTopics(_ c: ApiCall, acls: AclIndex) throws -> EventLoopFuture<ByteBuffer?>? {
        let (api, v, body, session, listener, loop) = (c.api, c.version, c.body, c.session, c.listener, c.loop)
        let (may, cluster) = (mayFor(c.session, acls), aclClusterResourceName)

        switch api {
        case .describeTopicPartitions:
            let request = try DescribeTopicPartitionsRequest.decode(body, version: v)
            return try c.answer(
                describeTopicPartitions(request, mayDescribe: { may(.describe, .topic, $0) }) { [self] in
                    authorizedOperations(session, .topic, $0, acls: acls)
                })
        case .metadata:
            var request = try MetadataRequest.decode(body, version: v)
            let named = request.topics?.compactMap(\.name)
            let denied = Set((named ?? []).filter { !may(.describe, .topic, $0) })
            // A topic asked for by id alone (v10+) is checked under the name the image gives
            // it; ids are not secret, so a refusal names the id (as Kafka answers).
            let idImage = registry.image
            let deniedIds = Set(
                (request.topics ?? []).filter { t in
                    guard t.name == nil, let name = idImage.topic(id: t.topicId)?.name else { return false }
                    return !may(.describe, .topic, name)
                }.map(\.topicId))
            if request.allowAutoTopicCreation && !may(.create, .cluster, cluster) {
                let image = registry.image
                let missing = (named ?? []).filter { !denied.contains($0) && image.topics[$0] == nil }
                if !missing.allSatisfy({ may(.create, .topic, $0) }) { request.allowAutoTopicCreation = false }
            }
            if request.topics != nil {
                request.topics?.removeAll { t in
                    t.name.map(denied.contains) ?? deniedIds.contains(t.topicId)
                }
            }
            let wantsTopicOps = request.includeTopicAuthorizedOperations
            let wantsClusterOps = request.includeClusterAuthorizedOperations
            // Metadata v0 reads an empty list as every topic.
            let listAll = request.topics == nil || (v == 0 && request.topics?.isEmpty == true)
            let asked = request
            return c.answer(
                metadata(asked, version: v, listener: listener, on: loop).map { [self] resp in
                    var r = resp
                    if listAll { r.topics.removeAll { !may(.describe, .topic, $0.name ?? "") } }
                    for name in (named ?? []) where denied.contains(name) {
                        var t = MetadataResponse.Topic()
                        t.name = name
                        t.errorCode = Self.topicDenied
                        r.topics.append(t)
                    }
                    for id in deniedIds {
                        var t = MetadataResponse.Topic()
                        t.topicId = id
                        t.errorCode = Self.topicDenied
                        r.topics.append(t)
                    }
                    if wantsTopicOps {
                        for i in r.topics.indices where r.topics[i].errorCode == 0 {
                            r.topics[i].topicAuthorizedOperations = authorizedOperations(
                                session, .topic, r.topics[i].name ?? "", acls: acls)
                        }
                    }
                    if wantsClusterOps {
                        r.clusterAuthorizedOperations = authorizedOperations(session, .cluster, cluster, acls: acls)
                    }
                    return r
                })
        case .createTopics:
            var request = try CreateTopicsRequest.decode(body, version: v)
            guard !may(.create, .cluster, cluster) else { return nil }
            let denied = Self.carve(&request.topics) { !may(.create, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { t in
                var r = CreateTopicsResponse.Topic()
                r.name = t.name
                r.errorCode = Self.topicDenied
                r.errorMessage = "Authorization failed."
                return r
            }
            return c.answer(
                Self.merging(request.topics.isEmpty, on: loop, { createTopics(request, version: v, on: loop) }) {
                    $0.topics += refused
                })
        case .deleteTopics:
            var request = try DeleteTopicsRequest.decode(body, version: v)
            let image = registry.image
            func name(_ t: DeleteTopicsRequest.TopicState) -> String? { t.name ?? image.topic(id: t.topicId)?.name }
            let denied = Self.carve(&request.topics) { t in name(t).map { !may(.delete, .topic, $0) } ?? false }
            guard !denied.isEmpty else { return nil }
            request.topics.removeAll { t in denied.contains(t) }
            let refused = denied.map { t in
                var r = DeleteTopicsResponse.Result()
                r.name = t.name
                r.topicId = t.topicId
                r.errorCode = Self.topicDenied
                r.errorMessage = "Authorization failed."
                return r
            }
            return c.answer(
                Self.merging(request.topics.isEmpty, on: loop, { deleteTopics(request, on: loop) }) {
                    $0.responses += refused
                })
        case .createPartitions:
            var request = try CreatePartitionsRequest.decode(body, version: v)
            let denied = Self.carve(&request.topics) { !may(.alter, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            let refused = denied.map { t in
                var r = CreatePartitionsResponse.Result()
                r.name = t.name
                r.errorCode = Self.topicDenied
                r.errorMessage = "Authorization failed."
                return r
            }
            return c.answer(
                Self.merging(request.topics.isEmpty, on: loop, { createPartitions(request, on: loop) }) {
                    $0.results += refused
                })
        case .deleteRecords:
            var request = try DeleteRecordsRequest.decode(body, version: v)
            let denied = Self.carve(&request.topics) { !may(.delete, .topic, $0.name) }
            guard !denied.isEmpty else { return nil }
            var r = request.topics.isEmpty ? DeleteRecordsResponse() : deleteRecords(request)
            r.topics += denied.map { DeleteRecordsResponse.Topic.failing($0, Self.topicDenied) }
            return try c.answer(r)
        default:
            return nil
        }
    }
}
