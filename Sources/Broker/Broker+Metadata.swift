import KafkaProtocol
import Metadata
import NIOCore

extension Broker {
    /// Answers from the committed metadata image. Topics that do not exist are created through
    /// the active controller when auto-creation is allowed, as Kafka does.
    func metadata(_ request: MetadataRequest, version: Int16, listener: String?, on loop: any EventLoop)
        -> EventLoopFuture<
            MetadataResponse
        >
    {
        let image = registry.image
        let missing: [String]
        if let requested = request.topics, request.allowAutoTopicCreation, config.autoCreateTopics {
            missing = requested.compactMap(\.name).filter {
                image.topics[$0] == nil && PartitionRegistry.validateName($0) == nil
            }
        } else {
            missing = []
        }
        guard !missing.isEmpty, let gateway = gateway.withLockedValue({ $0 }) else {
            return loop.makeSucceededFuture(buildMetadata(request, image: image, creating: [], listener: listener))
        }
        var create = CreateTopicsRequest()
        create.topics = missing.map {
            var t = CreateTopicsRequest.Topic()
            t.name = $0
            return t
        }
        return gateway.createTopics(create).hop(to: loop).map { [self] _ in
            buildMetadata(request, image: registry.image, creating: Set(missing), listener: listener)
        }.flatMapErrorThrowing { [self] _ in
            buildMetadata(request, image: registry.image, creating: Set(missing), listener: listener)
        }
    }

    /// Brokers are described with the address of the listener the request came in on, as Kafka
    /// does, so a client inside a container network and one outside each get addresses they can
    /// reach.
    func buildMetadata(_ request: MetadataRequest, image: MetadataImage, creating: Set<String>, listener: String?)
        -> MetadataResponse
    {
        var r = MetadataResponse()
        r.brokers = image.brokers.values.filter { !$0.fenced }.sorted { $0.id < $1.id }.compactMap { b in
            b.endpoint(listener).map { .init(nodeId: b.id, host: $0.host, port: $0.port, rack: b.rack) }
        }
        if r.brokers.isEmpty {
            // Before this node has registered, clients still need a broker to talk to.
            r.brokers = [.init(nodeId: config.nodeId, host: config.advertisedHost, port: config.advertisedPort)]
        }
        r.clusterId = clusterId
        r.controllerId = Self.advertisedController(
            active: gateway.withLockedValue { $0 }?.activeControllerId, this: config.nodeId,
            listed: r.brokers.map(\.nodeId))
        let live = Set(image.liveBrokers)
        func describe(_ t: MetadataImage.Topic) -> MetadataResponse.Topic {
            var out = MetadataResponse.Topic()
            out.name = t.name
            out.topicId = t.id
            out.isInternal = t.name.hasPrefix("__")
            out.partitions = t.partitions.sorted { $0.key < $1.key }.map { index, p in
                var mp = MetadataResponse.Partition()
                mp.partitionIndex = index
                mp.leaderId = p.leader
                mp.leaderEpoch = p.leaderEpoch
                mp.replicaNodes = p.replicas
                mp.isrNodes = p.isr
                mp.offlineReplicas = p.replicas.filter { !live.contains($0) }
                if p.leader < 0 { mp.errorCode = ErrorCode.leaderNotAvailable.rawValue }
                return mp
            }
            return out
        }
        if let requested = request.topics {
            for t in requested {
                if let name = t.name, let found = image.topics[name] {
                    r.topics.append(describe(found))
                } else if t.name == nil, let found = image.topic(id: t.topicId) {
                    r.topics.append(describe(found))
                } else {
                    var out = MetadataResponse.Topic()
                    out.name = t.name
                    out.topicId = t.topicId
                    let code: ErrorCode =
                        t.name == nil
                        ? .unknownTopicId
                        : PartitionRegistry.validateName(t.name!) != nil
                            ? .invalidTopicException
                            : creating.contains(t.name!) ? .leaderNotAvailable : .unknownTopicOrPartition
                    out.errorCode = code.rawValue
                    r.topics.append(out)
                }
            }
        } else {
            r.topics = image.topics.values.sorted { $0.name < $1.name }.map(describe)
        }
        // Without an authorizer every operation is allowed, and said so when asked (as Kafka).
        if config.authorizer == nil {
            if request.includeTopicAuthorizedOperations {
                for i in r.topics.indices where r.topics[i].errorCode == 0 {
                    r.topics[i].topicAuthorizedOperations = Self.allOperations(.topic)
                }
            }
            if request.includeClusterAuthorizedOperations {
                r.clusterAuthorizedOperations = Self.allOperations(.cluster)
            }
        }
        return r
    }

