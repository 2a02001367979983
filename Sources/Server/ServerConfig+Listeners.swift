import KafkaProtocol

extension ServerConfig {
    public struct ClientListener: Sendable, Equatable {
        public var name: String
        public var bindHost: String
        public var port: Int
        public var advertisedHost: String
        public var advertisedPort: Int
    }
}

/// One entry of `listeners`: NAME://host:port.
struct Listener: Equatable {
    var name: String
    var host: String
    var port: Int

    static func parseList(_ text: String, key: String, source: String) throws -> [Listener] {
        try text.split(separator: ",").map { (raw: Substring) -> Listener in
            let entry = raw.trimmingCharacters(in: " \t\r\n")
            let parts = entry.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].hasSuffix(":"), parts[1].isEmpty else {
                throw ServerConfig.Invalid(
                    description:
                        "\(source): invalid \(key) entry '\(entry)': expected NAME://host:port, e.g. PLAINTEXT://localhost:9092"
                )
            }
            let name = String(parts[0].dropLast())
            let rest = parts[2]
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
                (0...65535).contains(port)
            else {
                throw ServerConfig.Invalid(
                    description:
                        "\(source): invalid \(key) entry '\(entry)': expected a port from 0 to 65535 after the host")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return Listener(name: name, host: host, port: port)
        }
    }
}
