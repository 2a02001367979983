/// A 128-bit id as Kafka uses for topic ids and directory ids.
public struct KafkaUUID: Hashable, Sendable, Defaultable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init() {
        high = 0
        low = 0
    }

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let zero = KafkaUUID()

    /// A random version-4 UUID.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> KafkaUUID {
        var id = KafkaUUID(high: generator.next(), low: generator.next())
        id.high = (id.high & ~0xF000) | 0x4000
        id.low = (id.low & ~(UInt64(0xC) << 60)) | (UInt64(0x8) << 60)
        return id
    }

    public static func random() -> KafkaUUID {
        var g = SystemRandomNumberGenerator()
        return random(using: &g)
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        for shift in stride(from: 56, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: high >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: low >> UInt64(shift)))
        }
        return out
    }

    /// Kafka prints ids as URL-safe base64 without padding (22 characters).
    public var description: String { Base64URL.encode(bytes) }

    public init?(base64: String) {
        guard let raw = Base64URL.decode(base64), raw.count == 16 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(raw[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(raw[i]) }
        self.init(high: h, low: l)
    }
}

/// URL-safe base64 without padding, as Kafka prints UUIDs and cluster ids.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ data: [UInt8]) -> String {
        var out = [UInt8]()
        var i = 0
        while i + 3 <= data.count {
            let n = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            out += [
                alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)],
                alphabet[Int(n & 63)],
            ]
            i += 3
        }
        let rest = data.count - i
        if rest == 1 {
            let n = UInt32(data[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Standard base64 (RFC 4648 section 4: `+`, `/` and `=` padding), as SCRAM writes it.
    public static func encodePadded(_ data: [UInt8]) -> String {
        var s = String(encode(data).map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while s.utf8.count % 4 != 0 { s += "=" }
        return s
    }

    /// Decodes either alphabet, padded or not.
    public static func decode(_ text: String) -> [UInt8]? {
        var values = [UInt8]()
        for c in text.utf8 {
            if c == UInt8(ascii: "=") { break }
            guard
                let v = alphabet.firstIndex(
                    of: c == UInt8(ascii: "+") ? UInt8(ascii: "-") : c == UInt8(ascii: "/") ? UInt8(ascii: "_") : c)
            else {
                return nil
            }
            values.append(UInt8(v))
        }
        var out = [UInt8]()
        var i = 0
        while i + 4 <= values.count {
            let n =
                UInt32(values[i]) << 18 | UInt32(values[i + 1]) << 12 | UInt32(values[i + 2]) << 6
                | UInt32(values[i + 3])
            out += [UInt8(n >> 16 & 255), UInt8(n >> 8 & 255), UInt8(n & 255)]
            i += 4
        }
        let rest = values.count - i
        if rest == 1 { return nil }
        if rest == 2 {
            let n = UInt32(values[i]) << 18 | UInt32(values[i + 1]) << 12
            out.append(UInt8(n >> 16 & 255))
        } else if rest == 3 {
            let n = UInt32(values[i]) << 18 | UInt32(values[i + 1]) << 12 | UInt32(values[i + 2]) << 6
            out += [UInt8(n >> 16 & 255), UInt8(n >> 8 & 255)]
        }
        return out
    }
}
