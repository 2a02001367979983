extension ServerConfig {
    mutating func unknown(_ key: String, line: Int, source: String) {
        unknownKeys.append((key, line))
        let hint = Self.suggestion(for: key).map { " (did you mean \($0)?)" } ?? ""
        warnings.append("\(source):\(line): unknown configuration '\(key)' ignored\(hint)")
    }

    /// Keys Tern reads, and keys of Kafka's that it accepts without using yet (they belong to
    /// features still to come and are not warned about).
    static let acceptedOnly: Set<String> = [
        "controller.quorum.bootstrap.servers",
        "num.network.threads", "num.io.threads",
        "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "num.recovery.threads.per.data.dir",
        "broker.session.timeout.ms", "broker.heartbeat.interval.ms", "delete.topic.enable",
        // Re-authentication (KIP-368) is not asked of clients: sessions last as long as connections.
        "connections.max.reauth.ms",
        "ssl.keystore.password", "ssl.truststore.password",
        "ssl.protocol",
    ]

    /// Keys the parser reads (its switch's cases), for "did you mean" on a typo.
    static let readKeys: Set<String> = [
        "advertised.listeners", "allow.everyone.if.no.acl.found", "authorizer.class.name",
        "auto.create.topics.enable", "broker.id", "cluster.id", "compression.type", "connections.max.idle.ms",
        "controller.listener.names", "controller.quorum.voters", "default.replication.factor",
        "fetch.max.bytes", "fetch.max.wait.ms", "group.initial.rebalance.delay.ms", "group.max.size",
        "http.listeners", "inter.broker.listener.name", "listener.security.protocol.map", "listeners",
        "log.cleaner.backoff.ms", "log.cleaner.delete.retention.ms", "log.cleaner.enable",
        "log.cleaner.max.compaction.lag.ms", "log.cleaner.min.cleanable.ratio",
        "log.cleaner.min.compaction.lag.ms", "log.cleanup.policy", "log.dir", "log.dirs",
        "log.flush.interval.messages", "log.flush.interval.ms", "log.index.interval.bytes",
        "log.message.timestamp.type", "log.retention.bytes", "log.retention.check.interval.ms",
        "log.retention.hours", "log.retention.minutes", "log.retention.ms", "log.roll.hours", "log.roll.ms",
        "log.segment.bytes", "max.connections", "max.connections.per.ip", "max.incremental.fetch.session.cache.slots",
        "message.max.bytes",
        "metadata.log.max.record.bytes.between.snapshots", "min.insync.replicas", "node.id", "num.partitions",
        "offsets.retention.check.interval.ms", "offsets.retention.minutes", "offsets.topic.num.partitions",
        "offsets.topic.replication.factor", "process.roles", "queued.max.request.bytes", "replica.fetch.wait.max.ms",
        "replica.lag.time.max.ms", "transaction.state.log.num.partitions", "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr", "transaction.max.timeout.ms", "transactional.id.expiration.ms",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms", "sasl.mechanism.controller.protocol",
        "sasl.mechanism.inter.broker.protocol",
        "socket.request.max.bytes", "super.users", "unclean.leader.election.enable", "zookeeper.connect",
        "auto.leader.rebalance.enable", "leader.imbalance.per.broker.percentage",
        "leader.imbalance.check.interval.seconds", "broker.rack", "replica.selector.class",
    ]

    /// The known key closest to a mistyped one (at most two edits, or a third of its length
    /// for long keys), for the "unknown configuration" warning.
    public static func suggestion(for key: String) -> String? {
        let candidates = readKeys.union(acceptedOnly).union(securityKeys)
        let limit = max(2, key.count / 8)
        var best: (key: String, distance: Int)? = nil
        for k in candidates where abs(k.count - key.count) <= limit {
            let d = editDistance(Array(key.utf8), Array(k.utf8), limit: limit)
            guard d <= limit else { continue }
            if let b = best, d > b.distance || (d == b.distance && k > b.key) { continue }
            best = (k, d)
        }
        return best?.key
    }

    /// Levenshtein distance, giving up (returning limit + 1) once every path is past `limit`.
    static func editDistance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        guard a.count <= 200, b.count <= 200 else { return limit + 1 }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = Swift.min(
                    previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            if current.allSatisfy({ $0 > limit }) { return limit + 1 }
            previous = current
        }
        return previous[b.count]
    }

    /// Security keys read per listener (with `listener.name.<listener>.` first).
    static let securityKeys: Set<String> = [
        "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.certificate.chain", "ssl.keystore.key",
        "ssl.key.password", "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.certificates",
        "ssl.client.auth", "ssl.enabled.protocols", "ssl.cipher.suites", "sasl.enabled.mechanisms",
        "sasl.jaas.config", "plain.sasl.jaas.config", "scram-sha-256.sasl.jaas.config",
        "scram-sha-512.sasl.jaas.config", "ssl.endpoint.identification.algorithm", "ssl.principal.mapping.rules",
    ]
}
