import Broker
import KafkaProtocol
import Metadata
import NIOCore
import Security

extension ControllerError {
    /// Any failure as the controller reports it: its own refusals as they are, anything else as
    /// UNKNOWN_SERVER_ERROR with the error's text.
    init(from error: any Error) {
        self = error as? ControllerError ?? ControllerError(.unknownServerError, "\(error)")
    }
}

/// A per-topic result of an admin answer, which carries a refusal as code and message.
protocol AdminTopicResult: Sendable {
    var errorCode: Int16 { get set }
    var errorMessage: String? { get set }
}

extension CreateTopicsResponse.Topic: AdminTopicResult {}
extension DeleteTopicsResponse.Result: AdminTopicResult {}
extension CreatePartitionsResponse.Result: AdminTopicResult {}
extension AlterConfigsResult: AdminTopicResult {}

extension QuorumController {
    /// Runs one topic's decision through the controller; on success `done` fills the result in,
    /// a refusal or failure becomes the result's error code and message.
    func decide<R: AdminTopicResult>(
        _ result: R, _ decide: @escaping @Sendable (MetadataImage) -> Result<[MetadataRecord], ControllerError>,
        done: @escaping @Sendable (R) -> R = { $0 }
    ) -> EventLoopFuture<R> {
        submit(decide).map { _ in done(result) }.flatMapErrorThrowing { error in
            let e = ControllerError(from: error)
            var r = result
            r.errorCode = e.code.rawValue
            r.errorMessage = e.message
            return r
        }
    }

    /// The names that appear more than once in one request: Kafka refuses each of them.
    static func repeated(_ names: [String]) -> Set<String> {
        var seen = Set<String>()
        var twice = Set<String>()
        for n in names where !seen.insert(n).inserted { twice.insert(n) }
        return twice
    }

    static func refuse<T>(_ code: ErrorCode, _ message: String) -> Result<T, ControllerError> {
        .failure(ControllerError(code, message))
    }

