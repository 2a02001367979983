/// The broker configs IncrementalAlterConfigs (and AlterConfigs) may set while brokers run,
/// per broker or as the cluster-wide default: the replication throttles, which act
/// (`ReplicationThrottle`), and the Kafka 3.9 dynamic configs of features Tern does not have or
/// does not size that way (Kerberos and OAuth logins, thread pools, the cleaner's buffers),
/// which are stored and described but change nothing, as admin tools and librdkafka's tests
/// expect them to be accepted. Dynamic configs that would change what Tern does (log defaults,
/// TLS stores, connection limits) are refused with the way to set them instead.
public enum DynamicBrokerConfigs {
    /// The longest value stored for a reported-only config.
    public static let maxValueBytes = 1_024

    public static let reportedOnly: Set<String> = [
        "background.threads", "log.cleaner.dedupe.buffer.size", "log.cleaner.io.buffer.load.factor",
        "log.cleaner.io.buffer.size", "log.cleaner.io.max.bytes.per.second", "log.cleaner.threads",
        "metric.reporters", "num.io.threads", "num.network.threads", "num.recovery.threads.per.data.dir",
        "num.replica.fetchers", "sasl.kerberos.kinit.cmd", "sasl.kerberos.min.time.before.relogin",
        "sasl.kerberos.principal.to.local.rules", "sasl.kerberos.service.name", "sasl.kerberos.ticket.renew.jitter",
        "sasl.kerberos.ticket.renew.window.factor", "sasl.login.refresh.buffer.seconds",
        "sasl.login.refresh.min.period.seconds", "sasl.login.refresh.window.factor",
        "sasl.login.refresh.window.jitter",
    ]

    /// Every name that may be set, with its value check.
    public static let all: [String: @Sendable (String) -> Bool] = {
        var checks = ReplicationThrottle.dynamicBrokerConfigs
        for name in reportedOnly { checks[name] = { $0.utf8.count <= maxValueBytes } }
        return checks
    }()
}
