/// A partition's leadership as one broker sees it, and the leader's side of ISR changes:
/// each follower's log end, when it was last caught up, and the one AlterPartition proposal
/// that may be in flight. Pure: the broker hands in its log's offsets and the time, and sends
/// the proposals this returns.
public struct IsrTracker: Sendable {
    public let nodeId: Int32
    public private(set) var leader: Int32 = -1
    public private(set) var leaderEpoch: Int32 = -1
    public private(set) var partitionEpoch: Int32 = -1
    public private(set) var replicas: [Int32] = []
    public private(set) var isr: [Int32] = []
    /// Where the current leader epoch began in this log (a follower must reach it to rejoin).
    public private(set) var leaderEpochStartOffset: Int64 = 0
    /// Leader side: each follower's log end (from its fetches) and when it was last caught up.
    private var followers: [Int32: (endOffset: Int64, caughtUpMs: Int64)] = [:]
    /// Leader side: followers that fetched this partition in the current leader epoch.
    private var heardFrom: Set<Int32> = []
    /// Leader side: when this broker began leading the partition, or its replicas last changed.
    private var replicasSinceMs: Int64 = 0
    private var changeInFlight = false
    /// The (leader epoch, partition epoch) the in-flight or last refused proposal was made at.
    private var proposedAt: (leaderEpoch: Int32, partitionEpoch: Int32)? = nil

    public init(nodeId: Int32) { self.nodeId = nodeId }

    public var isLeader: Bool { leader == nodeId }
    public var proposalInFlight: Bool { changeInFlight }

    /// Takes the partition's state from a new image. Returns whether this broker leads it now.
    @discardableResult
    public mutating func update(_ p: MetadataImage.Partition, logEnd: Int64, nowMs: Int64) -> Bool {
        let becameLeader = p.leader == nodeId && (leader != nodeId || p.leaderEpoch != leaderEpoch)
        if becameLeader {
            leaderEpochStartOffset = logEnd
            followers = [:]
            heardFrom = []
            replicasSinceMs = nowMs
            for r in p.replicas where r != nodeId { followers[r] = (0, nowMs) }
        } else if p.replicas != replicas {
            // A reassignment within the leader epoch: a replica that left and came back must
            // fetch again to count.
            heardFrom.formIntersection(p.replicas)
            replicasSinceMs = nowMs
        }
        if p.leader != nodeId {
            followers = [:]
            heardFrom = []
        }
        leader = p.leader
        leaderEpoch = p.leaderEpoch
        partitionEpoch = p.partitionEpoch
        replicas = p.replicas
        isr = p.isr
        // A proposal is settled by a new state of this partition, not by any image: clearing
        // it on every image let the leader send the same proposal again while the first was
        // in flight, and the second was refused for its stale partition epoch.
        if let at = proposedAt, at != (p.leaderEpoch, p.partitionEpoch) {
            changeInFlight = false
            proposedAt = nil
        }
        return p.leader == nodeId
    }

    /// Leader: a follower's log end as its last fetch said (nil for a replica not heard from).
    public func followerEndOffset(_ replica: Int32) -> Int64? { followers[replica]?.endOffset }

    /// Leader: replicas that have not fetched this partition since this broker began leading it
    /// (or since its replicas changed), within `newReplicasWindowMs` of that. A follower's fetch
    /// that is held waiting for data does not name a partition it learned of after sending it,
    /// so an append here would not end that wait (up to 500 ms). A live follower fetches a new
    /// partition within milliseconds, written to or not; one that has not after the window is
    /// down or cannot open it, and waking it at every append would only make it spin.
    public func replicasNotHeardFrom(nowMs: Int64) -> [Int32] {
        guard leader == nodeId, nowMs - replicasSinceMs <= Self.newReplicasWindowMs,
            heardFrom.count < replicas.count - 1
        else { return [] }
        return replicas.filter { $0 != nodeId && !heardFrom.contains($0) }
    }

    public static let newReplicasWindowMs: Int64 = 10_000

    /// Leader: the smallest log end among the ISR (the high watermark may move up to it).
    public func isrEndOffset(logEnd: Int64) -> Int64 {
        var hw = logEnd
        for r in isr where r != nodeId { hw = min(hw, followers[r]?.endOffset ?? 0) }
        return hw
    }

    /// Leader: a follower fetched from `offset`, so it holds everything before it. Returns an
    /// ISR to propose when this follower has caught up and is outside the ISR.
    /// `eligible`: the follower is registered and unfenced in this broker's image (KIP-841); the
    /// controller refuses a fenced one, so proposing it only makes a refusal.
    public mutating func followerFetched(
        _ replica: Int32, offset: Int64, logEnd: Int64, highWatermark hw: Int64, nowMs: Int64, eligible: Bool = true
    ) -> [Int32]? {
        guard leader == nodeId, replicas.contains(replica) else { return nil }
        heardFrom.insert(replica)
        var f = followers[replica] ?? (0, nowMs)
        f.endOffset = offset
        if offset >= logEnd || offset >= hw { f.caughtUpMs = nowMs }
        followers[replica] = f
        guard eligible, !isr.contains(replica), !changeInFlight, offset >= hw, offset >= leaderEpochStartOffset
        else { return nil }
        changeInFlight = true
        proposedAt = (leaderEpoch, partitionEpoch)
        return isr + [replica]
    }

    /// Leader: the ISR without followers that have not caught up for `lagMs`, if that differs.
    public mutating func shrink(nowMs: Int64, lagMs: Int64) -> [Int32]? {
        guard leader == nodeId, !changeInFlight else { return nil }
        let keep = isr.filter { r in r == nodeId || nowMs - (followers[r]?.caughtUpMs ?? nowMs) <= lagMs }
        guard keep.count < isr.count else { return nil }
        changeInFlight = true
        proposedAt = (leaderEpoch, partitionEpoch)
        return keep
    }

    /// The proposal failed (controller unreachable) or was refused. A refusal for a stale epoch
    /// waits for the image to bring this partition's new state (`update` clears it then), unless
    /// the image already moved past the epochs proposed; anything else may be proposed again.
    public mutating func proposalFailed(staleEpoch: Bool = false) {
        if staleEpoch, let at = proposedAt, at == (leaderEpoch, partitionEpoch) { return }
        changeInFlight = false
        proposedAt = nil
    }
}
