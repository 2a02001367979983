import NIOCore

/// Reads a Kafka frame field by field. Every length read from the wire is checked against the
/// bytes that remain before anything is allocated, so a short or hostile frame throws
/// ``ProtocolError`` and never traps.
public struct KafkaReader: KafkaSerde {
    public var buffer: ByteBuffer
    public var flexible: Bool
    public var isReading: Bool { true }

    public init(_ buffer: ByteBuffer, flexible: Bool = false) {
        self.buffer = buffer
        self.flexible = flexible
    }

    public var remaining: Int { buffer.readableBytes }

    @inline(__always)
    mutating func fixed<T: FixedWidthInteger>(_: T.Type, _ field: StaticString) throws -> T {
        guard let v = buffer.readInteger(as: T.self) else {
            throw ProtocolError.truncated(field: "\(field)", needed: MemoryLayout<T>.size, available: remaining)
        }
        return v
    }

    public mutating func int8(_ value: inout Int8) throws { value = try fixed(Int8.self, "int8") }
    public mutating func int16(_ value: inout Int16) throws { value = try fixed(Int16.self, "int16") }
    public mutating func int32(_ value: inout Int32) throws { value = try fixed(Int32.self, "int32") }
    public mutating func int64(_ value: inout Int64) throws { value = try fixed(Int64.self, "int64") }
    public mutating func bool(_ value: inout Bool) throws { value = try fixed(UInt8.self, "bool") != 0 }

    public mutating func uuid(_ value: inout KafkaUUID) throws {
        let h = try fixed(UInt64.self, "uuid")
        let l = try fixed(UInt64.self, "uuid")
        value = KafkaUUID(high: h, low: l)
    }

    public mutating func readInt16() throws -> Int16 { try fixed(Int16.self, "int16") }
    public mutating func readInt32() throws -> Int32 { try fixed(Int32.self, "int32") }
    public mutating func readInt64() throws -> Int64 { try fixed(Int64.self, "int64") }

    /// An unsigned LEB128 varint of at most 5 bytes (32 bits), as used for compact lengths.
    public mutating func unsignedVarint() throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard let byte = buffer.readInteger(as: UInt8.self) else {
                throw ProtocolError.truncated(field: "varint", needed: 1, available: 0)
            }
            if shift == 28 && byte > 0x0F { throw ProtocolError.malformedVarint }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A zigzag-encoded signed varint (records use these).
    public mutating func varint() throws -> Int32 {
        let raw = try unsignedVarint()
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A zigzag-encoded signed varlong.
    public mutating func varlong() throws -> Int64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = buffer.readInteger(as: UInt8.self) else {
                throw ProtocolError.truncated(field: "varlong", needed: 1, available: 0)
            }
            if shift == 63 && byte > 1 { throw ProtocolError.malformedVarint }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
    }

    /// Length of a string/bytes/array: -1 means null. Compact lengths are stored plus one.
    mutating func length(_ field: StaticString, wide: Bool) throws -> Int {
        if flexible {
            return Int(try unsignedVarint()) - 1
        }
        return wide ? Int(try fixed(Int32.self, field)) : Int(try fixed(Int16.self, field))
    }

    /// A string of `count` bytes. Kafka's strings are INT16-sized in every version (its own
    /// readers refuse longer compact strings), and bytes that are not UTF-8 are refused rather
    /// than repaired: a repaired string is longer than the bytes it came from, and could no
    /// longer be written back into the field it was read from.
    mutating func readUTF8(_ count: Int, _ field: StaticString) throws -> String {
        guard count <= KafkaWriter.maxStringBytes else {
            throw ProtocolError.tooLong(field: "\(field)", length: count, max: KafkaWriter.maxStringBytes)
        }
        guard count <= remaining else {
            throw ProtocolError.truncated(field: "\(field)", needed: count, available: remaining)
        }
        guard let s = buffer.readString(length: count), s.utf8.count == count else {
            throw ProtocolError.invalidUTF8(field: "\(field)")
        }
        return s
    }

