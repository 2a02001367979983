extension RaftNode {
    mutating func sendFetch(to leader: Int32, nowMs: Int64) -> RaftAction {
        fetchInFlightSinceMs = nowMs
        return .send(
            to: leader,
            .fetch(
                RaftFetchRequest(
                    epoch: quorum.epoch, replicaId: id, fetchOffset: log.endOffset, lastFetchedEpoch: log.lastEpoch)))
    }

    mutating func handleFetch(_ f: RaftFetchRequest, from sender: Int32, nowMs: Int64) -> [RaftAction] {
        func answer(_ outcome: RaftFetchResponse.Outcome) -> [RaftAction] {
            [
                .send(
                    to: sender,
                    .fetchResponse(
                        RaftFetchResponse(
                            epoch: quorum.epoch, leaderId: leaderId, highWatermark: highWatermark,
                            fetchOffset: f.fetchOffset, outcome: outcome)))
            ]
        }
        guard role == .leader, f.epoch == quorum.epoch else { return answer(.fenced) }
        peers[sender]?.lastFetchMs = nowMs
        // An observer's fetch offset counts only once the checks below find its log agrees with
        // this one (a log that diverges may be longer than what it really shares with us): it
        // may become a voter on the strength of it.
        if peers[sender] == nil { noteObserverFetch(sender, fetchOffset: nil, nowMs: nowMs) }
        // Below the log start only the snapshot has what the follower needs.
        if let snap = snapshot, f.fetchOffset < log.startOffset {
            return answer(.snapshot(endOffset: snap.endOffset, epoch: snap.epoch))
        }
        // Divergence check (KIP-595): the follower's last fetched epoch must end, on our log,
        // at or after its fetch offset.
        if f.fetchOffset > 0 {
            guard let (epoch, end) = log.endOffset(forEpoch: f.lastFetchedEpoch) else {
                // It diverges somewhere inside our snapshot: the snapshot replaces its log.
                let snap = snapshot!
                return answer(.snapshot(endOffset: snap.endOffset, epoch: snap.epoch))
            }
            if epoch < f.lastFetchedEpoch || end < f.fetchOffset {
                return answer(.diverging(epoch: epoch, endOffset: end))
            }
        }
        var actions: [RaftAction] = []
        if let peer = peers[sender] {
            peers[sender]!.endOffset = max(peer.endOffset, f.fetchOffset)
            actions += advanceHighWatermark()
        } else {
            noteObserverFetch(sender, fetchOffset: f.fetchOffset, nowMs: nowMs)
        }
        return actions
            + answer(
                .entries(log.slice(from: f.fetchOffset, max: config.maxFetchEntries, maxBytes: config.maxFetchBytes)))
    }

    mutating func handleFetchResponse(_ r: RaftFetchResponse, from sender: Int32, nowMs: Int64) -> [RaftAction] {
        guard isObserver else {
            // A node that answers as the leader of our epoch (asked because a refused vote named
            // it) is followed: one leader per epoch, so a candidate or a node between leaders
            // may take it as it would a BeginQuorumEpoch.
            var adopted: [RaftAction] = []
            if r.leaderId == sender, r.epoch == quorum.epoch, role != .leader, role != .follower(leader: sender),
                r.outcome != .fenced
            {
                quorum.leaderId = sender
                role = .follower(leader: sender)
                lastLeaderContactMs = nowMs
                adopted.append(.persist(quorum))
            }
            return adopted + followerFetchResponse(r, from: sender, nowMs: nowMs)
        }
        var actions: [RaftAction] = []
        if let adopted = observerFetchAnswer(r, from: sender, nowMs: nowMs) {
            guard role == .follower(leader: sender) else { return adopted }
            actions = adopted
        }
        actions += followerFetchResponse(r, from: sender, nowMs: nowMs)
        // A leader that says it no longer leads: ask the voters again after a pause.
        if role == .unattached { nextFetchAtMs = nowMs + config.fetchBackoffMs }
        return actions
    }

    private mutating func followerFetchResponse(_ r: RaftFetchResponse, from sender: Int32, nowMs: Int64)
        -> [RaftAction]
    {
        guard case .follower(let leader) = role, leader == sender, r.epoch == quorum.epoch else { return [] }
        guard r.fetchOffset == log.endOffset else {
            // An answer to an older fetch (duplicated or reordered): ignore, ask again.
            fetchInFlightSinceMs = nil
            return []
        }
        // While a snapshot is being fetched, entries answer an older fetch (found by simulation:
        // a delayed answer appended past the snapshot being downloaded, which then went back).
        if download != nil, case .entries = r.outcome { return [] }
        fetchInFlightSinceMs = nil
        var actions: [RaftAction] = []
        if case .fenced = r.outcome {
            // The node we follow says it does not lead this epoch (it restarted, or resigned):
            // stop following it and let the election timer run. It is no sign of a live leader.
            role = .unattached
            quorum.leaderId = nil
            electionDeadlineMs = nowMs + randomElectionTimeout() / 2
            return [.persist(quorum)]
        }
        lastLeaderContactMs = nowMs
        switch r.outcome {
        case .fenced:
            break
        case .diverging(let epoch, let endOffset):
            let ours = log.endOffset(forEpoch: epoch)?.endOffset ?? log.startOffset
            let target = max(log.startOffset, min(endOffset, ours, log.endOffset))
            // Committed entries never diverge: an answer that says so is a stale copy of one
            // already acted on (found by simulation: a duplicated answer whose fetch offset
            // matched the log end again after the truncation and the next append).
            guard target >= highWatermark else { return [sendFetch(to: leader, nowMs: nowMs)] }
            log.truncate(to: target)
            durableEndOffset = min(durableEndOffset, target)
            actions.append(.truncate(offset: target))
            actions += noteTruncated(to: target, nowMs: nowMs)
            actions.append(sendFetch(to: leader, nowMs: nowMs))
        case .entries(let entries):
            if !entries.isEmpty {
                let offset = log.endOffset
                log.append(entries)
                durableEndOffset = log.endOffset
                actions.append(.append(offset: offset, entries: entries))
                actions += noteAppended(entries, at: offset, nowMs: nowMs)
            }
            let hw = min(r.highWatermark, log.endOffset)
            if hw > highWatermark {
                highWatermark = hw
                actions.append(.commit(highWatermark: hw))
            }
            if entries.isEmpty && !config.leaderHoldsFetches {
                nextFetchAtMs = nowMs + config.fetchBackoffMs
            } else {
                actions.append(sendFetch(to: leader, nowMs: nowMs))
            }
        case .snapshot(let endOffset, let epoch):
            // Carry on with a download of the same snapshot where it stopped.
            if download?.endOffset != endOffset || download?.epoch != epoch {
                download = (endOffset, epoch, [])
            }
            actions.append(sendFetchSnapshot(to: leader, nowMs: nowMs))
        }
        return actions
    }
}
