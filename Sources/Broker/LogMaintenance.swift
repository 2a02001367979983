import Dispatch
import Logging
import NIOConcurrencyHelpers
import Storage

/// The broker's background work on its logs, off the event loops on one serial queue:
/// retention (`log.retention.check.interval.ms`), the log cleaner for compacted topics
/// (`log.cleaner.backoff.ms`) and time-based flushes (`flush.ms`), each partition in turn, then
/// one sync of the `partition.metadata` files of new replicas and the high watermarks of all
/// partitions in one checkpoint file (every tick, at most a second apart, when any moved).
final class LogMaintenance: Sendable {
    private let registry: PartitionRegistry
    private let config: BrokerConfig
    private let logger: Logger
    private var clock: any TernClock { registry.clock }
    private let queue = DispatchQueue(label: "tern.log-maintenance")
    private let state = NIOLockedValueBox((running: true, nextRetention: Int64(0), nextClean: Int64(0)))

    init(registry: PartitionRegistry, config: BrokerConfig, logger: Logger) {
        self.registry = registry
        self.config = config
        self.logger = logger
    }

    /// Milliseconds between checks: often enough for the shortest interval configured.
    private var tickMs: Int {
        Int(max(10, min(1_000, config.logRetentionCheckIntervalMs, config.logCleanerBackoffMs)))
    }

    func start() {
        let now = clock.wallMs
        state.withLockedValue {
            $0.nextRetention = now + config.logRetentionCheckIntervalMs
            $0.nextClean = now + config.logCleanerBackoffMs
        }
        schedule()
    }

    func stop() { state.withLockedValue { $0.running = false } }

    /// Stops and returns once a pass under way has finished (no log is touched after this).
    func stopAndWait() async {
        stop()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in queue.async { done.resume() } }
    }

    private func schedule() {
        queue.asyncAfter(deadline: .now() + .milliseconds(tickMs)) { [self] in
            guard state.withLockedValue({ $0.running }) else { return }
            runOnce(nowMs: clock.wallMs)
            schedule()
        }
    }

    /// One round of whatever is due.
    func runOnce(nowMs now: Int64) {
        let (retentionDue, cleanDue) = state.withLockedValue { s -> (Bool, Bool) in
            let r = now >= s.nextRetention
            let c = now >= s.nextClean
            if r { s.nextRetention = now + config.logRetentionCheckIntervalMs }
            if c { s.nextClean = now + config.logCleanerBackoffMs }
            return (r, c)
        }
        for p in registry.all() {
            let name = "\(p.topic)-\(p.index)"
            do {
                if retentionDue, let d = try p.log.applyRetention(nowMs: now) {
                    logger.info(
                        "\(name): deleted \(d.segments) segment(s), \(d.bytes) bytes, by \(d.reason); log start offset is now \(d.logStartOffset)"
                    )
                }
                if cleanDue && config.logCleanerEnable, let c = try p.log.compact(nowMs: now), c.segmentsRewritten > 0 {
                    logger.info(
                        "\(name): compacted \(c.segmentsRewritten) segment(s), \(c.recordsRemoved) record(s) removed, \(c.bytesBefore) → \(c.bytesAfter) bytes"
                    )
                }
                try p.log.flushIfDue(nowMs: now)
            } catch {
                logger.error("\(name): log maintenance failed: \(error)")
            }
        }
        do {
            try registry.syncNewMetadataFiles()
            try registry.checkpointHighWatermarks()
        } catch {
            logger.error("cannot checkpoint high watermarks or sync new partition.metadata files: \(error)")
        }
    }
}