    public func createTopics(_ request: CreateTopicsRequest) -> EventLoopFuture<CreateTopicsResponse> {
        let defaults = topicDefaults
        let repeated = Self.repeated(request.topics.map(\.name))
        let futures = request.topics.map { t -> EventLoopFuture<CreateTopicsResponse.Topic> in
            var base = CreateTopicsResponse.Topic()
            base.name = t.name
            if repeated.contains(t.name) {
                base.errorCode = ErrorCode.invalidRequest.rawValue
                base.errorMessage = "Create topics request from client contains multiple topics with the same name."
                return loop.makeSucceededFuture(base)
            }
            let result = base
            let partitions =
                t.numPartitions == -1
                ? (t.assignments.isEmpty ? defaults.numPartitions : Int32(t.assignments.count)) : t.numPartitions
            let rf =
                t.replicationFactor == -1
                ? (t.assignments.first.map { Int16(clamping: $0.brokerIds.count) } ?? defaults.defaultReplicationFactor)
                : t.replicationFactor
            var asked = Dictionary(
                t.configs.compactMap { c in c.value.map { (c.name, $0) } }, uniquingKeysWith: { _, last in last })
            // A topic with fewer replicas than the cluster's min.insync.replicas could never take
            // an acks=all write (the default of most producers, the console producer's too): it
            // gets its replication factor as its own min.insync.replicas, which DescribeConfigs
            // and `kafka-topics --describe` show, and the tool warns about at creation.
            if asked["min.insync.replicas"] == nil, rf > 0, Int32(rf) < defaults.minInsyncReplicas {
                asked["min.insync.replicas"] = String(rf)
            }
            let configs = asked
            let id = KafkaUUID.random()
            let decide: @Sendable (MetadataImage) -> Result<[MetadataRecord], ControllerError> = { image in
                if let why = PartitionRegistry.validateName(t.name) { return Self.refuse(.invalidTopicException, why) }
                for (k, v) in configs {
                    guard let check = TopicConfigs.known[k] else {
                        return Self.refuse(.invalidConfig, "Unknown topic config name: \(k)")
                    }
                    guard check(v) else {
                        return Self.refuse(.invalidConfig, "Invalid value \(v) for configuration \(k)")
                    }
                }
                guard partitions <= 10_000 else {
                    return Self.refuse(.invalidPartitions, "Number of partitions \(partitions) exceeds 10000.")
                }
                var manual: [[Int32]]? = nil
                if !t.assignments.isEmpty {
                    switch Self.manualAssignment(t) {
                    case .failure(let e): return .failure(e)
                    case .success(let lists): manual = lists
                    }
                }
                let decision = ControllerDecisions.createTopic(
                    image, name: t.name, partitions: partitions, replicationFactor: rf, configs: configs, id: id,
                    manual: manual)
                // validate_only: the same checks, nothing written.
                if request.validateOnly, case .success = decision { return .success([]) }
                return decision
            }
            return self.decide(result, decide) { r in
                var r = r
                r.topicId = id
                r.numPartitions = partitions
                r.replicationFactor = rf
                return r
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map {
            var r = CreateTopicsResponse()
            r.topics = $0
            return r
        }
    }

    /// A CreateTopics topic's assignments as replica lists in partition order, once they name
    /// each partition from 0 exactly once and leave the counts to them (-1), as Kafka requires.
    static func manualAssignment(_ t: CreateTopicsRequest.Topic) -> Result<[[Int32]], ControllerError> {
        if t.replicationFactor != -1 {
            return refuse(
                .invalidRequest,
                "A manual partition assignment was specified, but replication factor was not set to -1.")
        }
        if t.numPartitions != -1 {
            return refuse(
                .invalidRequest, "A manual partition assignment was specified, but numPartitions was not set to -1.")
        }
        var byIndex: [Int32: [Int32]] = [:]
        for a in t.assignments {
            guard byIndex.updateValue(a.brokerIds, forKey: a.partitionIndex) == nil else {
                return refuse(
                    .invalidReplicaAssignment,
                    "Found multiple manual partition assignments for partition \(a.partitionIndex)")
            }
        }
        var lists: [[Int32]] = []
        for i in 0..<Int32(byIndex.count) {
            guard let list = byIndex[i] else {
                return refuse(.invalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
            }
            lists.append(list)
        }
        return .success(lists)
    }

    public func deleteTopics(_ request: DeleteTopicsRequest) -> EventLoopFuture<DeleteTopicsResponse> {
        let futures = request.topics.map { t -> EventLoopFuture<DeleteTopicsResponse.Result> in
            var base = DeleteTopicsResponse.Result()
            base.name = t.name
            base.topicId = t.topicId
            let result = base
            let name = t.name ?? ""
            return decide(result) { image in
                guard image.topics[name] != nil else {
                    return Self.refuse(.unknownTopicOrPartition, "This server does not host this topic-partition.")
                }
                return ControllerDecisions.deleteTopic(image, name: name)
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map {
            var r = DeleteTopicsResponse()
            r.responses = $0
            return r
        }
    }

    public func createPartitions(_ request: CreatePartitionsRequest) -> EventLoopFuture<CreatePartitionsResponse> {
        let repeated = Self.repeated(request.topics.map(\.name))
        let futures = request.topics.map { t -> EventLoopFuture<CreatePartitionsResponse.Result> in
            var base = CreatePartitionsResponse.Result()
            base.name = t.name
            if repeated.contains(t.name) {
                base.errorCode = ErrorCode.invalidRequest.rawValue
                base.errorMessage = "Duplicate topic in request."
                return loop.makeSucceededFuture(base)
            }
            let result = base
            return decide(result) { image in
                let decision = ControllerDecisions.createPartitions(
                    image, name: t.name, count: t.count, manual: t.assignments?.map(\.brokerIds))
                if request.validateOnly, case .success = decision { return .success([]) }
                return decision
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map {
            var r = CreatePartitionsResponse()
            r.results = $0
            return r
        }
    }
}

extension QuorumController {
    /// IncrementalAlterConfigs: each topic's changes are checked against the known topic configs
    /// and decided on the committed image (APPEND and SUBTRACT work on comma-separated lists).
    /// Brokers take the replication throttles as dynamic configs (`alterBrokerConfigs`).
    public func incrementalAlterConfigs(_ request: IncrementalAlterConfigsRequest) -> EventLoopFuture<
        IncrementalAlterConfigsResponse
    > {
        let futures = request.resources.map { res -> EventLoopFuture<AlterConfigsResult> in
            var base = AlterConfigsResult()
            base.resourceType = res.resourceType
            base.resourceName = res.resourceName
            if res.resourceType == DescribeConfigsRequest.brokerResource {
                return alterBrokerConfigs(res, base: base, validateOnly: request.validateOnly)
            }
            guard res.resourceType == DescribeConfigsRequest.topicResource else {
                base.errorCode = ErrorCode.invalidRequest.rawValue
                base.errorMessage = "Resource type \(res.resourceType) is not supported; use 2 (topic) or 4 (broker)."
                return loop.makeSucceededFuture(base)
            }
            let name = res.resourceName
            let configs = res.configs
            let defaults = TopicConfigs.defaults(topicDefaults)
            return decide(base) { image in
                guard let topic = image.topics[name] else {
                    return Self.refuse(.unknownTopicOrPartition, "Topic \(name) does not exist.")
                }
                var changes: [(key: String, value: String?)] = []
                for c in configs {
                    guard let check = TopicConfigs.known[c.name] else {
                        return Self.refuse(.invalidConfig, "Unknown topic config name: \(c.name)")
                    }
                    // APPEND and SUBTRACT work on the value in force: the override, else the default.
                    let current =
                        changes.last { $0.key == c.name }.map { $0.value } ?? topic.configs[c.name] ?? defaults[c.name]
                    let list = (current ?? "").split(separator: ",").map(String.init)
                    let items = (c.value ?? "").split(separator: ",").map(String.init)
                    let value: String?
                    switch IncrementalAlterConfigsRequest.Operation(rawValue: c.operation) {
                    case .set: value = c.value
                    case .delete: value = nil
                    case .append: value = (list + items.filter { !list.contains($0) }).joined(separator: ",")
                    case .subtract:
                        let left = list.filter { !items.contains($0) }
                        value = left.isEmpty ? nil : left.joined(separator: ",")
                    case nil:
                        return Self.refuse(.invalidRequest, "Unknown config operation \(c.operation) for \(c.name).")
                    }
                    if let v = value, !check(v) {
                        return Self.refuse(.invalidConfig, "Invalid value \(v) for configuration \(c.name)")
                    }
                    changes.append((c.name, value))
                }
                let decision = ControllerDecisions.alterTopicConfigs(image, name: name, changes: changes)
                if request.validateOnly, case .success = decision { return .success([]) }
                return decision
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map {
            var r = IncrementalAlterConfigsResponse()
            r.responses = $0
            return r
        }
    }
}

extension QuorumController {
    /// The dynamic configs of one broker (resource name: its id) or of all (an empty name): the
    /// replication throttles, set or deleted. Any other broker config is refused with the way to
    /// set it instead (server.properties and a restart).
    func alterBrokerConfigs(
        _ res: IncrementalAlterConfigsRequest.Resource, base: AlterConfigsResult, validateOnly: Bool
    )
        -> EventLoopFuture<AlterConfigsResult>
    {
        var refused = base
        func refuse(_ code: ErrorCode, _ message: String) -> EventLoopFuture<AlterConfigsResult> {
            refused.errorCode = code.rawValue
            refused.errorMessage = message
            return loop.makeSucceededFuture(refused)
        }
        let broker: Int32
        if res.resourceName.isEmpty {
            broker = -1
        } else if let id = Int32(res.resourceName), id >= 0 {
            broker = id
        } else {
            return refuse(
                .invalidRequest, "A broker resource is a broker id or empty (every broker), not \(res.resourceName).")
        }
        var changes: [(key: String, value: String?)] = []
        for c in res.configs {
            guard let check = DynamicBrokerConfigs.all[c.name] else {
                return refuse(
                    .invalidConfig,
                    "\(c.name) is not a dynamic broker config in Tern (\(ReplicationThrottle.dynamicBrokerConfigs.keys.sorted().joined(separator: ", ")) are, and Kafka's dynamic configs of features Tern does not have are kept without effect): set it in the broker's server.properties and restart it."
                )
            }
            switch IncrementalAlterConfigsRequest.Operation(rawValue: c.operation) {
            case .set:
                guard let v = c.value, check(v) else {
                    let expected =
                        DynamicBrokerConfigs.reportedOnly.contains(c.name)
                        ? "at most \(DynamicBrokerConfigs.maxValueBytes) bytes"
                        : "a rate in bytes per second, 0 or more"
                    return refuse(
                        .invalidConfig,
                        "Invalid value \(String((c.value ?? "null").prefix(100))) for configuration \(c.name): \(expected)."
                    )
                }
                changes.append((c.name, v))
            case .delete: changes.append((c.name, nil))
            default:
                return refuse(.invalidConfig, "\(c.name) takes SET or DELETE, not operation \(c.operation).")
            }
        }
        // One record per key at most (the last change of a key wins), however often a request
        // repeats it: a resource writes at most one record per name DynamicBrokerConfigs knows.
        var last: [String: String?] = [:]
        for c in changes { last[c.key] = c.value }
        let wanted = last.sorted { $0.key < $1.key }
        return decide(base) { image in
            // Only brokers the cluster knows hold configs of their own, so a client cannot make
            // the image grow with made-up broker ids.
            guard broker < 0 || image.brokers[broker] != nil else {
                return Self.refuse(.brokerIdNotRegistered, "Broker \(broker) is not registered.")
            }
            let records = wanted.filter { image.brokerConfigs[broker]?[$0.key] != $0.value }.map {
                MetadataRecord.brokerConfig(broker: broker, key: $0.key, value: $0.value)
            }
            return .success(validateOnly ? [] : records)
        }
    }
}

extension QuorumController {
    /// Bounds on what clients can store as SCRAM credentials: users, and a user name's bytes.
    public static let maxScramUsers = 100_000
    public static let maxScramUserBytes = 1024

    /// AlterUserScramCredentials: each user's changes decided on the committed image and
    /// answered once committed. The client sends the salted password; only the stored and server
    /// keys derived from it are written.
    public func alterUserScramCredentials(_ request: AlterUserScramCredentialsRequest) -> EventLoopFuture<
        AlterUserScramCredentialsResponse
    > {
        // Linear in the request's size: a request can name hundreds of thousands of users.
        var counts: [String: Int] = [:]
        var order: [String] = []
        for n in request.deletions.map(\.name) + request.upsertions.map(\.name) {
            if counts[n] == nil { order.append(n) }
            counts[n, default: 0] += 1
        }
        let deletions = Dictionary(request.deletions.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let upsertions = Dictionary(request.upsertions.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func failed(_ user: String, _ code: ErrorCode, _ message: String) -> EventLoopFuture<
            AlterUserScramCredentialsResponse.Result
        > {
            var r = AlterUserScramCredentialsResponse.Result()
            r.user = user
            r.errorCode = code.rawValue
            r.errorMessage = message
            return loop.makeSucceededFuture(r)
        }
        var futures: [EventLoopFuture<AlterUserScramCredentialsResponse.Result>] = []
        for user in order {
            if counts[user, default: 0] > 1 {
                futures.append(
                    failed(user, .duplicateResource, "A user credential cannot be altered twice in the same request"))
                continue
            }
            if user.isEmpty || user.utf8.count > Self.maxScramUserBytes {
                futures.append(
                    failed(
                        user, .unacceptableCredential,
                        "A user name must have 1 to \(Self.maxScramUserBytes) bytes"))
                continue
            }
            var record: MetadataRecord
            if let d = deletions[user] {
                guard ScramMechanism(kafkaType: d.mechanism) != nil else {
                    futures.append(failed(user, .unsupportedSaslMechanism, "Unknown SCRAM mechanism \(d.mechanism)"))
                    continue
                }
                record = .removeScramCredential(user: user, mechanism: d.mechanism)
            } else {
                guard let u = upsertions[user] else { continue }
                guard let mechanism = ScramMechanism(kafkaType: u.mechanism) else {
                    futures.append(failed(user, .unsupportedSaslMechanism, "Unknown SCRAM mechanism \(u.mechanism)"))
                    continue
                }
                guard ScramMechanism.iterationRange.contains(u.iterations) else {
                    futures.append(
                        failed(
                            user, .unacceptableCredential,
                            "Iterations \(u.iterations) must be from \(ScramMechanism.iterationRange.lowerBound) to \(ScramMechanism.iterationRange.upperBound)"
                        ))
                    continue
                }
                let salt = Array(u.salt.readableBytesView)
                let salted = Array(u.saltedPassword.readableBytesView)
                guard (1...1024).contains(salt.count), salted.count == mechanism.hashLength else {
                    futures.append(
                        failed(
                            user, .unacceptableCredential,
                            "The salt must have 1 to 1024 bytes and the salted password \(mechanism.hashLength) (\(mechanism.rawValue))"
                        ))
                    continue
                }
                let c = ScramCredential(
                    mechanism: mechanism, saltedPassword: salted, salt: salt, iterations: u.iterations)
                record = .scramCredential(
                    user: user,
                    .init(
                        mechanism: u.mechanism, salt: c.salt, storedKey: c.storedKey, serverKey: c.serverKey,
                        iterations: c.iterations))
            }
            let change = record
            futures.append(
                submit { image in
                    if case .scramCredential(let name, _) = change, image.scramCredentials[name] == nil,
                        image.scramCredentials.count >= Self.maxScramUsers
                    {
                        return .failure(
                            ControllerError(
                                .policyViolation,
                                "The cluster keeps at most \(Self.maxScramUsers) SCRAM users; delete one first"))
                    }
                    if case .removeScramCredential(let name, let m) = change, image.scramCredentials[name]?[m] == nil {
                        return .failure(
                            ControllerError(
                                .resourceNotFound, "Attempt to delete a user credential that does not exist: \(name)"))
                    }
                    return .success([change])
                }.map { _ in
                    var r = AlterUserScramCredentialsResponse.Result()
                    r.user = user
                    return r
                }.flatMapErrorThrowing { error in
                    let e = ControllerError(from: error)
                    var r = AlterUserScramCredentialsResponse.Result()
                    r.user = user
                    r.errorCode = e.code.rawValue
                    r.errorMessage = e.message
                    return r
                })
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map {
            var r = AlterUserScramCredentialsResponse()
            r.results = $0
            return r
        }
    }
}
