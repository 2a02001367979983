import NIOCore

/// The consumer protocol's member metadata (subscription) and assignment, the bytes consumers
/// put inside JoinGroup and SyncGroup: version, [topic] or [topic, [partition]], then user data,
/// in Kafka's non-flexible encoding. Brokers pass them through; the group tools and the
/// coordinator read them to show and check who consumes what.
public enum ConsumerProtocol {
    public static func subscription(topics: [String]) -> ByteBuffer {
        var w = KafkaWriter(flexible: false)
        var version: Int16 = 0
        var t = topics
        var userData: ByteBuffer? = nil
        try? w.int16(&version)
        try? w.stringArray(&t, field: "topics")
        try? w.nullableBytes(&userData, field: "user_data")
        return w.buffer
    }

    /// The topics of a subscription ([] when unreadable).
    public static func subscribedTopics(_ metadata: ByteBuffer) -> [String] {
        var r = KafkaReader(metadata, flexible: false)
        var version: Int16 = 0
        var topics: [String] = []
        guard (try? r.int16(&version)) != nil, (try? r.stringArray(&topics, field: "topics")) != nil else { return [] }
        return topics
    }

    public static func assignment(_ parts: [String: [Int32]]) -> ByteBuffer {
        var w = KafkaWriter(flexible: false)
        var version: Int16 = 0
        try? w.int16(&version)
        var count = Int32(parts.count)
        try? w.int32(&count)
        for t in parts.keys.sorted() {
            var name = t
            var ps = parts[t]!
            try? w.string(&name, field: "topic")
            try? w.int32Array(&ps, field: "partitions")
        }
        var userData: ByteBuffer? = nil
        try? w.nullableBytes(&userData, field: "user_data")
        return w.buffer
    }

    /// The (topic, partition) pairs of an assignment, as far as it is readable.
    public static func assignedPartitions(_ bytes: ByteBuffer) -> [(String, Int32)] {
        var r = KafkaReader(bytes, flexible: false)
        var version: Int16 = 0
        var out: [(String, Int32)] = []
        guard (try? r.int16(&version)) != nil else { return [] }
        var count: Int32 = 0
        guard (try? r.int32(&count)) != nil, count >= 0 else { return [] }
        for _ in 0..<count {
            var topic = ""
            var n: Int32 = 0
            guard (try? r.string(&topic, field: "topic")) != nil, (try? r.int32(&n)) != nil, n >= 0 else { return out }
            for _ in 0..<n {
                var p: Int32 = 0
                guard (try? r.int32(&p)) != nil else { return out }
                out.append((topic, p))
            }
        }
        return out
    }
}
