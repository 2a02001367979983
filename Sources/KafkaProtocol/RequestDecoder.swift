import NIOCore

/// Decodes a whole request frame (after its length prefix) as the server would: the header,
/// then the body with the message type of its API and version. Used by the fuzzers and their
/// regression tests; every API of `ApiKey.table` is here.
public enum RequestDecoder {
    public static func decode(_ frame: ByteBuffer) throws -> (header: RequestHeader, body: any KafkaMessage) {
        var reader = KafkaReader(frame)
        let header = try RequestHeader.decode(from: &reader)
        guard let api = ApiKey(rawValue: header.apiKey) else { throw ProtocolError.unknownApiKey(header.apiKey) }
        guard api.supported.contains(header.apiVersion) else {
            throw ProtocolError.unsupportedVersion(api: header.apiKey, version: header.apiVersion)
        }
        return (header, try body(api, header, reader.buffer))
    }

    static func body(_ api: ApiKey, _ header: RequestHeader, _ body: ByteBuffer) throws -> any KafkaMessage {
        try decode(api.spec.request, body, version: header.apiVersion)
    }

    private static func decode<M: KafkaMessage>(_ type: M.Type, _ body: ByteBuffer, version: Int16) throws
        -> any KafkaMessage
    {
        try M.decode(body, version: version)
    }
}
