import NIOCore

/// Writes a Kafka frame field by field into a `ByteBuffer`.
///
/// Writing cannot trap: a string, byte string or array longer than its wire type can say (a
/// string over 32,767 bytes, bytes or an array over `Int32.max`) throws
/// ``ProtocolError/tooLong(field:length:max:)`` instead, so a value composed from hostile input
/// costs the one answer that carries it, never the process.
public struct KafkaWriter: KafkaSerde {
    public var buffer: ByteBuffer
    public var flexible: Bool
    public var isReading: Bool { false }
    /// When set, file bytes are not copied: each is noted here with the buffer index where its
    /// bytes belong, for the server to send from the file.
    public var splicing = false
    public private(set) var splices: [(at: Int, slice: FileBytes)] = []

    public init(buffer: ByteBuffer = ByteBufferAllocator().buffer(capacity: 256), flexible: Bool = false) {
        self.buffer = buffer
        self.flexible = flexible
    }

    public mutating func int8(_ value: inout Int8) throws { buffer.writeInteger(value) }
    public mutating func int16(_ value: inout Int16) throws { buffer.writeInteger(value) }
    public mutating func int32(_ value: inout Int32) throws { buffer.writeInteger(value) }
    public mutating func int64(_ value: inout Int64) throws { buffer.writeInteger(value) }
    public mutating func bool(_ value: inout Bool) throws { buffer.writeInteger(UInt8(value ? 1 : 0)) }

    public mutating func uuid(_ value: inout KafkaUUID) throws {
        buffer.writeInteger(value.high)
        buffer.writeInteger(value.low)
    }

    public mutating func writeUnsignedVarint(_ value: UInt32) {
        var v = value
        while v >= 0x80 {
            buffer.writeInteger(UInt8(v & 0x7F | 0x80))
            v >>= 7
        }
        buffer.writeInteger(UInt8(v))
    }

    public mutating func writeVarint(_ value: Int32) {
        writeUnsignedVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    public mutating func writeVarlong(_ value: Int64) {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while v >= 0x80 {
            buffer.writeInteger(UInt8(v & 0x7F | 0x80))
            v >>= 7
        }
        buffer.writeInteger(UInt8(v))
    }

    /// The largest length each kind of field can carry on the wire (Kafka's own limits: strings
    /// are INT16-sized even in flexible versions).
    public static let maxStringBytes = Int(Int16.max)
    public static let maxBytesLength = Int(Int32.max) - 1
    /// The largest frame body the writer produces.
    public static let maxFrameBytes = Int(Int32.max) - 4096

    /// A length prefix; -1 is null. Throws, never traps, for a length the field cannot carry.
    mutating func writeLength(_ n: Int, wide: Bool, field: StaticString, isCount: Bool = false) throws {
        let max = wide ? Self.maxBytesLength : Self.maxStringBytes
        guard n >= -1, n <= max else { throw ProtocolError.tooLong(field: "\(field)", length: n, max: max) }
        // What follows a string or bytes length is that many bytes: the frame must still fit an
        // INT32 length (and a ByteBuffer, whose capacity is 4 GiB), whatever is being written.
        if !isCount, buffer.writerIndex + Swift.max(n, 0) > Self.maxFrameBytes {
            throw ProtocolError.frameTooLarge(length: buffer.writerIndex + n, max: Self.maxFrameBytes)
        }
        if flexible {
            writeUnsignedVarint(UInt32(n + 1))
        } else if wide {
            buffer.writeInteger(Int32(n))
        } else {
            buffer.writeInteger(Int16(n))
        }
    }

    public mutating func string(_ value: inout String, field: StaticString) throws {
        try writeLength(value.utf8.count, wide: false, field: field)
        buffer.writeString(value)
    }

    public mutating func nullableString(_ value: inout String?, field: StaticString) throws {
        guard let v = value else {
            try writeLength(-1, wide: false, field: field)
            return
        }
        try writeLength(v.utf8.count, wide: false, field: field)
        buffer.writeString(v)
    }

    public mutating func nullableBytes(_ value: inout ByteBuffer?, field: StaticString) throws {
        guard var v = value else {
            try writeLength(-1, wide: true, field: field)
            return
        }
        try writeLength(v.readableBytes, wide: true, field: field)
        buffer.writeBuffer(&v)
    }

    public mutating func fileBytes(_ slice: FileBytes) throws {
        try writeLength(slice.length, wide: true, field: "file bytes")
        if splicing {
            splices.append((buffer.writerIndex, slice))
        } else {
            var bytes = slice.read()
            buffer.writeBuffer(&bytes)
        }
    }

    public mutating func bytes(_ value: inout ByteBuffer, field: StaticString) throws {
        var v: ByteBuffer? = value
        try nullableBytes(&v, field: field)
    }

    public mutating func array<T: Defaultable>(
        _ value: inout [T], field: StaticString, _ element: (inout KafkaWriter, inout T) throws -> Void
    ) throws {
        try writeLength(value.count, wide: true, field: field, isCount: true)
        for i in value.indices { try element(&self, &value[i]) }
    }

    public mutating func nullableArray<T: Defaultable>(
        _ value: inout [T]?, field: StaticString, _ element: (inout KafkaWriter, inout T) throws -> Void
    ) throws {
        guard var v = value else {
            try writeLength(-1, wide: true, field: field)
            return
        }
        try writeLength(v.count, wide: true, field: field, isCount: true)
        for i in v.indices { try element(&self, &v[i]) }
        value = v
    }

    public mutating func tags() throws { writeUnsignedVarint(0) }

    public mutating func tags(_ fields: [TaggedField<KafkaWriter>]) throws {
        let present = fields.filter(\.present).sorted { $0.tag < $1.tag }
        writeUnsignedVarint(UInt32(present.count))
        for field in present {
            var sub = KafkaWriter(buffer: ByteBufferAllocator().buffer(capacity: 16), flexible: true)
            try field.body(&sub)
            writeUnsignedVarint(field.tag)
            writeUnsignedVarint(UInt32(sub.buffer.readableBytes))
            buffer.writeBuffer(&sub.buffer)
        }
    }
}
