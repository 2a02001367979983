import KafkaProtocol
import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Storage
import Testing

@testable import Broker

/// The transaction coordinator's state machine on an embedded event loop. Its collaborators are
/// handed in: `__transaction_state` is an in-memory list of batches (what a restarted or new
/// coordinator reads back), and the marker rounds it asks for are recorded and answered as each
/// test says.
@Suite struct TransactionCoordinatorTests {
    typealias TP = TransactionCoordinator.TopicPartition

    /// The partition's records and the rounds asked for; shared by the coordinators of a test.
    final class World: @unchecked Sendable {
        let lock = NIOLock()
        var batches: [ByteBuffer] = []
        var rounds: [TransactionCoordinator.MarkerRound] = []
        /// Per partition, how many more rounds answer NOT_LEADER_OR_FOLLOWER.
        var failuresLeft: [TP: Int] = [:]
        var nextProducerId: Int64 = 1000

        func append(_ b: ByteBuffer) {
            lock.withLock {
                var b = b
                let offset = Int64(batches.count)
                b.setInteger(offset, at: b.readerIndex)
                batches.append(b)
            }
        }

        func all() -> ByteBuffer {
            lock.withLock {
                var out = ByteBuffer()
                for var b in batches { out.writeBuffer(&b) }
                return out
            }
        }

        /// The last state written for `id`, decoded.
        func last(_ id: String) -> TransactionLogValue? {
            var data = all()
            var found: TransactionLogValue? = nil
            while let h = RecordBatchHeader.peek(data, at: data.readerIndex), h.totalSize <= data.readableBytes {
                let batch = data.readSlice(length: h.totalSize)!
                for r in (try? Record.decodeAll(batch: batch, header: h)) ?? [] {
                    if let k = r.key, TransactionLogCodec.decodeKey(k) == id {
                        found = r.value.flatMap(TransactionLogCodec.decodeValue)
                    }
                }
            }
            return found
        }
    }

    let clock = ManualClock(wallMs: 1_800_000_000_000)

    func coordinator(_ loop: EmbeddedEventLoop, _ world: World) -> TransactionCoordinator {
        let c = TransactionCoordinator(
            loop: loop, nodeId: 0, clock: clock, logger: Logger(label: "test"),
            settings: .init(maxTimeoutMs: 900_000, idExpirationMs: 604_800_000, abortCheckIntervalMs: 1000),
            write: { _, b in
                world.append(b)
                return loop.makeSucceededFuture(.none)
            },
            read: { _, from in
                let all = world.all()
                return (
                    from == 0 && all.readableBytes > 0 ? all : nil, Int64(world.lock.withLock { world.batches.count })
                )
            },
            deliver: { round in
                let codes = world.lock.withLock { () -> [TP: ErrorCode] in
                    world.rounds.append(round)
                    var codes: [TP: ErrorCode] = [:]
                    for tp in round.partitions {
                        if let n = world.failuresLeft[tp], n != 0 {
                            world.failuresLeft[tp] = n - 1
                            codes[tp] = .notLeaderOrFollower
                        } else {
                            codes[tp] = ErrorCode.none
                        }
                    }
                    return codes
                }
                return loop.makeSucceededFuture(codes)
            },
            allocateProducerId: {
                world.lock.withLock {
                    defer { world.nextProducerId += 1 }
                    return world.nextProducerId
                }
            })
        var image = MetadataImage()
        image.apply(.registerBroker(.init(id: 0, incarnation: KafkaUUID(high: 1, low: 1), host: "h", port: 1)), at: 0)
        image.apply(.unfenceBroker(id: 0, epoch: 0), at: 1)
        let id = KafkaUUID(high: 3, low: 3)
        image.apply(.topic(name: TransactionCoordinator.topic, id: id), at: 2)
        image.apply(.partition(.init(topicId: id, partition: 0, replicas: [0], isr: [0], leader: 0)), at: 3)
        c.update(image)
        settle(loop)
        return c
    }

    /// Runs everything due, advancing the loop's time past every retry the coordinator schedules.
    func settle(_ loop: EmbeddedEventLoop, ms: Int64 = 5_000) {
        loop.run()
        for _ in 0..<(ms / 50) { loop.advanceTime(by: .milliseconds(50)) }
        loop.run()
    }

