import Broker
import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import Security
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns frames into broker calls and writes the answers back in request order, as Kafka's
/// protocol requires, even when a later request (a Produce) is answered before an earlier one
/// (a waiting Fetch). When too many answers are outstanding, reading pauses.
final class RequestHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = IOData

    private struct Slot {
        var header: ByteBuffer?
        var body: ResponseBody?
        var ready: Bool
        /// Bytes of the request frame, held against `queued.max.request.bytes` until answered.
        var size: Int
        /// The connection closes once this answer is written (a failed SASL authentication).
        var closeAfter = false
    }

    typealias Handle = @Sendable (RequestHeader, ByteBuffer, any EventLoop, Session) -> EventLoopFuture<ResponseBody?>
    private let handle: Handle
    private let logger: Logger
    private let maxInFlight: Int
    private var slots: [Slot] = []
    private var firstSequence = 0
    private var readPending = false
    private var closed = false

    private let metrics: BrokerMetrics?
    /// Times each request for the metrics.
    private let clock: any TernClock
    /// Connections closed for bad input are logged at most a few a second, whoever sends them.
    static let limiter = LogLimiter()

    private let memory: ConnectionMemory?
    private var retryRead: Scheduled<Void>?
    /// On SASL listeners: what this connection may send before it has authenticated.
    private let sasl: SaslGate?
    /// False on TLS connections: the bytes must pass through the TLS handler, so file slices
    /// are read into memory instead of sent from the file.
    private let sendfile: Bool
    /// Who this connection is once known: the SASL user, else the client certificate's subject
    /// (Kafka's DEFAULT principal mapping), else User:ANONYMOUS.
    private var certificatePrincipal: CertificatePrincipal = .unread
    private let principalMapping: PrincipalMapping
    /// This connection's number in the process: its fetch sessions belong to it.
    private let connection = RequestHandler.numbers.withLockedValue { n -> UInt64 in
        n &+= 1
        return n
    }
    private static let numbers = NIOLockedValueBox<UInt64>(0)
    /// Told when the connection is gone (its fetch session ends).
    private let onClose: (@Sendable (UInt64) -> Void)?

    private enum CertificatePrincipal {
        case unread
        case none
        case user(String)
        /// No `ssl.principal.mapping.rules` rule names this subject: Kafka refuses the connection.
        case unmapped(String)
    }

    init(
        handle: @escaping Handle, logger: Logger, maxInFlight: Int, metrics: BrokerMetrics? = nil,
        memory: ConnectionMemory? = nil, sasl: SaslGate? = nil, sendfile: Bool = true,
        principalMapping: PrincipalMapping = .standard, clock: any TernClock = SystemClock(),
        onClose: (@Sendable (UInt64) -> Void)? = nil
    ) {
        self.onClose = onClose
        self.clock = clock
        self.principalMapping = principalMapping
        self.sasl = sasl
        self.sendfile = sendfile
        self.memory = memory
        self.metrics = metrics
        self.handle = handle
        self.logger = logger
        self.maxInFlight = maxInFlight
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        let frame = unwrapInboundIn(data)
        if let sasl, sasl.expectsRawToken {
            // After SaslHandshake v0 the token comes as a bare length-prefixed frame.
            memory?.give(frame.readableBytes + 4)
            switch sasl.rawToken(frame) {
            case .answer(let b):
                if sasl.principal != nil { metrics?.authenticated(true) }
                context.writeAndFlush(wrapOutboundOut(.byteBuffer(b)), promise: nil)
            case .close(let why):
                metrics?.authenticated(false)
                fail(context, why)
            case .pass, .answerThenClose: fail(context, "unexpected SASL state")
            }
            return
        }
        var reader = KafkaReader(frame)
        let header: RequestHeader
        do {
            header = try RequestHeader.decode(from: &reader)
        } catch {
            fail(context, "unreadable request header: \(error)")
            return
        }
        var future: EventLoopFuture<ResponseBody?>? = nil
        var closeAfter = false
        if let sasl {
            let before = sasl.principal
            switch sasl.filter(header, reader.buffer) {
            case .pass: break
            case .answer(let b):
                if before == nil && sasl.principal != nil { metrics?.authenticated(true) }
                future = context.eventLoop.makeSucceededFuture(ResponseBody(bytes: b))
            case .answerThenClose(let b):
                metrics?.authenticated(false)
                future = context.eventLoop.makeSucceededFuture(ResponseBody(bytes: b))
                closeAfter = true
            case .close(let why):
                fail(context, why)
                return
            }
        }
        let answer: EventLoopFuture<ResponseBody?>
        if let future {
            answer = future
        } else {
            switch session(context) {
            case .success(let who): answer = handle(header, reader.buffer, context.eventLoop, who)
            case .failure(let refusal):
                fail(context, refusal.why)
                return
            }
        }
        let sequence = firstSequence + slots.count
        let size = frame.readableBytes + 4  // taken from the connection's memory as it was read
        slots.append(Slot(header: nil, body: nil, ready: false, size: size, closeAfter: closeAfter))
        let api = ApiKey(rawValue: header.apiKey)
        let arrived = clock.monotonicNs
        metrics?.requestArrived()
        answer.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let body):
                metrics?.recordRequest(
                    header.apiKey, nanoseconds: Int64(clamping: clock.monotonicNs &- arrived), bytes: size)
                complete(context, sequence, header: header, api: api, body: body)
            case .failure(let error):
                metrics?.requestAbandoned()
                fail(
                    context,
                    "request \(api.map { "\($0)" } ?? "key \(header.apiKey)") v\(header.apiVersion) (correlation id \(header.correlationId)): \(error)"
                )
            }
        }
    }

    /// Who sends this connection's requests; a refusal when the client certificate's subject
    /// has no name under the listener's `ssl.principal.mapping.rules`.
    private func session(_ context: ChannelHandlerContext) -> Result<Session, Refusal> {
        let host = context.channel.remoteAddress?.ipAddress ?? ""
        if let user = sasl?.principal { return .success(Session(principal: user, host: host, connection: connection)) }
        if case .unread = certificatePrincipal {
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            let der = (try? tls?.peerCertificate?.toDERBytes()) ?? nil
            if let subject = der.flatMap({ X500Name.subject(ofCertificateDER: $0) }) {
                certificatePrincipal =
                    principalMapping.name(for: subject).map { .user("User:\($0)") } ?? .unmapped(subject)
            } else {
                certificatePrincipal = .none
            }
        }
        switch certificatePrincipal {
        case .user(let name): return .success(Session(principal: name, host: host, connection: connection))
        case .unmapped(let subject):
            return .failure(
                Refusal(why: "no ssl.principal.mapping.rules rule names the client certificate's subject \(subject)"))
        case .none, .unread: return .success(Session(principal: Session.anonymous, host: host, connection: connection))
        }
    }

    struct Refusal: Error { let why: String }

    private func complete(
        _ context: ChannelHandlerContext, _ sequence: Int, header: RequestHeader, api: ApiKey?, body: ResponseBody?
    ) {
        guard !closed, sequence >= firstSequence, sequence - firstSequence < slots.count else { return }
        let pending = slots[sequence - firstSequence]
        var slot = Slot(header: nil, body: body, ready: true, size: pending.size, closeAfter: pending.closeAfter)
        if let body, body.length > Int(Int32.max) - 16 {
            // Bounds on every response make this unreachable; were one missed, the client loses
            // its connection and the broker goes on.
            fail(
                context,
                "response to \(api.map { "\($0)" } ?? "key \(header.apiKey)") of \(body.length) bytes does not fit a frame"
            )
            return
        }
        if let body {
            var h = context.channel.allocator.buffer(capacity: 9)
            h.writeInteger(Int32(0))  // length, set below
            h.writeInteger(header.correlationId)
            // ApiVersions always uses response header v0, whatever version was asked.
            if let api, api != .apiVersions, api.supported.contains(header.apiVersion),
                api.isFlexible(header.apiVersion)
            {
                h.writeInteger(UInt8(0))  // empty tagged fields
            }
            h.setInteger(Int32(h.readableBytes - 4 + body.length), at: h.readerIndex)
            slot.header = h
        }
        slots[sequence - firstSequence] = slot
        var wrote = false
        while let first = slots.first, first.ready {
            if first.closeAfter, let h = first.header, let b = first.body {
                // The last answer on this connection: close once it is on the wire.
                closed = true
                context.write(wrapOutboundOut(.byteBuffer(h)), promise: nil)
                let sent = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(wrapOutboundOut(.byteBuffer(b.bytes)), promise: sent)
                let channel = context.channel
                sent.futureResult.whenComplete { _ in channel.close(promise: nil) }
                memory?.give(first.size)
                slots.removeAll()
                return
            }
            if let h = first.header, let b = first.body {
                context.write(wrapOutboundOut(.byteBuffer(h)), promise: nil)
                write(b, context)
                wrote = true
            }
            memory?.give(first.size)
            slots.removeFirst()
            firstSequence += 1
        }
        if wrote { context.flush() }
        if readPending && mayRead {
            readPending = false
            context.read()
        }
    }

    /// Reading goes on while this connection has room for answers and the node's request memory
    /// is not used up.
    private var mayRead: Bool {
        slots.count < maxInFlight && !(memory?.pool.isExhausted ?? false) && writable
    }
    /// False while the socket's send buffer and NIO's queue are past the write high watermark: a
    /// client that does not read its answers gets no more requests read, so their answers cannot
    /// pile up in memory (a slow-reader flood).
    private var writable = true

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable && readPending && mayRead {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Requests never answered (the connection closed): ReadAccounting gives their memory back.
        closed = true
        slots.removeAll()
        retryRead?.cancel()
        onClose?(connection)
    }

    /// Writes a body: its bytes, with each file slice sent from the file (sendfile) at its place.
    private func write(_ body: ResponseBody, _ context: ChannelHandlerContext) {
        var cursor = body.bytes.readerIndex
        for (at, slice) in body.files {
            if at > cursor {
                context.write(
                    wrapOutboundOut(.byteBuffer(body.bytes.getSlice(at: cursor, length: at - cursor)!)), promise: nil)
            }
            cursor = at
            let file = slice.source as? FileSlice
            let fd = sendfile ? file.map { dup($0.descriptor) } ?? -1 : -1
            guard let file, fd >= 0 else {
                // TLS, or out of descriptors: send the bytes through memory instead.
                context.write(wrapOutboundOut(.byteBuffer(slice.read())), promise: nil)
                continue
            }
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
            let region = FileRegion(
                fileHandle: handle, readerIndex: file.position, endIndex: file.position + file.length)
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { _ in try? handle.close() }
            context.write(wrapOutboundOut(.fileRegion(region)), promise: written)
        }
        if body.bytes.writerIndex > cursor {
            context.write(
                wrapOutboundOut(.byteBuffer(body.bytes.getSlice(at: cursor, length: body.bytes.writerIndex - cursor)!)),
                promise: nil)
        }
    }

    func read(context: ChannelHandlerContext) {
        if mayRead {
            context.read()
            return
        }
        readPending = true
        // Memory freed by other connections sends no event here: look again shortly.
        if memory?.pool.isExhausted == true, retryRead == nil {
            retryRead = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(10)) { [self] in
                retryRead = nil
                if readPending && !closed {
                    readPending = false
                    read(context: context)
                }
            }
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ why: String) {
        guard !closed else { return }
        closed = true
        metrics?.requestFailed()
        Self.limiter.warn(logger, "closing connection from \(context.remoteAddress.map { "\($0)" } ?? "?"): \(why)")
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is FrameDecoder.FrameTooLarge || error is ByteToMessageDecoderError {
            fail(context, "\(error)")
        } else if !closed {
            logger.debug("connection error: \(error)")
            closed = true
            context.close(promise: nil)
        }
    }
}
