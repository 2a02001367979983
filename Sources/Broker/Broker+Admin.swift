import KafkaProtocol
import Metadata
import NIOCore
import Storage

extension Broker {
    /// DeleteRecords, answered by each partition's leader: the log start offset moves at once
    /// (readers below it get OFFSET_OUT_OF_RANGE), the segments wholly below it go at the next
    /// retention pass, and followers take the new start from their next fetch.
    func deleteRecords(_ request: DeleteRecordsRequest) -> DeleteRecordsResponse {
        var response = DeleteRecordsResponse()
        for topic in request.topics {
            var tr = DeleteRecordsResponse.Topic()
            tr.name = topic.name
            for rp in topic.partitions {
                var pr = DeleteRecordsResponse.Partition()
                pr.partitionIndex = rp.partitionIndex
                defer { tr.partitions.append(pr) }
                guard let p = registry.partition(topic.name, rp.partitionIndex), p.isLeader else {
                    let known = registry.image.topics[topic.name]?.partitions[rp.partitionIndex] != nil
                    pr.errorCode = (known ? ErrorCode.notLeaderOrFollower : .unknownTopicOrPartition).rawValue
                    continue
                }
                do {
                    guard let start = try p.log.deleteRecords(before: rp.offset) else {
                        pr.errorCode = ErrorCode.offsetOutOfRange.rawValue
                        continue
                    }
                    pr.lowWatermark = start
                    logger.info("\(topic.name)-\(rp.partitionIndex): records before \(start) deleted (DeleteRecords)")
                } catch {
                    logger.error("DeleteRecords on \(topic.name)-\(rp.partitionIndex) failed: \(error)")
                    pr.errorCode = ErrorCode.kafkaStorageError.rawValue
                }
            }
            response.topics.append(tr)
        }
        return response
    }

    /// The partition and its leader epoch when this broker leads it and the client means this
    /// leadership: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER, or (KIP-320, for a
    /// `current_leader_epoch` other than -1) FENCED_LEADER_EPOCH when the client's is older and
    /// UNKNOWN_LEADER_EPOCH when it is newer, so that it refreshes its metadata.
    enum Leading {
        case led(PartitionState, epoch: Int32)
        case refused(ErrorCode)
    }

    func leading(_ topic: String, _ index: Int32, currentLeaderEpoch: Int32) -> Leading {
        guard let p = registry.partition(topic, index) else {
            let known = registry.image.topics[topic]?.partitions[index] != nil
            return .refused(known ? .notLeaderOrFollower : .unknownTopicOrPartition)
        }
        let (leader, epoch) = p.leadership
        guard leader == config.nodeId else { return .refused(.notLeaderOrFollower) }
        if currentLeaderEpoch >= 0 && currentLeaderEpoch != epoch {
            return .refused(currentLeaderEpoch < epoch ? .fencedLeaderEpoch : .unknownLeaderEpoch)
        }
        return .led(p, epoch: epoch)
    }

