import Raft
import Testing

/// Messages whose epochs or offsets are out of range move nothing, whoever claims to send them.
@Suite struct RaftInputRangeTests {
    func node(epoch: Int32 = 3) -> RaftNode {
        RaftNode(
            id: 0, voters: [0, 1, 2], state: QuorumState(epoch: epoch, votedFor: nil, leaderId: nil), log: RaftLog(),
            config: RaftConfig(), seed: 1, nowMs: 0)
    }

    @Test func beginQuorumEpochAtInt32MaxIsDropped() {
        var n = node()
        #expect(n.receive(.beginQuorumEpoch(epoch: .max, leaderId: 1), from: 1, nowMs: 10).isEmpty)
        #expect(n.epoch == 3)
        // Just below the ceiling but a million epochs ahead: also dropped.
        #expect(n.receive(.beginQuorumEpoch(epoch: 3 + (1 << 20) + 1, leaderId: 1), from: 1, nowMs: 10).isEmpty)
        #expect(n.epoch == 3)
        // The next epoch from a voter is taken as before.
        _ = n.receive(.beginQuorumEpoch(epoch: 4, leaderId: 1), from: 1, nowMs: 10)
        #expect(n.epoch == 4 && n.leaderId == 1)
    }

    @Test func negativeEpochsAndHugeOffsetsAreDropped() {
        var n = node()
        // A last log epoch past the candidate's own epoch.
        let vote = RaftVoteRequest(
            candidateEpoch: 4, candidateId: 1, lastOffsetEpoch: 9, lastOffset: 0, preVote: false)
        #expect(n.receive(.vote(vote), from: 1, nowMs: 10).isEmpty)
        let far = RaftVoteRequest(
            candidateEpoch: 4, candidateId: 1, lastOffsetEpoch: 1, lastOffset: .max, preVote: false)
        #expect(n.receive(.vote(far), from: 1, nowMs: 10).isEmpty)
        #expect(n.receive(.endQuorumEpoch(epoch: -1, leaderId: 1), from: 1, nowMs: 10).isEmpty)
        let fetch = RaftFetchRequest(epoch: 3, replicaId: 1, fetchOffset: -5, lastFetchedEpoch: 0)
        #expect(n.receive(.fetch(fetch), from: 1, nowMs: 10).isEmpty)
        #expect(n.epoch == 3)
    }

    @Test func aNodeAtTheEpochCeilingStaysAFollowerInsteadOfOverflowing() {
        // Only a hand-edited quorum-state file gets here; elections must not add one to it.
        var n = node(epoch: RaftMessage.maxEpoch)
        var actions: [RaftAction] = []
        for t in stride(from: Int64(0), through: 60_000, by: 100) { actions += n.tick(nowMs: t) }
        #expect(n.epoch == RaftMessage.maxEpoch)
        #expect(!actions.contains { if case .becameLeader = $0 { return true } else { return false } })
    }

    /// A fetch answer holds at most `count` entries and stops once their payloads reach
    /// `maxBytes`, but always carries the first entry, however large.
    @Test func fetchSlicesAreBoundedByCountAndBytes() {
        var log = RaftLog(startOffset: 10)
        log.append((0..<100).map { LogEntry(epoch: 1, payload: [UInt8](repeating: 7, count: $0 == 50 ? 5_000 : 100)) })
        #expect(log.slice(from: 10, max: 4096).count == 100)
        #expect(log.slice(from: 10, max: 30).count == 30)
        #expect(log.slice(from: 10, max: 4096, maxBytes: 1_000).count == 10)
        #expect(log.slice(from: 10, max: 4096, maxBytes: 999).count == 9)
        #expect(log.slice(from: 60, max: 4096, maxBytes: 10).count == 1)
        #expect(log.slice(from: 60, max: 4096, maxBytes: 10).first?.payload.count == 5_000)
        #expect(log.slice(from: 55, max: 4096, maxBytes: 4_999).count == 5)
        #expect(log.slice(from: 10, max: 0).isEmpty && log.slice(from: 9, max: 5).isEmpty)
        #expect(log.slice(from: 110, max: 5).isEmpty && log.slice(from: .max, max: .max).isEmpty)
    }
}
