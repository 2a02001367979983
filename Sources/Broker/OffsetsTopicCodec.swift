import KafkaProtocol
import NIOCore

/// The records of `__consumer_offsets`, in Kafka's layout: an offset commit's key (group, topic,
/// partition) and value (offset, leader epoch, metadata, commit time). A null value removes
/// the key.
enum OffsetsTopicCodec {
    typealias OffsetKey = GroupCoordinator.OffsetKey
    typealias Committed = GroupCoordinator.Committed

    /// Key v1: version, group, topic, partition.
    static func encodeOffsetKey(_ group: String, _ k: OffsetKey) throws -> [UInt8] {
        var w = KafkaWriter(flexible: false)
        var version: Int16 = 1
        var g = group
        var t = k.topic
        var p = k.partition
        try w.int16(&version)
        try w.string(&g, field: "group")
        try w.string(&t, field: "topic")
        try w.int32(&p)
        return Array(w.buffer.readableBytesView)
    }

    static func decodeOffsetKey(_ bytes: [UInt8]) -> (String, OffsetKey)? {
        var r = KafkaReader(ByteBuffer(bytes: bytes), flexible: false)
        var version: Int16 = 0
        var g = ""
        var t = ""
        var p: Int32 = 0
        guard (try? r.int16(&version)) != nil, version <= 1, (try? r.string(&g, field: "group")) != nil,
            (try? r.string(&t, field: "topic")) != nil, (try? r.int32(&p)) != nil
        else { return nil }
        return (g, OffsetKey(topic: t, partition: p))
    }

    /// Value v3: version, offset, leader epoch, metadata, commit timestamp.
    static func encodeOffsetValue(_ c: Committed) throws -> [UInt8] {
        var w = KafkaWriter(flexible: false)
        var version: Int16 = 3
        var c = c
        try w.int16(&version)
        try w.int64(&c.offset)
        try w.int32(&c.leaderEpoch)
        try w.string(&c.metadata, field: "metadata")
        try w.int64(&c.timestamp)
        return Array(w.buffer.readableBytesView)
    }

    static func decodeOffsetValue(_ bytes: [UInt8]) -> Committed? {
        var r = KafkaReader(ByteBuffer(bytes: bytes), flexible: false)
        var version: Int16 = 0
        var c = Committed(offset: 0, leaderEpoch: -1, metadata: "", timestamp: 0)
        guard (try? r.int16(&version)) != nil, (try? r.int64(&c.offset)) != nil else { return nil }
        if version >= 3 { _ = try? r.int32(&c.leaderEpoch) }
        _ = try? r.string(&c.metadata, field: "metadata")
        _ = try? r.int64(&c.timestamp)
        return c
    }
}
