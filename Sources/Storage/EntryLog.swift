import KafkaProtocol
import Logging
import NIOCore

/// The metadata quorum's log on disk (`<log.dirs>/__cluster_metadata-0/entries.log`): a
/// sequence of `[length u32][epoch i32][crc32c u32][payload]` frames, offsets counted from 0.
/// Opening it checks every frame's CRC and cuts a torn or damaged tail, as segment recovery does.
/// Not thread-safe: the quorum controller owns it on one event loop.
public final class EntryLog {
    public let directory: String
    private let file: DataFile
    private var positions: [Int] = []
    private var size: Int
    public private(set) var entries: [(epoch: Int32, payload: [UInt8])] = []
    static let frameHeader = 12

    public init(directory: String, logger: Logger) throws {
        self.directory = directory
        try FileSystem.makeDirectories(directory)
        file = try DataFile(path: directory + "/entries.log")
        size = try file.size()
        var data = try file.read(at: 0, length: size)
        var position = 0
        while data.readableBytes >= Self.frameHeader {
            let length = Int(data.getInteger(at: data.readerIndex, as: UInt32.self)!)
            let epoch: Int32 = data.getInteger(at: data.readerIndex + 4)!
            let crc: UInt32 = data.getInteger(at: data.readerIndex + 8)!
            guard data.readableBytes >= Self.frameHeader + length else { break }
            let payload = data.getBytes(at: data.readerIndex + Self.frameHeader, length: length)!
            guard CRC32C.checksum(payload) == crc else { break }
            entries.append((epoch, payload))
            positions.append(position)
            position += Self.frameHeader + length
            data.moveReaderIndex(forwardBy: Self.frameHeader + length)
        }
        if position < size {
            logger.warning(
                "metadata log \(directory)/entries.log: cut \(size - position) bytes of torn or damaged tail after entry \(entries.count)"
            )
            try file.truncate(to: position)
            size = position
        }
    }

    public var endOffset: Int64 { Int64(entries.count) }

    public func append(epoch: Int32, payload: [UInt8]) throws {
        var b = ByteBufferAllocator().buffer(capacity: Self.frameHeader + payload.count)
        b.writeInteger(UInt32(payload.count))
        b.writeInteger(epoch)
        b.writeInteger(CRC32C.checksum(payload))
        b.writeBytes(payload)
        try file.write(b, at: size)
        positions.append(size)
        size += b.readableBytes
        entries.append((epoch, payload))
    }

    public func truncate(to offset: Int64) throws {
        guard offset < endOffset else { return }
        let cut = positions[Int(offset)]
        try file.truncate(to: cut)
        size = cut
        positions.removeLast(positions.count - Int(offset))
        entries.removeLast(entries.count - Int(offset))
    }

    public func sync() throws { try file.sync() }
}

/// `<log.dirs>/__cluster_metadata-0/quorum-state`: epoch, voted-for and leader, replaced
/// atomically before any message that depends on it is sent.
public enum QuorumStateFile {
    public static func load(directory: String) throws -> (epoch: Int32, votedFor: Int32?, leaderId: Int32?)? {
        let path = directory + "/quorum-state"
        guard FileSystem.exists(path) else { return nil }
        var values: [String: String] = [:]
        for line in try FileSystem.readText(path).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        guard let epoch = values["epoch"].flatMap(Int32.init) else { return nil }
        return (epoch, values["votedFor"].flatMap(Int32.init), values["leaderId"].flatMap(Int32.init))
    }

    public static func save(directory: String, epoch: Int32, votedFor: Int32?, leaderId: Int32?) throws {
        let text =
            "epoch=\(epoch)\nvotedFor=\(votedFor.map(String.init) ?? "")\nleaderId=\(leaderId.map(String.init) ?? "")\n"
        try FileSystem.writeTextAtomically(text, to: directory + "/quorum-state")
    }
}
