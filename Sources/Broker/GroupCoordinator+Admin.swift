import KafkaProtocol
import NIOCore
import Storage

extension GroupCoordinator {
    struct GroupSummary {
        var id: String
        var state: String
        var protocolType: String
        var protocolName: String
        var members:
            [(id: String, instanceId: String?, clientId: String, host: String, metadata: [UInt8], assignment: [UInt8])]
    }

    /// A group and its committed offsets.
    public struct GroupOffsets: Sendable {
        public var id: String
        public var state: String
        public var members: Int
        public var offsets: [(topic: String, partition: Int32, offset: Int64)]
    }

    /// Every group this node coordinates, with its committed offsets.
    public func offsetsSnapshot() -> EventLoopFuture<[GroupOffsets]> {
        loop.submit { [self] in
            let ids = Set(groups.keys).union(offsets.filter { !$0.value.isEmpty }.keys).filter {
                ownership($0) == .none
            }
            return ids.sorted().map { id in
                let s = summary(id)
                let committed = (offsets[id] ?? [:]).map {
                    (topic: $0.key.topic, partition: $0.key.partition, offset: $0.value.offset)
                }
                .sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
                return GroupOffsets(id: id, state: s.state, members: s.members.count, offsets: committed)
            }
        }
    }

    /// Groups this node coordinates: those with members, and those with committed offsets only.
    /// A group whose last member left without committing is gone (Dead), as DescribeGroups says,
    /// so it is not listed either.
    func listGroups() -> EventLoopFuture<[GroupSummary]> {
        loop.submit { [self] in
            var ids = Set(groups.keys).union(offsets.filter { !$0.value.isEmpty }.keys)
            ids = ids.filter { ownership($0) == .none }
            return ids.sorted().map { summary($0) }.filter { $0.state != State.dead.rawValue }
        }
    }

    func describe(_ ids: [String]) -> EventLoopFuture<[(ErrorCode, GroupSummary)]> {
        loop.submit { [self] in
            ids.map { id in
                let owner = ownership(id)
                return (owner, summary(id))
            }
        }
    }

    private func summary(_ id: String) -> GroupSummary {
        guard let g = groups[id], !(g.members.isEmpty && g.state == .empty && offsets[id]?.isEmpty != false) else {
            let hasOffsets = offsets[id]?.isEmpty == false
            return GroupSummary(
                id: id, state: hasOffsets ? State.empty.rawValue : State.dead.rawValue,
                protocolType: hasOffsets ? "consumer" : "", protocolName: "", members: [])
        }
        let name = g.protocolName ?? ""
        return GroupSummary(
            id: id, state: g.state.rawValue, protocolType: g.protocolType ?? "consumer", protocolName: name,
            members: g.order.compactMap { g.members[$0] }.map { m in
                (
                    m.id, m.instanceId, m.clientId, m.host, m.protocols.first { $0.name == name }?.metadata ?? [],
                    m.assignment
                )
            })
    }

    /// Deletes groups that have no members: their offsets get tombstones in the log.
    func delete(_ ids: [String]) -> EventLoopFuture<[ErrorCode]> {
        loop.submit { [self] () -> EventLoopFuture<[ErrorCode]> in
            var futures: [EventLoopFuture<ErrorCode>] = []
            for id in ids {
                let owner = ownership(id)
                if owner != .none {
                    futures.append(loop.makeSucceededFuture(owner))
                    continue
                }
                if let g = groups[id], !g.members.isEmpty {
                    futures.append(loop.makeSucceededFuture(.nonEmptyGroup))
                    continue
                }
                guard groups[id] != nil || offsets[id]?.isEmpty == false else {
                    futures.append(loop.makeSucceededFuture(.groupIdNotFound))
                    continue
                }
                groups[id] = nil
                let keys = Array((offsets[id] ?? [:]).keys)
                guard !keys.isEmpty else {
                    futures.append(loop.makeSucceededFuture(.none))
                    continue
                }
                futures.append(removeOffsets(id, keys, nowMs: clock.wallMs))
            }
            return EventLoopFuture.whenAllSucceed(futures, on: loop)
        }.flatMap { $0 }
    }
}
