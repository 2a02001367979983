/// Changing the voters (KIP-853), one voter at a time: the leader appends a voters entry naming
/// the whole new set, and every node uses the newest set in its log from the moment the entry is
/// there, committed or not. With one voter added or removed per change, any majority of the old
/// set and any majority of the new one share a voter, so two leaders of one epoch stay impossible;
/// a change waits until the one before it and an entry of the leader's own epoch are committed.
extension RaftNode {
    /// Why a voter change is refused.
    public enum VoterChangeError: Error, Equatable, Sendable {
        /// This node does not lead the quorum.
        case notLeader
        /// Not now (retriable): the reason says what it waits for.
        case notReady(String)
        /// The node to add is a voter already.
        case duplicateVoter(Int32)
        /// The node to remove is not a voter.
        case voterNotFound(Int32)
        /// Never (the last voter, too many voters, a bad id).
        case invalid(String)
    }

    /// The voters in force once every entry below `offset` is applied (what a snapshot ending
    /// there must carry).
    public func votersInForce(at offset: Int64) -> [VoterEndpoint] {
        voterChanges.last { $0.offset < offset }?.set ?? baseVoters
    }

    /// Whether this node may stand for election: it is a voter, or it was one before the newest
    /// voters entry in its log and that entry may not be committed yet. (A leader that removed
    /// itself and crashed before the others had the change must be able to lead again to finish
    /// it: the others' set still counts it, and its longer log wins their votes.)
    public var mayCampaign: Bool {
        if voters.contains(id) { return true }
        guard let last = voterChanges.last, last.offset >= highWatermark else { return false }
        return votersInForce(at: last.offset).contains { $0.id == id }
    }

    /// How many of `granted` count towards a majority of the voters in force.
    func votesCounted(_ granted: Set<Int32>) -> Int { granted.filter { voters.contains($0) }.count }

    /// The voters a snapshot ending at `offset` carries: nil while they are the configured ones
    /// (so a cluster that never changed its voters writes snapshots as before).
    public func snapshotVoters(at offset: Int64) -> [VoterEndpoint]? {
        let inForce = votersInForce(at: offset)
        return inForce == bootstrapVoters ? nil : inForce
    }

    /// Adds `voter`: a node that already follows this leader as an observer and holds every
    /// committed entry. Returns the offset of the voters entry; the change is done once the
    /// high watermark passes it.
    public mutating func addVoter(_ voter: VoterEndpoint, nowMs: Int64) -> Result<
        (offset: Int64, actions: [RaftAction]), VoterChangeError
    > {
        if let refused = changeRefusal() { return .failure(refused) }
        guard voter.id >= 0 else { return .failure(.invalid("a voter id is 0 or more, not \(voter.id)")) }
        guard !voters.contains(voter.id) else { return .failure(.duplicateVoter(voter.id)) }
        guard voters.count < VoterEndpoint.maxVoters else {
            return .failure(.invalid("the quorum has \(voters.count) voters, the most it may have"))
        }
        guard let o = observers[voter.id], nowMs - o.lastFetchMs <= config.fetchTimeoutMs else {
            return .failure(
                .notReady(
                    "node \(voter.id) is not fetching from the leader: start it with process.roles=broker,controller and a CONTROLLER listener first"
                ))
        }
        guard o.endOffset >= highWatermark else {
            return .failure(
                .notReady(
                    "node \(voter.id) has not caught up yet (its log ends at \(o.endOffset), committed \(highWatermark))"
                ))
        }
        return .success(appendVoters(voterEndpoints + [voter], nowMs: nowMs))
    }

    /// Removes voter `id` (this leader too: it leads until the change commits, then resigns).
    public mutating func removeVoter(_ id: Int32, nowMs: Int64) -> Result<
        (offset: Int64, actions: [RaftAction]), VoterChangeError
    > {
        if let refused = changeRefusal() { return .failure(refused) }
        guard voters.contains(id) else { return .failure(.voterNotFound(id)) }
        guard voters.count > 1 else { return .failure(.invalid("node \(id) is the last voter")) }
        return .success(appendVoters(voterEndpoints.filter { $0.id != id }, nowMs: nowMs))
    }

