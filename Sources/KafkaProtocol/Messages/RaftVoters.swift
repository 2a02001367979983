/// AddRaftVoter (key 80) and RemoveRaftVoter (key 81), v0, flexible (KIP-853): change the
/// metadata quorum's voters (`kafka-metadata-quorum.sh add-controller / remove-controller`).
/// Forwarded to the active controller, which answers once the new voter set is committed.
public struct AddRaftVoterRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .addRaftVoter }

    public struct Listener: Defaultable, Sendable, Equatable {
        public var name = ""
        public var host = ""
        public var port: UInt16 = 0
        public init() {}
        public init(name: String, host: String, port: UInt16) {
            self.name = name
            self.host = host
            self.port = port
        }
    }

    public var clusterId: String? = nil
    public var timeoutMs: Int32 = 30_000
    public var voterId: Int32 = 0
    /// Kafka's metadata directory id; Tern has none and takes any value.
    public var voterDirectoryId = KafkaUUID.zero
    public var listeners: [Listener] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.nullableString(&clusterId, field: "cluster_id")
        try s.int32(&timeoutMs)
        try s.int32(&voterId)
        try s.uuid(&voterDirectoryId)
        try s.array(&listeners, field: "listeners") { s, l in
            try s.string(&l.name, field: "listener name")
            try s.string(&l.host, field: "host")
            var port = Int16(bitPattern: l.port)
            try s.int16(&port)
            l.port = UInt16(bitPattern: port)
            try s.tags()
        }
        try s.tags()
    }
}

public struct RemoveRaftVoterRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .removeRaftVoter }
    public var clusterId: String? = nil
    public var voterId: Int32 = 0
    public var voterDirectoryId = KafkaUUID.zero
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.nullableString(&clusterId, field: "cluster_id")
        try s.int32(&voterId)
        try s.uuid(&voterDirectoryId)
        try s.tags()
    }
}

/// The answer to either: throttle, error code and message (`ErrorOnlyResponse`).
public typealias AddRaftVoterResponse = ErrorOnlyResponse<AddRaftVoterRequest>
public typealias RemoveRaftVoterResponse = ErrorOnlyResponse<RemoveRaftVoterRequest>
