import Raft
import Testing

/// KIP-853 in the pure core: the voters entry's bytes, snapshots that carry the voters, and what
/// a leader refuses. The seeded simulation (`RaftSimulationTests`) runs the changes under faults.
@Suite struct RaftVoterChangeTests {
    func refusal(_ r: Result<(offset: Int64, actions: [RaftAction]), RaftNode.VoterChangeError>)
        -> RaftNode.VoterChangeError?
    {
        if case .failure(let e) = r { return e }
        return nil
    }

    let three = [0, 1, 2].map { VoterEndpoint(id: $0, host: "node-\($0)", port: 19092 + $0) }

    @Test func votersEntriesRoundTripAndHostileBytesReadAsNothing() {
        let entry = LogEntry.voters(epoch: 3, three)
        #expect(entry.isVoters && entry.isControl && !entry.isLeaderChange)
        #expect(entry.voterSet == three)
        #expect(LogEntry.leaderChange(epoch: 1, leader: 0).isControl)
        #expect(LogEntry(epoch: 1, payload: [1, 0, 0]).voterSet == nil)
        // Every truncation of a good entry, a count past the bytes, a duplicate id, a negative
        // id and a host longer than the limit: nil, never a trap.
        for n in 0..<entry.payload.count {
            #expect(LogEntry(epoch: 1, payload: Array(entry.payload.prefix(n))).voterSet == nil)
        }
        #expect(LogEntry(epoch: 1, payload: [0xFE, 0, 0xFF, 0xFF]).voterSet == nil)
        #expect(LogEntry(epoch: 1, payload: [0xFE, 0, 0, 0]).voterSet == nil)  // no voters: no set
        #expect(LogEntry.voters(epoch: 1, []).voterSet == nil)
        let twice = LogEntry.voters(epoch: 1, [three[0], three[0]])
        #expect(twice.voterSet == nil)
        var negative = LogEntry.voters(epoch: 1, [VoterEndpoint(id: 5, host: "h", port: 1)])
        negative.payload[4] = 0x80  // the id's top byte
        #expect(negative.voterSet == nil)
        let long = [0xFE, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x01, 0x00] + [UInt8](repeating: 0x61, count: 256)
        #expect(LogEntry(epoch: 1, payload: long).voterSet == nil)
        #expect(LogEntry(epoch: 1, payload: entry.payload + [0]).voterSet == nil)  // trailing bytes
        // Composing never writes more than the limits allow.
        let many = (0..<300).map { VoterEndpoint(id: Int32($0), host: String(repeating: "h", count: 400), port: 1) }
        #expect(LogEntry.voters(epoch: 1, many).voterSet?.count == VoterEndpoint.maxVoters)
    }

    @Test func snapshotsCarryTheirVotersAndOldOnesReadAsBefore() {
        let framed = RaftSnapshot(endOffset: 10, epoch: 2, payload: [1, 2, 3], voters: three)
        let back = RaftSnapshot(endOffset: 10, epoch: 2, framed: framed.framed)
        #expect(back.voters == three && back.payload == [1, 2, 3])
        let plain = RaftSnapshot(endOffset: 10, epoch: 2, payload: Array("TERN....".utf8))
        #expect(plain.framed == plain.payload)
        let old = RaftSnapshot(endOffset: 10, epoch: 2, framed: Array("TERN....".utf8))
        #expect(old.voters == nil && old.payload == Array("TERN....".utf8))
        // A damaged header is read as a payload of its own (the image decoder then refuses it).
        let damaged = RaftSnapshot(endOffset: 10, epoch: 2, framed: Array(framed.framed.prefix(7)))
        #expect(damaged.voters == nil)
    }