    private func changeRefusal() -> VoterChangeError? {
        guard role == .leader else { return .notLeader }
        guard highWatermark > epochStartOffset else {
            return .notReady("the leader has not committed an entry of its epoch \(quorum.epoch) yet")
        }
        if let last = voterChanges.last, last.offset >= highWatermark {
            return .notReady("the voter change at offset \(last.offset) is not committed yet")
        }
        return nil
    }

    private mutating func appendVoters(_ set: [VoterEndpoint], nowMs: Int64) -> (Int64, [RaftAction]) {
        let entry = LogEntry.voters(epoch: quorum.epoch, set)
        let offset = log.endOffset
        log.append([entry])
        var actions: [RaftAction] = [.append(offset: offset, entries: [entry])]
        actions += noteAppended([entry], at: offset, nowMs: nowMs)
        return (offset, actions)
    }

    /// Entries just appended at `offset`: any voters entry among them takes effect now.
    mutating func noteAppended(_ entries: [LogEntry], at offset: Int64, nowMs: Int64) -> [RaftAction] {
        var changed = false
        for (i, e) in entries.enumerated() {
            guard let set = e.voterSet else { continue }
            voterChanges.append((offset + Int64(i), set.sorted { $0.id < $1.id }))
            changed = true
        }
        return changed ? refreshVoters(nowMs: nowMs) : []
    }

    /// The log was cut at `offset`: voters entries past it no longer count.
    mutating func noteTruncated(to offset: Int64, nowMs: Int64) -> [RaftAction] {
        let before = voterChanges.count
        voterChanges.removeAll { $0.offset >= offset }
        return voterChanges.count != before ? refreshVoters(nowMs: nowMs) : []
    }

    /// The log now starts at `log.startOffset` (a snapshot taken): the changes below it fold into
    /// the base set.
    mutating func noteCompacted() {
        if let folded = voterChanges.last(where: { $0.offset < log.startOffset }) { baseVoters = folded.set }
        voterChanges.removeAll { $0.offset < log.startOffset }
    }

    /// A snapshot replaced the whole log: its voters (or the configured ones) are the base.
    mutating func noteSnapshotInstalled(_ snap: RaftSnapshot, nowMs: Int64) -> [RaftAction] {
        baseVoters = (snap.voters ?? bootstrapVoters).sorted { $0.id < $1.id }
        voterChanges = []
        return refreshVoters(nowMs: nowMs)
    }

    /// Puts the newest set in force. A leader moves peers in and out of the majority (a new
    /// voter keeps what it fetched as an observer).
    mutating func refreshVoters(nowMs: Int64) -> [RaftAction] {
        let set = voterChanges.last?.set ?? baseVoters
        guard set != voterEndpoints else { return [] }
        voterEndpoints = set
        voters = set.map(\.id)
        if role == .leader {
            for v in voters where v != id && peers[v] == nil {
                peers[v] = observers.removeValue(forKey: v) ?? Peer(endOffset: 0, lastFetchMs: nowMs)
            }
            for p in peers.keys where !voters.contains(p) { observers[p] = peers.removeValue(forKey: p) }
        }
        return [.votersChanged(set)]
    }

    /// A leader that is no longer a voter hands over once the change that removed it is
    /// committed: it tells the voters so that they elect a new leader at once.
    mutating func resignIfRemoved(nowMs: Int64) -> [RaftAction] {
        guard role == .leader, !voters.contains(id), let last = voterChanges.last, last.offset < highWatermark
        else { return [] }
        var actions: [RaftAction] = [.lostLeadership(epoch: quorum.epoch)]
        for v in voters { actions.append(.send(to: v, .endQuorumEpoch(epoch: quorum.epoch, leaderId: id))) }
        role = .unattached
        quorum.leaderId = nil
        actions.append(.persist(quorum))
        nextFetchAtMs = nowMs + config.fetchBackoffMs
        return actions
    }
}
