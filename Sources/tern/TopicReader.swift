import KafkaClient
import KafkaProtocol
import NIOCore

/// Reads a topic's partitions without a group, each from its current leader: one Fetch per
/// leader at a time, all leaders at once. A leader change (NOT_LEADER_OR_FOLLOWER and the like,
/// or a broker that stopped answering) refreshes the metadata and carries on from the same
/// positions, so a reader survives the fail-overs of a lab.
final class TopicReader {
    struct Batch {
        var partition: Int32
        var header: RecordBatchHeader
        var bytes: ByteBuffer
    }

    let client: KafkaClient
    let topic: String
    let partitions: [Int32]
    private(set) var positions: [Int32: Int64]
    private var leaders: [Int32: Int32] = [:]
    var maxWaitMs: Int32 = 500
    /// Waits between fetches while a leader is gone or moving: 100 ms growing to 2 s.
    private var backoff = ExponentialBackoff(initialMs: 100, maxMs: 2_000)

    init(client: KafkaClient, topic: String, partitions: [Int32], positions: [Int32: Int64], leaders: [Int32: Int32]) {
        self.client = client
        self.topic = topic
        self.partitions = partitions
        self.positions = positions
        self.leaders = leaders
    }

    static let leaderErrors: Set<Int16> = [
        ErrorCode.notLeaderOrFollower.rawValue, ErrorCode.leaderNotAvailable.rawValue,
        ErrorCode.fencedLeaderEpoch.rawValue, ErrorCode.unknownLeaderEpoch.rawValue,
        ErrorCode.unknownTopicOrPartition.rawValue,
    ]

    func refreshLeaders() async {
        leaders.merge(await client.currentLeaders(of: topic)) { _, new in new }
    }

    /// The next batches after each partition's position (an empty list after `maxWaitMs` without
    /// data). Positions move past what is returned.
    func poll() async throws -> [Batch] {
        var byLeader: [Int32: [Int32]] = [:]
        for p in partitions { byLeader[leaders[p] ?? -1, default: []].append(p) }
        let topic = self.topic
        let client = self.client
        let positions = self.positions
        let wait = maxWaitMs
        let answers = await withTaskGroup(of: (Int32, FetchResponse?).self) { group in
            for (leader, parts) in byLeader {
                group.addTask {
                    var request = FetchRequest()
                    request.maxWaitMs = wait
                    request.minBytes = 1
                    request.maxBytes = 32 << 20
                    var ft = FetchRequest.Topic()
                    ft.topic = topic
                    ft.partitions = parts.map {
                        var fp = FetchRequest.Partition()
                        fp.partition = $0
                        fp.fetchOffset = positions[$0]!
                        fp.partitionMaxBytes = 4 << 20
                        return fp
                    }
                    request.topics = [ft]
                    let resp = try? await client.send(
                        request, toNode: leader, as: FetchResponse.self, timeoutMs: Int(wait) + 10_000)
                    return (leader, resp)
                }
            }
            var all: [(Int32, FetchResponse?)] = []
            for await a in group { all.append(a) }
            return all
        }
        var out: [Batch] = []
        var stale = false
        for (_, resp) in answers {
            guard let resp else {
                stale = true  // the leader did not answer: it may be gone
                continue
            }
            for tr in resp.responses {
                for pr in tr.partitions {
                    if Self.leaderErrors.contains(pr.errorCode) {
                        stale = true
                        continue
                    }
                    if pr.errorCode != 0 {
                        throw CLIError(
                            "fetch of \(topic)-\(pr.partitionIndex) failed: \(ErrorCode(rawValue: pr.errorCode))")
                    }
                    guard var data = pr.records else { continue }
                    while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize <= data.readableBytes
                    {
                        let bytes = data.readSlice(length: h.totalSize)!
                        if h.nextOffset > self.positions[pr.partitionIndex]! {
                            out.append(Batch(partition: pr.partitionIndex, header: h, bytes: bytes))
                            self.positions[pr.partitionIndex] = h.nextOffset
                        }
                    }
                }
            }
        }
        if stale {
            try await Task.sleep(nanoseconds: backoff.nextNanoseconds)
            await refreshLeaders()
        } else {
            backoff.reset()
        }
        return out
    }
}

extension KafkaClient {
    /// The partitions of `topic` that have a leader now, and that leader (empty when Metadata
    /// cannot be had: the caller keeps what it knew).
    func currentLeaders(of topic: String) async -> [Int32: Int32] {
        guard let md = try? await metadata(topics: [topic]), let t = md.topics.first else { return [:] }
        var out: [Int32: Int32] = [:]
        for p in t.partitions where p.leaderId >= 0 { out[p.partitionIndex] = p.leaderId }
        return out
    }

    /// The earliest or latest offset of one partition, asked of its leader: the partition's
    /// answer (its error code and offset), nil when the answer names no partition.
    func listOffset(topic: String, partition: Int32, leader: Int32, earliest: Bool) async throws
        -> ListOffsetsResponse.Partition?
    {
        var r = ListOffsetsRequest()
        var lt = ListOffsetsRequest.Topic()
        lt.name = topic
        var lp = ListOffsetsRequest.Partition()
        lp.partitionIndex = partition
        lp.timestamp = earliest ? ListOffsetsRequest.earliestTimestamp : ListOffsetsRequest.latestTimestamp
        lt.partitions = [lp]
        r.topics = [lt]
        return try await send(r, toNode: leader, as: ListOffsetsResponse.self).topics.first?.partitions.first
    }
}
