import ArgumentParser
import KafkaClient
import KafkaProtocol

struct MetadataQuorum: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata-quorum",
        abstract: "Describe the metadata quorum and change its voters (kafka-metadata-quorum.sh).",
        subcommands: [Describe.self, AddController.self, RemoveController.self]
    )

    /// Kafka's tool takes the connection options before the subcommand.
    @OptionGroup var connection: ConnectionOptions

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the quorum's leader and voters.")

        @ParentCommand var parent: MetadataQuorum
        @Option(name: .customLong("bootstrap-server"), help: "host:port of a broker (also accepted before 'describe').")
        var bootstrapServer: String?
        @Flag(help: "Leader, epoch, high watermark, lag and voters.") var status = false
        @Flag(help: "Each voter's log end offset, lag and fetch times.") var replication = false

        func validate() throws {
            guard status != replication else {
                throw ValidationError("Exactly one of --status or --replication is required.")
            }
        }

        func run() async throws {
            guard let servers = bootstrapServer ?? parent.connection.bootstrapServer else {
                throw ValidationError("Missing required option --bootstrap-server host:port")
            }
            let client = try KafkaClient(
                bootstrapServers: servers, clientId: "metadata-quorum", security: try parent.connection.security())
            do {
                var t = DescribeQuorumRequest.Topic()
                t.topicName = "__cluster_metadata"
                t.partitions = [0]
                var req = DescribeQuorumRequest()
                req.topics = [t]
                let resp = try await client.send(req, as: DescribeQuorumResponse.self, timeoutMs: 10_000)
                guard let p = resp.topics.first?.partitions.first else {
                    throw CLIError("The broker returned no quorum description.")
                }
                if p.leaderId < 0 {
                    throw CLIError(
                        "The metadata quorum has no leader (epoch \(p.leaderEpoch)): fewer than a majority of the \(p.currentVoters.count) voters are reachable. Metadata changes and leader fail-over wait until a majority is back."
                    )
                }
                if status {
                    let md = try await client.metadata(topics: [])
                    let lags = p.currentVoters.filter { $0.replicaId != p.leaderId }.map {
                        max(0, p.highWatermark - $0.logEndOffset)
                    }
                    let now = nowMs()
                    let lagTimes = p.currentVoters.filter { $0.replicaId != p.leaderId && $0.lastCaughtUpTimestamp > 0 }
                        .map {
                            now - $0.lastCaughtUpTimestamp
                        }
                    print("ClusterId:              \(md.clusterId ?? "")")
                    print("LeaderId:               \(p.leaderId)")
                    print("LeaderEpoch:            \(p.leaderEpoch)")
                    print("HighWatermark:          \(p.highWatermark)")
                    print("MaxFollowerLag:         \(lags.max() ?? 0)")
                    print("MaxFollowerLagTimeMs:   \(lagTimes.max() ?? -1)")
                    print(
                        "CurrentVoters:          [\(p.currentVoters.map { String($0.replicaId) }.joined(separator: ","))]"
                    )
                    print(
                        "CurrentObservers:       [\(p.observers.map { String($0.replicaId) }.joined(separator: ","))]")
                } else {
                    let rows =
                        [["NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"]]
                        + p.currentVoters.sorted {
                            ($0.replicaId != p.leaderId ? 1 : 0, $0.replicaId) < (
                                $1.replicaId != p.leaderId ? 1 : 0, $1.replicaId
                            )
                        }.map {
                            [
                                String($0.replicaId), String($0.logEndOffset),
                                String(max(0, p.highWatermark - $0.logEndOffset)),
                                String($0.lastFetchTimestamp), String($0.lastCaughtUpTimestamp),
                                $0.replicaId == p.leaderId ? "Leader" : "Follower",
                            ]
                        }
                        + p.observers.map {
                            [
                                String($0.replicaId), String($0.logEndOffset),
                                String(max(0, p.highWatermark - $0.logEndOffset)), String($0.lastFetchTimestamp),
                                String($0.lastCaughtUpTimestamp), "Observer",
                            ]
                        }
                    let widths = (0..<6).map { i in rows.map { $0[i].count }.max()! + 2 }
                    for row in rows {
                        print(
                            row.enumerated().map { $1 + String(repeating: " ", count: widths[$0] - $1.count) }.joined()
                                .trimmingTrailingSpaces())
                    }
                }
            } catch let e as CLIError {
                printError(e.message)
                await client.close()
                throw ExitCode(1)
            } catch {
                printError("Error while describing the metadata quorum: \(error)")
                await client.close()
                throw ExitCode(1)
            }
            await client.close()
        }
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
