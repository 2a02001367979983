extension StringProtocol {
    /// The string without leading and trailing characters from `set` (Foundation-free, so the
    /// sans-IO targets need nothing beyond the standard library).
    public func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    /// This string cut to at most `limit` UTF-8 bytes on a character boundary, so that it fits a
    /// field of that size. Messages that quote client input go through this before they are sent.
    public func truncatedUTF8(toBytes limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var out = ""
        var used = 0
        for c in self {
            let n = c.utf8.count
            if used + n > limit { break }
            out.append(c)
            used += n
        }
        return out
    }

    /// An error message bounded to 1,000 bytes: it may quote a client's names, which can be up to
    /// 32,767 bytes each, and must still fit its INT16 string field.
    public var boundedMessage: String {
        utf8.count <= 1000 ? self : truncatedUTF8(toBytes: 997) + "..."
    }
}
