import Logging
import Metadata
import NIOConcurrencyHelpers
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

    func apply(upTo hw: Int64) {
        let before = appliedOffset
        defer {
            if appliedOffset > before {
                publishImage()
                snapshotIfDue()
            }
        }
        while appliedOffset < hw, let e = node.log.entry(at: appliedOffset) {
            bytesSinceSnapshot += e.payload.count
            if !e.isControl {
                do {
                    image.apply(try MetadataRecord.decode(e.payload), at: appliedOffset)
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
