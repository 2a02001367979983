import KafkaClient
import KafkaProtocol
import NIOCore

/// A member of a consumer group for `tern console-consumer --group`: it joins with the range
/// assignor (computing the assignment when it is the leader), keeps its membership with
/// heartbeats, fetches and commits the group's offsets, and leaves when done.
final class GroupMember {
    let client: KafkaClient
    let group: String
    let topic: String
    private(set) var memberId = ""
    private(set) var generation: Int32 = -1
    private var coordinator: Int32 = -1

    init(client: KafkaClient, group: String, topic: String) {
        self.client = client
        self.group = group
        self.topic = topic
    }

    /// Retries `body` while the coordinator moves, loads or is being created.
    private func withCoordinator<T>(_ body: (Int32) async throws -> (T, ErrorCode)) async throws -> T {
        var last = ErrorCode.none
        var backoff = ExponentialBackoff(initialMs: 100, maxMs: 1_000)
        let giveUp = monotonicNs() + 20_000_000_000
        while monotonicNs() < giveUp {
            if coordinator < 0 {
                var req = FindCoordinatorRequest()
                req.key = group
                req.coordinatorKeys = [group]
                let r = try await client.send(req, as: FindCoordinatorResponse.self)
                let code = r.coordinators.first?.errorCode ?? r.errorCode
                if code == 0 {
                    coordinator = r.coordinators.first?.nodeId ?? r.nodeId
                } else {
                    last = ErrorCode(rawValue: code)
                    try await Task.sleep(nanoseconds: backoff.nextNanoseconds)
                    continue
                }
            }
            let (value, code) = try await body(coordinator)
            if [.notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress].contains(code) {
                last = code
                coordinator = -1
                try await Task.sleep(nanoseconds: backoff.nextNanoseconds)
                continue
            }
            return value
        }
        throw CLIError("the coordinator of group '\(group)' is not available (\(last)); is the cluster healthy?")
    }

    /// Kafka's range assignor: per topic, members subscribed to it in id order each take a
    /// consecutive run of partitions, the first ones one more when it does not divide evenly.
    func rangeAssign(_ members: [(id: String, topics: [String])]) async throws -> [String: ByteBuffer] {
        let topics = Array(Set(members.flatMap(\.topics))).sorted()
        let md = try await client.metadata(topics: topics)
        var out: [String: [String: [Int32]]] = [:]
        for t in md.topics {
            guard let name = t.name, t.errorCode == 0 else { continue }
            let subscribers = members.filter { $0.topics.contains(name) }.map(\.id).sorted()
            guard !subscribers.isEmpty else { continue }
            let parts = t.partitions.map(\.partitionIndex).sorted()
            let per = parts.count / subscribers.count
            let extra = parts.count % subscribers.count
            var next = 0
            for (i, m) in subscribers.enumerated() {
                let n = per + (i < extra ? 1 : 0)
                out[m, default: [:]][name] = Array(parts[next..<next + n])
                next += n
            }
        }
        return Dictionary(uniqueKeysWithValues: members.map { ($0.id, ConsumerProtocol.assignment(out[$0.id] ?? [:])) })
    }

