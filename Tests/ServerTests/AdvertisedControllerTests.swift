import Testing

@testable import Broker

/// The controller a Metadata answer names must be one of the brokers it lists: librdkafka drops
/// a broker that is missing from the list, then waits for "the controller" until its admin
/// request times out (issue 25: the active controller, just restarted and still fenced).
@Suite struct AdvertisedControllerTests {
    @Test func theActiveControllerWhenListed() {
        #expect(Broker.advertisedController(active: 0, this: 1, listed: [0, 1, 2]) == 0)
    }

    @Test func neverABrokerTheAnswerLeavesOut() {
        // Active controller 0 restarted and is fenced: it is not listed, so this node is named.
        #expect(Broker.advertisedController(active: 0, this: 1, listed: [1, 2]) == 1)
        // No active controller known, and this node itself is not listed (fenced): the first listed.
        #expect(Broker.advertisedController(active: nil, this: 0, listed: [1, 2]) == 1)
        for active in [nil, 0, 1, 2, 7] as [Int32?] {
            for this: Int32 in 0...2 {
                for listed in [[0], [1, 2], [0, 1, 2], [2]] as [[Int32]] {
                    #expect(listed.contains(Broker.advertisedController(active: active, this: this, listed: listed)))
                }
            }
        }
    }
}