    public mutating func string(_ value: inout String, field: StaticString) throws {
        let n = try length(field, wide: false)
        guard n >= 0 else { throw ProtocolError.invalidLength(field: "\(field)", value: n) }
        value = try readUTF8(n, field)
    }

    public mutating func nullableString(_ value: inout String?, field: StaticString) throws {
        let n = try length(field, wide: false)
        if n < 0 {
            guard n == -1 else { throw ProtocolError.invalidLength(field: "\(field)", value: n) }
            value = nil
        } else {
            value = try readUTF8(n, field)
        }
    }

    public mutating func fileBytes(_ slice: FileBytes) throws {
        throw ProtocolError.invalidLength(field: "file bytes", value: slice.length)
    }

    public mutating func nullableBytes(_ value: inout ByteBuffer?, field: StaticString) throws {
        let n = try length(field, wide: true)
        if n < 0 {
            guard n == -1 else { throw ProtocolError.invalidLength(field: "\(field)", value: n) }
            value = nil
            return
        }
        guard n <= remaining else { throw ProtocolError.truncated(field: "\(field)", needed: n, available: remaining) }
        value = buffer.readSlice(length: n)
    }

    public mutating func bytes(_ value: inout ByteBuffer, field: StaticString) throws {
        var v: ByteBuffer? = nil
        try nullableBytes(&v, field: field)
        guard let v else { throw ProtocolError.invalidLength(field: "\(field)", value: -1) }
        value = v
    }

    mutating func count(_ field: StaticString) throws -> Int? {
        let n = try length(field, wide: true)
        if n < 0 {
            guard n == -1 else { throw ProtocolError.invalidLength(field: "\(field)", value: n) }
            return nil
        }
        // Every element takes at least one byte, so a count above the bytes left is a lie
        // and must not size an allocation.
        guard n <= remaining else { throw ProtocolError.invalidLength(field: "\(field)", value: n) }
        return n
    }

    public mutating func array<T: Defaultable>(
        _ value: inout [T], field: StaticString, _ element: (inout KafkaReader, inout T) throws -> Void
    ) throws {
        guard let n = try count(field) else { throw ProtocolError.invalidLength(field: "\(field)", value: -1) }
        value = try readElements(n, element)
    }

    public mutating func nullableArray<T: Defaultable>(
        _ value: inout [T]?, field: StaticString, _ element: (inout KafkaReader, inout T) throws -> Void
    ) throws {
        guard let n = try count(field) else {
            value = nil
            return
        }
        value = try readElements(n, element)
    }

    mutating func readElements<T: Defaultable>(_ n: Int, _ element: (inout KafkaReader, inout T) throws -> Void) throws
        -> [T]
    {
        var out = [T]()
        out.reserveCapacity(n)
        for _ in 0..<n {
            var e = T()
            try element(&self, &e)
            out.append(e)
        }
        return out
    }

    public mutating func tags(_ fields: [TaggedField<KafkaReader>]) throws {
        let n = try unsignedVarint()
        guard n <= remaining else { throw ProtocolError.invalidLength(field: "tagged fields", value: Int(n)) }
        for _ in 0..<n {
            let tag = try unsignedVarint()
            let size = Int(try unsignedVarint())
            guard size <= remaining else {
                throw ProtocolError.truncated(field: "tagged field", needed: size, available: remaining)
            }
            let slice = buffer.readSlice(length: size)!
            if let field = fields.first(where: { $0.tag == tag }) {
                var sub = KafkaReader(slice, flexible: true)
                try field.body(&sub)
            }
        }
    }

    public mutating func tags() throws {
        let n = try unsignedVarint()
        guard n <= remaining else { throw ProtocolError.invalidLength(field: "tagged fields", value: Int(n)) }
        for _ in 0..<n {
            _ = try unsignedVarint()
            let size = Int(try unsignedVarint())
            guard size <= remaining else {
                throw ProtocolError.truncated(field: "tagged field", needed: size, available: remaining)
            }
            buffer.moveReaderIndex(forwardBy: size)
        }
    }
}
