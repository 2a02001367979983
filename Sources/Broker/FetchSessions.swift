import KafkaProtocol

/// Incremental fetch sessions (KIP-227, Fetch v7+), the broker's side: a session remembers the
/// partitions a fetcher asked for, with their fetch offsets and what it was last told of each
/// (high watermark, last stable offset, log start), so the next fetch names only the partitions
/// whose fetch position changed and the answer carries only partitions with something new.
/// A follower of 3,333 partitions then sends and receives a few bytes per idle round instead of
/// every partition both ways.
///
/// Pure: no clock, no locks, no I/O (the broker holds it under a lock and passes the time).
/// A session belongs to the connection that opened it (another connection naming its id is told
/// it does not exist) and ends with it; a connection holds at most one (a new one replaces it).
/// Everything a client can make it hold is bounded: sessions (`slots`), partitions per session
/// and partitions over all sessions, topic names (a name longer than any topic's is read but
/// never held), and one fetch in flight per session (a pipelined second one is refused, so a
/// small request cannot have the session's whole answer made many times over). Past a bound the
/// fetch is still answered, without a session.
struct FetchSessionCache: Sendable {
    struct Limits: Sendable {
        /// Kafka's `max.incremental.fetch.session.cache.slots` (default 1,000).
        var slots = 1_000
        var partitionsPerSession = 100_000
        var partitionsInAll = 250_000
        /// A session unused this long may be evicted for a new one when every slot is taken
        /// (Kafka's `min.incremental.fetch.session.eviction.ms`).
        var evictableAfterMs: Int64 = 120_000
    }

    /// Kafka's longest topic name: partitions of longer names cannot exist and are not held.
    static let maxTopicNameBytes = 249

    typealias Key = Broker.PartitionKey

    /// One partition of a session: where the fetcher reads it and what it was last answered.
    struct Entry: Sendable {
        var topic: String
        var request: FetchRequest.Partition
        var highWatermark: Int64 = -1
        var lastStableOffset: Int64 = -1
        var logStartOffset: Int64 = -1
    }

    struct Session: Sendable {
        let id: Int32
        let connection: UInt64
        /// Opened by a follower on the inter-broker listener (may take a consumer's room).
        let replica: Bool
        /// The epoch the next incremental fetch must carry.
        var epoch: Int32 = 1
        /// A fetch of this session is being read or waits for data: the next is refused until it
        /// is answered.
        var busy = false
        var entries: [Entry] = []
        var index: [Key: Int] = [:]
        /// Where the next answer starts reading: after the last partition that returned records,
        /// so a budget spent by the first partitions does not starve the later ones.
        var start = 0
        var lastUsedMs: Int64

        mutating func reindex() {
            index.removeAll(keepingCapacity: true)
            for (i, e) in entries.enumerated() { index[Key(topic: e.topic, index: e.request.partition)] = i }
            if start >= entries.count { start = 0 }
        }
    }

    /// What a fetch is to the broker once its session fields are read.
    enum Context: Equatable, Sendable {
        /// No session (session id 0 and epoch -1, or no room): read the request as it is and
        /// answer with session id 0.
        case sessionless(FetchRequest)
        /// A new session (epoch 0): read the request as it is; the answer names the session.
        case full(FetchRequest, session: Int32)
        /// An incremental fetch: read every partition of the session; the answer carries only
        /// those with something new.
        case incremental(FetchRequest, session: Int32)
        /// Answered with this top-level error and nothing else (session id 0).
        case refused(ErrorCode)
    }

    var limits: Limits
    private(set) var sessions: [Int32: Session] = [:]
    private var byConnection: [UInt64: Int32] = [:]
    /// Partitions held by all sessions together.
    private(set) var partitionsHeld = 0
    private var random = SystemRandomNumberGenerator()

    init(limits: Limits = Limits()) { self.limits = limits }

