import KafkaClient
import Testing

@Suite struct ExponentialBackoffTests {
    @Test func doublesToItsCapWithTwentyPercentSpreadAndResets() {
        var b = ExponentialBackoff(initialMs: 100, maxMs: 2_000)
        #expect((0..<7).map { _ in b.next(random: 0.5) } == [100, 200, 400, 800, 1_600, 2_000, 2_000])
        #expect(b.next(random: 0) == 1_600 && b.next(random: 1) == 2_400)
        b.reset()
        #expect(b.failures == 0 && b.next(random: 0.5) == 100)
    }

    @Test func extremesStayBounded() {
        var b = ExponentialBackoff(initialMs: 0, maxMs: -5)
        #expect(b.initialMs == 1 && b.maxMs == 1)
        var long = ExponentialBackoff(initialMs: Int64.max / 2, maxMs: Int64.max)
        for _ in 0..<100 { #expect(long.next(random: 0.5) >= 1) }
        #expect(long.failures == 40)
        #expect(b.next(random: -3) == 1 && b.next(random: 7) == 1)
    }
}
