import Foundation
import NIOCore
import NIOPosix

/// A listener that could not open its socket, named by its address, with the reason in words
/// ("address already in use" rather than NIO's `bind(descriptor:ptr:bytes:)` text).
public struct ListenError: Error, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let reason: String

    public var description: String { "cannot listen on \(host):\(port): \(reason)" }

    /// Runs `open`, turning a socket error into a ListenError for `host:port`.
    static func naming<T>(host: String, port: Int, _ open: () throws -> T) throws -> T {
        do {
            return try open()
        } catch let error as IOError {
            throw ListenError(host: host, port: port, reason: Self.reason(errno: error.errnoCode))
        }
    }

    /// Binds a socket to `host:port` and closes it without ever listening: whether the port can
    /// be listened on now. (A listening probe would accept connections for an instant, and a
    /// readiness check polling the port could take that for the node being up.)
    static func checkFree(host: String, port: Int) throws {
        guard port != 0 else { return }
        try naming(host: host, port: port) {
            switch try SocketAddress.makeAddressResolvingHost(host, port: port) {
            case .v4(let a): try bindOnly(family: AF_INET, a.address)
            case .v6(let a): try bindOnly(family: AF_INET6, a.address)
            case .unixDomainSocket: return
            }
        }
    }

    /// Binds a TCP socket of `family` to `address` (a sockaddr_in or sockaddr_in6) and closes it.
    private static func bindOnly<Address>(family: Int32, _ address: Address) throws {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        defer { close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = address
        let result = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
        if result != 0 { throw IOError(errnoCode: errno, reason: "bind") }
    }

    static func reason(errno code: Int32) -> String {
        switch code {
        case EADDRINUSE:
            return "the address is already in use (another process listens there: an earlier node still running?)"
        case EACCES:
            return "permission denied (ports below 1024 need privileges)"
        case EADDRNOTAVAIL:
            return "the address is not one of this machine's"
        default:
            return String(cString: strerror(code)).lowercased()
        }
    }
}