    /// The epoch after `epoch`: Kafka's sequence 1, 2, ... Int32.max, 1, ...
    static func nextEpoch(_ epoch: Int32) -> Int32 { epoch == Int32.max ? 1 : epoch &+ 1 }

    /// Reads a Fetch's session id and epoch: opens, continues or closes a session and returns
    /// the request to read (for an incremental fetch: every partition the session holds, with
    /// the fetch offsets it now records). `connection` is 0 where there is none (never cached);
    /// `privileged` says a follower on the inter-broker listener asks (its session may take a
    /// consumer's room). A partition named twice is held once (`fetch` reads it once). Every
    /// context but `.refused` must
    /// be given to `finish` or `abandon`.
    mutating func begin(_ request: FetchRequest, connection: UInt64, privileged: Bool = false, nowMs: Int64)
        -> Context
    {
        let id = request.sessionId
        let epoch = request.sessionEpoch
        if epoch == 0 || epoch == -1 {
            // A full fetch closes the session it names (only its own connection's), and epoch 0
            // asks for a new one.
            if id != 0, let s = sessions[id], s.connection == connection { remove(id) }
            guard epoch == 0, connection != 0 else { return .sessionless(request) }
            return open(request, connection: connection, privileged: privileged, nowMs: nowMs)
        }
        guard id != 0, var s = sessions[id], s.connection == connection else {
            return .refused(.fetchSessionIdNotFound)
        }
        guard epoch == s.epoch, !s.busy else { return .refused(.invalidFetchSessionEpoch) }
        sessions[id] = nil  // mutated below without a copy of its arrays
        let before = s.entries.count
        // Forgotten partitions go first (a partition both forgotten and named is named anew).
        var forgotten = Set<Key>()
        for t in request.forgottenTopicsData {
            for p in t.partitions { forgotten.insert(Key(topic: t.topic, index: p)) }
        }
        if !forgotten.isEmpty {
            s.entries.removeAll { forgotten.contains(Key(topic: $0.topic, index: $0.request.partition)) }
            s.reindex()
        }
        for t in request.topics where t.topic.utf8.count <= Self.maxTopicNameBytes {
            for p in t.partitions {
                let key = Key(topic: t.topic, index: p.partition)
                if let i = s.index[key] {
                    s.entries[i].request = p
                } else {
                    s.index[key] = s.entries.count
                    s.entries.append(Entry(topic: t.topic, request: p))
                }
            }
        }
        partitionsHeld += s.entries.count - before
        let over =
            s.entries.count > limits.partitionsPerSession
            || partitionsHeld > limits.partitionsInAll
        if over {
            // Grown past what a session may hold: it ends, and the fetcher starts again with a
            // full fetch (answered without a session while there is no room).
            partitionsHeld -= s.entries.count
            byConnection[s.connection] = nil
            return .refused(.fetchSessionIdNotFound)
        }
        if s.entries.isEmpty {
            // Everything forgotten: the session ends, and this fetch is answered without one
            // (as Kafka does), which tells the fetcher to open a new one.
            byConnection[s.connection] = nil
            var none = request
            none.topics = []
            none.forgottenTopicsData = []
            return .sessionless(none)
        }
        s.epoch = Self.nextEpoch(s.epoch)
        s.lastUsedMs = nowMs
        s.busy = true
        var full = request
        full.forgottenTopicsData = []
        full.topics = Self.rotated(s)
        sessions[id] = s
        return .incremental(full, session: id)
    }

