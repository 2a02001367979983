import Testing

@testable import Broker

/// A partition its leader refuses is left out of the fetches for 10, 20, 40 ... 500 ms.
@Suite struct RefusalBackoffTests {
    let p = Broker.PartitionKey(topic: "t", index: 0)
    let q = Broker.PartitionKey(topic: "t", index: 1)

    @Test func eachRefusalInARowDoublesTheWaitUpTo500Ms() {
        var b = RefusalBackoff()
        var now: Int64 = 1_000
        var waits: [Int64] = []
        for _ in 0..<10 {
            b.refused(p, nowMs: now)
            var t = now
            while b.leavesOut(p, nowMs: t) { t += 1 }
            waits.append(t - now)
            now = t
        }
        #expect(waits == [10, 20, 40, 80, 160, 320, 500, 500, 500, 500])
        #expect(!b.leavesOut(q, nowMs: now))
    }

    @Test func anAnswerStartsTheDoublingOverAndSettledPartitionsAreForgotten() {
        var b = RefusalBackoff()
        for i in 0..<5 { b.refused(p, nowMs: Int64(i) * 1_000) }
        b.answered(p)
        #expect(b.isEmpty)
        b.refused(p, nowMs: 10_000)
        #expect(b.leavesOut(p, nowMs: 10_009) && !b.leavesOut(p, nowMs: 10_010))
        // A refusal streak of a partition that is never fetched again (deleted) is dropped once
        // it has not been refused for a second past its wait.
        b.refused(q, nowMs: 10_000)
        b.forgetSettled(nowMs: 11_009)
        #expect(b.count == 2)
        b.forgetSettled(nowMs: 11_011)
        #expect(b.isEmpty)
    }

    @Test func aLongStreakNeitherOverflowsNorShortensTheWait() {
        var b = RefusalBackoff()
        for i in 0..<200 { b.refused(p, nowMs: Int64(i)) }
        #expect(b.leavesOut(p, nowMs: 199 + 499) && !b.leavesOut(p, nowMs: 199 + 500))
    }
}
