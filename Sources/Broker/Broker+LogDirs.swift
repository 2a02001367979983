import KafkaProtocol
import NIOCore
import Storage

extension Broker {
    /// DescribeLogDirs: this broker's one log directory, with the replicas it holds (all, or
    /// those named), each with its size on disk and how far its log end is behind the high
    /// watermark.
    func describeLogDirs(_ request: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
        var wanted: [String: Set<Int32>]? = nil
        if let topics = request.topics {
            wanted = [:]
            for t in topics { wanted![t.name, default: []].formUnion(t.partitions) }
        }
        var byTopic: [String: [DescribeLogDirsResponse.Partition]] = [:]
        for p in registry.all() {
            if let wanted, wanted[p.topic]?.contains(p.index) != true { continue }
            var d = DescribeLogDirsResponse.Partition()
            d.partitionIndex = p.index
            d.partitionSize = Int64(p.log.sizeInBytes)
            d.offsetLag = p.offsetLag
            byTopic[p.topic, default: []].append(d)
        }
        var result = DescribeLogDirsResponse.Result()
        result.logDir = FileSystem.absolute(config.logDirs)
        result.topics = byTopic.keys.sorted().map { name in
            .init(name: name, partitions: byTopic[name]!.sorted { $0.partitionIndex < $1.partitionIndex })
        }
        if let space = FileSystem.space(config.logDirs) {
            result.totalBytes = space.total
            result.usableBytes = space.usable
        }
        var r = DescribeLogDirsResponse()
        r.results = [result]
        return r
    }
}
