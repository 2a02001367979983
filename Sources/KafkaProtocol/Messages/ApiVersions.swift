import NIOCore

/// ApiVersions (key 18), v0-3. v3 is flexible and adds the client's software name and version.
public struct ApiVersionsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .apiVersions }
    public var clientSoftwareName = ""
    public var clientSoftwareVersion = ""
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        if version >= 3 {
            try s.string(&clientSoftwareName, field: "client_software_name")
            try s.string(&clientSoftwareVersion, field: "client_software_version")
            try s.tags()
        }
    }
}

public struct ApiVersionsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .apiVersions }

    public struct ApiVersion: Defaultable, Sendable, Equatable {
        public var apiKey: Int16 = 0
        public var minVersion: Int16 = 0
        public var maxVersion: Int16 = 0
        public init() {}
        public init(apiKey: Int16, minVersion: Int16, maxVersion: Int16) {
            self.apiKey = apiKey
            self.minVersion = minVersion
            self.maxVersion = maxVersion
        }
    }

    public var errorCode: Int16 = 0
    public var apiKeys: [ApiVersion] = []
    public var throttleTimeMs: Int32 = 0
    public init() {}

    /// The ranges this build implements for the APIs of one listener.
    public static func supported(errorCode: ErrorCode = .none, apis: [ApiKey] = ApiKey.clientListener)
        -> ApiVersionsResponse
    {
        var r = ApiVersionsResponse()
        r.errorCode = errorCode.rawValue
        r.apiKeys = apis.map {
            ApiVersion(apiKey: $0.rawValue, minVersion: $0.supported.lowerBound, maxVersion: $0.supported.upperBound)
        }
        return r
    }

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int16(&errorCode)
        try s.array(&apiKeys, field: "api_keys") { s, k in
            try s.int16(&k.apiKey)
            try s.int16(&k.minVersion)
            try s.int16(&k.maxVersion)
            try s.tagsIfFlexible()
        }
        if version >= 1 { try s.int32(&throttleTimeMs) }
        try s.tagsIfFlexible()
    }
}
