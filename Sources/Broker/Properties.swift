/// Kafka's `.properties` format: `key=value` lines, `#` and `!` comments, blank lines ignored.
public enum Properties {
    public static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value, _) in parseLines(text) { out[key] = value }
        return out
    }

    /// Key, value and 1-based line number of every setting, in file order.
    public static func parseLines(_ text: String) -> [(String, String, Int)] {
        var out: [(String, String, Int)] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            let sep = line.firstIndex(where: { $0 == "=" || $0 == ":" }) ?? line.endIndex
            let key = String(line[..<sep]).trimmingCharacters(in: " \t")
            let value = sep < line.endIndex ? String(line[line.index(after: sep)...]).trimmingCharacters(in: " \t") : ""
            out.append((key, value, n + 1))
        }
        return out
    }
}
