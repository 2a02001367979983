extension RaftNode {
    /// An observer's clock: follow the known leader while it answers; without one (or once it
    /// has been silent for the fetch timeout) ask the voters in turn, one fetch at a time, until
    /// one of them is the leader or names it.
    mutating func observerTick(nowMs: Int64) -> [RaftAction] {
        if case .follower(let leader) = role {
            if nowMs - lastLeaderContactMs <= config.fetchTimeoutMs {
                if let since = fetchInFlightSinceMs {
                    return nowMs - since >= config.requestTimeoutMs ? [sendFetch(to: leader, nowMs: nowMs)] : []
                }
                return nowMs >= nextFetchAtMs ? [sendFetch(to: leader, nowMs: nowMs)] : []
            }
            role = .unattached
            quorum.leaderId = nil
            fetchInFlightSinceMs = nil
            download = nil
        }
        if let since = fetchInFlightSinceMs, nowMs - since < config.requestTimeoutMs { return [] }
        guard nowMs >= nextFetchAtMs else { return [] }
        let voter = voters[discoveryIndex % voters.count]
        discoveryIndex = (discoveryIndex + 1) % voters.count
        return [sendFetch(to: voter, nowMs: nowMs)]
    }

    /// An observer's reading of a fetch answer: it follows the leader the answer names, and
    /// an answer from a node it does not follow goes no further (nil: handle it as a follower's).
    mutating func observerFetchAnswer(_ r: RaftFetchResponse, from sender: Int32, nowMs: Int64) -> [RaftAction]? {
        var actions: [RaftAction] = []
        // The leader named may be a voter this node's log does not know yet.
        if let l = r.leaderId, l != id, l >= 0, r.epoch >= quorum.epoch, role != .follower(leader: l) {
            quorum = QuorumState(epoch: r.epoch, votedFor: nil, leaderId: l)
            role = .follower(leader: l)
            lastLeaderContactMs = nowMs
            nextFetchAtMs = nowMs
            download = nil
            actions.append(.persist(quorum))
        }
        guard role == .follower(leader: sender) else {
            fetchInFlightSinceMs = nil
            if role == .unattached { nextFetchAtMs = nowMs + config.fetchBackoffMs }
            return actions
        }
        return actions.isEmpty ? nil : actions
    }

    /// Notes a leader's fetch from an observer (for DescribeQuorum), keeping at most
    /// `maxObservers`.
    mutating func noteObserverFetch(_ sender: Int32, fetchOffset: Int64?, nowMs: Int64) {
        if observers[sender] == nil, observers.count >= Self.maxObservers,
            let stalest = observers.min(by: { $0.value.lastFetchMs < $1.value.lastFetchMs })?.key
        {
            observers.removeValue(forKey: stalest)
        }
        let known = observers[sender]?.endOffset ?? 0
        observers[sender] = Peer(endOffset: fetchOffset.map { max(known, $0) } ?? known, lastFetchMs: nowMs)
    }

    /// The observers' log ends as a leader last heard them.
    public var observerEndOffsets: [Int32: Int64] { observers.mapValues(\.endOffset) }
}
