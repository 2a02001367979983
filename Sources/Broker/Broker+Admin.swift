import KafkaProtocol
import Storage

extension Broker {
    func listOffsets(_ request: ListOffsetsRequest, version: Int16) throws -> ListOffsetsResponse {
        var response = ListOffsetsResponse()
        for topic in request.topics {
            var tr = ListOffsetsResponse.Topic()
            tr.name = topic.name
            for rp in topic.partitions {
                var pr = ListOffsetsResponse.Partition()
                pr.partitionIndex = rp.partitionIndex
                defer { tr.partitions.append(pr) }
                guard let p = topics.partition(topic.name, rp.partitionIndex) else {
                    pr.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
                    continue
                }
                pr.leaderEpoch = 0
                switch rp.timestamp {
                case ListOffsetsRequest.latestTimestamp:
                    pr.offset = p.log.logEndOffset
                case ListOffsetsRequest.earliestTimestamp:
                    pr.offset = p.log.logStartOffset
                case let ts where ts >= 0:
                    do {
                        if let found = try p.log.offset(forTimestamp: ts) {
                            pr.offset = found.offset
                            pr.timestamp = found.timestamp
                        }
                    } catch {
                        pr.errorCode = ErrorCode.unknownServerError.rawValue
                    }
                default:
                    pr.errorCode = ErrorCode.invalidRequest.rawValue
                }
                if version == 0 && pr.offset >= 0 { pr.oldStyleOffsets = [pr.offset] }
            }
            response.topics.append(tr)
        }
        return response
    }

    func createTopics(_ request: CreateTopicsRequest, version: Int16) -> CreateTopicsResponse {
        var response = CreateTopicsResponse()
        for t in request.topics {
            var r = CreateTopicsResponse.Topic()
            r.name = t.name
            defer { response.topics.append(r) }
            let partitions =
                t.numPartitions == -1
                ? (t.assignments.isEmpty ? config.numPartitions : Int32(t.assignments.count)) : t.numPartitions
            let rf =
                t.replicationFactor == -1
                ? (t.assignments.first.map { Int16($0.brokerIds.count) } ?? config.defaultReplicationFactor)
                : t.replicationFactor
            if rf < 1 {
                r.errorCode = ErrorCode.invalidReplicationFactor.rawValue
                r.errorMessage = "Replication factor must be larger than 0, got \(rf)."
                continue
            }
            if rf > 1 {
                r.errorCode = ErrorCode.invalidReplicationFactor.rawValue
                r.errorMessage =
                    "Unable to replicate the partition \(rf) time(s): The target replication factor of \(rf) cannot be reached because only 1 broker(s) are registered."
                continue
            }
            if t.assignments.contains(where: { $0.brokerIds != [config.nodeId] }) {
                r.errorCode = ErrorCode.invalidReplicaAssignment.rawValue
                r.errorMessage = "Replica assignments may only name broker \(config.nodeId)."
                continue
            }
            var configs: [String: String] = [:]
            for c in t.configs { if let v = c.value { configs[c.name] = v } }
            do {
                let info = try topics.create(
                    name: t.name, partitions: partitions, configs: configs, validateOnly: request.validateOnly)
                r.topicId = info.id
                r.numPartitions = partitions
                r.replicationFactor = 1
                if version >= 5 {
                    r.configs = describeTopicConfigs(info.configs, keys: nil).map { c in
                        var out = CreateTopicsResponse.Config()
                        out.name = c.name
                        out.value = c.value
                        out.configSource = c.configSource
                        return out
                    }
                }
            } catch TopicStore.CreateError.exists {
                r.errorCode = ErrorCode.topicAlreadyExists.rawValue
                r.errorMessage = "Topic '\(t.name)' already exists."
            } catch TopicStore.CreateError.invalid(let code, let message) {
                r.errorCode = code.rawValue
                r.errorMessage = message
            } catch {
                logger.error("creating topic \(t.name) failed: \(error)")
                r.errorCode = ErrorCode.unknownServerError.rawValue
                r.errorMessage = "\(error)"
            }
        }
        return response
    }

