import NIOCore

/// Bytes that stay outside memory until they are sent (a Fetch answer's records in a log
/// segment). The storage layer provides them; the codec only asks their length, or reads them
/// in for an encoder that cannot leave them to the server.
public protocol ExternalBytes: AnyObject, Sendable {
    var length: Int { get }
    /// The bytes, read into memory.
    func read() -> ByteBuffer
}

/// A field's external bytes, as messages hold them: equal only to the same bytes.
public struct FileBytes: Sendable, Equatable {
    public let source: any ExternalBytes
    public init(_ source: any ExternalBytes) { self.source = source }
    public var length: Int { source.length }
    public func read() -> ByteBuffer { source.read() }
    public static func == (a: FileBytes, b: FileBytes) -> Bool { a.source === b.source }
}
