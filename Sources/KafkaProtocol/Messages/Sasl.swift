import NIOCore

/// SaslHandshake (key 17), v0-1: the client names a mechanism; the answer lists those the
/// listener enables. After v1 the exchange goes in SaslAuthenticate requests; after v0 as raw
/// length-prefixed tokens.
public struct SaslHandshakeRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .saslHandshake }
    public var mechanism = ""
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.string(&mechanism, field: "mechanism")
    }
}

public struct SaslHandshakeResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .saslHandshake }
    public var errorCode: Int16 = 0
    public var mechanisms: [String] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int16(&errorCode)
        try s.array(&mechanisms, field: "mechanisms") { s, m in try s.string(&m, field: "mechanism") }
    }
}

/// SaslAuthenticate (key 36), v0-2 (flexible from v2): one step of the SASL exchange.
public struct SaslAuthenticateRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .saslAuthenticate }
    public var authBytes = ByteBuffer()
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.bytes(&authBytes, field: "auth_bytes")
        if version >= 2 { try s.tags() }
    }
}

public struct SaslAuthenticateResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .saslAuthenticate }
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public var authBytes = ByteBuffer()
    /// v1+: when the session must re-authenticate (KIP-368); 0 for never.
    public var sessionLifetimeMs: Int64 = 0
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int16(&errorCode)
        try s.errorMessage(&errorMessage)
        try s.bytes(&authBytes, field: "auth_bytes")
        if version >= 1 { try s.int64(&sessionLifetimeMs) }
        if version >= 2 { try s.tags() }
    }
}
