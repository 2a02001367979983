import Broker
import Foundation
import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import Raft
import Testing

@testable import Server

/// Fills a message with values at their extremes, through the same `serde` walk that decodes
/// it: every field of every API and version gets a value of its own type, so the frame stays
/// well formed while its values are hostile (empty and 32,767-byte strings, negative and huge
/// counts and integers, Int32/Int64 limits, one element repeated 400 times).
struct ExtremeFiller: KafkaSerde {
    var rng: SplitMix
    var flexible: Bool
    var isReading: Bool { true }
    /// Elements left to create in this message, so that nested arrays stay small enough to send.
    var budget = 1500
    /// Bytes left for this message's strings, byte fields and repeated elements (about 8 MiB).
    var bytesLeft = 8 << 20
    let names: [String]
    let batch: ByteBuffer

    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(rng.next() % UInt64(choices.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }

    mutating func int8(_ value: inout Int8) throws {
        if chance(40) { value = pick([0, -1, 1, 2, .max, .min, 3]) }
    }
    mutating func int16(_ value: inout Int16) throws {
        if chance(50) { value = pick([0, -1, 1, 3, .max, .min, Int16(truncatingIfNeeded: rng.next())]) }
    }
    mutating func int32(_ value: inout Int32) throws {
        if chance(50) { value = pick([0, -1, 1, 2, 400, .max, .min, .max - 1, Int32(truncatingIfNeeded: rng.next())]) }
    }
    mutating func int64(_ value: inout Int64) throws {
        if chance(50) { value = pick([0, -1, -2, 1, .max, .min, Int64(Int32.max), Int64(bitPattern: rng.next())]) }
    }
    mutating func bool(_ value: inout Bool) throws { value = chance(50) }
    mutating func uuid(_ value: inout KafkaUUID) throws {
        if chance(30) { value = KafkaUUID(high: rng.next(), low: rng.next()) }
    }
    mutating func text() -> String {
        pick(
            names + [
                "", String(repeating: "a", count: 32_767), String(repeating: "é", count: 16_383), "__consumer_offsets",
            ])
    }
    mutating func string(_ value: inout String, field: StaticString) throws { value = text() }
    mutating func nullableString(_ value: inout String?, field: StaticString) throws {
        value = chance(20) ? nil : text()
    }
    mutating func bytesValue() -> ByteBuffer {
        bytesLeft -= batch.readableBytes + 300
        switch rng.next() % 4 {
        case 0: return ByteBuffer()
        case 1:
            var b = ByteBuffer()
            b.writeBytes((0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            return b
        default: return batch
        }
    }
    mutating func nullableBytes(_ value: inout ByteBuffer?, field: StaticString) throws {
        value = chance(15) ? nil : bytesValue()
    }
    mutating func bytes(_ value: inout ByteBuffer, field: StaticString) throws { value = bytesValue() }
    mutating func fileBytes(_ slice: FileBytes) throws { throw ProtocolError.invalidLength(field: "file", value: 0) }

    mutating func count() -> Int {
        let n = pick([0, 1, 1, 2, 3, 400])
        guard n <= budget else { return budget > 0 ? 1 : 0 }
        budget -= n
        return n
    }

    mutating func array<T: Defaultable>(
        _ value: inout [T], field: StaticString, _ element: (inout ExtremeFiller, inout T) throws -> Void
    ) throws {
        let n = count()
        guard n > 0 else {
            value = []
            return
        }
        var first = T()
        let before = bytesLeft
        bytesLeft -= 8
        try element(&self, &first)
        // Often the same element repeated (the same partition 400 times), else each its own;
        // repeats are charged to the byte budget so the message stays sendable.
        let cost = max(before - bytesLeft, 8)
        let copies = max(1, min(n, 1 + max(bytesLeft, 0) / cost))
        if copies > 3 || chance(30) {
            bytesLeft -= (copies - 1) * cost
            value = Array(repeating: first, count: copies)
        } else {
            value = [first]
            for _ in 1..<copies {
                var e = T()
                try element(&self, &e)
                value.append(e)
            }
        }
    }

    mutating func nullableArray<T: Defaultable>(
        _ value: inout [T]?, field: StaticString, _ element: (inout ExtremeFiller, inout T) throws -> Void
    ) throws {
        if chance(15) {
            value = nil
            return
        }
        var v: [T] = []
        try array(&v, field: field, element)
        value = v
    }

    mutating func tags() throws {}
    mutating func tags(_ fields: [TaggedField<ExtremeFiller>]) throws {
        for f in fields where chance(30) { try f.body(&self) }
    }
}

/// One request of `api` at `version`, filled with extremes and encoded as a frame body; nil when
/// the filled message cannot be written (a value too long for its field in this version).
func hostileRequest(_ api: ApiKey, _ version: Int16, _ filler: inout ExtremeFiller) -> ByteBuffer? {
    func make<T: KafkaMessage>(_: T.Type) -> ByteBuffer? {
        var m = T()
        filler.flexible = api.isFlexible(version)
        filler.budget = 1500
        filler.bytesLeft = 8 << 20
        guard (try? m.serde(&filler, version: version)) != nil else { return nil }
        return try? m.encoded(version: version)
    }
    return make(api.spec.request)
}

/// One node (broker and its own quorum) in this test process, on temporary storage. It is never
/// stopped: requests the fuzzer leaves waiting (a JoinGroup with a day-long rebalance timeout)
/// end with the process.
enum FuzzNode {
    static let server: TernServer? = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tern-request-fuzz-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let text = """
            node.id=0
            listeners=PLAINTEXT://127.0.0.1:0
            log.dirs=\(dir)
            http.listeners=none
            num.partitions=2
            replica.fetch.wait.max.ms=50
            offsets.topic.num.partitions=2
            offsets.topic.replication.factor=1
            authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
            allow.everyone.if.no.acl.found=true
            """
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        guard let config = try? ServerConfig.parse(text, source: "fuzz") else { return nil }
        return try? TernServer(config: config, logger: logger)
    }()
}

@Suite(.serialized) struct RequestPathFuzzTests {
    /// Sends `frame` (header and body) through the server's own handler for `listener`, as
    /// RequestHandler would, and waits up to a second for the answer. True if answered (an answer
    /// or a failed future: the connection would close); false if still waiting.
    func drive(_ server: TernServer, _ frame: ByteBuffer, controller: Bool, loop: any EventLoop) throws -> Bool {
        var reader = KafkaReader(frame)
        guard let header = try? RequestHeader.decode(from: &reader) else { return true }
        let future: EventLoopFuture<Int?> =
            controller
            ? server.quorum.handle(header, body: reader.buffer, on: loop).map { $0?.readableBytes }
            : server.broker.respond(
                header, body: reader.buffer, on: loop, listener: "PLAINTEXT",
                // A few connections, so fetch sessions are opened, continued and refused too.
                session: Session(connection: 1 + UInt64(frame.readableBytes % 3))
            ).map { $0?.length }
        let done = loop.makePromise(of: Bool.self)
        future.whenComplete { r in
            if case .success(let n) = r, let n { #expect(n < Int(Int32.max)) }
            done.succeed(true)
        }
        let timeout = loop.scheduleTask(in: .seconds(1)) { done.succeed(false) }
        let answered = try done.futureResult.wait()
        timeout.cancel()
        return answered
    }

    /// `rounds` requests, or as many as fit in TERN_FUZZ_SECONDS when that is set (the long
    /// campaign outside CI: `TERN_FUZZ_SECONDS=600 swift test --filter RequestPathFuzzTests`).
    func run(controller: Bool, rounds: Int, seed: UInt64) throws {
        let seconds = Double(ProcessInfo.processInfo.environment["TERN_FUZZ_SECONDS"] ?? "")
        let until = seconds.map { Date().addingTimeInterval($0) }
        let server = try #require(FuzzNode.server, "the in-process node did not start")
        let loop = server.group.next()
        var b = RecordBatchBuilder()
        for i in 0..<3 { b.append(key: nil, value: Array("v\(i)".utf8), timestamp: 1) }
        var filler = ExtremeFiller(
            rng: SplitMix(seed: seed), flexible: false, names: ["fuzz-t", "fuzz-g", "t"], batch: b.build())
        let apis = controller ? ApiKey.controllerListener : ApiKey.clientListener
        var sent = 0
        var answered = 0
        var perApi: [ApiKey: Int] = [:]
        var round = 0
        while until.map({ Date() < $0 }) ?? (round < rounds) {
            defer { round += 1 }
            let api = apis[round % apis.count]
            let versions = Array(api.supported)
            let version = versions[Int(filler.rng.next() % UInt64(versions.count))]
            guard let body = hostileRequest(api, version, &filler) else { continue }
            var frame = ByteBuffer()
            let clientId: String? = filler.chance(10) ? String(repeating: "c", count: 32_767) : "fuzz"
            RequestHeader(apiKey: api.rawValue, apiVersion: version, correlationId: Int32(round), clientId: clientId)
                .encode(into: &frame)
            var copy = body
            frame.writeBuffer(&copy)
            sent += 1
            perApi[api, default: 0] += 1
            if try drive(server, frame, controller: controller, loop: loop) { answered += 1 }
        }
        print(
            "request-path fuzz (\(controller ? "CONTROLLER" : "client") listener, seed \(seed)): \(round) generated, \(sent) sent over \(perApi.count) APIs, \(answered) answered within 1 s, the rest waiting as their APIs allow"
        )
        // Everything was answered or is waiting as its API allows; the node still serves.
        #expect(sent > round / 2)
        #expect(answered > sent / 2)
        var check = ApiVersionsRequest()
        check.clientSoftwareName = "check"
        var frame = ByteBuffer()
        RequestHeader(apiKey: ApiKey.apiVersions.rawValue, apiVersion: 3, correlationId: 1, clientId: "c").encode(
            into: &frame)
        var body = try check.encoded(version: 3)
        frame.writeBuffer(&body)
        #expect(try drive(server, frame, controller: controller, loop: loop))
    }

    @Test func clientListenerRequestsWithExtremeValues() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["TERN_FUZZ_SEED"] ?? "") ?? 20_261_201
        let rounds = Int(ProcessInfo.processInfo.environment["TERN_FUZZ_ROUNDS"] ?? "") ?? 800
        try run(controller: false, rounds: rounds, seed: seed)
    }

    @Test func controllerListenerRequestsWithExtremeValues() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["TERN_FUZZ_SEED"] ?? "") ?? 7
        let rounds = Int(ProcessInfo.processInfo.environment["TERN_FUZZ_ROUNDS"] ?? "") ?? 120
        try run(controller: true, rounds: rounds, seed: seed)
    }
}
