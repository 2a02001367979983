import KafkaProtocol
import NIOCore

/// A change to the cluster's metadata, as written to the `__cluster_metadata` Raft log.
/// Every node folds the committed records, in order, into the same ``MetadataImage``.
public enum MetadataRecord: Equatable, Sendable {
    case registerBroker(BrokerRegistration)
    case fenceBroker(id: Int32, epoch: Int64)
    case unfenceBroker(id: Int32, epoch: Int64)
    /// A broker's registration removed (`kafka-cluster.sh unregister`; Kafka's UnregisterBrokerRecord).
    case unregisterBroker(id: Int32, epoch: Int64)
    case topic(name: String, id: KafkaUUID)
    case partition(PartitionRecord)
    case partitionChange(PartitionChange)
    case removeTopic(id: KafkaUUID)
    /// A topic config override; a nil value removes it.
    case config(topic: String, key: String, value: String?)
    /// A dynamic broker config (`broker` -1: the cluster-wide default); a nil value removes it.
    case brokerConfig(broker: Int32, key: String, value: String?)
    /// A user's SCRAM credential for one mechanism (Kafka's UserScramCredentialRecord).
    case scramCredential(user: String, ScramEntry)
    case removeScramCredential(user: String, mechanism: Int8)
    /// An ACL added or removed (Kafka's AccessControlEntryRecord and its removal).
    case acl(AclEntry)
    case removeAcl(AclEntry)

    /// What is kept of a SCRAM password: salt, stored key, server key, iterations. `mechanism`
    /// is Kafka's number (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
    public struct ScramEntry: Equatable, Sendable {
        public var mechanism: Int8
        public var salt: [UInt8]
        public var storedKey: [UInt8]
        public var serverKey: [UInt8]
        public var iterations: Int32

        public init(mechanism: Int8, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8], iterations: Int32) {
            self.mechanism = mechanism
            self.salt = salt
            self.storedKey = storedKey
            self.serverKey = serverKey
            self.iterations = iterations
        }
    }

    /// One client listener of a broker: its name and the address advertised on it.
    public struct Endpoint: Equatable, Sendable, Defaultable {
        public var name = ""
        public var host = ""
        public var port: Int32 = 0
        public init() {}
        public init(name: String, host: String, port: Int32) {
            self.name = name
            self.host = host
            self.port = port
        }
    }

    public struct BrokerRegistration: Equatable, Sendable {
        public var id: Int32
        public var incarnation: KafkaUUID
        /// The inter-broker listener's address (what followers and tools use by default).
        public var host: String
        public var port: Int32
        public var rack: String?
        /// Every client listener; empty in records written before listeners were recorded.
        public var endpoints: [Endpoint]

        public init(
            id: Int32, incarnation: KafkaUUID, host: String, port: Int32, rack: String? = nil,
            endpoints: [Endpoint] = []
        ) {
            self.id = id
            self.incarnation = incarnation
            self.host = host
            self.port = port
            self.rack = rack
            self.endpoints = endpoints
        }
    }

    public struct PartitionRecord: Equatable, Sendable {
        public var topicId: KafkaUUID
        public var partition: Int32
        public var replicas: [Int32]
        public var isr: [Int32]
        public var leader: Int32

        public init(topicId: KafkaUUID, partition: Int32, replicas: [Int32], isr: [Int32], leader: Int32) {
            self.topicId = topicId
            self.partition = partition
            self.replicas = replicas
            self.isr = isr
            self.leader = leader
        }
    }

    /// A change of leader, ISR and/or replicas. A new leader starts a new leader epoch; any change
    /// starts a new partition epoch (used to refuse stale AlterPartition requests). A
    /// reassignment (KIP-455) sets `replicas` to the target and the replicas still to be removed,
    /// with `adding` and `removing`; its completion sets them to the target and two empty lists.
    public struct PartitionChange: Equatable, Sendable {
        public var topicId: KafkaUUID
        public var partition: Int32
        public var leader: Int32?
        public var isr: [Int32]?
        public var replicas: [Int32]?
        public var adding: [Int32]?
        public var removing: [Int32]?

        public init(
            topicId: KafkaUUID, partition: Int32, leader: Int32? = nil, isr: [Int32]? = nil, replicas: [Int32]? = nil,
            adding: [Int32]? = nil, removing: [Int32]? = nil
        ) {
            self.topicId = topicId
            self.partition = partition
            self.leader = leader
            self.isr = isr
            self.replicas = replicas
            self.adding = adding
            self.removing = removing
        }

        /// Whether it changes the replica set (a record of version 1).
        var movesReplicas: Bool { replicas != nil || adding != nil || removing != nil }
    }
}

