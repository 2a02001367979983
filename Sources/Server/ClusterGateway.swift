import Broker
import KafkaClient
import KafkaProtocol
import Metadata
import NIOCore

/// The broker's way to the active controller: in-process when this node leads the quorum,
/// otherwise over the leader's CONTROLLER listener on the control lane. After a forwarded
/// change it waits (briefly) for this node's own image to show it, so the client's next
/// Metadata request here already sees the new topic.
final class ClusterGateway: ControllerGateway {
    let quorum: QuorumController
    /// Forwarding failures: at most one line a second per node, the rest counted.
    static let failures = LogLimiter(perSecond: 1)

    init(quorum: QuorumController) { self.quorum = quorum }

    var activeControllerId: Int32? { quorum.leaderId }

    /// Sends to the active controller; while there is none, or it cannot be reached (it just
    /// died and the quorum is electing another), tries again with whichever node leads next.
    /// The whole forward is bounded at 15 s, under the 20-30 s that clients wait, so a client
    /// gets an answer (REQUEST_TIMED_OUT at worst) rather than silence; a connection that timed
    /// out is closed, so the next attempt does not queue behind whatever it was stuck on.
    private func route<Response: KafkaMessage>(
        _ request: some KafkaMessage, local: @escaping @Sendable () -> EventLoopFuture<Response>, as: Response.Type,
        settled: @escaping @Sendable (MetadataImage) -> Bool
    ) -> EventLoopFuture<Response> {
        let loop = quorum.loop
        if let leader = quorum.leaderId, leader == quorum.id { return local() }
        let promise = loop.makePromise(of: Response.self)
        let quorum = self.quorum
        let clock = quorum.clock
        let forward: @Sendable () async throws -> Response = {
            let started = clock.now
            let giveUp = started + .seconds(15)
            var lastError: any Error = ControllerError(.notController, "the metadata quorum has no leader")
            var backoff = ExponentialBackoff(initialMs: 100, maxMs: 2_000)
            while clock.now < giveUp {
                guard let leader = quorum.leaderId else {
                    try await Task.sleep(nanoseconds: 100_000_000)
                    continue
                }
                if leader == quorum.id { return try await local().get() }
                let remainingMs = Int(max(100, (giveUp - clock.now).nanoseconds / 1_000_000))
                let response: Response
                do {
                    let c = try await quorum.connection(to: leader, lane: .control)
                    response = try await c.send(request, as: Response.self, timeoutMs: min(remainingMs, 8_000))
                } catch {
                    // Every forward of every partition retries on its own: the waits grow
                    // (KIP-580) and the lines about them are few, whatever the number.
                    let waitMs = backoff.next()
                    Self.failures.warn(
                        quorum.logger,
                        "\(Swift.type(of: request).apiKey) forwarded to the active controller \(leader) failed: \(error); trying again in \(waitMs) ms"
                    )
                    quorum.dropConnection(to: leader, lane: .control)
                    lastError = error
                    try await Task.sleep(nanoseconds: UInt64(waitMs) * 1_000_000)
                    continue
                }
                let took = (clock.now - started).nanoseconds / 1_000_000
                if took > 5000 {
                    quorum.logger.warning(
                        "\(Swift.type(of: request).apiKey) forwarded to the active controller \(leader) took \(took) ms"
                    )
                }
                let deadline = min(clock.now + .seconds(3), giveUp + .seconds(1))
                while !settled(quorum.imageSnapshot) && clock.now < deadline {
                    try await Task.sleep(nanoseconds: 10_000_000)
                }
                return response
            }
            throw lastError
        }
        let started = quorum.background.run {
            do { promise.succeed(try await forward()) } catch { promise.fail(error) }
        }
        if !started { promise.fail(ControllerError(.notController, "node \(quorum.id) is stopping")) }
        return promise.futureResult
    }

    func createTopics(_ request: CreateTopicsRequest) -> EventLoopFuture<CreateTopicsResponse> {
        let names = request.validateOnly ? [] : request.topics.map(\.name)
        return route(request, local: { [quorum] in quorum.createTopics(request) }, as: CreateTopicsResponse.self) {
            image in
            names.allSatisfy { image.topics[$0] != nil }
        }
    }

    func deleteTopics(_ request: DeleteTopicsRequest) -> EventLoopFuture<DeleteTopicsResponse> {
        let names = request.topics.compactMap(\.name)
        return route(request, local: { [quorum] in quorum.deleteTopics(request) }, as: DeleteTopicsResponse.self) {
            image in
            names.allSatisfy { image.topics[$0] == nil }
        }
    }

    func alterPartition(_ request: AlterPartitionRequest) -> EventLoopFuture<AlterPartitionResponse> {
        route(request, local: { [quorum] in quorum.alterPartition(request) }, as: AlterPartitionResponse.self) { _ in
            true
        }
    }