    /// The answer to send for `context`'s read: a new session's answer names it and records what
    /// it told; an incremental answer keeps only partitions with records, an error or a changed
    /// offset, and moves the reading start past the last partition that returned records.
    mutating func finish(_ context: Context, _ response: FetchResponse) -> FetchResponse {
        var response = response
        switch context {
        case .sessionless, .refused:
            response.sessionId = 0
            return response
        case .full(_, let id):
            guard var s = sessions.removeValue(forKey: id) else {
                response.sessionId = 0  // closed while the fetch waited
                return response
            }
            s.busy = false
            for t in response.responses {
                for p in t.partitions {
                    guard let i = s.index[Key(topic: t.topic, index: p.partitionIndex)] else { continue }
                    Self.record(p, in: &s.entries[i])
                }
            }
            sessions[id] = s
            response.sessionId = id
            return response
        case .incremental(_, let id):
            response.sessionId = id
            guard var s = sessions.removeValue(forKey: id) else { return response }
            s.busy = false
            var lastWithRecords = -1
            for ti in response.responses.indices {
                let topic = response.responses[ti].topic
                response.responses[ti].partitions.removeAll { p in
                    guard let i = s.index[Key(topic: topic, index: p.partitionIndex)] else { return false }
                    let hasRecords = p.recordsFile != nil || (p.records?.readableBytes ?? 0) > 0
                    if hasRecords { lastWithRecords = i }
                    let e = s.entries[i]
                    let news =
                        hasRecords || p.errorCode != 0 || p.highWatermark != e.highWatermark
                        || p.lastStableOffset != e.lastStableOffset || p.logStartOffset != e.logStartOffset
                        || p.divergingEpoch != nil || p.currentLeader != nil || p.snapshotId != nil
                        || p.preferredReadReplica >= 0
                    Self.record(p, in: &s.entries[i])
                    return !news
                }
            }
            response.responses.removeAll { $0.partitions.isEmpty }
            if lastWithRecords >= 0, !s.entries.isEmpty { s.start = (lastWithRecords + 1) % s.entries.count }
            sessions[id] = s
            return response
        }
    }

    /// A read that failed (its connection closes): the session takes fetches again.
    mutating func abandon(_ context: Context) {
        switch context {
        case .full(_, let id), .incremental(_, let id): sessions[id]?.busy = false
        case .sessionless, .refused: break
        }
    }

    /// Ends the session of a connection that closed.
    mutating func closed(connection: UInt64) {
        if let id = byConnection[connection] { remove(id) }
    }

    // MARK: - inside

    private mutating func open(_ request: FetchRequest, connection: UInt64, privileged: Bool, nowMs: Int64)
        -> Context
    {
        // One session a connection: a new one replaces the last.
        if let old = byConnection[connection] { remove(old) }
        // Names longer than any topic's are read (and answered with an error) but not held.
        guard request.topics.allSatisfy({ $0.topic.utf8.count <= Self.maxTopicNameBytes }) else {
            return .sessionless(request)
        }
        var id: Int32 = 0
        while id == 0 || sessions[id] != nil { id = Int32.random(in: 1...Int32.max, using: &random) }
        var s = Session(id: id, connection: connection, replica: privileged, lastUsedMs: nowMs)
        s.busy = true
        for t in request.topics {
            for p in t.partitions {
                // (A partition named twice is held once.)
                let key = Key(topic: t.topic, index: p.partition)
                guard s.index[key] == nil else { continue }
                guard s.entries.count < limits.partitionsPerSession else { return .sessionless(request) }
                s.index[key] = s.entries.count
                s.entries.append(Entry(topic: t.topic, request: p))
            }
        }
        let count = s.entries.count
        guard count <= limits.partitionsInAll, limits.slots > 0 else { return .sessionless(request) }
        // Room, a slot and the partitions, made by evicting idle sessions (and, for a follower,
        // consumers' sessions) while there is not enough.
        while sessions.count >= limits.slots || partitionsHeld + count > limits.partitionsInAll {
            guard evictOne(for: privileged, nowMs: nowMs) else { return .sessionless(request) }
        }
        partitionsHeld += count
        sessions[id] = s
        byConnection[connection] = id
        return .full(request, session: id)
    }

