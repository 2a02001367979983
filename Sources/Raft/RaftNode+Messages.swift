extension RaftNode {
    public mutating func receive(_ message: RaftMessage, from sender: Int32, nowMs: Int64) -> [RaftAction] {
        guard sender != id else { return [] }
        // Leader messages (BeginQuorumEpoch, EndQuorumEpoch) come only from voters.
        switch message {
        // Fetches come from observers too, and answers from whichever leader this node asked
        // (its log may not know that leader is a voter yet); a vote response counts only from
        // a voter (`votesCounted`) but its epoch and leader are news from anyone. A vote request
        // is answered whatever this node's own voter set says (Raft §4.1: the candidate's set
        // may be newer, or this node's; pre-vote keeps a removed node from disrupting), and a
        // refusal names the leader, so a node removed while away learns it and follows.
        case .fetch, .fetchSnapshot, .fetchResponse, .fetchSnapshotResponse, .voteResponse, .vote: break
        default: guard voters.contains(sender) else { return [] }
        }
        // Epochs and offsets out of range are dropped before they can move any state.
        guard message.isPlausible(currentEpoch: quorum.epoch) else { return [] }
        var actions: [RaftAction] = []
        // Any message from a newer epoch moves us into it, except pre-votes, which are
        // hypothetical, and vote requests, which are handled below so the vote itself is
        // persisted together with the epoch.
        let isPreVote: Bool = { if case .vote(let v) = message { return v.preVote } else { return false } }()
        if message.epoch > quorum.epoch && !isPreVote {
            switch message {
            case .beginQuorumEpoch(let e, let l): actions += observe(epoch: e, leader: l, nowMs: nowMs)
            case .fetchResponse(let r): actions += observe(epoch: r.epoch, leader: r.leaderId, nowMs: nowMs)
            case .fetchSnapshotResponse(let r): actions += observe(epoch: r.epoch, leader: r.leaderId, nowMs: nowMs)
            case .voteResponse(let r) where !r.preVote:
                actions += observe(epoch: r.epoch, leader: r.leaderId, nowMs: nowMs)
            case .voteResponse(let r):
                // A refused pre-vote from a newer epoch still tells us that epoch exists.
                actions += observe(epoch: r.epoch, leader: r.leaderId, nowMs: nowMs)
            default: actions += observe(epoch: message.epoch, leader: nil, nowMs: nowMs)
            }
        }
        switch message {
        case .vote(let v): actions += handleVote(v, nowMs: nowMs)
        case .voteResponse(let r): actions += handleVoteResponse(r, from: sender, nowMs: nowMs)
        case .beginQuorumEpoch(let e, let l):
            if e == quorum.epoch && l != id, role != .follower(leader: l) {
                if role == .leader { break }  // cannot happen: one leader per epoch
                quorum.leaderId = l
                actions.append(.persist(quorum))
                role = .follower(leader: l)
                lastLeaderContactMs = nowMs
                nextFetchAtMs = nowMs
                fetchInFlightSinceMs = nil
            }
            if e == quorum.epoch, case .follower(let l2) = role, l2 == l, fetchInFlightSinceMs == nil {
                actions.append(sendFetch(to: l, nowMs: nowMs))
            }
        case .endQuorumEpoch(let e, let l):
            // The leader resigned: do not wait out the fetch timeout.
            if e == quorum.epoch, case .follower(let cur) = role, cur == l {
                lastLeaderContactMs = Int64.min / 2
                electionDeadlineMs = nowMs + randomElectionTimeout() / 4
                role = .unattached
            }
        case .fetch(let f): actions += handleFetch(f, from: sender, nowMs: nowMs)
        case .fetchResponse(let r): actions += handleFetchResponse(r, from: sender, nowMs: nowMs)
        case .fetchSnapshot(let f): actions += handleFetchSnapshot(f, from: sender, nowMs: nowMs)
        case .fetchSnapshotResponse(let r): actions += handleFetchSnapshotResponse(r, from: sender, nowMs: nowMs)
        }
        return actions
    }
}
