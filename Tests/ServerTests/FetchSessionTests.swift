import KafkaProtocol
import NIOCore
import Raft
import Testing

@testable import Broker

/// KIP-227 fetch sessions: the broker's cache and the follower's side, as pure values.
@Suite struct FetchSessionTests {
    typealias Cache = FetchSessionCache

    static func part(_ index: Int32, offset: Int64 = 0, maxBytes: Int32 = 1 << 20) -> FetchRequest.Partition {
        var p = FetchRequest.Partition()
        p.partition = index
        p.fetchOffset = offset
        p.partitionMaxBytes = maxBytes
        return p
    }

    static func request(
        id: Int32, epoch: Int32, _ parts: [(String, FetchRequest.Partition)] = [], forget: [(String, Int32)] = [],
        replica: Int32 = -1
    ) -> FetchRequest {
        var r = FetchRequest()
        r.replicaId = replica
        r.sessionId = id
        r.sessionEpoch = epoch
        r.topics = NamedTopic.grouping(parts)
        r.forgottenTopicsData = NamedTopic.grouping(forget)
        return r
    }

    /// An answer for every partition `request` reads, each with high watermark `hw` and, where
    /// `records` names it, one record's worth of bytes.
    static func answer(_ request: FetchRequest, hw: Int64 = 10, records: Set<Int32> = []) -> FetchResponse {
        var r = FetchResponse()
        r.responses = request.topics.map { t in
            var rt = FetchResponse.Topic()
            rt.topic = t.topic
            rt.partitions = t.partitions.map { p in
                var rp = FetchResponse.Partition()
                rp.partitionIndex = p.partition
                rp.highWatermark = hw
                rp.lastStableOffset = hw
                rp.logStartOffset = 0
                rp.records = ByteBuffer(repeating: 1, count: records.contains(p.partition) ? 70 : 0)
                return rp
            }
            return rt
        }
        return r
    }

    static func read(_ c: Cache.Context) -> FetchRequest? {
        switch c {
        case .sessionless(let r), .full(let r, _), .incremental(let r, _): return r
        case .refused: return nil
        }
    }

    static func names(_ r: FetchResponse) -> [String] {
        r.responses.flatMap { t in t.partitions.map { "\(t.topic)-\($0.partitionIndex)" } }
    }

    static func names(_ r: FetchRequest) -> [String] {
        r.topics.flatMap { t in t.partitions.map { "\(t.topic)-\($0.partition)" } }
    }

    /// Opens a session of `count` partitions of topic "t" on connection 1; returns its id.
    static func open(_ cache: inout Cache, count: Int32 = 3, connection: UInt64 = 1) -> Int32 {
        let r = request(id: 0, epoch: 0, (0..<count).map { ("t", part($0)) })
        let c = cache.begin(r, connection: connection, nowMs: 0)
        guard case .full(_, let id) = c else { return 0 }
        #expect(cache.finish(c, answer(r)).sessionId == id)
        return id
    }