    /// The "controller" a Metadata or DescribeCluster answer names: always one of the brokers in
    /// the same answer, since every broker forwards admin requests. The active controller when
    /// it is listed, else this node, else the first listed broker (Kafka in KRaft mode names a
    /// random live broker). Naming a broker that the answer leaves out (the active controller
    /// right after it restarted and re-registered, fenced until it catches up) made librdkafka
    /// drop that broker and then wait for "the controller" until its admin request timed out:
    /// issue 25.
    static func advertisedController(active: Int32?, this: Int32, listed: [Int32]) -> Int32 {
        if let active, listed.contains(active) { return active }
        if listed.contains(this) { return this }
        return listed.first ?? this
    }

    /// The live brokers and the active controller, from the committed image.
    func describeCluster(listener: String?, includeOperations: Bool = false) -> DescribeClusterResponse {
        let md = buildMetadata(MetadataRequest(), image: registry.image, creating: [], listener: listener)
        var r = DescribeClusterResponse()
        r.clusterId = clusterId
        r.controllerId = md.controllerId
        if includeOperations && config.authorizer == nil {
            r.clusterAuthorizedOperations = Self.allOperations(.cluster)
        }
        r.brokers = md.brokers.map {
            var b = DescribeClusterResponse.Broker()
            b.brokerId = $0.nodeId
            b.host = $0.host
            b.port = $0.port
            b.rack = $0.rack
            return b
        }
        return r
    }
}

extension Broker {
    /// The most partitions one DescribeTopicPartitions answer holds, whatever the request asks
    /// (Kafka's max.request.partition.size.limit default).
    static let describeTopicPartitionsLimit: Int32 = 2000

    /// DescribeTopicPartitions (KIP-966): the named topics (every topic when none is named) in
    /// name order from the cursor, at most the partition limit; the rest through `nextCursor`.
    /// Topics `mayDescribe` refuses are left out of a listing of all topics and answered
    /// TOPIC_AUTHORIZATION_FAILED when named.
    func describeTopicPartitions(
        _ request: DescribeTopicPartitionsRequest, mayDescribe: (String) -> Bool = { _ in true },
        operations: ((String) -> Int32)? = nil
    ) -> DescribeTopicPartitionsResponse {
        let image = registry.image
        let live = Set(image.liveBrokers)
        let names =
            request.topics.isEmpty
            ? image.topics.keys.filter(mayDescribe).sorted() : Set(request.topics).sorted()
        var budget = Int(min(max(request.responsePartitionLimit, 1), Self.describeTopicPartitionsLimit))
        var r = DescribeTopicPartitionsResponse()
        for name in names {
            if let cursor = request.cursor, name < cursor.topicName { continue }
            var t = DescribeTopicPartitionsResponse.Topic()
            t.name = name
            guard mayDescribe(name) else {
                t.errorCode = Self.topicDenied
                r.topics.append(t)
                continue
            }
            guard let topic = image.topics[name] else {
                t.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
                r.topics.append(t)
                continue
            }
            let first = request.cursor.flatMap { $0.topicName == name ? $0.partitionIndex : nil } ?? 0
            let indexes = topic.partitions.keys.filter { $0 >= first }.sorted()
            if budget == 0 {
                if let next = indexes.first { r.nextCursor = .init(topicName: name, partitionIndex: next) }
                if r.nextCursor != nil { break }
                continue
            }
            t.topicId = topic.id
            t.isInternal = name.hasPrefix("__")
            t.topicAuthorizedOperations = operations?(name) ?? Int32.min
            for index in indexes {
                guard budget > 0 else {
                    r.nextCursor = .init(topicName: name, partitionIndex: index)
                    break
                }
                guard let p = topic.partitions[index] else { continue }
                var out = DescribeTopicPartitionsResponse.Partition()
                out.partitionIndex = index
                out.leaderId = p.leader
                out.leaderEpoch = p.leaderEpoch
                out.replicaNodes = p.replicas
                out.isrNodes = p.isr
                out.offlineReplicas = p.replicas.filter { !live.contains($0) }
                if p.leader < 0 { out.errorCode = ErrorCode.leaderNotAvailable.rawValue }
                t.partitions.append(out)
                budget -= 1
            }
            r.topics.append(t)
            if r.nextCursor != nil { break }
        }
        return r
    }
}
