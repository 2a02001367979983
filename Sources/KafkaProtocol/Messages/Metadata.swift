import NIOCore

/// Metadata (key 3), v0-12; flexible from v9. A null topic list (v1+) asks for every topic;
/// v0 asks for every topic with an empty list.
public struct MetadataRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .metadata }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var topicId = KafkaUUID.zero
        public var name: String? = nil
        public init() {}
        public init(name: String) { self.name = name }
    }

    public var topics: [Topic]? = nil
    public var allowAutoTopicCreation = true
    public var includeClusterAuthorizedOperations = false
    public var includeTopicAuthorizedOperations = false
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version == 0 && s.isReading {
            var list: [Topic] = []
            try s.array(&list, field: "topics") { s, t in try Self.topic(&s, &t, version) }
            topics = list.isEmpty ? nil : list
        } else if version == 0 {
            var list = topics ?? []
            try s.array(&list, field: "topics") { s, t in try Self.topic(&s, &t, version) }
        } else {
            try s.nullableArray(&topics, field: "topics") { s, t in try Self.topic(&s, &t, version) }
        }
        if version >= 4 { try s.bool(&allowAutoTopicCreation) } else if s.isReading { allowAutoTopicCreation = true }
        if version >= 8 && version <= 10 { try s.bool(&includeClusterAuthorizedOperations) }
        if version >= 8 { try s.bool(&includeTopicAuthorizedOperations) }
        try s.tagsIfFlexible()
    }

    static func topic<S: KafkaSerde>(_ s: inout S, _ t: inout Topic, _ version: Int16) throws {
        if version >= 10 {
            try s.uuid(&t.topicId)
            try s.nullableString(&t.name, field: "topic name")
        } else {
            var n = t.name ?? ""
            try s.string(&n, field: "topic name")
            t.name = n
        }
        try s.tagsIfFlexible()
    }
}

public struct MetadataResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .metadata }

    public struct Broker: Defaultable, Sendable, Equatable {
        public var nodeId: Int32 = 0
        public var host = ""
        public var port: Int32 = 0
        public var rack: String? = nil
        public init() {}
        public init(nodeId: Int32, host: String, port: Int32, rack: String? = nil) {
            self.nodeId = nodeId
            self.host = host
            self.port = port
            self.rack = rack
        }
    }

    public struct Partition: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var partitionIndex: Int32 = 0
        public var leaderId: Int32 = -1
        public var leaderEpoch: Int32 = -1
        public var replicaNodes: [Int32] = []
        public var isrNodes: [Int32] = []
        public var offlineReplicas: [Int32] = []
        public init() {}
    }

    public struct Topic: Defaultable, Sendable, Equatable {
        public var errorCode: Int16 = 0
        public var name: String? = nil
        public var topicId = KafkaUUID.zero
        public var isInternal = false
        public var partitions: [Partition] = []
        public var topicAuthorizedOperations: Int32 = Int32.min
        public init() {}
    }

    public var throttleTimeMs: Int32 = 0
    public var brokers: [Broker] = []
    public var clusterId: String? = nil
    public var controllerId: Int32 = -1
    public var topics: [Topic] = []
    public var clusterAuthorizedOperations: Int32 = Int32.min
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 3 { try s.int32(&throttleTimeMs) }
        try s.array(&brokers, field: "brokers") { s, b in
            try s.int32(&b.nodeId)
            try s.string(&b.host, field: "host")
            try s.int32(&b.port)
            if version >= 1 { try s.nullableString(&b.rack, field: "rack") }
            try s.tagsIfFlexible()
        }
        if version >= 2 { try s.nullableString(&clusterId, field: "cluster_id") }
        if version >= 1 { try s.int32(&controllerId) }
        try s.array(&topics, field: "topics") { s, t in
            try s.int16(&t.errorCode)
            if version >= 12 {
                try s.nullableString(&t.name, field: "topic name")
            } else {
                var n = t.name ?? ""
                try s.string(&n, field: "topic name")
                t.name = n
            }
            if version >= 10 { try s.uuid(&t.topicId) }
            if version >= 1 { try s.bool(&t.isInternal) }
            try s.array(&t.partitions, field: "partitions") { s, p in
                try s.int16(&p.errorCode)
                try s.int32(&p.partitionIndex)
                try s.int32(&p.leaderId)
                if version >= 7 { try s.int32(&p.leaderEpoch) }
                try s.int32Array(&p.replicaNodes, field: "replica_nodes")
                try s.int32Array(&p.isrNodes, field: "isr_nodes")
                if version >= 5 { try s.int32Array(&p.offlineReplicas, field: "offline_replicas") }
                try s.tagsIfFlexible()
            }
            if version >= 8 { try s.int32(&t.topicAuthorizedOperations) }
            try s.tagsIfFlexible()
        }
        if version >= 8 && version <= 10 { try s.int32(&clusterAuthorizedOperations) }
        try s.tagsIfFlexible()
    }
}