    @Test func fullFetchOpensASessionAndIncrementalAnswersOnlyWhatChanged() throws {
        var cache = Cache()
        let id = Self.open(&cache)
        #expect(id > 0 && cache.sessions.count == 1 && cache.partitionsHeld == 3)

        // Nothing named, nothing new: the whole session is read, nothing is answered.
        let quiet = cache.begin(Self.request(id: id, epoch: 1), connection: 1, nowMs: 1)
        let read = try #require(Self.read(quiet))
        #expect(Self.names(read) == ["t-0", "t-1", "t-2"])
        let none = cache.finish(quiet, Self.answer(read))
        #expect(none.sessionId == id && none.responses.isEmpty)

        // Records on 1, a moved high watermark everywhere: then only records.
        let c2 = cache.begin(Self.request(id: id, epoch: 2), connection: 1, nowMs: 2)
        let r2 = cache.finish(c2, Self.answer(try #require(Self.read(c2)), hw: 11, records: [1]))
        #expect(Self.names(r2) == ["t-0", "t-1", "t-2"])
        let c3 = cache.begin(Self.request(id: id, epoch: 3), connection: 1, nowMs: 3)
        let r3 = cache.finish(c3, Self.answer(try #require(Self.read(c3)), hw: 11, records: [1]))
        #expect(Self.names(r3) == ["t-1"])
        // An error is always answered.
        let c4 = cache.begin(Self.request(id: id, epoch: 4), connection: 1, nowMs: 4)
        var failing = Self.answer(try #require(Self.read(c4)), hw: 11)
        let two = try #require(failing.responses[0].partitions.firstIndex { $0.partitionIndex == 2 })
        failing.responses[0].partitions[two].errorCode = ErrorCode.notLeaderOrFollower.rawValue
        #expect(Self.names(cache.finish(c4, failing)) == ["t-2"])
    }

    @Test func incrementalFetchUpdatesOffsetsAddsAndForgets() throws {
        var cache = Cache()
        let id = Self.open(&cache)
        let c = cache.begin(
            Self.request(
                id: id, epoch: 1, [("t", Self.part(1, offset: 42)), ("u", Self.part(0, offset: 7))],
                forget: [("t", 0)]),
            connection: 1, nowMs: 1)
        let read = try #require(Self.read(c))
        #expect(Set(Self.names(read)) == ["t-1", "t-2", "u-0"])
        let offsets = Dictionary(
            uniqueKeysWithValues: read.topics.flatMap { t in
                t.partitions.map { ("\(t.topic)-\($0.partition)", $0.fetchOffset) }
            })
        #expect(offsets == ["t-1": 42, "t-2": 0, "u-0": 7])
        #expect(cache.partitionsHeld == 3)
        // The new partition is answered the first time (nothing was told of it yet).
        #expect(Self.names(cache.finish(c, Self.answer(read))) == ["u-0"])
        // Forgetting what the session does not hold, or a partition both forgotten and named.
        let c2 = cache.begin(
            Self.request(id: id, epoch: 2, [("t", Self.part(2, offset: 5))], forget: [("t", 2), ("zz", 9)]),
            connection: 1, nowMs: 2)
        #expect(Set(Self.names(try #require(Self.read(c2)))) == ["t-1", "t-2", "u-0"])
    }

    @Test func epochsAdvanceWrapAndAreChecked() throws {
        var cache = Cache()
        let id = Self.open(&cache)
        #expect(
            cache.begin(Self.request(id: id, epoch: 2), connection: 1, nowMs: 1) == .refused(.invalidFetchSessionEpoch))
        #expect(
            cache.begin(Self.request(id: id, epoch: Int32.min), connection: 1, nowMs: 1)
                == .refused(.invalidFetchSessionEpoch))
        for epoch: Int32 in [1, 2] {
            let c = cache.begin(Self.request(id: id, epoch: epoch), connection: 1, nowMs: 1)
            _ = cache.finish(c, Self.answer(try #require(Self.read(c))))
        }
        // The same epoch twice (a retried or duplicated fetch) is refused, the session kept.
        #expect(
            cache.begin(Self.request(id: id, epoch: 2), connection: 1, nowMs: 1) == .refused(.invalidFetchSessionEpoch))
        #expect(cache.sessions[id]?.epoch == 3)
        #expect(Cache.nextEpoch(Int32.max) == 1 && Cache.nextEpoch(1) == 2)
    }

    @Test func aSessionBelongsToItsConnection() throws {
        var cache = Cache()
        let id = Self.open(&cache, connection: 1)
        // Another connection naming it, incrementally or to close it, learns nothing and closes nothing.
        #expect(
            cache.begin(Self.request(id: id, epoch: 1), connection: 2, nowMs: 1) == .refused(.fetchSessionIdNotFound))
        guard case .sessionless = cache.begin(Self.request(id: id, epoch: -1), connection: 2, nowMs: 1) else {
            Issue.record("a full fetch naming another's session is answered without one")
            return
        }
        #expect(cache.sessions[id] != nil)
        // Unknown ids, 0 with an incremental epoch, negative ids.
        for bad: Int32 in [0, -1, Int32.max, Int32.min, id &+ 1] where bad != id {
            #expect(
                cache.begin(Self.request(id: bad, epoch: 1), connection: 1, nowMs: 1)
                    == .refused(.fetchSessionIdNotFound))
        }
        // A second session on one connection replaces the first; the connection's close ends it.
        let second = Self.open(&cache, connection: 1)
        #expect(cache.sessions.count == 1 && cache.sessions[second] != nil && cache.partitionsHeld == 3)
        cache.closed(connection: 1)
        #expect(cache.sessions.isEmpty && cache.partitionsHeld == 0)
        // No connection (0): never cached.
        guard
            case .sessionless = cache.begin(
                Self.request(id: 0, epoch: 0, [("t", Self.part(0))]), connection: 0, nowMs: 0)
        else {
            Issue.record("a fetch without a connection got a session")
            return
        }
    }

    @Test func epochMinusOneClosesTheSession() throws {
        var cache = Cache()
        let id = Self.open(&cache)
        let c = cache.begin(Self.request(id: id, epoch: -1, [("t", Self.part(0))]), connection: 1, nowMs: 1)
        guard case .sessionless(let r) = c else {
            Issue.record("expected a sessionless read")
            return
        }
        #expect(Self.names(r) == ["t-0"] && cache.sessions.isEmpty && cache.partitionsHeld == 0)
        #expect(cache.finish(c, Self.answer(r)).sessionId == 0)
    }

    @Test func boundsHoldAgainstAHostileFetcher() throws {
        var cache = Cache(
            limits: .init(slots: 2, partitionsPerSession: 100, partitionsInAll: 150, evictableAfterMs: 1_000))
        /// Opens a session of `partitions` on `connection` and answers it; true if one opened.
        func opens(
            _ connection: UInt64, _ partitions: [(String, FetchRequest.Partition)] = [("t", Self.part(0))],
            follower: Bool = false, at nowMs: Int64
        ) -> Bool {
            let r = Self.request(id: 0, epoch: 0, partitions, replica: follower ? 1 : -1)
            let c = cache.begin(r, connection: connection, privileged: follower, nowMs: nowMs)
            guard case .full = c else { return false }
            _ = cache.finish(c, Self.answer(r))
            return true
        }
        // The same partition 400 times is held once.
        #expect(opens(1, (0..<400).map { _ in ("t", Self.part(3)) }, at: 0) && cache.partitionsHeld == 1)
        // Too many partitions for one session, or a name longer than any topic's: no session.
        #expect(!opens(2, (0..<101).map { ("t", Self.part($0)) }, at: 0))
        #expect(!opens(2, [(String(repeating: "n", count: 250), Self.part(0))], at: 0))
        #expect(cache.sessions.count == 1)
        // Growing one past the bound by incremental fetches ends it; long names are not held.
        let id = Self.open(&cache, count: 60, connection: 3)
        let long = Self.request(id: id, epoch: 1, [(String(repeating: "n", count: 32_767), Self.part(0))])
        let c = cache.begin(long, connection: 3, nowMs: 1)
        #expect(Self.read(c).map(Self.names) == (0..<60).map { "t-\($0)" })
        _ = cache.finish(c, Self.answer(try #require(Self.read(c))))
        let grow = Self.request(id: id, epoch: 2, (100..<141).map { ("t", Self.part($0)) })
        #expect(cache.begin(grow, connection: 3, nowMs: 1) == .refused(.fetchSessionIdNotFound))
        #expect(cache.sessions[id] == nil && cache.partitionsHeld == 1)

        // Every slot taken by sessions in use: a new one gets none...
        #expect(opens(4, (0..<10).map { ("t", Self.part($0)) }, at: 0) && cache.sessions.count == 2)
        #expect(!opens(5, at: 500))
        // ...unless one has been idle past the eviction time.
        #expect(opens(5, at: 5_000) && cache.sessions.count == 2)
        // A follower's session takes the room of a consumer's in use, slots and partitions alike;
        // followers' sessions are never evicted while in use, for a consumer or another follower.
        #expect(opens(6, follower: true, at: 5_001) && opens(7, follower: true, at: 5_002))
        #expect(cache.sessions.values.allSatisfy { $0.replica })
        #expect(!opens(8, at: 5_003) && !opens(9, follower: true, at: 5_004))
        #expect(cache.sessions.count == 2 && cache.partitionsHeld == 2)

        var roomy = Cache(limits: .init(slots: 10, partitionsPerSession: 100, partitionsInAll: 100))
        swap(&cache, &roomy)
        #expect(opens(1, (0..<90).map { ("t", Self.part($0)) }, at: 0))
        #expect(!opens(2, (0..<20).map { ("u", Self.part($0)) }, at: 1))
        #expect(opens(3, (0..<20).map { ("u", Self.part($0)) }, follower: true, at: 2))
        #expect(cache.sessions.count == 1 && cache.partitionsHeld == 20)
    }

    @Test func oneFetchOfASessionAtATime() throws {
        var cache = Cache()
        let id = Self.open(&cache)
        // A second fetch while the first is read or parked (pipelined on the connection) is
        // refused; once the first is answered, or abandoned, the session goes on.
        let first = cache.begin(Self.request(id: id, epoch: 1), connection: 1, nowMs: 1)
        #expect(
            cache.begin(Self.request(id: id, epoch: 2), connection: 1, nowMs: 1) == .refused(.invalidFetchSessionEpoch))
        _ = cache.finish(first, Self.answer(try #require(Self.read(first))))
        let second = cache.begin(Self.request(id: id, epoch: 2), connection: 1, nowMs: 2)
        #expect(Self.read(second) != nil)
        cache.abandon(second)
        #expect(Self.read(cache.begin(Self.request(id: id, epoch: 3), connection: 1, nowMs: 3)) != nil)
    }

    @Test func forgettingEverythingEndsTheSession() throws {
        var cache = Cache()
        let id = Self.open(&cache, count: 2)
        let c = cache.begin(Self.request(id: id, epoch: 1, forget: [("t", 0), ("t", 1)]), connection: 1, nowMs: 1)
        guard case .sessionless(let r) = c else {
            Issue.record("an emptied session went on")
            return
        }
        #expect(r.topics.isEmpty && cache.sessions.isEmpty && cache.partitionsHeld == 0)
        #expect(cache.finish(c, Self.answer(r)).sessionId == 0)
    }

    @Test func readingStartRotatesPastPartitionsThatReturnedRecords() throws {
        var cache = Cache()
        let id = Self.open(&cache, count: 4)
        let c = cache.begin(Self.request(id: id, epoch: 1), connection: 1, nowMs: 1)
        _ = cache.finish(c, Self.answer(try #require(Self.read(c)), records: [0, 1]))
        let next = try #require(Self.read(cache.begin(Self.request(id: id, epoch: 2), connection: 1, nowMs: 2)))
        #expect(Self.names(next) == ["t-2", "t-3", "t-0", "t-1"])
    }

    @Test func randomFetchersNeverBreakTheCountsOrTrap() {
        // Many seeds of hostile session traffic over a few connections: the partition count
        // always matches what the sessions hold, and no session passes a bound.
        for seed in 0..<50 {
            var rng = SplitMix(seed: UInt64(seed))
            var cache = Cache(
                limits: .init(slots: 3, partitionsPerSession: 20, partitionsInAll: 40, evictableAfterMs: 50))
            var ids: [Int32] = [0]
            for step in 0..<400 {
                let conn = UInt64(rng.next() % 5)
                let id =
                    rng.next() % 3 == 0
                    ? Int32(truncatingIfNeeded: rng.next()) : ids[Int(rng.next() % UInt64(ids.count))]
                let epochs: [Int32] = [-1, 0, 1, 2, Int32.max, Int32.min, cache.sessions[id]?.epoch ?? 1]
                let epoch = epochs[Int(rng.next() % UInt64(epochs.count))]
                let parts = (0..<Int(rng.next() % 30)).map { _ in
                    ("t\(rng.next() % 3)", Self.part(Int32(rng.next() % 25)))
                }
                let forget = (0..<Int(rng.next() % 5)).map { _ in ("t\(rng.next() % 3)", Int32(rng.next() % 25)) }
                let r = Self.request(id: id, epoch: epoch, parts, forget: forget, replica: rng.next() % 4 == 0 ? 1 : -1)
                let c = cache.begin(r, connection: conn, privileged: r.replicaId >= 0, nowMs: Int64(step))
                if case .full(_, let new) = c { ids.append(new) }
                if let read = Self.read(c) {
                    if rng.next() % 7 == 0 {
                        cache.abandon(c)  // the read failed
                    } else {
                        let answered = cache.finish(
                            c, Self.answer(read, hw: Int64(step % 7), records: [Int32(step % 25)]))
                        #expect(answered.responses.allSatisfy { !$0.partitions.isEmpty })
                    }
                }
                if rng.next() % 10 == 0 { cache.closed(connection: UInt64(rng.next() % 5)) }
                #expect(cache.partitionsHeld == cache.sessions.values.reduce(0) { $0 + $1.entries.count })
                #expect(cache.sessions.count <= 3 && cache.partitionsHeld <= 40)
                #expect(
                    cache.sessions.values.allSatisfy { $0.entries.count <= 20 && $0.index.count == $0.entries.count })
            }
        }
    }

    // MARK: - the follower's side

    @Test func followerSendsOnlyChangesAndStartsOverOnSessionErrors() {
        var client = FetchSessionClient()
        var r = FetchRequest()
        let wanted: [(topic: String, partition: FetchRequest.Partition)] = [
            ("t", Self.part(0)), ("t", Self.part(1)), ("u", Self.part(0)),
        ]
        client.prepare(&r, wanted: wanted)
        #expect(r.sessionId == 0 && r.sessionEpoch == 0 && Self.names(r) == ["t-0", "t-1", "u-0"])
        var opened = FetchResponse()
        opened.sessionId = 77
        let ok1 = client.received(opened)
        #expect(ok1 && client.id == 77 && client.epoch == 1)

        // t-1 moved, u-0 no longer wanted.
        client.prepare(&r, wanted: [("t", Self.part(0)), ("t", Self.part(1, offset: 9))])
        #expect(r.sessionId == 77 && r.sessionEpoch == 1 && Self.names(r) == ["t-1"])
        #expect(
            r.forgottenTopicsData.count == 1 && r.forgottenTopicsData[0].topic == "u"
                && r.forgottenTopicsData[0].partitions == [0])
        var same = FetchResponse()
        same.sessionId = 77
        let ok2 = client.received(same)
        #expect(ok2 && client.epoch == 2)
        client.prepare(&r, wanted: [("t", Self.part(0)), ("t", Self.part(1, offset: 9))])
        #expect(r.topics.isEmpty && r.forgottenTopicsData.isEmpty && r.sessionEpoch == 2)

        var lost = FetchResponse()
        lost.errorCode = ErrorCode.fetchSessionIdNotFound.rawValue
        let ok3 = client.received(lost)
        #expect(!ok3 && client.id == 0)
        client.prepare(&r, wanted: [("t", Self.part(0))])
        #expect(r.sessionId == 0 && r.sessionEpoch == 0 && Self.names(r) == ["t-0"])
        // A leader that answers without a session: every fetch stays full.
        let ok5 = client.received(FetchResponse())
        #expect(ok5 && client.id == 0)
        client.prepare(&r, wanted: [("t", Self.part(0))])
        #expect(r.sessionEpoch == 0 && Self.names(r) == ["t-0"])
    }

    @Test func followerAndBrokerAgreeOverManyRounds() throws {
        // The follower's requests through the broker's cache: every round the broker reads
        // exactly what the follower wants, at the offsets the follower has.
        var cache = Cache()
        var client = FetchSessionClient()
        var rng = SplitMix(seed: 9)
        var offsets: [Int32: Int64] = [:]
        for round in 0..<300 {
            let present = (0..<40).filter { _ in rng.next() % 10 != 0 }.map { Int32($0) }
            let wanted = present.map { (topic: "t", partition: Self.part($0, offset: offsets[$0, default: 0])) }
            var r = FetchRequest()
            r.replicaId = 1
            client.prepare(&r, wanted: wanted)
            let c = cache.begin(r, connection: 1, nowMs: Int64(round))
            let read = try #require(Self.read(c))
            let readOffsets = Dictionary(
                uniqueKeysWithValues: read.topics[0].partitions.map { ($0.partition, $0.fetchOffset) })
            #expect(
                readOffsets
                    == Dictionary(
                        uniqueKeysWithValues: wanted.map { ($0.partition.partition, $0.partition.fetchOffset) }))
            let withData = Set(present.filter { _ in rng.next() % 4 == 0 })
            let answer = cache.finish(c, Self.answer(read, hw: Int64(round / 10), records: withData))
            let ok4 = client.received(answer)
            #expect(ok4)
            for p in answer.responses.flatMap(\.partitions) where (p.records?.readableBytes ?? 0) > 0 {
                offsets[p.partitionIndex, default: 0] += 1
            }
        }
        #expect(cache.sessions.count == 1)
    }
}
