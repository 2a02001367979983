import Logging
import Metadata
import NIOConcurrencyHelpers
import NIOCore
import Raft
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension QuorumController {
    /// Makes the image (and the offset it stands at) visible to the broker and other threads.
    private func publishImage() {
        let applied = appliedOffset - 1
        appliedSnapshot.withLockedValue { $0 = applied }
        let img = image
        imageBox.withLockedValue { $0 = img }
        completeCommitted(upTo: appliedOffset)
        onImageChange.withLockedValue { $0 }?(img)
    }

    /// A snapshot fetched from the leader replaces the log and the image.
    func install(_ snap: RaftSnapshot) throws {
        let restored = try MetadataImage(snapshot: snap.payload)
        try log.saveSnapshot(endOffset: snap.endOffset, epoch: snap.epoch, payload: snap.framed)
        image = restored
        appliedOffset = snap.endOffset
        bytesSinceSnapshot = 0
        logger.info(
            "installed the leader's metadata snapshot at offset \(snap.endOffset) (epoch \(snap.epoch), \(snap.payload.count) bytes): \(image.topics.count) topics, \(image.brokers.count) brokers"
        )
        publishImage()
    }

    /// Snapshots the image once enough has been applied since the last snapshot, and drops the
    /// log entries it stands for. The snapshot is on disk before they go.
    private func snapshotIfDue() {
        guard bytesSinceSnapshot >= snapshotEveryBytes, appliedOffset > node.log.startOffset,
            let epoch = node.log.epoch(at: appliedOffset - 1)
        else { return }
        let payload: [UInt8]
        do {
            payload = try image.snapshotBytes()
            // Stored with the voters in force there, as Raft keeps it.
            let stored = RaftSnapshot(
                endOffset: appliedOffset, epoch: epoch, payload: payload, voters: node.snapshotVoters(at: appliedOffset)
            )
            try log.saveSnapshot(endOffset: appliedOffset, epoch: epoch, payload: stored.framed)
        } catch {
            logger.error("could not write the metadata snapshot at offset \(appliedOffset): \(error)")
            return
        }
        node.takeSnapshot(upTo: appliedOffset, payload: payload)
        logger.info(
            "metadata snapshot at offset \(appliedOffset) (epoch \(epoch), \(payload.count) bytes) after \(bytesSinceSnapshot) bytes of records; log now starts there"
        )
        bytesSinceSnapshot = 0
    }

    /// Warns when one piece of work held the Raft loop for a second or more: meanwhile the quorum
    /// answers no one, and at the fetch timeout (2 s) a leader resigns and followers elect.
    func noteBusy(since started: NIODeadline, _ what: @autoclosure () -> String) {
        let ms = (clock.now - started).nanoseconds / 1_000_000
        if ms >= 1_000 { logger.warning("the metadata quorum's loop was held \(ms) ms by \(what())") }
    }

    /// The work one turn of the Raft loop applies: an entry costs 1, a new partition (a log to
    /// open on each of its replicas, which the broker does on this loop as it takes the image)
    /// costs 8, so a turn holds at most 64 new partitions or 512 other entries. A burst (a
    /// 10,000-partition topic, a failed broker's partition changes) is applied in steps, with
    /// the quorum's own messages and sockets handled between them.
    static let applyBudgetPerTurn = 512

    func apply(upTo hw: Int64) {
        // One chain of steps at a time: a step started by each commit would add up to the
        // whole burst again, back to back.
        guard !applyStepScheduled else { return }
        let before = appliedOffset
        var budget = Self.applyBudgetPerTurn
        let started = clock.now
        defer {
            if appliedOffset > before {
                publishImage()
                snapshotIfDue()
                noteBusy(since: started, "applying \(appliedOffset - before) committed record(s)")
            }
            if appliedOffset < hw && budget <= 0 && !background.isStopping {
                // Not `execute`: NIO runs tasks queued by a task before it looks at the sockets
                // again, so the whole burst would hold the loop (a leader busy 5 s with 10,000
                // opens missed its check-quorum and resigned). A task due later yields first.
                applyStepScheduled = true
                loop.scheduleTask(in: .milliseconds(1)) { [self] in
                    applyStepScheduled = false
                    apply(upTo: max(hw, node.highWatermark))
                    settleVoterChanges()
                }
            }
        }
        while appliedOffset < hw, budget > 0, let e = node.log.entry(at: appliedOffset) {
            bytesSinceSnapshot += e.payload.count
            budget -= 1
            if !e.isControl {
                do {
                    let record = try MetadataRecord.decode(e.payload)
                    if case .partition = record { budget -= 7 }
                    image.apply(record, at: appliedOffset)
                } catch {
                    // Applying the rest without it would leave this node with another image than
                    // its peers: stop instead, loudly.
                    logger.critical(
                        "committed metadata record at offset \(appliedOffset) (epoch \(e.epoch)) in \(directory) is unreadable: \(error). Stopping: this node cannot apply the metadata log past it. It was written by another version of Tern or damaged before it was committed; start this node with the Tern version that wrote it, or move this node's __cluster_metadata-0 aside so that it fetches the log (or a snapshot) again from the quorum leader."
                    )
                    exit(70)  // EX_SOFTWARE
                }
            }
            appliedOffset += 1
        }
    }
}
