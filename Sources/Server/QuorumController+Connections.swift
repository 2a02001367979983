import KafkaClient
import NIOConcurrencyHelpers
import NIOCore
import Storage

extension QuorumController {
    /// Which traffic a connection carries. Raft's fetches and votes never share a connection
    /// with requests that wait for a commit (registration, admin): answers on a connection go out
    /// in request order, so a waiting request would hold back the very fetches it waits for.
    /// Broker registrations and heartbeats have a lane of their own, so that admin requests
    /// forwarded to the controller never queue behind them, nor they behind a slow admin request.
    enum Lane: Int { case raft, control, lifecycle }

    func connection(to peer: Int32, lane: Lane = .raft) async throws -> KafkaConnection {
        let key = Int64(peer) * 3 + Int64(lane.rawValue)  // no overflow for any voter id
        if background.isStopping { throw KafkaClientError.connectionClosed("node \(id) is stopping") }
        if let c = connections.withLockedValue({ $0[key] }), c.channel.isActive { return c }
        guard let v = voters.first(where: { $0.id == peer }) else {
            throw KafkaClientError.unsupported("unknown voter \(peer)")
        }
        // A peer that refused the last attempt is not tried again before its backoff (50 ms
        // growing to 1 s, as reconnect.backoff.ms and reconnect.backoff.max.ms): a voter that is
        // down costs about one connection attempt a second per lane, not one per message.
        let now = clock.now
        if let waitUntil = reconnects.withLockedValue({ $0[key]?.notBefore }), now < waitUntil {
            throw KafkaClientError.connectionClosed("node \(peer) (backing off after a failed connection)")
        }
        do {
            let c = try await KafkaConnection.connect(
                host: v.host, port: v.port, group: group, clientId: "node-\(id)-\(lane)", timeoutMs: 1000,
                security: peerSecurity)
            // Callers that found no connection connect at once (thousands of forwarded
            // AlterPartitions after a broker restarts): one connection is kept and the others
            // are closed, where each used to replace the last and stay open, unreferenced
            // (1,350 sockets on each node that stayed up in a 10,000-partition run).
            let kept = connections.withLockedValue { all -> KafkaConnection in
                if let other = all[key], other.channel.isActive { return other }
                all[key] = c
                return c
            }
            reconnects.withLockedValue { $0[key] = nil }
            if kept !== c { try? await c.channel.close() }
            if background.isStopping {
                try? await kept.channel.close()
                throw KafkaClientError.connectionClosed("node \(id) is stopping")
            }
            return kept
        } catch {
            reconnects.withLockedValue { r in
                var state = r[key] ?? (ExponentialBackoff(initialMs: 50, maxMs: 1000), now)
                state.notBefore = clock.now + .milliseconds(state.backoff.next())
                r[key] = state
            }
            throw error
        }
    }

    /// Forgets and closes a connection that failed or timed out, so the next request reconnects
    /// instead of queueing behind whatever the old one is stuck on.
    func dropConnection(to peer: Int32, lane: Lane) {
        let key = Int64(peer) * 3 + Int64(lane.rawValue)  // no overflow for any voter id
        if let c = connections.withLockedValue({ $0.removeValue(forKey: key) }) {
            c.channel.close(promise: nil)
        }
    }
}