    func initId(
        _ c: TransactionCoordinator, _ loop: EmbeddedEventLoop, _ id: String, timeoutMs: Int32 = 60_000,
        producer: (Int64, Int16)? = nil
    ) throws -> InitProducerIdResponse {
        var r = InitProducerIdRequest()
        r.transactionalId = id
        r.transactionTimeoutMs = timeoutMs
        if let producer { (r.producerId, r.producerEpoch) = producer }
        let f = c.initProducerId(r)
        settle(loop)
        return try f.wait()
    }

    func add(
        _ c: TransactionCoordinator, _ loop: EmbeddedEventLoop, _ id: String, _ p: InitProducerIdResponse,
        _ partitions: [TP]
    ) throws -> ErrorCode {
        let f = c.addPartitions(
            id, producerId: p.producerId, epoch: p.producerEpoch, partitions, fencedCode: .producerFenced)
        settle(loop)
        return try f.wait()
    }

    func end(
        _ c: TransactionCoordinator, _ loop: EmbeddedEventLoop, _ id: String, _ p: InitProducerIdResponse,
        commit: Bool
    ) throws -> ErrorCode {
        let f = c.endTxn(
            id, producerId: p.producerId, epoch: p.producerEpoch, commit: commit, fencedCode: .producerFenced)
        settle(loop)
        return try f.wait()
    }

    let t0 = TP(topic: "t", partition: 0)
    let t1 = TP(topic: "t", partition: 1)

    @Test func aCommitWritesEachStateBeforeActingAndMarksEveryPartition() throws {
        let loop = EmbeddedEventLoop()
        let world = World()
        let c = coordinator(loop, world)
        let p = try initId(c, loop, "app")
        #expect(p.errorCode == 0 && p.producerId == 1000 && p.producerEpoch == 0)
        #expect(world.last("app")?.status == TransactionLogCodec.empty)

        #expect(try add(c, loop, "app", p, [t0, t1]) == .none)
        let ongoing = try #require(world.last("app"))
        #expect(ongoing.status == TransactionLogCodec.ongoing)
        #expect(ongoing.partitions == [.init(topic: "t", partitionIds: [0, 1])])

        #expect(try end(c, loop, "app", p, commit: true) == .none)
        #expect(world.rounds.count == 1)
        let round = try #require(world.rounds.first)
        #expect(round.commit && round.producerId == 1000 && round.producerEpoch == 0)
        #expect(Set(round.partitions) == [t0, t1])
        let done = try #require(world.last("app"))
        #expect(done.status == TransactionLogCodec.completeCommit && done.partitions.isEmpty)
        // A retried commit is answered again; an abort now is not a valid transition.
        #expect(try end(c, loop, "app", p, commit: true) == .none)
        #expect(try end(c, loop, "app", p, commit: false) == .invalidTxnState)
    }

