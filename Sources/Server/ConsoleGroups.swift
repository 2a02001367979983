import Broker
import KafkaClient
import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// Every consumer group in the cluster for the web console, whichever node serves the page:
/// each live broker is asked for the groups it coordinates (ListGroups), then for their members
/// and assignments (DescribeGroups) and committed offsets (OffsetFetch), over the inter-broker
/// listener. Read at most every 2 s whatever the number of pages open; at most `maxGroups`.
final class ConsoleGroups: Sendable {
    let broker: Broker
    static let maxGroups = 200
    static let maxMembersShown = 100
    static let maxPartitionsShown = 1000
    /// Requests in flight to the coordinators at once, whatever the number of groups.
    static let parallel = 8
    private let reading: CachedReading<String>

    init(broker: Broker) {
        self.broker = broker
        reading = CachedReading(clock: broker.clock, refreshMs: 2_000)
    }

    /// The last reading (nil before the first), starting a new one when it is old.
    func current() -> String? { reading.current { await self.read() } }

    private func read() async -> String? {
        guard let peers = broker.consolePeers.withLockedValue({ $0 }) else { return nil }
        let image = broker.registry.image
        let live = image.brokers.values.filter { !$0.fenced }.map(\.id).sorted()
        let listed = await withTaskGroup(of: (Int32, [ListGroupsResponse.Group]).self) { group in
            for id in live {
                group.addTask {
                    let r = try? await peers.send(
                        ListGroupsRequest(), as: ListGroupsResponse.self, to: id, timeoutMs: 3_000)
                    return (id, r?.groups ?? [])
                }
            }
            var out: [(Int32, [ListGroupsResponse.Group])] = []
            for await x in group { out.append(x) }
            return out
        }
        var wanted: [(coordinator: Int32, id: String)] = []
        for (id, groups) in listed.sorted(by: { $0.0 < $1.0 }) {
            for g in groups.sorted(by: { $0.groupId < $1.groupId }) where wanted.count < Self.maxGroups {
                wanted.append((id, g.groupId))
            }
        }
        let described = await withTaskGroup(of: String?.self) { group in
            var pending = wanted[...]
            var out: [String] = []
            for _ in 0..<Self.parallel {
                guard let (coordinator, id) = pending.popFirst() else { break }
                group.addTask { await self.describe(id, coordinator: coordinator, peers: peers) }
            }
            for await x in group {
                if let x { out.append(x) }
                if let (coordinator, id) = pending.popFirst() {
                    group.addTask { await self.describe(id, coordinator: coordinator, peers: peers) }
                }
            }
            return out
        }
        return JSON.array(described.sorted())
    }

    private func describe(_ id: String, coordinator: Int32, peers: PeerClient) async -> String? {
        var d = DescribeGroupsRequest()
        d.groups = [id]
        var f = OffsetFetchRequest()
        f.groupId = id
        f.topics = nil
        async let described = try? peers.send(d, as: DescribeGroupsResponse.self, to: coordinator, timeoutMs: 3_000)
        async let fetched = try? peers.send(f, as: OffsetFetchResponse.self, to: coordinator, timeoutMs: 3_000)
        guard let g = await described?.groups.first, g.errorCode == 0 else { return nil }
        let offsets = await fetched
        // Assignments are the members' own bytes: only topics that exist are named, each once,
        // with at most `maxPartitionsShown` partitions per member.
        let topics = broker.registry.image.topics
        let members = g.members.prefix(Self.maxMembersShown).map { m -> String in
            var byTopic: [String: [Int32]] = [:]
            var shown = 0
            if g.protocolType == "consumer" {
                for (topic, p) in ConsumerProtocol.assignedPartitions(m.memberAssignment)
                where shown < Self.maxPartitionsShown && topics[topic] != nil {
                    byTopic[topic, default: []].append(p)
                    shown += 1
                }
            }
            let parts = byTopic.sorted { $0.key < $1.key }.map {
                "\($0.key): \($0.value.sorted().map(String.init).joined(separator: ","))"
            }
            return JSON.object([
                ("memberId", JSON.string(String(m.memberId.prefix(256)))),
                ("clientId", JSON.string(String(m.clientId.prefix(256)))),
                ("host", JSON.string(String(m.clientHost.prefix(256)))),
                ("partitions", JSON.array(parts.map(JSON.string))),
            ])
        }
        var partitions: [String] = []
        for t in (offsets?.topics ?? []).sorted(by: { $0.name < $1.name }) {
            for p in t.partitions.sorted(by: { $0.partitionIndex < $1.partitionIndex })
            where p.errorCode == 0 && p.committedOffset >= 0 {
                let end = broker.registry.partition(t.name, p.partitionIndex).map { $0.log.highWatermark }
                partitions.append(
                    JSON.object([
                        ("topic", JSON.string(t.name)), ("partition", "\(p.partitionIndex)"),
                        ("committed", "\(p.committedOffset)"), ("highWatermark", JSON.optional(end)),
                        ("lag", JSON.optional(end.map { ConsoleModel.lag(end: $0, committed: p.committedOffset) })),
                    ]))
            }
        }
        return JSON.object([
            ("id", JSON.string(g.groupId)), ("state", JSON.string(g.groupState)), ("members", "\(g.members.count)"),
            ("coordinator", "\(coordinator)"), ("protocolType", JSON.string(g.protocolType)),
            ("assignment", JSON.array(members)), ("partitions", JSON.array(partitions)),
        ])
    }
}

/// A value read now and then in the background (from other brokers): `current` answers the
/// last one at once and starts a new reading when it is older than `refreshMs`, one at a time
/// however many pages ask.
final class CachedReading<Value: Sendable>: Sendable {
    private let clock: any TernClock
    private let refreshMs: Int64
    private let state = NIOLockedValueBox<(atMs: Int64, value: Value?, reading: Bool)>((0, nil, false))

    init(clock: any TernClock, refreshMs: Int64) {
        self.clock = clock
        self.refreshMs = refreshMs
    }

    func current(_ read: @escaping @Sendable () async -> Value?) -> Value? {
        let now = clock.monotonicMs
        let (stale, value) = state.withLockedValue { s -> (Bool, Value?) in
            let stale = !s.reading && (s.value == nil || now - s.atMs >= refreshMs)
            if stale { s.reading = true }
            return (stale, s.value)
        }
        if stale {
            Task {
                let fresh = await read()
                state.withLockedValue { $0 = (clock.monotonicMs, fresh ?? $0.value, false) }
            }
        }
        return value
    }
}