    /// Joins (or rejoins) and returns this member's partitions of the topic.
    func join() async throws -> [Int32] {
        while true {
            let joined: JoinGroupResponse = try await withCoordinator { node in
                var req = JoinGroupRequest()
                req.groupId = group
                req.sessionTimeoutMs = 10_000
                req.rebalanceTimeoutMs = 30_000
                req.memberId = memberId
                req.protocolType = "consumer"
                var p = JoinGroupRequest.JoinProtocol()
                p.name = "range"
                p.metadata = ConsumerProtocol.subscription(topics: [topic])
                req.protocols = [p]
                var r = try await client.send(req, toNode: node, as: JoinGroupResponse.self, timeoutMs: 60_000)
                if r.errorCode == ErrorCode.memberIdRequired.rawValue {
                    memberId = r.memberId
                    req.memberId = memberId
                    r = try await client.send(req, toNode: node, as: JoinGroupResponse.self, timeoutMs: 60_000)
                }
                return (r, ErrorCode(rawValue: r.errorCode))
            }
            if joined.errorCode == ErrorCode.unknownMemberId.rawValue {
                memberId = ""
                continue
            }
            guard joined.errorCode == 0 else {
                throw CLIError("could not join group '\(group)': \(ErrorCode(rawValue: joined.errorCode))")
            }
            memberId = joined.memberId
            generation = joined.generationId
            var assignments: [SyncGroupRequest.Assignment] = []
            if joined.leader == memberId {
                let plan = try await rangeAssign(
                    joined.members.map { ($0.memberId, ConsumerProtocol.subscribedTopics($0.metadata)) })
                assignments = plan.map { id, bytes in
                    var a = SyncGroupRequest.Assignment()
                    a.memberId = id
                    a.assignment = bytes
                    return a
                }
            }
            let synced: SyncGroupResponse = try await withCoordinator { node in
                var req = SyncGroupRequest()
                req.groupId = group
                req.generationId = generation
                req.memberId = memberId
                req.assignments = assignments
                let r = try await client.send(req, toNode: node, as: SyncGroupResponse.self, timeoutMs: 60_000)
                return (r, ErrorCode(rawValue: r.errorCode))
            }
            if synced.errorCode == ErrorCode.rebalanceInProgress.rawValue { continue }
            if synced.errorCode == ErrorCode.unknownMemberId.rawValue
                || synced.errorCode == ErrorCode.illegalGeneration.rawValue
            {
                if synced.errorCode == ErrorCode.unknownMemberId.rawValue { memberId = "" }
                continue
            }
            guard synced.errorCode == 0 else {
                throw CLIError("could not join group '\(group)': \(ErrorCode(rawValue: synced.errorCode))")
            }
            return ConsumerProtocol.assignedPartitions(synced.assignment).filter { $0.0 == topic }.map(\.1).sorted()
        }
    }

    /// NONE while the membership stands; anything else means: rejoin.
    func heartbeat() async throws -> ErrorCode {
        try await withCoordinator { node in
            var req = HeartbeatRequest()
            req.groupId = group
            req.generationId = generation
            req.memberId = memberId
            let r = try await client.send(req, toNode: node, as: HeartbeatResponse.self)
            return (ErrorCode(rawValue: r.errorCode), ErrorCode(rawValue: r.errorCode))
        }
    }

    func committed(_ partitions: [Int32]) async throws -> [Int32: Int64] {
        try await withCoordinator { node in
            var req = OffsetFetchRequest()
            req.groupId = group
            var t = OffsetFetchRequest.Topic()
            t.name = topic
            t.partitionIndexes = partitions
            req.topics = [t]
            let r = try await client.send(req, toNode: node, as: OffsetFetchResponse.self)
            var out: [Int32: Int64] = [:]
            for p in r.topics.first?.partitions ?? [] where p.committedOffset >= 0 {
                out[p.partitionIndex] = p.committedOffset
            }
            return (out, ErrorCode(rawValue: r.errorCode))
        }
    }

    func commit(_ positions: [Int32: Int64]) async throws -> ErrorCode {
        guard !positions.isEmpty else { return .none }
        return try await withCoordinator { node in
            var req = OffsetCommitRequest()
            req.groupId = group
            req.generationId = generation
            req.memberId = memberId
            var t = OffsetCommitRequest.Topic()
            t.name = topic
            t.partitions = positions.sorted { $0.key < $1.key }.map { p, o in
                var x = OffsetCommitRequest.Partition()
                x.partitionIndex = p
                x.committedOffset = o
                return x
            }
            req.topics = [t]
            let r = try await client.send(req, toNode: node, as: OffsetCommitResponse.self)
            let code = ErrorCode(rawValue: r.topics.first?.partitions.first?.errorCode ?? 0)
            return (code, code)
        }
    }

    func leave() async {
        guard !memberId.isEmpty, coordinator >= 0 else { return }
        var req = LeaveGroupRequest()
        req.groupId = group
        req.memberId = memberId
        var m = LeaveGroupRequest.Member()
        m.memberId = memberId
        req.members = [m]
        _ = try? await client.send(req, toNode: coordinator, as: LeaveGroupResponse.self, timeoutMs: 5000)
    }
}