    func deleteTopics(_ request: DeleteTopicsRequest, version: Int16) -> DeleteTopicsResponse {
        var response = DeleteTopicsResponse()
        for t in request.topics {
            var r = DeleteTopicsResponse.Result()
            r.name = t.name
            r.topicId = t.topicId
            defer { response.responses.append(r) }
            let name = t.name ?? topics.get(id: t.topicId)?.name
            guard let name, let info = topics.get(name) else {
                r.errorCode = (t.name == nil ? ErrorCode.unknownTopicId : .unknownTopicOrPartition).rawValue
                r.errorMessage = "This server does not host this topic."
                continue
            }
            r.name = name
            r.topicId = info.id
            do {
                if try !topics.delete(name: name) { r.errorCode = ErrorCode.unknownTopicOrPartition.rawValue }
            } catch {
                logger.error("deleting topic \(name) failed: \(error)")
                r.errorCode = ErrorCode.unknownServerError.rawValue
                r.errorMessage = "\(error)"
            }
        }
        return response
    }

    func createPartitions(_ request: CreatePartitionsRequest) -> CreatePartitionsResponse {
        var response = CreatePartitionsResponse()
        for t in request.topics {
            var r = CreatePartitionsResponse.Result()
            r.name = t.name
            do {
                try topics.addPartitions(name: t.name, count: t.count, validateOnly: request.validateOnly)
            } catch TopicStore.CreateError.invalid(let code, let message) {
                r.errorCode = code.rawValue
                r.errorMessage = message
            } catch {
                r.errorCode = ErrorCode.unknownServerError.rawValue
                r.errorMessage = "\(error)"
            }
            response.results.append(r)
        }
        return response
    }

    func describeTopicConfigs(_ overrides: [String: String], keys: [String]?) -> [DescribeConfigsResponse.Config] {
        let defaults = TopicConfigs.defaults(config)
        return defaults.keys.sorted().filter { keys == nil || keys!.contains($0) }.map { name in
            var c = DescribeConfigsResponse.Config()
            c.name = name
            if let v = overrides[name] {
                c.value = v
                c.configSource = DescribeConfigsResponse.Source.dynamicTopic.rawValue
            } else {
                c.value = defaults[name]
                c.isDefault = true
                c.configSource = DescribeConfigsResponse.Source.defaultConfig.rawValue
            }
            return c
        }
    }

    func describeConfigs(_ request: DescribeConfigsRequest, version: Int16) -> DescribeConfigsResponse {
        var response = DescribeConfigsResponse()
        for res in request.resources {
            var r = DescribeConfigsResponse.Result()
            r.resourceType = res.resourceType
            r.resourceName = res.resourceName
            switch res.resourceType {
            case DescribeConfigsRequest.topicResource:
                if let t = topics.get(res.resourceName) {
                    r.configs = describeTopicConfigs(t.configs, keys: res.configurationKeys)
                } else {
                    r.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
                    r.errorMessage = "Topic \(res.resourceName) does not exist."
                }
            case DescribeConfigsRequest.brokerResource:
                let settings: [(String, String)] = [
                    ("auto.create.topics.enable", String(config.autoCreateTopics)),
                    ("broker.id", String(config.nodeId)),
                    ("default.replication.factor", String(config.defaultReplicationFactor)),
                    ("log.dirs", config.logDirs),
                    ("log.segment.bytes", String(config.logSegmentBytes)),
                    ("message.max.bytes", String(config.messageMaxBytes)),
                    ("min.insync.replicas", String(config.minInsyncReplicas)),
                    ("node.id", String(config.nodeId)),
                    ("num.partitions", String(config.numPartitions)),
                ]
                r.configs = settings.filter { res.configurationKeys == nil || res.configurationKeys!.contains($0.0) }
                    .map {
                        var c = DescribeConfigsResponse.Config()
                        c.name = $0.0
                        c.value = $0.1
                        c.readOnly = true
                        c.configSource = DescribeConfigsResponse.Source.staticBroker.rawValue
                        return c
                    }
            default:
                r.errorCode = ErrorCode.invalidRequest.rawValue
                r.errorMessage = "Resource type \(res.resourceType) is not supported; use 2 (topic) or 4 (broker)."
            }
            response.results.append(r)
        }
        return response
    }
}
