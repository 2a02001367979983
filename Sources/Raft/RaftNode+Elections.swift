extension RaftNode {
    mutating func startPreVote(nowMs: Int64) -> [RaftAction] {
        electionDeadlineMs = nowMs + randomElectionTimeout()
        // Messages past maxEpoch are refused, so this is only reached by local state files
        // edited by hand; stay a follower rather than overflow.
        guard quorum.epoch < RaftMessage.maxEpoch else { return [] }
        fetchInFlightSinceMs = nil
        if voters == [id] { return becomeCandidate(nowMs: nowMs) }
        role = .prospective(granted: [id])
        let request = RaftVoteRequest(
            candidateEpoch: quorum.epoch + 1, candidateId: id, lastOffsetEpoch: log.lastEpoch,
            lastOffset: log.endOffset,
            preVote: true)
        return voters.filter { $0 != id }.map { .send(to: $0, .vote(request)) }
    }

    private mutating func becomeCandidate(nowMs: Int64) -> [RaftAction] {
        quorum = QuorumState(epoch: quorum.epoch + 1, votedFor: id, leaderId: nil)
        role = .candidate(granted: [id])
        electionDeadlineMs = nowMs + randomElectionTimeout()
        var actions: [RaftAction] = [.persist(quorum)]
        if voters == [id] { return actions + becomeLeader(nowMs: nowMs) }
        let request = RaftVoteRequest(
            candidateEpoch: quorum.epoch, candidateId: id, lastOffsetEpoch: log.lastEpoch, lastOffset: log.endOffset,
            preVote: false)
        for v in voters where v != id { actions.append(.send(to: v, .vote(request))) }
        return actions
    }

    private mutating func becomeLeader(nowMs: Int64) -> [RaftAction] {
        role = .leader
        quorum.leaderId = id
        peers = [:]
        observers = [:]
        for v in voters where v != id { peers[v] = Peer(endOffset: 0, lastFetchMs: nowMs) }
        epochStartOffset = log.endOffset
        lastBeginQuorumMs = nowMs
        let marker = LogEntry.leaderChange(epoch: quorum.epoch, leader: id)
        let offset = log.endOffset
        log.append([marker])
        var actions: [RaftAction] = [
            .persist(quorum), .append(offset: offset, entries: [marker]), .becameLeader(epoch: quorum.epoch),
        ]
        for v in voters where v != id {
            actions.append(.send(to: v, .beginQuorumEpoch(epoch: quorum.epoch, leaderId: id)))
        }
        actions += advanceHighWatermark()
        return actions
    }

    /// Moves to a newer epoch learned from a message, as a follower of `leader` if it is known.
    mutating func observe(epoch: Int32, leader: Int32?, nowMs: Int64) -> [RaftAction] {
        var actions: [RaftAction] = []
        if role == .leader { actions.append(.lostLeadership(epoch: quorum.epoch)) }
        quorum = QuorumState(epoch: epoch, votedFor: nil, leaderId: leader)
        actions.append(.persist(quorum))
        fetchInFlightSinceMs = nil
        download = nil
        if let leader, leader != id {
            role = .follower(leader: leader)
            lastLeaderContactMs = nowMs
            nextFetchAtMs = nowMs
        } else {
            role = .unattached
            electionDeadlineMs = nowMs + randomElectionTimeout()
        }
        return actions
    }

    mutating func handleVote(_ v: RaftVoteRequest, nowMs: Int64) -> [RaftAction] {
        let upToDate = log.isUpToDate(lastEpoch: v.lastOffsetEpoch, endOffset: v.lastOffset)
        if v.preVote {
            // KIP-996: refuse while we still hear from a leader, so a node returning from a
            // partition cannot disrupt a healthy quorum.
            let leaderAlive: Bool = {
                switch role {
                case .leader: return true
                case .follower: return nowMs - lastLeaderContactMs <= config.fetchTimeoutMs
                default: return false
                }
            }()
            let granted = v.candidateEpoch > quorum.epoch && upToDate && !leaderAlive
            return [
                .send(
                    to: v.candidateId,
                    .voteResponse(
                        RaftVoteResponse(epoch: quorum.epoch, granted: granted, preVote: true, leaderId: leaderId)))
            ]
        }
        var actions: [RaftAction] = []
        var granted = false
        if v.candidateEpoch == quorum.epoch && role != .leader && upToDate
            && (quorum.votedFor == nil || quorum.votedFor == v.candidateId) && quorum.leaderId == nil
        {
            granted = true
            if quorum.votedFor == nil {
                quorum.votedFor = v.candidateId
                actions.append(.persist(quorum))
            }
            electionDeadlineMs = nowMs + randomElectionTimeout()
        }
        actions.append(
            .send(
                to: v.candidateId,
                .voteResponse(
                    RaftVoteResponse(epoch: quorum.epoch, granted: granted, preVote: false, leaderId: leaderId))))
        return actions
    }

    mutating func handleVoteResponse(_ r: RaftVoteResponse, from sender: Int32, nowMs: Int64) -> [RaftAction] {
        guard r.granted else {
            // A refusal that names a leader of our own epoch: if the leader said so itself it is
            // alive, so follow it; if another node names it, it may be the dead leader we time
            // out on, so ask it (a fetch) and follow only if it answers as leader. This is how a
            // node removed from the voters while away, whose own log still counts it, learns.
            if let l = r.leaderId, l != id, r.epoch == quorum.epoch {
                switch role {
                case .prospective, .unattached:
                    if l == sender {
                        quorum.leaderId = l
                        role = .follower(leader: l)
                        lastLeaderContactMs = nowMs
                        nextFetchAtMs = nowMs
                        fetchInFlightSinceMs = nil
                        return [.persist(quorum)]
                    }
                    if fetchInFlightSinceMs == nil { return [sendFetch(to: l, nowMs: nowMs)] }
                default: break
                }
            }
            return []
        }
        switch role {
        case .prospective(var granted) where r.preVote && r.epoch <= quorum.epoch:
            granted.insert(sender)
            role = .prospective(granted: granted)
            if votesCounted(granted) >= majority { return becomeCandidate(nowMs: nowMs) }
        case .candidate(var granted) where !r.preVote && r.epoch == quorum.epoch:
            granted.insert(sender)
            role = .candidate(granted: granted)
            if votesCounted(granted) >= majority { return becomeLeader(nowMs: nowMs) }
        default:
            break
        }
        return []
    }
}
