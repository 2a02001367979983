import KafkaProtocol

/// Metadata records a node writes into the metadata log when it is the first active controller
/// of a new cluster: what `kafka-storage.sh format --add-scram` seeds (the first SCRAM
/// credentials, so that nodes and an administrator can log in before anyone could create them).
/// Kept in `<log.dirs>/bootstrap.records`, one record per line in hex, salted: the file holds
/// no password.
public enum BootstrapRecords {
    public static let fileName = "bootstrap.records"
    /// The most records and the longest line the file may have; a seed is a few users.
    public static let maxRecords = 1_000
    public static let maxLineBytes = 8_192

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    public static func text(_ records: [MetadataRecord]) throws -> String {
        var out = "# Metadata records for the first active controller of a new cluster (tern storage format).\n"
        for r in records {
            out +=
                try r.encoded().map { b in
                    let s = String(b, radix: 16)
                    return s.count == 1 ? "0" + s : s
                }.joined() + "\n"
        }
        return out
    }

    public static func parse(_ text: String, source: String) throws -> [MetadataRecord] {
        var records: [MetadataRecord] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            func bad(_ why: String) -> Malformed { Malformed(description: "\(source):\(n + 1): \(why)") }
            guard line.utf8.count <= maxLineBytes, line.utf8.count % 2 == 0 else {
                throw bad("expected an even number of hex digits, at most \(maxLineBytes)")
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(line.utf8.count / 2)
            var chars = line.utf8.makeIterator()
            while let hi = chars.next(), let lo = chars.next() {
                guard let h = hexValue(hi), let l = hexValue(lo) else { throw bad("not hex") }
                bytes.append(h << 4 | l)
            }
            let record: MetadataRecord
            do { record = try MetadataRecord.decode(bytes) } catch { throw bad("not a metadata record: \(error)") }
            guard case .scramCredential = record else { throw bad("only SCRAM credentials may be seeded") }
            records.append(record)
            guard records.count <= maxRecords else { throw bad("more than \(maxRecords) records") }
        }
        return records
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
