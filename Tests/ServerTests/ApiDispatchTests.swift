import KafkaProtocol
import Testing

@testable import Broker
@testable import Server

/// Each listener answers exactly the APIs the table gives it, and nothing else.
@Suite struct ApiDispatchTests {
    @Test func eachListenerHasAHandlerForEveryApiTheTableGivesIt() {
        #expect(Broker.clientApis.apis == ApiKey.clientListener)
        #expect(QuorumController.controllerApis.apis == ApiKey.controllerListener)
        #expect(!Broker.clientApis.apis.contains(.vote))
        #expect(QuorumController.controllerApis.apis.contains(.vote))
    }
}
