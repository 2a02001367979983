import KafkaProtocol
import NIOCore

/// The image as a snapshot's payload: every broker, topic, partition (with its leader and
/// partition epochs) and topic config, in a fixed order, so equal images give equal bytes. Written
/// with Kafka's compact encoding after a magic and a version, and read back into an equal image.
extension MetadataImage {
    static let snapshotMagic: Int32 = 0x5445_524E  // "TERN"

    public func snapshotBytes() throws -> [UInt8] {
        var w = KafkaWriter(flexible: true)
        var copy = SnapshotForm(self)
        try copy.serde(&w)
        return Array(w.buffer.readableBytesView)
    }

    public init(snapshot bytes: [UInt8]) throws {
        var b = ByteBufferAllocator().buffer(capacity: bytes.count)
        b.writeBytes(bytes)
        var r = KafkaReader(b, flexible: true)
        var form = SnapshotForm()
        try form.serde(&r)
        guard r.remaining == 0 else {
            throw ProtocolError.invalidLength(field: "metadata snapshot", value: r.remaining)
        }
        self.init()
        self.restore(form)
    }

    mutating func restore(_ form: SnapshotForm) {
        for b in form.brokers {
            restoreBroker(
                Broker(
                    id: b.id, incarnation: b.incarnation, host: b.host, port: b.port, rack: b.rack, epoch: b.epoch,
                    fenced: b.fenced, endpoints: b.endpoints))
        }
        for t in form.topics {
            var topic = Topic(name: t.name, id: t.id, partitions: [:], configs: [:])
            for c in t.configs { topic.configs[c.key] = c.value }
            for p in t.partitions {
                topic.partitions[p.index] = Partition(
                    replicas: p.replicas, isr: p.isr, leader: p.leader, leaderEpoch: p.leaderEpoch,
                    partitionEpoch: p.partitionEpoch, adding: p.adding, removing: p.removing)
            }
            restoreTopic(topic)
        }
        for u in form.users { restoreScram(u.user, u.entry) }
        for a in form.acls { restoreAcl(a) }
        for c in form.brokerConfigs { restoreBrokerConfig(c.broker, c.key, c.value) }
        restoreOffset(form.offset)
    }
}

struct SnapshotForm: Defaultable {
    struct BrokerForm: Defaultable {
        var id: Int32 = 0
        var incarnation = KafkaUUID.zero
        var host = ""
        var port: Int32 = 0
        var rack: String? = nil
        var epoch: Int64 = 0
        var fenced = true
        var endpoints: [MetadataRecord.Endpoint] = []
    }
    struct ConfigForm: Defaultable {
        var key = ""
        var value = ""
    }
    struct PartitionForm: Defaultable {
        var index: Int32 = 0
        var replicas: [Int32] = []
        var isr: [Int32] = []
        var leader: Int32 = -1
        var leaderEpoch: Int32 = 0
        var partitionEpoch: Int32 = 0
        var adding: [Int32] = []
        var removing: [Int32] = []
    }
    struct TopicForm: Defaultable {
        var name = ""
        var id = KafkaUUID.zero
        var configs: [ConfigForm] = []
        var partitions: [PartitionForm] = []
    }

    struct BrokerConfigForm: Defaultable {
        var broker: Int32 = -1
        var key = ""
        var value = ""
    }

    struct UserForm: Defaultable {
        var user = ""
        var entry = MetadataRecord.ScramEntry(mechanism: 0, salt: [], storedKey: [], serverKey: [], iterations: 0)
    }

    var offset: Int64 = -1
    var brokers: [BrokerForm] = []
    var topics: [TopicForm] = []
    var users: [UserForm] = []
    var acls: [AclEntry] = []
    var brokerConfigs: [BrokerConfigForm] = []

    init() {}

