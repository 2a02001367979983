import Raft
import Testing

/// When a follower asks its leader again after an answer with no entries.
@Suite struct RaftFollowerFetchTests {
    /// A follower of leader 1 in epoch 4, its first fetch (offset 0) in flight.
    func follower(leaderHoldsFetches: Bool) -> RaftNode {
        var c = RaftConfig()
        c.leaderHoldsFetches = leaderHoldsFetches
        var n = RaftNode(
            id: 0, voters: [0, 1, 2], state: QuorumState(epoch: 3, votedFor: nil, leaderId: nil), log: RaftLog(),
            config: c, seed: 1, nowMs: 0)
        _ = n.receive(.beginQuorumEpoch(epoch: 4, leaderId: 1), from: 1, nowMs: 10)
        _ = n.tick(nowMs: 10)
        return n
    }

    func fetches(_ actions: [RaftAction]) -> [Int64] {
        actions.compactMap {
            if case .send(to: 1, .fetch(let f)) = $0 { return f.fetchOffset } else { return nil }
        }
    }

    func empty(highWatermark: Int64) -> RaftMessage {
        .fetchResponse(
            RaftFetchResponse(
                epoch: 4, leaderId: 1, highWatermark: highWatermark, fetchOffset: 0, outcome: .entries([])))
    }

    /// A leader that answers at once is asked again only after `fetchBackoffMs`, so that an idle
    /// quorum does not spin.
    @Test func anEmptyAnswerFromALeaderThatAnswersAtOnceWaitsTheBackoff() {
        var n = follower(leaderHoldsFetches: false)
        #expect(fetches(n.receive(empty(highWatermark: 0), from: 1, nowMs: 20)).isEmpty)
        #expect(fetches(n.tick(nowMs: 20 + RaftConfig().fetchBackoffMs - 1)).isEmpty)
        #expect(fetches(n.tick(nowMs: 20 + RaftConfig().fetchBackoffMs)) == [0])
    }

    /// A leader that holds fetches (the server's) answers empty only with news or after its hold:
    /// the next fetch goes at once, whether or not the answer moved the high watermark, so the
    /// next entry reaches this node without a backoff's delay.
    @Test func anEmptyAnswerFromALeaderThatHoldsFetchesIsFollowedAtOnce() {
        var n = follower(leaderHoldsFetches: true)
        #expect(fetches(n.receive(empty(highWatermark: 0), from: 1, nowMs: 20)) == [0])
        #expect(fetches(n.receive(empty(highWatermark: 0), from: 1, nowMs: 320)) == [0])
        // One fetch in flight: the tick sends no second one before the request timeout.
        #expect(fetches(n.tick(nowMs: 330)).isEmpty)
    }
}
