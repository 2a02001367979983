/// The subject of an X.509 certificate as Kafka's DEFAULT `ssl.principal.mapping.rules` names
/// it: the distinguished name in RFC 2253 form, most specific part first
/// ("CN=alice,OU=payments,O=Example,C=US"). Read from the certificate's DER with a small,
/// bounded reader: the certificate has been verified by TLS, but its bytes are still a peer's.
public enum X500Name {
    /// The subject DN of a DER-encoded certificate, or nil when it cannot be read.
    public static func subject(ofCertificateDER der: [UInt8]) -> String? {
        var top = DER(der[...])
        guard let cert = top.next(tag: 0x30), top.atEnd else { return nil }
        var c = DER(cert)
        guard let tbs = c.next(tag: 0x30) else { return nil }
        var t = DER(tbs)
        if t.peekTag == 0xA0 { _ = t.next(tag: 0xA0) }  // version
        guard t.next(tag: 0x02) != nil,  // serial number
            t.next(tag: 0x30) != nil,  // signature algorithm
            t.next(tag: 0x30) != nil,  // issuer
            t.next(tag: 0x30) != nil,  // validity
            let subject = t.next(tag: 0x30)
        else { return nil }
        return rfc2253(nameDER: subject)
    }

    /// An RDNSequence's contents as RFC 2253 text.
    static func rfc2253(nameDER: ArraySlice<UInt8>) -> String? {
        var rdns: [String] = []
        var seq = DER(nameDER)
        while !seq.atEnd {
            guard let set = seq.next(tag: 0x31), rdns.count < 64 else { return nil }
            var s = DER(set)
            var parts: [String] = []
            while !s.atEnd {
                guard let atv = s.next(tag: 0x30) else { return nil }
                var a = DER(atv)
                guard let oid = a.next(tag: 0x06), let (tag, value) = a.nextAny(), a.atEnd else { return nil }
                guard let dotted = oidString(oid) else { return nil }
                let keyword = keywords[dotted]
                if keyword != nil, [0x0C, 0x13, 0x16, 0x14].contains(tag),
                    let text = String(validating: Array(value), as: UTF8.self)
                {
                    parts.append("\(keyword ?? dotted)=\(escape(text))")
                } else {
                    // A type without a keyword, or a value that is not a string, is written as
                    // '#' and the hex of its DER (RFC 2253 2.4).
                    let key = keyword ?? dotted
                    let whole = [tag] + lengthBytes(value.count) + Array(value)
                    parts.append("\(key)=#" + whole.map { hex2($0) }.joined())
                }
            }
            rdns.append(parts.joined(separator: "+"))
        }
        return rdns.reversed().joined(separator: ",")
    }

    static let keywords: [String: String] = [
        "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
        "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
    ]

    static func escape(_ s: String) -> String {
        var out = ""
        let chars = Array(s)
        for (i, ch) in chars.enumerated() {
            if ",+\"\\<>;".contains(ch) || (i == 0 && (ch == "#" || ch == " ")) || (i == chars.count - 1 && ch == " ") {
                out.append("\\")
            }
            out.append(ch)
        }
        return out
    }

    static func oidString(_ bytes: ArraySlice<UInt8>) -> String? {
        guard let first = bytes.first, bytes.count <= 64 else { return nil }
        var parts = [first < 80 ? Int(first / 40) : 2, first < 80 ? Int(first % 40) : Int(first) - 80]
        var v = 0
        for b in bytes.dropFirst() {
            guard v < (1 << 48) else { return nil }
            v = (v << 7) | Int(b & 0x7F)
            if b & 0x80 == 0 {
                parts.append(v)
                v = 0
            }
        }
        return parts.map(String.init).joined(separator: ".")
    }

    static func lengthBytes(_ n: Int) -> [UInt8] {
        if n < 0x80 { return [UInt8(n)] }
        var bytes: [UInt8] = []
        var m = n
        while m > 0 {
            bytes.insert(UInt8(m & 0xFF), at: 0)
            m >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    static func hex2(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
    }

    /// A reader of DER tag-length-value items.
    struct DER {
        var rest: ArraySlice<UInt8>
        init(_ bytes: ArraySlice<UInt8>) { rest = bytes }
        var atEnd: Bool { rest.isEmpty }
        var peekTag: UInt8? { rest.first }

        mutating func next(tag: UInt8) -> ArraySlice<UInt8>? {
            guard rest.first == tag, let (_, value) = nextAny() else { return nil }
            return value
        }

        mutating func nextAny() -> (UInt8, ArraySlice<UInt8>)? {
            var r = rest
            guard let tag = r.popFirst(), tag & 0x1F != 0x1F, let first = r.popFirst() else { return nil }
            var length = 0
            if first < 0x80 {
                length = Int(first)
            } else {
                let n = Int(first & 0x7F)
                guard (1...4).contains(n), r.count >= n else { return nil }
                for _ in 0..<n { length = (length << 8) | Int(r.removeFirst()) }
            }
            guard length <= r.count else { return nil }
            let value = r.prefix(length)
            rest = r.dropFirst(length)
            return (tag, value)
        }
    }
}
