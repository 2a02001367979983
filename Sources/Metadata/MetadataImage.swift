import KafkaProtocol

/// The cluster as the committed metadata log describes it. Pure data: `apply` folds one record
/// in; two nodes that applied the same records hold equal images.
public struct MetadataImage: Equatable, Sendable {
    public struct Broker: Equatable, Sendable {
        public var id: Int32
        public var incarnation: KafkaUUID
        public var host: String
        public var port: Int32
        public var rack: String?
        /// The log offset of its latest registration (Kafka's broker epoch).
        public var epoch: Int64
        public var fenced: Bool
        /// Every client listener; empty for brokers registered without them.
        public var endpoints: [MetadataRecord.Endpoint] = []

        /// The address to give a client that arrived on `listener`: that listener's, nil when
        /// this broker has no such listener (Kafka leaves such brokers out); the primary one when
        /// the broker did not record its listeners.
        public func endpoint(_ listener: String?) -> (host: String, port: Int32)? {
            guard let listener, !endpoints.isEmpty else { return (host, port) }
            return endpoints.first { $0.name == listener }.map { ($0.host, $0.port) }
        }
    }

    public struct Partition: Equatable, Sendable {
        public var replicas: [Int32]
        public var isr: [Int32]
        /// -1 when no replica can lead.
        public var leader: Int32
        public var leaderEpoch: Int32
        public var partitionEpoch: Int32
        /// A reassignment in progress: replicas joining (not yet in the ISR) and replicas that
        /// leave when it completes. `replicas` holds both the target and those leaving.
        public var adding: [Int32] = []
        public var removing: [Int32] = []

        public var isReassigning: Bool { !adding.isEmpty || !removing.isEmpty }
        /// The replicas the partition is moving to (all of them when nothing moves).
        public var targetReplicas: [Int32] { replicas.filter { !removing.contains($0) } }
        /// The replicas it had before the reassignment began.
        public var originalReplicas: [Int32] { replicas.filter { !adding.contains($0) } }
    }

    public struct Topic: Equatable, Sendable {
        public var name: String
        public var id: KafkaUUID
        public var partitions: [Int32: Partition]
        public var configs: [String: String]

        public var partitionCount: Int { partitions.count }
        public var replicationFactor: Int { partitions[0]?.replicas.count ?? 0 }
    }

    public private(set) var brokers: [Int32: Broker] = [:]
    public private(set) var topics: [String: Topic] = [:]
    private var namesById: [KafkaUUID: String] = [:]
    /// SCRAM credentials by user, then by mechanism (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
    public private(set) var scramCredentials: [String: [Int8: MetadataRecord.ScramEntry]] = [:]
    /// Dynamic broker configs by broker id (-1: the cluster-wide default), e.g. the replication
    /// throttles a reassignment sets.
    public private(set) var brokerConfigs: [Int32: [String: String]] = [:]
    /// Every ACL, indexed for authorization.
    public private(set) var acls = AclIndex()
    /// Offset of the last record applied (-1 before any).
    public private(set) var offset: Int64 = -1

    public init() {}

    public func topic(id: KafkaUUID) -> Topic? { namesById[id].flatMap { topics[$0] } }

    /// Brokers that may lead partitions: registered and not fenced.
    public var liveBrokers: [Int32] { brokers.values.filter { !$0.fenced }.map(\.id).sorted() }
    /// The racks of the brokers that registered one (`broker.rack`).
    public var racks: [Int32: String] {
        var r: [Int32: String] = [:]
        for b in brokers.values { if let rack = b.rack { r[b.id] = rack } }
        return r
    }

    mutating func restoreBroker(_ b: Broker) { brokers[b.id] = b }

    mutating func restoreBrokerConfig(_ broker: Int32, _ key: String, _ value: String) {
        brokerConfigs[broker, default: [:]][key] = value
    }

    /// A dynamic broker config in force for `broker`: its own, else the cluster-wide default.
    public func brokerConfig(_ broker: Int32, _ key: String) -> String? {
        brokerConfigs[broker]?[key] ?? brokerConfigs[-1]?[key]
    }

    mutating func restoreTopic(_ t: Topic) {
        topics[t.name] = t
        namesById[t.id] = t.name
    }

    mutating func restoreOffset(_ o: Int64) { offset = o }

    mutating func restoreScram(_ user: String, _ e: MetadataRecord.ScramEntry) {
        scramCredentials[user, default: [:]][e.mechanism] = e
    }

    mutating func restoreAcl(_ a: AclEntry) { acls.insert(a) }

    public mutating func apply(_ record: MetadataRecord, at offset: Int64) {
        self.offset = offset
        switch record {
        case .registerBroker(let r):
            // A registration (re-)fences the broker until it has caught up and is unfenced.
            brokers[r.id] = Broker(
                id: r.id, incarnation: r.incarnation, host: r.host, port: r.port, rack: r.rack, epoch: offset,
                fenced: true, endpoints: r.endpoints)
        case .fenceBroker(let id, _):
            brokers[id]?.fenced = true
        case .unfenceBroker(let id, _):
            brokers[id]?.fenced = false
        case .unregisterBroker(let id, let epoch):
            // Only the registration it names: a broker that registered again since stays.
            if brokers[id]?.epoch == epoch { brokers.removeValue(forKey: id) }
        case .topic(let name, let id):
            topics[name] = Topic(name: name, id: id, partitions: [:], configs: topics[name]?.configs ?? [:])
            namesById[id] = name
        case .partition(let p):
            guard let name = namesById[p.topicId] else { return }
            topics[name]?.partitions[p.partition] = Partition(
                replicas: p.replicas, isr: p.isr, leader: p.leader, leaderEpoch: 0, partitionEpoch: 0)
        case .partitionChange(let c):
            guard let name = namesById[c.topicId], var p = topics[name]?.partitions[c.partition] else { return }
            if let leader = c.leader, leader != p.leader {
                p.leader = leader
                p.leaderEpoch += 1
            }
            if let isr = c.isr { p.isr = isr }
            if let replicas = c.replicas { p.replicas = replicas }
            if let adding = c.adding { p.adding = adding }
            if let removing = c.removing { p.removing = removing }
            p.partitionEpoch += 1
            topics[name]?.partitions[c.partition] = p
        case .removeTopic(let id):
            if let name = namesById.removeValue(forKey: id) { topics[name] = nil }
        case .config(let topic, let key, let value):
            topics[topic]?.configs[key] = value
        case .brokerConfig(let broker, let key, let value):
            brokerConfigs[broker, default: [:]][key] = value
            if brokerConfigs[broker]?.isEmpty == true { brokerConfigs[broker] = nil }
        case .scramCredential(let user, let e):
            scramCredentials[user, default: [:]][e.mechanism] = e
        case .removeScramCredential(let user, let mechanism):
            scramCredentials[user]?[mechanism] = nil
            if scramCredentials[user]?.isEmpty == true { scramCredentials[user] = nil }
        case .acl(let a):
            acls.insert(a)
        case .removeAcl(let a):
            acls.remove(a)
        }
    }
}
