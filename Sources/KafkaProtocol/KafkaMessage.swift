import NIOCore

/// One API message (a request or a response body), described once by `serde` for every version.
public protocol KafkaMessage: Defaultable, Sendable {
    static var apiKey: ApiKey { get }
    mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws
}

extension KafkaMessage {
    /// Decodes a body. Bytes after the message are ignored, as Kafka's brokers ignore them.
    public static func decode(_ buffer: ByteBuffer, version: Int16) throws -> Self {
        try decodeCountingRest(buffer, version: version).message
    }

    /// Decodes a body and says how many bytes followed it (tests use this on captured frames).
    public static func decodeCountingRest(_ buffer: ByteBuffer, version: Int16) throws -> (message: Self, rest: Int) {
        var reader = KafkaReader(buffer, flexible: apiKey.isFlexible(version))
        var message = Self()
        try message.serde(&reader, version: version)
        return (message, reader.remaining)
    }

    /// Appends this body to `buffer`. Throws ``ProtocolError/tooLong(field:length:max:)`` for a
    /// value its field cannot carry; `buffer` is then left as it was.
    public func encode(version: Int16, into buffer: inout ByteBuffer) throws {
        let start = buffer.writerIndex
        var writer = KafkaWriter(buffer: buffer, flexible: Self.apiKey.isFlexible(version))
        buffer = ByteBuffer()  // drop our reference so the writer owns the storage uniquely
        var copy = self
        do {
            try copy.serde(&writer, version: version)
        } catch {
            writer.buffer.moveWriterIndex(to: start)
            buffer = writer.buffer
            throw error
        }
        buffer = writer.buffer
    }

    /// Encodes the body leaving out file bytes (`FileBytes`): each is returned with the index in
    /// the buffer where its bytes belong, for the server to send from the file.
    public func encodedSplicingFiles(version: Int16) throws -> (ByteBuffer, [(at: Int, slice: FileBytes)]) {
        var writer = KafkaWriter(
            buffer: ByteBufferAllocator().buffer(capacity: 256), flexible: Self.apiKey.isFlexible(version))
        writer.splicing = true
        var copy = self
        try copy.serde(&writer, version: version)
        return (writer.buffer, writer.splices)
    }

    public func encoded(version: Int16) throws -> ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: 128)
        try encode(version: version, into: &b)
        return b
    }
}

/// The request header: v0 has no client id, v1 adds it, v2 adds tagged fields. The client id
/// stays a classic INT16-length nullable string even in v2.
public struct RequestHeader: Sendable, Equatable {
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationId: Int32
    public var clientId: String?

    public init(apiKey: Int16, apiVersion: Int16, correlationId: Int32, clientId: String?) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationId = correlationId
        self.clientId = clientId
    }

    /// Reads the header and leaves `reader` at the body. The header version depends on the API
    /// and version found in the first four bytes; unknown APIs are read as header v1 so the
    /// correlation id is still known for an error answer.
    public static func decode(from reader: inout KafkaReader) throws -> RequestHeader {
        reader.flexible = false
        let key = try reader.readInt16()
        let version = try reader.readInt16()
        let correlationId = try reader.readInt32()
        var clientId: String? = nil
        try reader.nullableString(&clientId, field: "client_id")
        if let api = ApiKey(rawValue: key), api.supported.contains(version), api.requestHeaderVersion(version) >= 2 {
            reader.flexible = true
            try reader.tags()
        }
        return RequestHeader(apiKey: key, apiVersion: version, correlationId: correlationId, clientId: clientId)
    }

    /// Appends the header. A client id over 32,767 bytes is cut to fit (it only names the caller).
    public func encode(into buffer: inout ByteBuffer) {
        var w = KafkaWriter(buffer: buffer, flexible: false)
        buffer = ByteBuffer()
        w.buffer.writeInteger(apiKey)
        w.buffer.writeInteger(apiVersion)
        w.buffer.writeInteger(correlationId)
        var id = clientId.map { $0.truncatedUTF8(toBytes: KafkaWriter.maxStringBytes) }
        try? w.nullableString(&id, field: "client_id")
        if let api = ApiKey(rawValue: apiKey), api.requestHeaderVersion(apiVersion) >= 2 {
            w.writeUnsignedVarint(0)
        }
        buffer = w.buffer
    }
}
