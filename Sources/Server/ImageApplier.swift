import Dispatch
import Metadata
import NIOConcurrencyHelpers

/// Hands committed metadata images to the broker on a thread of their own, so that opening
/// thousands of partition logs for a large CreateTopics never holds up the Raft loop (votes,
/// heartbeats and fetches of the metadata quorum). Images that arrive while one is being applied
/// are coalesced: the broker's apply works from the difference to what it has, so only the
/// newest is applied next.
final class ImageApplier: Sendable {
    private let queue = DispatchQueue(label: "tern.metadata-image")
    private struct State {
        var pending: (image: MetadataImage, offset: Int64)?
        var running = false
        var applied: Int64 = -1
        var last: (image: MetadataImage, offset: Int64)?
    }
    private let state = NIOLockedValueBox(State())
    private let apply: @Sendable (MetadataImage) -> Void

    init(apply: @escaping @Sendable (MetadataImage) -> Void) { self.apply = apply }

    /// The metadata offset of the last image the broker finished applying (-1 before the
    /// first): what its heartbeats report, so that the controller unfences it only once its
    /// partitions are open.
    var appliedOffset: Int64 { state.withLockedValue { $0.applied } }

    func submit(_ image: MetadataImage, offset: Int64) {
        let start = state.withLockedValue { s -> Bool in
            s.pending = (image, offset)
            if s.running { return false }
            s.running = true
            return true
        }
        if start { queue.async { self.drain() } }
    }

    /// Applies the last image again (when nothing newer waits): for partitions the broker could
    /// not open before.
    func retry() {
        let start = state.withLockedValue { s -> Bool in
            guard !s.running, s.pending == nil, let last = s.last else { return false }
            s.pending = last
            s.running = true
            return true
        }
        if start { queue.async { self.drain() } }
    }

    private func drain() {
        while true {
            guard
                let next = state.withLockedValue({ s -> (image: MetadataImage, offset: Int64)? in
                    let p = s.pending
                    s.pending = nil
                    if p == nil { s.running = false }
                    return p
                })
            else { return }
            apply(next.image)
            state.withLockedValue {
                $0.applied = max($0.applied, next.offset)
                $0.last = next
            }
        }
    }
}
