import NIOCore

/// DescribeUserScramCredentials (key 50), v0, flexible: which SCRAM mechanisms (and iteration
/// counts) each user has; never the credentials themselves.
public struct DescribeUserScramCredentialsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeUserScramCredentials }
    public struct User: Defaultable, Sendable, Equatable {
        public var name = ""
        public init() {}
    }
    /// Null or empty: every user.
    public var users: [User]? = nil
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.nullableArray(&users, field: "users") { s, u in
            try s.string(&u.name, field: "name")
            try s.tags()
        }
        try s.tags()
    }
}

public struct DescribeUserScramCredentialsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .describeUserScramCredentials }
    public struct CredentialInfo: Defaultable, Sendable, Equatable {
        public var mechanism: Int8 = 0
        public var iterations: Int32 = 0
        public init() {}
    }
    public struct Result: Defaultable, Sendable, Equatable {
        public var user = ""
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public var credentialInfos: [CredentialInfo] = []
        public init() {}
    }
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16 = 0
    public var errorMessage: String? = nil
    public var results: [Result] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.int16(&errorCode)
        try s.errorMessage(&errorMessage)
        try s.array(&results, field: "results") { s, r in
            try s.string(&r.user, field: "user")
            try s.int16(&r.errorCode)
            try s.errorMessage(&r.errorMessage)
            try s.array(&r.credentialInfos, field: "credential_infos") { s, c in
                try s.int8(&c.mechanism)
                try s.int32(&c.iterations)
                try s.tags()
            }
            try s.tags()
        }
        try s.tags()
    }
}

/// AlterUserScramCredentials (key 51), v0, flexible: deletions and upsertions of SCRAM
/// credentials. The client salts the password; the broker keeps only the derived keys.
public struct AlterUserScramCredentialsRequest: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .alterUserScramCredentials }
    public struct Deletion: Defaultable, Sendable, Equatable {
        public var name = ""
        public var mechanism: Int8 = 0
        public init() {}
    }
    public struct Upsertion: Defaultable, Sendable, Equatable {
        public var name = ""
        public var mechanism: Int8 = 0
        public var iterations: Int32 = 0
        public var salt = ByteBuffer()
        public var saltedPassword = ByteBuffer()
        public init() {}
    }
    public var deletions: [Deletion] = []
    public var upsertions: [Upsertion] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.array(&deletions, field: "deletions") { s, d in
            try s.string(&d.name, field: "name")
            try s.int8(&d.mechanism)
            try s.tags()
        }
        try s.array(&upsertions, field: "upsertions") { s, u in
            try s.string(&u.name, field: "name")
            try s.int8(&u.mechanism)
            try s.int32(&u.iterations)
            try s.bytes(&u.salt, field: "salt")
            try s.bytes(&u.saltedPassword, field: "salted_password")
            try s.tags()
        }
        try s.tags()
    }
}

public struct AlterUserScramCredentialsResponse: KafkaMessage, Equatable {
    public static var apiKey: ApiKey { .alterUserScramCredentials }
    public struct Result: Defaultable, Sendable, Equatable {
        public var user = ""
        public var errorCode: Int16 = 0
        public var errorMessage: String? = nil
        public init() {}
    }
    public var throttleTimeMs: Int32 = 0
    public var results: [Result] = []
    public init() {}

    public mutating func serde<S: KafkaSerde>(_ s: inout S, version: Int16) throws {
        try s.int32(&throttleTimeMs)
        try s.array(&results, field: "results") { s, r in
            try s.string(&r.user, field: "user")
            try s.int16(&r.errorCode)
            try s.errorMessage(&r.errorMessage)
            try s.tags()
        }
        try s.tags()
    }
}
