import Foundation

/// Kafka's `ssl.principal.mapping.rules`: how a client certificate's subject (RFC 2253, as
/// `X500Name` reads it) becomes the name in `User:<name>`. A list of rules tried in order, the
/// first that matches wins:
/// - `DEFAULT`: the subject as it is;
/// - `RULE:<pattern>/<replacement>/[L|U]`: when the regular expression matches the whole
///   subject, the replacement with `$1`… filled in, then lower- or upper-cased with `L` / `U`.
/// Rules are separated by commas, which patterns may contain; `\/` is a slash inside a pattern
/// or replacement. A subject no rule matches is refused, as Kafka refuses it.
public struct PrincipalMapping: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        case asIs
        case rule(pattern: String, replacement: String, caseChange: CaseChange?)
    }

    public enum CaseChange: Sendable, Equatable { case lower, upper }

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public let rules: [Rule]

    /// Kafka's default: the subject as it is.
    public static let standard = PrincipalMapping(rules: [.asIs])

    public init(rules: [Rule]) { self.rules = rules }

    /// Longest rules text read: a config value, but no reason for more.
    public static let maxTextBytes = 16_384

    public static func parse(_ text: String) throws -> PrincipalMapping {
        guard text.utf8.count <= maxTextBytes else {
            throw Invalid(description: "the rules are \(text.utf8.count) bytes; at most \(maxTextBytes)")
        }
        var rules: [Rule] = []
        var rest = Substring(text)
        func skipSpace() { rest = rest.drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" }) }
        skipSpace()
        while !rest.isEmpty {
            if rest.hasPrefix("DEFAULT") {
                rest = rest.dropFirst("DEFAULT".count)
                rules.append(.asIs)
            } else if rest.hasPrefix("RULE:") {
                rest = rest.dropFirst("RULE:".count)
                let pattern = try slashTerminated(&rest, what: "pattern")
                let replacement = try slashTerminated(&rest, what: "replacement")
                var change: CaseChange? = nil
                if rest.first == "L" {
                    change = .lower
                    rest = rest.dropFirst()
                } else if rest.first == "U" {
                    change = .upper
                    rest = rest.dropFirst()
                }
                do {
                    _ = try NSRegularExpression(pattern: pattern)
                } catch {
                    throw Invalid(description: "RULE:\(pattern)/…: not a regular expression")
                }
                rules.append(.rule(pattern: pattern, replacement: replacement, caseChange: change))
            } else {
                throw Invalid(
                    description:
                        "cannot read a rule at \"\(rest.prefix(40))\": each rule is DEFAULT or RULE:pattern/replacement/ with an optional L or U"
                )
            }
            skipSpace()
            if rest.isEmpty { break }
            guard rest.first == "," else {
                throw Invalid(description: "expected a comma before \"\(rest.prefix(40))\"")
            }
            rest = rest.dropFirst()
            skipSpace()
        }
        guard !rules.isEmpty else { throw Invalid(description: "no rules (Kafka's default is DEFAULT)") }
        return PrincipalMapping(rules: rules)
    }

    /// The text up to the next slash not escaped by a backslash; the slash is consumed, the
    /// escapes are kept for the regular expression or template, which read `\/` as a slash.
    private static func slashTerminated(_ rest: inout Substring, what: String) throws -> String {
        var out = ""
        var escaped = false
        while let c = rest.first {
            rest = rest.dropFirst()
            if escaped {
                out.append(c)
                escaped = false
            } else if c == "\\" {
                out.append(c)
                escaped = true
            } else if c == "/" {
                return out
            } else {
                out.append(c)
            }
        }
        throw Invalid(description: "a RULE's \(what) ends without its closing /")
    }

    /// The short name for `subject`, or nil when no rule matches it (or a rule makes it empty).
    public func name(for subject: String) -> String? {
        for rule in rules {
            switch rule {
            case .asIs:
                return subject
            case .rule(let pattern, let replacement, let change):
                guard let regex = try? NSRegularExpression(pattern: pattern) else { continue }
                let whole = NSRange(subject.startIndex..<subject.endIndex, in: subject)
                guard let match = regex.firstMatch(in: subject, options: [.anchored], range: whole),
                    match.range == whole
                else { continue }
                var name = regex.replacementString(for: match, in: subject, offset: 0, template: replacement)
                switch change {
                case .lower: name = name.lowercased()
                case .upper: name = name.uppercased()
                case nil: break
                }
                return name.isEmpty ? nil : name
            }
        }
        return nil
    }
}
