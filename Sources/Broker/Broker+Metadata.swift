import KafkaProtocol

extension Broker {
    func metadata(_ request: MetadataRequest, version: Int16) -> MetadataResponse {
        var r = MetadataResponse()
        r.brokers = [.init(nodeId: config.nodeId, host: config.advertisedHost, port: config.advertisedPort)]
        r.clusterId = clusterId
        r.controllerId = config.nodeId
        let wanted: [TopicInfo?]
        var unknown: [(String?, KafkaUUID)] = []
        if let requested = request.topics {
            wanted = requested.map { t in
                if let name = t.name {
                    if let found = topics.get(name) { return found }
                    if request.allowAutoTopicCreation && config.autoCreateTopics
                        && TopicStore.validateName(name) == nil,
                        let created = try? topics.create(
                            name: name, partitions: config.numPartitions, configs: [:], validateOnly: false)
                    {
                        return created
                    }
                    if let existing = topics.get(name) { return existing }  // created concurrently
                } else if let found = topics.get(id: t.topicId) {
                    return found
                }
                unknown.append((t.name, t.topicId))
                return nil
            }
        } else {
            wanted = topics.all()
        }
        for info in wanted.compactMap({ $0 }) {
            var t = MetadataResponse.Topic()
            t.name = info.name
            t.topicId = info.id
            t.partitions = info.partitions.map { p in
                var mp = MetadataResponse.Partition()
                mp.partitionIndex = p.index
                mp.leaderId = config.nodeId
                mp.leaderEpoch = 0
                mp.replicaNodes = [config.nodeId]
                mp.isrNodes = [config.nodeId]
                return mp
            }
            r.topics.append(t)
        }
        for (name, id) in unknown {
            var t = MetadataResponse.Topic()
            t.name = name
            t.topicId = id
            t.errorCode =
                (name == nil
                ? ErrorCode.unknownTopicId
                : name.flatMap(TopicStore.validateName) != nil ? .invalidTopicException : .unknownTopicOrPartition)
                .rawValue
            r.topics.append(t)
        }
        return r
    }
}
