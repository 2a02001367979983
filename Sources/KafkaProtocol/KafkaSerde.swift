import NIOCore

/// A value that has a neutral starting state, so a decoder can create it and then fill it in.
public protocol Defaultable {
    init()
}

extension Int8: Defaultable {}
extension Int16: Defaultable {}
extension Int32: Defaultable {}
extension Int64: Defaultable {}
extension String: Defaultable {}
extension Bool: Defaultable {}

/// A topic's name with its partitions' entries, the shape most partition-level requests and
/// answers share (their `Topic` types are this, with their own `Partition`).
public struct NamedTopic<Partition: Defaultable & Sendable & Equatable>: Defaultable, Sendable, Equatable {
    public var name = ""
    public var partitions: [Partition] = []
    public init() {}
    public init(name: String, partitions: [Partition]) {
        self.name = name
        self.partitions = partitions
    }
}

extension NamedTopic {
    /// (topic, partition) pairs as topics in the order first named, each with its partitions in order.
    public static func grouping(_ pairs: some Sequence<(String, Partition)>) -> [NamedTopic] {
        var order: [String] = []
        var byTopic: [String: [Partition]] = [:]
        for (topic, p) in pairs {
            if byTopic[topic] == nil { order.append(topic) }
            byTopic[topic, default: []].append(p)
        }
        return order.map { NamedTopic(name: $0, partitions: byTopic[$0] ?? []) }
    }

    /// The name, as the quorum's and AlterPartition's specs call it.
    public var topicName: String {
        get { name }
        set { name = newValue }
    }
    /// The name, as Fetch's and OffsetForLeaderEpoch's specs call it.
    public var topic: String {
        get { name }
        set { name = newValue }
    }
}

/// A message field-walker that either reads fields from a frame or writes them into one.
///
/// Each message describes its fields once, in wire order, through a `serde` method that calls
/// these primitives on `inout` fields. A ``KafkaReader`` fills the fields in; a ``KafkaWriter``
/// writes them out. `flexible` selects the compact encodings and tagged-field sections that
/// Kafka's flexible versions use, so a message's description does not repeat itself per version.
public protocol KafkaSerde {
    var isReading: Bool { get }
    var flexible: Bool { get }

    mutating func int8(_ value: inout Int8) throws
    mutating func int16(_ value: inout Int16) throws
    mutating func int32(_ value: inout Int32) throws
    mutating func int64(_ value: inout Int64) throws
    mutating func bool(_ value: inout Bool) throws
    mutating func uuid(_ value: inout KafkaUUID) throws
    /// A non-nullable string: INT16 length, or compact (unsigned varint length + 1) when flexible.
    mutating func string(_ value: inout String, field: StaticString) throws
    mutating func nullableString(_ value: inout String?, field: StaticString) throws
    /// Nullable bytes: INT32 length, or compact when flexible. Used for `records`.
    mutating func nullableBytes(_ value: inout ByteBuffer?, field: StaticString) throws
    mutating func bytes(_ value: inout ByteBuffer, field: StaticString) throws
    /// Non-null bytes taken from a file when writing (length prefix, then the file's bytes,
    /// spliced in by the server or copied in). Reading never meets one.
    mutating func fileBytes(_ slice: FileBytes) throws
    mutating func array<T: Defaultable>(
        _ value: inout [T], field: StaticString, _ element: (inout Self, inout T) throws -> Void
    ) throws
    mutating func nullableArray<T: Defaultable>(
        _ value: inout [T]?, field: StaticString, _ element: (inout Self, inout T) throws -> Void
    ) throws
    /// The tagged-field section that ends every struct in a flexible version. Unknown tags are
    /// skipped when reading; nothing is written (every tagged field at its default is omitted).
    mutating func tags() throws
    /// A tagged-field section with known fields: each is written only when `present`, and read
    /// through `body` when its tag is found. Unknown tags are skipped.
    mutating func tags(_ fields: [TaggedField<Self>]) throws
}

/// One known tagged field of a struct.
public struct TaggedField<S: KafkaSerde> {
    public var tag: UInt32
    public var present: Bool
    public var body: (inout S) throws -> Void

    public init(tag: UInt32, present: Bool, body: @escaping (inout S) throws -> Void) {
        self.tag = tag
        self.present = present
        self.body = body
    }
}

extension KafkaSerde {
    /// An array of INT32 values, e.g. replica lists.
    public mutating func int32Array(_ value: inout [Int32], field: StaticString) throws {
        try array(&value, field: field) { s, e in try s.int32(&e) }
    }

    public mutating func stringArray(_ value: inout [String], field: StaticString) throws {
        try array(&value, field: field) { s, e in try s.string(&e, field: field) }
    }

    /// Tagged fields only exist in flexible versions.
    public mutating func tagsIfFlexible() throws {
        if flexible { try tags() }
    }

    /// An array of topics, each its name and its partitions (each through `partition`), then the
    /// topic's tagged fields in a flexible version.
    public mutating func topics<P>(_ topics: inout [NamedTopic<P>], _ partition: (inout Self, inout P) throws -> Void)
        throws
    {
        try array(&topics, field: "topics") { s, t in
            try s.string(&t.name, field: "topic name")
            try s.array(&t.partitions, field: "partitions") { s, p in try partition(&s, &p) }
            try s.tagsIfFlexible()
        }
    }
}

extension KafkaSerde {
    /// An `error_message` field. Written bounded to about 1,000 bytes: messages quote names from
    /// requests, which can each be as long as the field itself.
    public mutating func errorMessage(_ value: inout String?) throws {
        if !isReading, let v = value, v.utf8.count > 1000 { value = v.boundedMessage }
        try nullableString(&value, field: "error_message")
    }
}
