import Broker
import KafkaClient
import KafkaProtocol
import NIOCore

/// Every replica's size and lag behind its high watermark, from every live broker
/// (DescribeLogDirs over the inter-broker listener), so the console shows the replicas the
/// serving node does not hold too. Read at most every 2 s.
final class ConsoleReplicas: Sendable {
    struct Replica: Sendable, Equatable {
        var sizeBytes: Int64
        var offsetLag: Int64
    }

    /// By topic, partition, then broker.
    typealias Reading = [String: [Int32: [Int32: Replica]]]

    let broker: Broker
    private let reading: CachedReading<Reading>

    init(broker: Broker) {
        self.broker = broker
        reading = CachedReading(clock: broker.clock, refreshMs: 2_000)
    }

    func current() -> Reading { reading.current { await self.read() } ?? [:] }

    private func read() async -> Reading? {
        guard let peers = broker.consolePeers.withLockedValue({ $0 }) else { return nil }
        let live = broker.registry.image.brokers.values.filter { !$0.fenced }.map(\.id)
        return await withTaskGroup(of: (Int32, DescribeLogDirsResponse?).self) { group in
            for id in live {
                group.addTask {
                    (
                        id,
                        try? await peers.send(
                            DescribeLogDirsRequest(), as: DescribeLogDirsResponse.self, to: id, timeoutMs: 3_000)
                    )
                }
            }
            var out: Reading = [:]
            for await (id, answer) in group {
                for dir in answer?.results ?? [] where dir.errorCode == 0 {
                    for t in dir.topics {
                        for p in t.partitions where !p.isFutureKey {
                            out[t.name, default: [:]][p.partitionIndex, default: [:]][id] = Replica(
                                sizeBytes: p.partitionSize, offsetLag: p.offsetLag)
                        }
                    }
                }
            }
            return out
        }
    }
}