    /// A three-voter leader (node 0) in epoch 1 with its LeaderChange committed by node 1.
    func leader() -> RaftNode {
        var n = RaftNode(
            id: 0, voterEndpoints: three, state: QuorumState(), log: RaftLog(), config: RaftConfig(), seed: 1, nowMs: 0)
        var t: Int64 = 0
        while !n.isLeader && t < 20_000 {
            // Every vote asked for is granted at once.
            var queue = n.tick(nowMs: t)
            while !queue.isEmpty {
                let a = queue.removeFirst()
                if case .send(let to, .vote(let v)) = a {
                    queue += n.receive(
                        .voteResponse(
                            RaftVoteResponse(
                                epoch: v.preVote ? n.epoch : v.candidateEpoch, granted: true, preVote: v.preVote,
                                leaderId: nil)),
                        from: to, nowMs: t)
                }
            }
            t += 50
        }
        _ = n.flushed(upTo: n.log.endOffset)
        _ = n.receive(
            .fetch(
                RaftFetchRequest(epoch: n.epoch, replicaId: 1, fetchOffset: n.log.endOffset, lastFetchedEpoch: n.epoch)),
            from: 1, nowMs: t)
        return n
    }

    @Test func aLeaderAddsOnlyACaughtUpObserverAndOneChangeAtATime() {
        var n = leader()
        #expect(n.isLeader && n.highWatermark == n.log.endOffset)
        let four = VoterEndpoint(id: 3, host: "node-3", port: 19095)
        // Node 3 has never fetched: not yet.
        guard case .failure(.notReady) = n.addVoter(four, nowMs: 100) else {
            Issue.record("added a node that does not follow the leader")
            return
        }
        #expect(refusal(n.addVoter(three[1], nowMs: 100)) == .duplicateVoter(1))
        #expect(refusal(n.removeVoter(7, nowMs: 100)) == .voterNotFound(7))
        // Node 3 fetches from the log end: it is caught up, and the change goes in.
        _ = n.receive(
            .fetch(
                RaftFetchRequest(epoch: n.epoch, replicaId: 3, fetchOffset: n.log.endOffset, lastFetchedEpoch: n.epoch)),
            from: 3, nowMs: 100)
        guard case .success(let (offset, actions)) = n.addVoter(four, nowMs: 100) else {
            Issue.record("a caught-up observer was refused")
            return
        }
        #expect(n.voters == [0, 1, 2, 3] && n.majority == 3)
        #expect(actions.contains(.votersChanged(three + [four])))
        #expect(n.log.entry(at: offset)?.voterSet == three + [four])
        // The next change waits for this one to commit.
        guard case .failure(.notReady) = n.removeVoter(2, nowMs: 100) else {
            Issue.record("a second change went in before the first committed")
            return
        }
        // Not a follower: refused as such.
        var f = RaftNode(
            id: 1, voterEndpoints: three, state: QuorumState(), log: RaftLog(), config: RaftConfig(), seed: 1, nowMs: 0)
        #expect(refusal(f.removeVoter(0, nowMs: 0)) == .notLeader)
        #expect(refusal(f.addVoter(VoterEndpoint(id: -3, host: "h", port: 1), nowMs: 0)) == .notLeader)
    }

    @Test func voterChangesFollowTheLogThroughTruncationAndRestart() {
        var n = leader()
        _ = n.receive(
            .fetch(
                RaftFetchRequest(epoch: n.epoch, replicaId: 3, fetchOffset: n.log.endOffset, lastFetchedEpoch: n.epoch)),
            from: 3, nowMs: 100)
        _ = n.addVoter(VoterEndpoint(id: 3, host: "h", port: 1), nowMs: 100)
        // A node restarted from this log (the entry is there) counts four voters; from the log
        // without it, the configured three.
        let restarted = RaftNode(
            id: 2, voterEndpoints: three, state: QuorumState(), log: n.log, config: RaftConfig(), seed: 2, nowMs: 0)
        #expect(restarted.voters == [0, 1, 2, 3])
        var shorter = n.log
        shorter.truncate(to: n.log.endOffset - 1)
        let before = RaftNode(
            id: 2, voterEndpoints: three, state: QuorumState(), log: shorter, config: RaftConfig(), seed: 2, nowMs: 0)
        #expect(before.voters == [0, 1, 2])
    }
}