extension MetadataRecord {
    enum Kind: Int8 {
        case registerBroker = 1, fenceBroker, unfenceBroker, topic, partition, partitionChange, removeTopic, config
        case scramCredential, removeScramCredential, acl, removeAcl, unregisterBroker, brokerConfig
    }

    /// Encodes the record as a type byte, a version byte (0) and its fields in Kafka's
    /// compact encoding.
    public func encoded() throws -> [UInt8] {
        var w = KafkaWriter(flexible: true)
        var copy = self
        try copy.serde(&w)
        return Array(w.buffer.readableBytesView)
    }

    public static func decode(_ bytes: [UInt8]) throws -> MetadataRecord {
        var b = ByteBufferAllocator().buffer(capacity: bytes.count)
        b.writeBytes(bytes)
        var r = KafkaReader(b, flexible: true)
        var record = MetadataRecord.removeTopic(id: .zero)
        try record.serde(&r)
        guard r.remaining == 0 else { throw ProtocolError.invalidLength(field: "metadata record", value: r.remaining) }
        return record
    }

    var kind: Kind {
        switch self {
        case .registerBroker: return .registerBroker
        case .fenceBroker: return .fenceBroker
        case .unfenceBroker: return .unfenceBroker
        case .topic: return .topic
        case .partition: return .partition
        case .partitionChange: return .partitionChange
        case .removeTopic: return .removeTopic
        case .config: return .config
        case .scramCredential: return .scramCredential
        case .removeScramCredential: return .removeScramCredential
        case .acl: return .acl
        case .removeAcl: return .removeAcl
        case .unregisterBroker: return .unregisterBroker
        case .brokerConfig: return .brokerConfig
        }
    }