    /// Makes room for a new session: the least recently used one idle past the eviction time,
    /// or, for a follower's session, the least recently used consumer's session.
    private mutating func evictOne(for replica: Bool, nowMs: Int64) -> Bool {
        let victim = sessions.values
            .filter { !$0.busy && (nowMs - $0.lastUsedMs >= limits.evictableAfterMs || (replica && !$0.replica)) }
            .min { $0.lastUsedMs < $1.lastUsedMs }
        guard let victim else { return false }
        remove(victim.id)
        return true
    }

    private mutating func remove(_ id: Int32) {
        guard let s = sessions.removeValue(forKey: id) else { return }
        partitionsHeld -= s.entries.count
        if byConnection[s.connection] == id { byConnection[s.connection] = nil }
    }

    private static func record(_ p: FetchResponse.Partition, in e: inout Entry) {
        e.highWatermark = p.highWatermark
        e.lastStableOffset = p.lastStableOffset
        e.logStartOffset = p.logStartOffset
    }

    /// The session's partitions as request topics, from its reading start round to it.
    private static func rotated(_ s: Session) -> [FetchRequest.Topic] {
        let n = s.entries.count
        guard n > 0 else { return [] }
        return NamedTopic.grouping(
            (0..<n).lazy.map { i in
                let e = s.entries[(s.start + i) % n]
                return (e.topic, e.request)
            })
    }
}

/// Incremental fetch sessions, the fetcher's side (a follower's replica fetcher): what the
/// leader's session holds, so each fetch names only the partitions whose fetch position changed
/// and the ones no longer wanted. Pure; one per connection to a leader.
struct FetchSessionClient: Sendable {
    typealias Key = Broker.PartitionKey

    /// 0 while there is no session: the next fetch is full and asks for one (epoch 0).
    private(set) var id: Int32 = 0
    private(set) var epoch: Int32 = 0
    /// The partitions the session holds, as last sent.
    private var held: [Key: FetchRequest.Partition] = [:]
    /// Whether the fetch in flight was full (its answer may open the session).
    private var sentFull = true

    /// Fills `request`'s session id, epoch, topics and forgotten topics for fetching `wanted`
    /// (each partition once), and notes them as sent.
    mutating func prepare(_ request: inout FetchRequest, wanted: [(topic: String, partition: FetchRequest.Partition)]) {
        var now: [Key: FetchRequest.Partition] = [:]
        now.reserveCapacity(wanted.count)
        for w in wanted { now[Key(topic: w.topic, index: w.partition.partition)] = w.partition }
        if id == 0 {
            request.sessionId = 0
            request.sessionEpoch = 0
            request.topics = NamedTopic.grouping(wanted.map { ($0.topic, $0.partition) })
            request.forgottenTopicsData = []
            sentFull = true
        } else {
            request.sessionId = id
            request.sessionEpoch = epoch
            request.topics = NamedTopic.grouping(
                wanted.lazy.filter { [held] w in held[Key(topic: w.topic, index: w.partition.partition)] != w.partition
                }
                .map { ($0.topic, $0.partition) })
            request.forgottenTopicsData = NamedTopic.grouping(
                held.keys.lazy.filter { now[$0] == nil }.map { ($0.topic, $0.index) })
            sentFull = false
        }
        held = now
    }

    /// Reads the answer's session fields: a full fetch's answer opens the session it names; a
    /// session error starts over with a full fetch. False when the answer carries nothing else.
    mutating func received(_ response: FetchResponse) -> Bool {
        if response.errorCode == ErrorCode.fetchSessionIdNotFound.rawValue
            || response.errorCode == ErrorCode.invalidFetchSessionEpoch.rawValue
        {
            reset()
            return false
        }
        if sentFull {
            id = response.sessionId
            epoch = 1
        } else if response.sessionId == id {
            epoch = FetchSessionCache.nextEpoch(epoch)
        } else {
            reset()  // the leader answered without the session: start again
        }
        return response.errorCode == 0
    }

    /// After a lost connection or a failed fetch: the next fetch is full.
    mutating func reset() {
        id = 0
        epoch = 0
        held = [:]
        sentFull = true
    }
}
