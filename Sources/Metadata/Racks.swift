/// Racks (`broker.rack`) as pure decisions: where a partition's replicas go, and which replica a
/// consumer in a rack should read from (KIP-392).
public enum Racks {
    /// Brokers in the order placement walks them: one of each rack in turn (racks by name, each
    /// rack's brokers by id), so that consecutive brokers sit in different racks where they can.
    /// Brokers without a rack count as one rack of their own each.
    public static func interleaved(_ brokers: [Int32], racks: [Int32: String]) -> [Int32] {
        var byRack: [String: [Int32]] = [:]
        var loners: [Int32] = []
        for b in brokers.sorted() {
            if let r = racks[b] { byRack[r, default: []].append(b) } else { loners.append(b) }
        }
        let lanes = byRack.sorted { $0.key < $1.key }.map(\.value) + loners.map { [$0] }
        var out: [Int32] = []
        out.reserveCapacity(brokers.count)
        for round in 0..<(lanes.map(\.count).max() ?? 0) {
            for lane in lanes where round < lane.count { out.append(lane[round]) }
        }
        return out
    }

    /// Replica lists for `count` partitions over `brokers`, spread over racks: partition p's
    /// first replica is the broker at `(start + p)` in the interleaved order (so leaders rotate
    /// over brokers and racks), and each further one is the next broker after it in that order
    /// whose rack holds none of the partition's replicas yet; once every rack holds one, a new
    /// round of racks begins. With no racks this is `ControllerDecisions.placement`.
    public static func placement(
        brokers: [Int32], racks: [Int32: String], count: Int, replicationFactor rf: Int, start: Int
    ) -> [[Int32]] {
        guard !brokers.isEmpty, rf >= 1, rf <= brokers.count, count >= 0, start >= 0 else { return [] }
        // No racks: the plain rotation, O(count × rf) however many brokers there are.
        if racks.isEmpty {
            return ControllerDecisions.placement(
                brokers: brokers.sorted(), count: count, replicationFactor: rf, start: start % brokers.count)
        }
        let order = interleaved(brokers, racks: racks)
        let n = order.count
        func rack(_ b: Int32) -> String { racks[b] ?? "\u{0}\(b)" }
        let rackCount = Set(order.map(rack)).count
        return (0..<count).map { p in
            let first = (start % n + p % n) % n
            var chosen = [order[first]]
            var usedRacks: Set<String> = [rack(order[first])]
            var remaining = (1..<n).map { order[(first + $0) % n] }
            while chosen.count < rf {
                if usedRacks.count == rackCount { usedRacks = [] }
                let i = remaining.firstIndex { !usedRacks.contains(rack($0)) } ?? 0
                let b = remaining.remove(at: i)
                chosen.append(b)
                usedRacks.insert(rack(b))
            }
            return chosen
        }
    }

    /// What a leader knows of one replica when a consumer asks where to read.
    public struct Replica: Sendable, Equatable {
        public var id: Int32
        public var rack: String?
        /// The replica's log end as the leader last heard it (the leader's own for itself).
        public var logEndOffset: Int64
        public init(id: Int32, rack: String?, logEndOffset: Int64) {
            self.id = id
            self.rack = rack
            self.logEndOffset = logEndOffset
        }
    }

    /// Kafka's RackAwareReplicaSelector: the replica a consumer in `clientRack` fetching from
    /// `fetchOffset` should read from, or nil to read from the leader. Only in-sync, live
    /// replicas in the client's rack that already hold `fetchOffset` qualify; the leader wins when
    /// it is in that rack itself, then the replica furthest ahead, then the lowest id.
    public static func preferredReadReplica(
        clientRack: String, leader: Replica, inSync: [Replica], fetchOffset: Int64
    ) -> Int32? {
        guard !clientRack.isEmpty, leader.rack != clientRack else { return nil }
        let best =
            inSync
            .filter { $0.id != leader.id && $0.rack == clientRack && $0.logEndOffset >= fetchOffset }
            .min { a, b in a.logEndOffset != b.logEndOffset ? a.logEndOffset > b.logEndOffset : a.id < b.id }
        return best?.id
    }
}

/// `replica.selector.class`: which replica a leader sends consumers to.
public enum ReplicaSelector: Sendable, Equatable {
    /// Kafka's default: consumers read from the leader.
    case leader
    /// A consumer with `client.rack` reads from an in-sync replica in its rack (KIP-392).
    case rackAware

    public static let leaderClass = "org.apache.kafka.common.replica.LeaderSelector"
    public static let rackAwareClass = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

    /// Kafka's class names; an empty value is Kafka's default (the leader).
    public init?(className: String) {
        switch className {
        case "", Self.leaderClass: self = .leader
        case Self.rackAwareClass: self = .rackAware
        default: return nil
        }
    }
}