    func alterUserScramCredentials(_ request: AlterUserScramCredentialsRequest) -> EventLoopFuture<
        AlterUserScramCredentialsResponse
    > {
        route(
            request, local: { [quorum] in quorum.alterUserScramCredentials(request) },
            as: AlterUserScramCredentialsResponse.self
        ) { image in
            // Settled once this node's image shows each change (a refused one holds it at most
            // the few seconds route allows), so a describe here right after sees them all.
            request.upsertions.allSatisfy {
                image.scramCredentials[$0.name]?[$0.mechanism]?.salt == Array($0.salt.readableBytesView)
            } && request.deletions.allSatisfy { image.scramCredentials[$0.name]?[$0.mechanism] == nil }
        }
    }

    func createAcls(_ request: CreateAclsRequest) -> EventLoopFuture<CreateAclsResponse> {
        // Settled once this node's image holds every ACL the request could create.
        let wanted = request.creations.filter { $0.invalidReason == nil }
        return route(request, local: { [quorum] in quorum.createAcls(request) }, as: CreateAclsResponse.self) {
            image in
            wanted.allSatisfy { image.acls.all.contains($0) }
        }
    }

    func deleteAcls(_ request: DeleteAclsRequest) -> EventLoopFuture<DeleteAclsResponse> {
        let filters = request.filters.filter { $0.invalidReason == nil }
        return route(request, local: { [quorum] in quorum.deleteAcls(request) }, as: DeleteAclsResponse.self) {
            image in
            filters.allSatisfy { f in !image.acls.candidates(for: f).contains(where: f.matches) }
        }
    }

    func createPartitions(_ request: CreatePartitionsRequest) -> EventLoopFuture<CreatePartitionsResponse> {
        route(request, local: { [quorum] in quorum.createPartitions(request) }, as: CreatePartitionsResponse.self) {
            _ in true
        }
    }

    func electLeaders(_ request: ElectLeadersRequest) -> EventLoopFuture<ElectLeadersResponse> {
        route(request, local: { [quorum] in quorum.electLeaders(request) }, as: ElectLeadersResponse.self) { _ in true }
    }

    func alterPartitionReassignments(_ request: AlterPartitionReassignmentsRequest) -> EventLoopFuture<
        AlterPartitionReassignmentsResponse
    > {
        route(
            request, local: { [quorum] in quorum.alterPartitionReassignments(request) },
            as: AlterPartitionReassignmentsResponse.self
        ) { _ in true }
    }

    func unregisterBroker(_ request: UnregisterBrokerRequest) -> EventLoopFuture<UnregisterBrokerResponse> {
        route(request, local: { [quorum] in quorum.unregisterBroker(request) }, as: UnregisterBrokerResponse.self) {
            _ in true
        }
    }

    func addRaftVoter(_ request: AddRaftVoterRequest) -> EventLoopFuture<AddRaftVoterResponse> {
        route(request, local: { [quorum] in quorum.addRaftVoter(request) }, as: AddRaftVoterResponse.self) { _ in true }
    }

    func removeRaftVoter(_ request: RemoveRaftVoterRequest) -> EventLoopFuture<RemoveRaftVoterResponse> {
        route(request, local: { [quorum] in quorum.removeRaftVoter(request) }, as: RemoveRaftVoterResponse.self) {
            _ in true
        }
    }

    func listPartitionReassignments(_ request: ListPartitionReassignmentsRequest) -> EventLoopFuture<
        ListPartitionReassignmentsResponse
    > {
        route(
            request, local: { [quorum] in quorum.listPartitionReassignments(request) },
            as: ListPartitionReassignmentsResponse.self
        ) { _ in true }
    }

    func incrementalAlterConfigs(_ request: IncrementalAlterConfigsRequest) -> EventLoopFuture<
        IncrementalAlterConfigsResponse
    > {
        // Settled once this node's image shows every plain SET and DELETE.
        let expected =
            request.validateOnly
            ? []
            : request.resources.flatMap { r in
                r.configs.compactMap { c -> (String, String, String?)? in
                    switch IncrementalAlterConfigsRequest.Operation(rawValue: c.operation) {
                    case .set: return (r.resourceName, c.name, c.value)
                    case .delete: return (r.resourceName, c.name, nil)
                    default: return nil
                    }
                }
            }
        return route(
            request, local: { [quorum] in quorum.incrementalAlterConfigs(request) },
            as: IncrementalAlterConfigsResponse.self
        ) { image in
            expected.allSatisfy { t, k, v in image.topics[t] == nil || image.topics[t]?.configs[k] == v }
        }
    }
}
