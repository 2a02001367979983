/// Why a partition is under-replicated or has no leader, in words a person can act on
/// (`tern topics --describe` prints it under the partition's line). Pure: the caller gathers
/// the facts (the live brokers, each replica's lag from DescribeLogDirs).
public enum PartitionHealth {
    public struct Facts: Sendable {
        public var leader: Int32
        public var replicas: [Int32]
        public var isr: [Int32]
        /// Brokers registered and unfenced.
        public var live: Set<Int32>
        /// Each live replica's distance behind the high watermark, as it reported it; a live
        /// replica missing here reported no copy of the partition (with `lagKnown`), or was not
        /// asked (without).
        public var lag: [Int32: Int64]
        public var lagKnown: Bool
        /// The topic's `min.insync.replicas`, when known.
        public var minInsync: Int?
        public init(
            leader: Int32, replicas: [Int32], isr: [Int32], live: Set<Int32>, lag: [Int32: Int64] = [:],
            lagKnown: Bool = true, minInsync: Int? = nil
        ) {
            self.lagKnown = lagKnown
            self.leader = leader
            self.replicas = replicas
            self.isr = isr
            self.live = live
            self.lag = lag
            self.minInsync = minInsync
        }
    }

    /// Nil for a healthy partition (a live leader, every replica in sync).
    public static func explain(_ f: Facts) -> String? {
        let hasLeader = f.leader >= 0 && f.live.contains(f.leader)
        let outOfSync = f.replicas.filter { !f.isr.contains($0) }
        guard !hasLeader || !outOfSync.isEmpty else { return nil }
        var said: [String] = []
        if !hasLeader {
            let liveIsr = f.isr.filter(f.live.contains)
            let liveOthers = outOfSync.filter(f.live.contains)
            if !liveIsr.isEmpty {
                said.append("No leader yet: the controller is electing one of the in-sync replicas \(list(liveIsr)).")
            } else if !liveOthers.isEmpty {
                said.append(
                    "No leader: every in-sync replica (\(list(f.isr))) is down. \(brokers(liveOthers, capital: true)) \(liveOthers.count == 1 ? "holds" : "hold") a copy but \(liveOthers.count == 1 ? "is" : "are") out of sync: an unclean election (kafka-leader-election.sh --election-type UNCLEAN) would make \(liveOthers.count == 1 ? "it" : "one") leader and lose the records only the ISR had; or bring back \(brokers(f.isr))."
                )
            } else {
                said.append(
                    "Offline: no replica is running (replicas \(list(f.replicas))); it has a leader again when \(brokers(f.isr)) \(f.isr.count == 1 ? "returns" : "return")."
                )
            }
        }
        if hasLeader {
            let why = outOfSync.map { r -> String in
                guard f.live.contains(r) else { return "broker \(r) is down" }
                guard let lag = f.lag[r] else {
                    return f.lagKnown ? "broker \(r) holds no copy yet" : "broker \(r) is out of sync"
                }
                return lag > 0
                    ? "broker \(r) is \(lag) record\(lag == 1 ? "" : "s") behind the high watermark"
                    : "broker \(r) has caught up and rejoins the ISR with its next fetch"
            }
            said.append("Under-replicated: \(why.joined(separator: "; ")).")
        }
        if let m = f.minInsync, f.isr.count < m {
            said.append(
                "acks=all writes are refused while the ISR (\(f.isr.count)) is below min.insync.replicas (\(m)).")
        }
        return said.joined(separator: " ")
    }

    private static func list(_ ids: [Int32]) -> String { ids.map(String.init).joined(separator: ",") }
    private static func brokers(_ ids: [Int32], capital: Bool = false) -> String {
        let word = ids.count == 1 ? "broker" : "brokers"
        return "\(capital ? word.prefix(1).uppercased() + word.dropFirst() : word) \(list(ids))"
    }
}
