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
