import Foundation
import KafkaProtocol
import Logging
import Metadata
import NIOCore
import Storage
import Testing

@testable import Broker

/// Every partition's high watermark in one file per log directory: written when any moved,
/// taken back by each log as it opens after a restart, read from the per-partition files of
/// earlier versions, and a damaged file costs nothing but the saved values.
@Suite struct HighWatermarkCheckpointTests {
    let clock = ManualClock(wallMs: 1_700_000_000_000)
    let topicId = KafkaUUID(high: 7, low: 7)

    func directory() -> String {
        var template = Array("/tmp/tern-test-hw-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func registry(_ dir: String) -> PartitionRegistry {
        var config = BrokerConfig()
        config.logDirs = dir
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return PartitionRegistry(config: config, clock: clock, logger: logger)
    }

    /// Partitions this node follows (a leader would move its high watermark itself).
    func image(partitions: Int32) -> MetadataImage {
        var image = MetadataImage()
        image.apply(.registerBroker(.init(id: 0, incarnation: KafkaUUID(high: 1, low: 1), host: "h", port: 1)), at: 0)
        image.apply(.unfenceBroker(id: 0, epoch: 0), at: 1)
        image.apply(.registerBroker(.init(id: 1, incarnation: KafkaUUID(high: 1, low: 2), host: "h", port: 2)), at: 1)
        image.apply(.unfenceBroker(id: 1, epoch: 0), at: 1)
        image.apply(.topic(name: "hw", id: topicId), at: 2)
        for p in 0..<partitions {
            image.apply(
                .partition(.init(topicId: topicId, partition: p, replicas: [0, 1], isr: [0, 1], leader: 1)), at: 3)
        }
        return image
    }

    /// `n` one-record batches appended to partition `p`.
    func append(_ r: PartitionRegistry, _ p: Int32, _ n: Int) throws {
        let log = try #require(r.partition("hw", p)).log
        for i in 0..<n {
            var b = RecordBatchBuilder()
            b.append(key: nil, value: Array("v\(i)".utf8), timestamp: clock.wallMs)
            _ = log.append(records: b.build(), leaderEpoch: 0)
        }
    }

    @Test func highWatermarksSurviveARestartThroughOneFile() throws {
        let dir = directory()
        let first = registry(dir)
        first.apply(image(partitions: 300))
        for p in Int32(0)..<300 {
            try append(first, p, Int(p % 7) + 1)
            first.partition("hw", p)!.log.setHighWatermark(Int64(p % 5), nowMs: 0)
        }
        #expect(try first.checkpointHighWatermarks())
        // Nothing moved: nothing written.
        #expect(try !first.checkpointHighWatermarks())
        first.partition("hw", 12)!.log.setHighWatermark(3, nowMs: 0)
        #expect(try first.checkpointHighWatermarks())
        let saved = try #require(try OffsetCheckpoint.read(dir + "/replication-offset-checkpoint"))
        #expect(saved.count == 300 && saved[.init("hw", 12)] == 3 && saved[.init("hw", 299)] == 4)
        // No partition directory holds a file of its own for it.
        #expect(!FileSystem.exists(dir + "/hw-0/" + PartitionLog.legacyHighWatermarkFile))

        let second = registry(dir)
        second.apply(image(partitions: 300))
        for p in Int32(0)..<300 {
            let expected = p == 12 ? 3 : min(Int64(p % 5), Int64(p % 7) + 1)
            #expect(second.partition("hw", p)!.log.highWatermark == expected)
        }
    }

    @Test func earlierVersionsPerPartitionFilesAreReadThenRemoved() throws {
        let dir = directory()
        let first = registry(dir)
        first.apply(image(partitions: 4))
        for p in Int32(0)..<4 { try append(first, p, 10) }
        for p in Int32(0)..<4 {
            try FileSystem.writeTextAtomically("\(p + 2)\n", to: dir + "/hw-\(p)/high-watermark")
        }
        let second = registry(dir)
        second.apply(image(partitions: 4))
        for p in Int32(0)..<4 { #expect(second.partition("hw", p)!.log.highWatermark == Int64(p + 2)) }
        #expect(try second.checkpointHighWatermarks())
        for p in Int32(0)..<4 { #expect(!FileSystem.exists(dir + "/hw-\(p)/high-watermark")) }
        let third = registry(dir)
        third.apply(image(partitions: 4))
        for p in Int32(0)..<4 { #expect(third.partition("hw", p)!.log.highWatermark == Int64(p + 2)) }
    }

    @Test func aDamagedCheckpointLosesOnlyTheSavedValues() throws {
        let dir = directory()
        let first = registry(dir)
        first.apply(image(partitions: 3))
        for p in Int32(0)..<3 {
            try append(first, p, 5)
            first.partition("hw", p)!.log.setHighWatermark(5, nowMs: 0)
        }
        try first.checkpointHighWatermarks()
        for damage in ["0\n3\nhw 0 5\n", "garbage", "0\n1\nhw 0 -1\n", ""] {
            try FileSystem.writeTextAtomically(damage, to: dir + "/replication-offset-checkpoint")
            let next = registry(dir)
            next.apply(image(partitions: 3))
            for p in Int32(0)..<3 {
                let log = next.partition("hw", p)!.log
                #expect(log.highWatermark == 0 && log.logEndOffset == 5)
            }
            // The next checkpoint replaces the damaged file.
            next.partition("hw", 1)!.log.setHighWatermark(4, nowMs: 0)
            #expect(try next.checkpointHighWatermarks())
            #expect(try OffsetCheckpoint.read(dir + "/replication-offset-checkpoint")?[.init("hw", 1)] == 4)
        }
    }

    @Test func aSavedValueIsNeverPastANewLogsEnd() throws {
        let dir = directory()
        // A checkpoint naming partitions whose logs are gone (the topic was deleted and made
        // again while the node was down): the new, empty logs start at 0.
        try OffsetCheckpoint.write(
            [.init("hw", 0): 500, .init("hw", 1): .max], to: dir + "/replication-offset-checkpoint")
        let r = registry(dir)
        r.apply(image(partitions: 2))
        #expect(r.partition("hw", 0)!.log.highWatermark == 0 && r.partition("hw", 1)!.log.highWatermark == 0)
    }

    /// `partition.metadata` is written without an fsync each and synced once per image: a
    /// crash can leave it empty, which must not read as another topic's data.
    @Test func aCutShortPartitionMetadataKeepsTheDataAndAnotherTopicsIsRemoved() throws {
        let dir = directory()
        let first = registry(dir)
        first.apply(image(partitions: 2))
        try append(first, 0, 6)
        try append(first, 1, 4)
        let text = try FileSystem.readText(dir + "/hw-0/partition.metadata")
        #expect(PartitionRegistry.topicId(inPartitionMetadata: text) == topicId.description)
        try FileSystem.writeTextAtomically("", to: dir + "/hw-0/partition.metadata")
        try FileSystem.writeTextAtomically(
            "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n", to: dir + "/hw-1/partition.metadata")
        let second = registry(dir)
        second.apply(image(partitions: 2))
        #expect(second.partition("hw", 0)!.log.logEndOffset == 6)
        #expect(try FileSystem.readText(dir + "/hw-0/partition.metadata").contains(topicId.description))
        // Partition 1's files were another topic's (deleted while this node was away).
        #expect(second.partition("hw", 1)!.log.logEndOffset == 0)
        #expect(PartitionRegistry.topicId(inPartitionMetadata: "version: 0\ntopic_id:  \n") == nil)
        #expect(PartitionRegistry.topicId(inPartitionMetadata: "version: 0\ntopic_id: abc \n") == "abc")
    }
}