    @Test func aNewProducerOfTheIdAbortsTheOpenTransactionAndFencesTheOld() throws {
        let loop = EmbeddedEventLoop()
        let world = World()
        let c = coordinator(loop, world)
        let zombie = try initId(c, loop, "app")
        #expect(try add(c, loop, "app", zombie, [t0]) == .none)

        // The successor's first try aborts the zombie's transaction with a fenced epoch.
        #expect(try initId(c, loop, "app").errorCode == ErrorCode.concurrentTransactions.rawValue)
        let abort = try #require(world.rounds.last)
        #expect(!abort.commit && abort.producerEpoch == 1 && abort.partitions == [t0])
        let successor = try initId(c, loop, "app")
        #expect(successor.errorCode == 0 && successor.producerId == zombie.producerId && successor.producerEpoch == 2)

        #expect(try add(c, loop, "app", zombie, [t1]) == .producerFenced)
        #expect(try end(c, loop, "app", zombie, commit: true) == .producerFenced)
        // KIP-360: the successor recovering with its own epoch gets a bump; a retry of that bump
        // (naming the epoch before it) gets the same answer, not another bump.
        let bumped = try initId(c, loop, "app", producer: (successor.producerId, successor.producerEpoch))
        #expect(bumped.producerEpoch == 3)
        let retried = try initId(c, loop, "app", producer: (successor.producerId, successor.producerEpoch))
        #expect(retried.producerEpoch == 3)
        #expect(
            try initId(c, loop, "app", producer: (successor.producerId, 0)).errorCode
                == ErrorCode.producerFenced.rawValue)
        // A fenced producer naming the epoch it had cannot take over from a successor that
        // started fresh (without an id): only the successor's own recovery may retry a bump.
        let third = try initId(c, loop, "app")
        #expect(third.producerEpoch == 4)
        #expect(
            try initId(c, loop, "app", producer: (third.producerId, 3)).errorCode == ErrorCode.producerFenced.rawValue)
    }

    @Test func markersThatFailAreSentAgainUntilWritten() throws {
        let loop = EmbeddedEventLoop()
        let world = World()
        world.failuresLeft[t1] = 3
        let c = coordinator(loop, world)
        let p = try initId(c, loop, "app")
        #expect(try add(c, loop, "app", p, [t0, t1]) == .none)
        #expect(try end(c, loop, "app", p, commit: false) == .none)
        #expect(world.rounds.count == 4)
        #expect(world.rounds.dropFirst().allSatisfy { $0.partitions == [t1] }, "only the failed partition again")
        #expect(world.last("app")?.status == TransactionLogCodec.completeAbort)
    }

    @Test func theNextCoordinatorFinishesACommitItFindsPrepared() throws {
        let world = World()
        world.failuresLeft[t0] = -1  // never written while the first coordinator lives
        let first = EmbeddedEventLoop()
        let c = coordinator(first, world)
        let p = try initId(c, first, "app")
        #expect(try add(c, first, "app", p, [t0]) == .none)
        #expect(try end(c, first, "app", p, commit: true) == .none)
        #expect(world.last("app")?.status == TransactionLogCodec.prepareCommit)
        c.stop()

        world.lock.withLock { world.failuresLeft = [:] }
        let second = EmbeddedEventLoop()
        let next = coordinator(second, world)
        #expect(world.rounds.last.map { $0.commit && $0.partitions == [t0] } == true)
        #expect(world.last("app")?.status == TransactionLogCodec.completeCommit)
        // The producer carries on with the new coordinator.
        #expect(try add(next, second, "app", p, [t1]) == .none)
    }

    @Test func aTransactionPastItsTimeoutIsAbortedAndItsProducerFenced() throws {
        let loop = EmbeddedEventLoop()
        let world = World()
        let c = coordinator(loop, world)
        let p = try initId(c, loop, "slow", timeoutMs: 2_000)
        #expect(try add(c, loop, "slow", p, [t0]) == .none)
        clock.advance(ms: 3_000)
        settle(loop, ms: 2_000)
        let abort = try #require(world.rounds.last)
        #expect(!abort.commit && abort.producerEpoch == p.producerEpoch + 1)
        #expect(world.last("slow")?.status == TransactionLogCodec.completeAbort)
        #expect(try end(c, loop, "slow", p, commit: true) == .producerFenced)
    }

    @Test func hostileAndOutOfOrderRequestsGetKafkasErrors() throws {
        let loop = EmbeddedEventLoop()
        let world = World()
        let c = coordinator(loop, world)
        #expect(try initId(c, loop, "x", timeoutMs: 0).errorCode == ErrorCode.invalidTransactionTimeout.rawValue)
        #expect(try initId(c, loop, "x", timeoutMs: .max).errorCode == ErrorCode.invalidTransactionTimeout.rawValue)
        #expect(try initId(c, loop, "").errorCode == ErrorCode.invalidRequest.rawValue)
        var unknown = InitProducerIdResponse()
        unknown.producerId = 77
        #expect(try end(c, loop, "nobody", unknown, commit: true) == .invalidProducerIdMapping)
        let p = try initId(c, loop, "x")
        #expect(try end(c, loop, "x", p, commit: true) == .invalidTxnState, "nothing is open")
        var wrongId = p
        wrongId.producerId += 1
        #expect(try add(c, loop, "x", wrongId, [t0]) == .invalidProducerIdMapping)
        // An epoch at the end of its range starts a new producer id.
        let worn = TransactionLogValue(
            producerId: 5, producerEpoch: Int16.max - 1, timeoutMs: 60_000, status: TransactionLogCodec.completeCommit,
            partitions: [], lastUpdateTimestampMs: 0, startTimestampMs: -1)
        var b = RecordBatchBuilder()
        b.append(
            key: try TransactionLogCodec.encodeKey("worn"), value: try TransactionLogCodec.encodeValue(worn),
            timestamp: 0)
        world.append(b.build())
        let reloaded = EmbeddedEventLoop()
        let again = coordinator(reloaded, world)
        let fresh = try initId(again, reloaded, "worn")
        #expect(fresh.producerId != 5 && fresh.producerEpoch == 0)
    }
}