    func listOffsets(_ request: ListOffsetsRequest, version: Int16) throws -> ListOffsetsResponse {
        var response = ListOffsetsResponse()
        for topic in request.topics {
            var tr = ListOffsetsResponse.Topic()
            tr.name = topic.name
            for rp in topic.partitions {
                var pr = ListOffsetsResponse.Partition()
                pr.partitionIndex = rp.partitionIndex
                defer { tr.partitions.append(pr) }
                let p: PartitionState
                let epoch: Int32
                switch leading(topic.name, rp.partitionIndex, currentLeaderEpoch: rp.currentLeaderEpoch) {
                case .refused(let e):
                    pr.errorCode = e.rawValue
                    continue
                case .led(let led, let e): (p, epoch) = (led, e)
                }
                pr.leaderEpoch = epoch
                // Consumers (replica id -1) see only what is replicated, as Fetch shows them:
                // the high watermark, not the log end. A new leader whose high watermark is
                // still below its epoch's start would answer an offset lower than the last
                // leader gave; it answers OFFSET_NOT_AVAILABLE (retriable) until it catches up.
                let consumer = request.replicaId == -1
                let lastFetchable =
                    consumer
                    ? (request.isolationLevel == 1 ? p.log.lastStableOffset : p.log.highWatermark)
                    : p.log.logEndOffset
                let catchingUp = consumer && p.leaderEpochStartOffset > p.log.highWatermark
                switch rp.timestamp {
                case ListOffsetsRequest.latestTimestamp:
                    if catchingUp {
                        pr.errorCode = ErrorCode.offsetNotAvailable.rawValue
                    } else {
                        pr.offset = lastFetchable
                    }
                case ListOffsetsRequest.earliestTimestamp, ListOffsetsRequest.earliestLocalTimestamp:
                    // All of the log is local: its earliest local offset is its start (KIP-405).
                    pr.offset = p.log.logStartOffset
                case ListOffsetsRequest.maxTimestamp:
                    do {
                        if let found = try p.log.offsetOfMaxTimestamp(), found.offset < lastFetchable {
                            pr.offset = found.offset
                            pr.timestamp = found.timestamp
                        }
                    } catch {
                        pr.errorCode = ErrorCode.unknownServerError.rawValue
                    }
                case ListOffsetsRequest.latestTieredTimestamp:
                    // Nothing is tiered (KIP-1005): no offset, as Kafka answers for such topics.
                    break
                case let ts where ts >= 0:
                    do {
                        if let found = try p.log.offset(forTimestamp: ts), found.offset < lastFetchable {
                            pr.offset = found.offset
                            pr.timestamp = found.timestamp
                        } else if catchingUp {
                            pr.errorCode = ErrorCode.offsetNotAvailable.rawValue
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

    /// OffsetForLeaderEpoch as a partition's leader: where each asked epoch ends in this log
    /// (KIP-320: a consumer compares it with its position after a leader change), after the
    /// same `leading` checks as ListOffsets.
    func offsetForLeaderEpoch(_ request: OffsetForLeaderEpochRequest) throws -> OffsetForLeaderEpochResponse {
        var response = OffsetForLeaderEpochResponse()
        for topic in request.topics {
            var tr = OffsetForLeaderEpochResponse.Topic()
            tr.topic = topic.topic
            for rp in topic.partitions {
                var pr = OffsetForLeaderEpochResponse.Partition()
                pr.partition = rp.partition
                defer { tr.partitions.append(pr) }
                switch leading(topic.topic, rp.partition, currentLeaderEpoch: rp.currentLeaderEpoch) {
                case .refused(let e): pr.errorCode = e.rawValue
                case .led(let p, _): (pr.leaderEpoch, pr.endOffset) = p.log.epochEnd(for: rp.leaderEpoch)
                }
            }
            response.topics.append(tr)
        }
        return response
    }

    /// Topic changes go to the active controller; a refused or unreachable controller gives each
    /// topic an error (NOT_CONTROLLER is retriable) rather than a closed connection.
    func createTopics(_ request: CreateTopicsRequest, version: Int16, on loop: any EventLoop) -> EventLoopFuture<
        CreateTopicsResponse
    > {
        guard let gateway = gateway.withLockedValue({ $0 }) else {
            return loop.makeSucceededFuture(Self.failAll(request, .notController, "the metadata quorum is not running"))
        }
        return gateway.createTopics(request).hop(to: loop).map { [self] response in
            guard version >= 5 else { return response }
            var r = response
            let image = registry.image
            for i in r.topics.indices where r.topics[i].errorCode == 0 {
                let overrides = image.topics[r.topics[i].name]?.configs ?? [:]
                r.topics[i].configs = describeTopicConfigs(overrides, keys: nil).map { c in
                    var out = CreateTopicsResponse.Config()
                    out.name = c.name
                    out.value = c.value
                    out.configSource = c.configSource
                    return out
                }
            }
            return r
        }.flatMapErrorThrowing { error in
            Self.failAll(request, .notController, "the active controller could not be reached: \(error)")
        }
    }

    static func failAll(_ request: CreateTopicsRequest, _ code: ErrorCode, _ message: String) -> CreateTopicsResponse {
        var r = CreateTopicsResponse()
        r.topics = request.topics.map {
            var t = CreateTopicsResponse.Topic()
            t.name = $0.name
            t.errorCode = code.rawValue
            t.errorMessage = message
            return t
        }
        return r
    }

    func deleteTopics(_ request: DeleteTopicsRequest, on loop: any EventLoop) -> EventLoopFuture<DeleteTopicsResponse> {
        // Name topics given by id, so the controller needs only names.
        var named = request
        let image = registry.image
        for i in named.topics.indices where named.topics[i].name == nil {
            named.topics[i].name = image.topic(id: named.topics[i].topicId)?.name
        }
        guard let gateway = gateway.withLockedValue({ $0 }) else {
            var r = DeleteTopicsResponse()
            r.responses = request.topics.map {
                var x = DeleteTopicsResponse.Result()
                x.name = $0.name
                x.errorCode = ErrorCode.notController.rawValue
                return x
            }
            return loop.makeSucceededFuture(r)
        }
        return gateway.deleteTopics(named).hop(to: loop)
    }

    func createPartitions(_ request: CreatePartitionsRequest, on loop: any EventLoop) -> EventLoopFuture<
        CreatePartitionsResponse
    > {
        guard let gateway = gateway.withLockedValue({ $0 }) else {
            var r = CreatePartitionsResponse()
            r.results = request.topics.map {
                var x = CreatePartitionsResponse.Result()
                x.name = $0.name
                x.errorCode = ErrorCode.notController.rawValue
                return x
            }
            return loop.makeSucceededFuture(r)
        }
        return gateway.createPartitions(request).hop(to: loop)
    }

    /// IncrementalAlterConfigs goes to the active controller; when it cannot be reached every
    /// resource gets NOT_CONTROLLER (retriable) with the reason.
    func incrementalAlterConfigs(_ request: IncrementalAlterConfigsRequest, on loop: any EventLoop)
        -> EventLoopFuture<IncrementalAlterConfigsResponse>
    {
        @Sendable func failAll(_ why: String) -> IncrementalAlterConfigsResponse {
            var r = IncrementalAlterConfigsResponse()
            r.responses = request.resources.map {
                var x = AlterConfigsResult()
                x.resourceType = $0.resourceType
                x.resourceName = $0.resourceName
                x.errorCode = ErrorCode.notController.rawValue
                x.errorMessage = why
                return x
            }
            return r
        }
        guard let gateway = gateway.withLockedValue({ $0 }) else {
            return loop.makeSucceededFuture(failAll("the metadata quorum is not running"))
        }
        return gateway.incrementalAlterConfigs(request).hop(to: loop).flatMapErrorThrowing { error in
            failAll("the active controller could not be reached: \(error)")
        }
    }

    /// AlterConfigs replaces a topic's whole set of dynamic configs: it becomes the incremental
    /// form here (SET what is listed, DELETE the other overrides the topic has now).
    func alterConfigs(_ request: AlterConfigsRequest, on loop: any EventLoop) -> EventLoopFuture<AlterConfigsResponse> {
        let image = registry.image
        var incremental = IncrementalAlterConfigsRequest()
        incremental.validateOnly = request.validateOnly
        incremental.resources = request.resources.map { res in
            var r = IncrementalAlterConfigsRequest.Resource()
            r.resourceType = res.resourceType
            r.resourceName = res.resourceName
            let listed = Set(res.configs.map(\.name))
            r.configs = res.configs.map { .init(name: $0.name, operation: .set, value: $0.value) }
            let existing = image.topics[res.resourceName]?.configs.keys.sorted() ?? []
            r.configs += existing.filter { !listed.contains($0) }.map {
                .init(name: $0, operation: .delete, value: nil)
            }
            return r
        }
        return incrementalAlterConfigs(incremental, on: loop).map {
            var r = AlterConfigsResponse()
            r.responses = $0.responses
            return r
        }
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
                if let t = registry.image.topics[res.resourceName] {
                    r.configs = describeTopicConfigs(t.configs, keys: res.configurationKeys)
                } else {
                    r.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
                    r.errorMessage = "Topic \(res.resourceName) does not exist."
                }
            case DescribeConfigsRequest.brokerResource:
                let settings: [(String, String)] =
                    [
                        ("auto.create.topics.enable", String(config.autoCreateTopics)),
                        ("broker.id", String(config.nodeId)),
                        ("default.replication.factor", String(config.defaultReplicationFactor)),
                        ("log.dirs", config.logDirs),
                        ("log.segment.bytes", String(config.logSegmentBytes)),
                        ("message.max.bytes", String(config.messageMaxBytes)),
                        ("min.insync.replicas", String(config.minInsyncReplicas)),
                        ("node.id", String(config.nodeId)),
                        ("num.partitions", String(config.numPartitions)),
                    ] + (config.rack.map { [("broker.rack", $0)] } ?? [])
                let wanted = { (name: String) in res.configurationKeys?.contains(name) ?? true }
                r.configs = settings.filter { wanted($0.0) }
                    .map {
                        var c = DescribeConfigsResponse.Config()
                        c.name = $0.0
                        c.value = $0.1
                        c.readOnly = true
                        c.configSource = DescribeConfigsResponse.Source.staticBroker.rawValue
                        return c
                    }
                // The dynamic ones (the replication throttles, and those kept without effect)
                // of the broker named, else the cluster-wide defaults.
                let image = registry.image
                let id = Int32(res.resourceName) ?? -1
                for key in DynamicBrokerConfigs.all.keys.sorted() where wanted(key) {
                    let own = id >= 0 ? image.brokerConfigs[id]?[key] : nil
                    guard let value = own ?? image.brokerConfigs[-1]?[key] else { continue }
                    var c = DescribeConfigsResponse.Config()
                    c.name = key
                    c.value = value
                    c.configSource =
                        (own != nil ? DescribeConfigsResponse.Source.dynamicBroker : .dynamicDefaultBroker).rawValue
                    r.configs.append(c)
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
