/// Why a frame could not be decoded. Decoding never traps on input: it throws one of these.
public enum ProtocolError: Error, Equatable, CustomStringConvertible {
    /// The frame ended before a field was complete.
    case truncated(field: String, needed: Int, available: Int)
    /// A length or count read from the wire was negative where that is not allowed, or too large.
    case invalidLength(field: String, value: Int)
    /// A varint ran past its maximum width.
    case malformedVarint
    /// A string was not valid UTF-8.
    case invalidUTF8(field: String)
    /// The request named an API this broker does not know.
    case unknownApiKey(Int16)
    /// The request named a version of a known API that this broker does not implement.
    case unsupportedVersion(api: Int16, version: Int16)
    /// A record batch or message set that cannot be read.
    case corruptRecords(String)
    /// A value too long for its field's wire type, met while writing (or a string over 32,767
    /// bytes while reading: Kafka's strings are INT16-sized in every version).
    case tooLong(field: String, length: Int, max: Int)
    /// A whole frame larger than the protocol's INT32 length (or a configured bound) allows.
    case frameTooLarge(length: Int, max: Int)

    public var description: String {
        switch self {
        case .truncated(let field, let needed, let available):
            return "frame truncated reading \(field): needed \(needed) bytes, \(available) left"
        case .invalidLength(let field, let value):
            return "invalid length \(value) for \(field)"
        case .malformedVarint:
            return "malformed varint (more than 10 bytes)"
        case .invalidUTF8(let field):
            return "\(field) is not valid UTF-8"
        case .unknownApiKey(let key):
            return "unknown API key \(key)"
        case .unsupportedVersion(let api, let version):
            return "API \(ApiKey(rawValue: api).map { "\($0)" } ?? "\(api)") does not support version \(version)"
        case .corruptRecords(let why):
            return "corrupt records: \(why)"
        case .tooLong(let field, let length, let max):
            return "\(field) is \(length) long, more than the \(max) its field can carry"
        case .frameTooLarge(let length, let max):
            return "a frame of \(length) bytes is larger than the \(max) allowed"
        }
    }
}