    init(_ image: MetadataImage) {
        offset = image.offset
        brokers = image.brokers.values.sorted { $0.id < $1.id }.map {
            BrokerForm(
                id: $0.id, incarnation: $0.incarnation, host: $0.host, port: $0.port, rack: $0.rack, epoch: $0.epoch,
                fenced: $0.fenced, endpoints: $0.endpoints)
        }
        topics = image.topics.values.sorted { $0.name < $1.name }.map { t in
            TopicForm(
                name: t.name, id: t.id,
                configs: t.configs.sorted { $0.key < $1.key }.map { ConfigForm(key: $0.key, value: $0.value) },
                partitions: t.partitions.sorted { $0.key < $1.key }.map { i, p in
                    PartitionForm(
                        index: i, replicas: p.replicas, isr: p.isr, leader: p.leader, leaderEpoch: p.leaderEpoch,
                        partitionEpoch: p.partitionEpoch, adding: p.adding, removing: p.removing)
                })
        }
        users = image.scramCredentials.sorted { $0.key < $1.key }.flatMap { user, entries in
            entries.sorted { $0.key < $1.key }.map { UserForm(user: user, entry: $0.value) }
        }
        acls = image.acls.all.sorted(by: AclEntry.inOrder)
        brokerConfigs = image.brokerConfigs.sorted { $0.key < $1.key }.flatMap { broker, configs in
            configs.sorted { $0.key < $1.key }.map { BrokerConfigForm(broker: broker, key: $0.key, value: $0.value) }
        }
    }

    mutating func serde<S: KafkaSerde>(_ s: inout S) throws {
        var magic = MetadataImage.snapshotMagic
        // Version 1 adds each broker's listeners; version 2 the SCRAM credentials; 3 the ACLs;
        // 4 the reassignments in progress; 5 the dynamic broker configs.
        var version: Int8 = 5
        try s.int32(&magic)
        try s.int8(&version)
        guard magic == MetadataImage.snapshotMagic, (0...5).contains(version) else {
            throw ProtocolError.corruptRecords("not a metadata snapshot (magic \(magic), version \(version))")
        }
        try s.int64(&offset)
        try s.array(&brokers, field: "brokers") { s, b in
            try s.int32(&b.id)
            try s.uuid(&b.incarnation)
            try s.string(&b.host, field: "host")
            try s.int32(&b.port)
            try s.nullableString(&b.rack, field: "rack")
            try s.int64(&b.epoch)
            try s.bool(&b.fenced)
            if version >= 1 {
                try s.array(&b.endpoints, field: "endpoints") { s, e in
                    try s.string(&e.name, field: "listener name")
                    try s.string(&e.host, field: "host")
                    try s.int32(&e.port)
                }
            }
        }
        try s.array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.uuid(&t.id)
            try s.array(&t.configs, field: "configs") { s, c in
                try s.string(&c.key, field: "config key")
                try s.string(&c.value, field: "config value")
            }
            try s.array(&t.partitions, field: "partitions") { s, p in
                try s.int32(&p.index)
                try s.int32Array(&p.replicas, field: "replicas")
                try s.int32Array(&p.isr, field: "isr")
                try s.int32(&p.leader)
                try s.int32(&p.leaderEpoch)
                try s.int32(&p.partitionEpoch)
                if version >= 4 {
                    try s.int32Array(&p.adding, field: "adding replicas")
                    try s.int32Array(&p.removing, field: "removing replicas")
                }
            }
        }
        if version >= 2 {
            try s.array(&users, field: "users") { s, u in
                try s.string(&u.user, field: "user")
                try MetadataRecord.scram(&u.entry, &s)
            }
        }
        if version >= 3 {
            try s.array(&acls, field: "acls") { s, a in try MetadataRecord.acl(&a, &s) }
        }
        if version >= 5 {
            try s.array(&brokerConfigs, field: "broker configs") { s, c in
                try s.int32(&c.broker)
                try s.string(&c.key, field: "config key")
                try s.string(&c.value, field: "config value")
            }
        }
    }
}