    mutating func serde<S: KafkaSerde>(_ s: inout S) throws {
        var type = kind.rawValue
        // Broker registrations are at version 1 (with every listener), partition changes that
        // move replicas too; the rest at 0.
        var version: Int8 = 0
        if case .registerBroker = self { version = 1 }
        if case .partitionChange(let c) = self, c.movesReplicas { version = 1 }
        try s.int8(&type)
        try s.int8(&version)
        guard let k = Kind(rawValue: type),
            version == 0 || (version == 1 && (k == .registerBroker || k == .partitionChange))
        else {
            throw ProtocolError.corruptRecords("unknown metadata record type \(type) version \(version)")
        }
        switch k {
        case .registerBroker:
            var r = BrokerRegistration(id: 0, incarnation: .zero, host: "", port: 0)
            if case .registerBroker(let cur) = self { r = cur }
            try s.int32(&r.id)
            try s.uuid(&r.incarnation)
            try s.string(&r.host, field: "host")
            try s.int32(&r.port)
            try s.nullableString(&r.rack, field: "rack")
            if version >= 1 {
                try s.array(&r.endpoints, field: "endpoints") { s, e in
                    try s.string(&e.name, field: "listener name")
                    try s.string(&e.host, field: "host")
                    try s.int32(&e.port)
                }
            }
            self = .registerBroker(r)
        case .fenceBroker, .unfenceBroker, .unregisterBroker:
            var id: Int32 = 0
            var epoch: Int64 = 0
            if case .fenceBroker(let i, let e) = self { (id, epoch) = (i, e) }
            if case .unfenceBroker(let i, let e) = self { (id, epoch) = (i, e) }
            if case .unregisterBroker(let i, let e) = self { (id, epoch) = (i, e) }
            try s.int32(&id)
            try s.int64(&epoch)
            switch k {
            case .fenceBroker: self = .fenceBroker(id: id, epoch: epoch)
            case .unfenceBroker: self = .unfenceBroker(id: id, epoch: epoch)
            default: self = .unregisterBroker(id: id, epoch: epoch)
            }
        case .topic:
            var name = ""
            var id = KafkaUUID.zero
            if case .topic(let n, let i) = self { (name, id) = (n, i) }
            try s.string(&name, field: "topic name")
            try s.uuid(&id)
            self = .topic(name: name, id: id)
        case .partition:
            var p = PartitionRecord(topicId: .zero, partition: 0, replicas: [], isr: [], leader: -1)
            if case .partition(let cur) = self { p = cur }
            try s.uuid(&p.topicId)
            try s.int32(&p.partition)
            try s.int32Array(&p.replicas, field: "replicas")
            try s.int32Array(&p.isr, field: "isr")
            try s.int32(&p.leader)
            self = .partition(p)
        case .partitionChange:
            var c = PartitionChange(topicId: .zero, partition: 0)
            if case .partitionChange(let cur) = self { c = cur }
            try s.uuid(&c.topicId)
            try s.int32(&c.partition)
            var leader = c.leader ?? -2
            try s.int32(&leader)
            c.leader = leader == -2 ? nil : leader
            var isr: [Int32]? = c.isr
            try s.nullableArray(&isr, field: "isr") { s, e in try s.int32(&e) }
            c.isr = isr
            if version >= 1 {
                for path in [\PartitionChange.replicas, \PartitionChange.adding, \PartitionChange.removing] {
                    var list = c[keyPath: path]
                    try s.nullableArray(&list, field: "replicas") { s, e in try s.int32(&e) }
                    c[keyPath: path] = list
                }
            }
            self = .partitionChange(c)
        case .removeTopic:
            var id = KafkaUUID.zero
            if case .removeTopic(let i) = self { id = i }
            try s.uuid(&id)
            self = .removeTopic(id: id)
        case .config:
            var topic = ""
            var key = ""
            var value: String? = nil
            if case .config(let t, let k2, let v) = self { (topic, key, value) = (t, k2, v) }
            try s.string(&topic, field: "config topic")
            try s.string(&key, field: "config key")
            try s.nullableString(&value, field: "config value")
            self = .config(topic: topic, key: key, value: value)
        case .brokerConfig:
            var broker: Int32 = -1
            var key = ""
            var value: String? = nil
            if case .brokerConfig(let b, let k2, let v) = self { (broker, key, value) = (b, k2, v) }
            try s.int32(&broker)
            try s.string(&key, field: "config key")
            try s.nullableString(&value, field: "config value")
            self = .brokerConfig(broker: broker, key: key, value: value)
        case .scramCredential:
            var user = ""
            var e = ScramEntry(mechanism: 0, salt: [], storedKey: [], serverKey: [], iterations: 0)
            if case .scramCredential(let u, let cur) = self { (user, e) = (u, cur) }
            try s.string(&user, field: "user")
            try Self.scram(&e, &s)
            self = .scramCredential(user: user, e)
        case .removeScramCredential:
            var user = ""
            var mechanism: Int8 = 0
            if case .removeScramCredential(let u, let m) = self { (user, mechanism) = (u, m) }
            try s.string(&user, field: "user")
            try s.int8(&mechanism)
            self = .removeScramCredential(user: user, mechanism: mechanism)
        case .acl, .removeAcl:
            var a = AclEntry()
            if case .acl(let cur) = self { a = cur }
            if case .removeAcl(let cur) = self { a = cur }
            try Self.acl(&a, &s)
            self = k == .acl ? .acl(a) : .removeAcl(a)
        }
    }

    static func acl<S: KafkaSerde>(_ a: inout AclEntry, _ s: inout S) throws {
        try s.int8(&a.resourceType)
        try s.string(&a.resourceName, field: "acl resource name")
        try s.int8(&a.patternType)
        try s.string(&a.principal, field: "acl principal")
        try s.string(&a.host, field: "acl host")
        try s.int8(&a.operation)
        try s.int8(&a.permissionType)
    }

    static func scram<S: KafkaSerde>(_ e: inout ScramEntry, _ s: inout S) throws {
        try s.int8(&e.mechanism)
        for path in [\ScramEntry.salt, \ScramEntry.storedKey, \ScramEntry.serverKey] {
            var b = ByteBuffer(bytes: e[keyPath: path])
            try s.bytes(&b, field: "scram bytes")
            e[keyPath: path] = Array(b.readableBytesView)
        }
        try s.int32(&e.iterations)
    }
}
