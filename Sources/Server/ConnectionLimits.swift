import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The limits on what clients can make a node hold, with Kafka's names (see the limits table in
/// docs/ARCHITECTURE.md).
public struct ConnectionLimits: Sendable, Equatable {
    /// `max.connections`: open connections on one listener kind (the client listeners together,
    /// or the CONTROLLER listener); a connection past it is closed at once.
    public var maxConnections = 10_000
    /// `max.connections.per.ip`: open connections from one address.
    public var maxConnectionsPerIp = Int(Int32.max)
    /// `connections.max.idle.ms`: a connection that sends nothing for this long is closed.
    public var idleMs: Int64 = 600_000
    /// `queued.max.request.bytes`: bytes of requests read and not yet answered, over all
    /// connections; past it no connection is read until answers free some.
    public var queuedMaxRequestBytes = 512 << 20
    public init() {}
}

/// Counts open connections per listener kind and per address, and admits or refuses new ones.
final class ConnectionTracker: Sendable {
    private struct State {
        var total = 0
        var perIp: [String: Int] = [:]
        var accepted = 0
        var rejected = 0
    }
    private let state = NIOLockedValueBox(State())
    let limits: ConnectionLimits
    let name: String
    let logLimiter = LogLimiter()

    init(limits: ConnectionLimits, name: String) {
        self.limits = limits
        self.name = name
    }

    /// Admits a connection from `ip`, or says which limit it would pass.
    func admit(_ ip: String) -> String? {
        state.withLockedValue { s in
            if s.total >= limits.maxConnections {
                s.rejected += 1
                return "max.connections=\(limits.maxConnections) reached on the \(name) listeners"
            }
            if s.perIp[ip, default: 0] >= limits.maxConnectionsPerIp {
                s.rejected += 1
                return "max.connections.per.ip=\(limits.maxConnectionsPerIp) reached for \(ip)"
            }
            s.accepted += 1
            s.total += 1
            s.perIp[ip, default: 0] += 1
            return nil
        }
    }

    /// Open connections, and those admitted and refused since start-up (for the metrics).
    var counts: (open: Int, accepted: Int, rejected: Int) {
        state.withLockedValue { ($0.total, $0.accepted, $0.rejected) }
    }

    func release(_ ip: String) {
        state.withLockedValue { s in
            s.total -= 1
            let n = s.perIp[ip, default: 1] - 1
            s.perIp[ip] = n > 0 ? n : nil
        }
    }

    /// The admitted connections that are open, so a stop can close them while the event loops
    /// still run (their requests in flight then end there, not on a loop that has shut down).
    private let open = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    /// Tracks an admitted connection until it closes; `ip` is released then.
    func track(_ channel: any Channel, ip: String) {
        let key = ObjectIdentifier(channel)
        open.withLockedValue { $0[key] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            open.withLockedValue { $0[key] = nil }
            release(ip)
        }
    }

    /// Closes every open connection and returns once they are closed.
    func closeAll() async {
        for c in open.withLockedValue({ Array($0.values) }) { try? await c.close() }
    }
}

/// `queued.max.request.bytes`: the bytes of every request frame read and not yet answered.
final class RequestMemory: Sendable {
    private let used = NIOLockedValueBox(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    var isExhausted: Bool { used.withLockedValue { $0 >= limit } }

    func take(_ n: Int) { used.withLockedValue { $0 += n } }
    func give(_ n: Int) { used.withLockedValue { $0 -= n } }
}

/// One connection's share of `RequestMemory`: every byte read from its socket is taken as it
/// arrives (a frame still being read counts too), and given back when the request it belongs to
/// is answered, or when the connection closes. Used on the connection's event loop only.
final class ConnectionMemory {
    let pool: RequestMemory
    private(set) var held = 0

    init(pool: RequestMemory) { self.pool = pool }

    func take(_ n: Int) {
        held += n
        pool.take(n)
    }

    func give(_ n: Int) {
        let m = min(n, held)
        held -= m
        pool.give(m)
    }

    func releaseAll() { give(held) }
}

/// First in a client connection's pipeline: charges the bytes read to the connection's memory.
final class ReadAccounting: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let memory: ConnectionMemory

    init(memory: ConnectionMemory) { self.memory = memory }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        memory.take(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) { memory.releaseAll() }
}
