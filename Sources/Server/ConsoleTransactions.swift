import Broker
import KafkaClient
import KafkaProtocol
import NIOCore

/// Every transactional id in the cluster for the web console, from its coordinator
/// (ListTransactions, then DescribeTransactions), read at most every 2 s; at most `maxShown`,
/// open ones first.
final class ConsoleTransactions: Sendable {
    let broker: Broker
    static let maxShown = 200
    private let reading: CachedReading<String>

    init(broker: Broker) {
        self.broker = broker
        reading = CachedReading(clock: broker.clock, refreshMs: 2_000)
    }

    func current() -> String? { reading.current { await self.read() } }

    private func read() async -> String? {
        guard let peers = broker.consolePeers.withLockedValue({ $0 }) else { return nil }
        let live = broker.registry.image.brokers.values.filter { !$0.fenced }.map(\.id).sorted()
        let now = broker.clock.wallMs
        let rows = await withTaskGroup(of: [(id: String, open: Bool, json: String)].self) { group in
            for id in live {
                group.addTask {
                    guard
                        let listed = try? await peers.send(
                            ListTransactionsRequest(), as: ListTransactionsResponse.self, to: id, timeoutMs: 3_000)
                    else { return [] }
                    // Open ones first: they are what a reader looks for.
                    let ids = listed.transactionStates.sorted {
                        ($0.transactionState == "Ongoing" ? 0 : 1, $0.transactionalId)
                            < ($1.transactionState == "Ongoing" ? 0 : 1, $1.transactionalId)
                    }.prefix(Self.maxShown).map(\.transactionalId)
                    guard !ids.isEmpty else { return [] }
                    var d = DescribeTransactionsRequest()
                    d.transactionalIds = Array(ids)
                    guard
                        let described = try? await peers.send(
                            d, as: DescribeTransactionsResponse.self, to: id, timeoutMs: 3_000)
                    else { return [] }
                    return described.transactionStates.filter { $0.errorCode == 0 }.map { t in
                        let partitions = t.topics.flatMap { topic in
                            topic.partitions.prefix(1000).map { "\(topic.topic)-\($0)" }
                        }
                        let open = t.transactionState == "Ongoing" && t.transactionStartTimeMs > 0
                        return (
                            t.transactionalId, t.transactionState == "Ongoing",
                            JSON.object([
                                ("id", JSON.string(t.transactionalId)), ("state", JSON.string(t.transactionState)),
                                ("producerId", "\(t.producerId)"), ("producerEpoch", "\(t.producerEpoch)"),
                                ("partitions", JSON.array(partitions.prefix(1000).map(JSON.string))),
                                ("openMs", open ? "\(max(0, now &- t.transactionStartTimeMs))" : "null"),
                                ("coordinator", "\(id)"),
                            ])
                        )
                    }
                }
            }
            var out: [(id: String, open: Bool, json: String)] = []
            for await x in group { out += x }
            return out
        }
        return JSON.array(
            rows.sorted { ($0.open ? 0 : 1, $0.id) < ($1.open ? 0 : 1, $1.id) }.prefix(Self.maxShown).map(\.json))
    }
}
