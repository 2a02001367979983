import KafkaProtocol
import NIOCore

extension Broker {
    /// Takes out of `items` (and returns, in order) those `denied` picks.
    static func carve<T>(_ items: inout [T], _ denied: (T) -> Bool) -> [T] {
        let out = items.filter(denied)
        items.removeAll(where: denied)
        return out
    }

    /// The usual handler's answer for what is left of a request (an empty answer when nothing
    /// is), with the refusals added by `add`.
    static func merging<R: KafkaMessage>(
        _ nothingLeft: Bool, on loop: any EventLoop, _ serve: () -> EventLoopFuture<R>,
        add: @escaping @Sendable (inout R) -> Void
    ) -> EventLoopFuture<R> {
        (nothingLeft ? loop.makeSucceededFuture(R()) : serve()).map {
            var r = $0
            add(&r)
            return r
        }
    }
}
