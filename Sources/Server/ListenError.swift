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

    /// Binds and closes at once: whether `host:port` can be listened on now.
    static func checkFree(group: any EventLoopGroup, host: String, port: Int) throws {
        guard port != 0 else { return }
        try naming(host: host, port: port) {
            let channel = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).wait()
            try channel.close().wait()
        }
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
