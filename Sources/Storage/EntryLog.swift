import KafkaProtocol
import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The metadata quorum's log on disk, in `<log.dirs>/__cluster_metadata-0/`:
///
/// - `<base>.entries` (20-digit base offset; `entries.log` in logs written before snapshots
///   existed, base 0): `[length u32][epoch i32][crc32c u32][payload]` frames from offset `base`.
///   Opening it checks every frame's CRC and cuts a torn or damaged tail, as segment recovery does.
/// - `<endOffset>-<epoch>.checkpoint` (20 and 10 digits, as Kafka names KRaft snapshots): the
///   state machine at `endOffset`, as `[crc32c u32][payload]`. The newest readable one counts.
///
/// Taking a snapshot writes it first (temporary file, fsync, rename), then rewrites the entries
/// that follow it into a new `<endOffset>.entries` and removes the older files, so a crash at
/// any point leaves either the old log or the snapshot plus the new one. Not thread-safe: the
/// quorum controller owns it on one event loop.
public final class EntryLog {
    public let directory: String
    private var file: DataFile
    private var fileName: String
    private var positions: [Int] = []
    private var size: Int
    private let logger: Logger
    /// The first offset held as an entry: the snapshot's end offset, or 0.
    public private(set) var startOffset: Int64 = 0
    public private(set) var entries: [(epoch: Int32, payload: [UInt8])] = []
    /// The newest snapshot, if any; the entries start where it ends.
    public private(set) var snapshot: (endOffset: Int64, epoch: Int32, payload: [UInt8])?
    static let frameHeader = 12

    public init(directory: String, logger: Logger) throws {
        self.directory = directory
        self.logger = logger
        try FileSystem.makeDirectories(directory)
        let names = try FileSystem.list(directory)
        snapshot = Self.newestSnapshot(directory: directory, names: names, logger: logger)
        let bases = names.compactMap { n -> (Int64, String)? in
            if n == "entries.log" { return (0, n) }
            guard n.hasSuffix(".entries"), let b = Int64(n.dropLast(8)) else { return nil }
            return (b, n)
        }.sorted { $0.0 < $1.0 }
        let (base, name) = bases.last ?? (0, Self.entriesName(0))
        let snapshotEnd = snapshot?.endOffset ?? 0
        guard base <= snapshotEnd else {
            throw StorageError(
                operation:
                    "open metadata log (it starts at offset \(base) but no readable snapshot covers what is before)",
                path: directory + "/" + name, errno: ENOENT)
        }
        file = try DataFile(path: directory + "/" + name)
        fileName = name
        size = 0
        startOffset = base
        try readFrames(name: name)
        if base < snapshotEnd {
            // A snapshot landed but the log was not yet rewritten after it: finish that now.
            try compact(upTo: snapshotEnd, epoch: snapshot!.epoch)
        }
        for (_, old) in bases where old != fileName {
            try FileSystem.remove(directory + "/" + old)
        }
    }

    static func entriesName(_ base: Int64) -> String { pad(base, 20) + ".entries" }
    static func snapshotName(_ end: Int64, _ epoch: Int32) -> String {
        pad(end, 20) + "-" + pad(Int64(epoch), 10) + ".checkpoint"
    }
    static func pad(_ n: Int64, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    private static func newestSnapshot(directory: String, names: [String], logger: Logger) -> (
        endOffset: Int64, epoch: Int32, payload: [UInt8]
    )? {
        let found = names.compactMap { n -> (Int64, Int32, String)? in
            guard n.hasSuffix(".checkpoint") else { return nil }
            let parts = n.dropLast(11).split(separator: "-")
            guard parts.count == 2, let end = Int64(parts[0]), let epoch = Int32(parts[1]) else { return nil }
            return (end, epoch, n)
        }.sorted { $0.0 > $1.0 }
        for (end, epoch, name) in found {
            let path = directory + "/" + name
            do {
                let f = try DataFile(path: path, create: false)
                var b = try f.read(at: 0, length: try f.size())
                guard let crc: UInt32 = b.readInteger(), let payload = b.readBytes(length: b.readableBytes),
                    CRC32C.checksum(payload) == crc
                else {
                    logger.warning("metadata snapshot \(path) is damaged (CRC mismatch); trying an older one")
                    continue
                }
                return (end, epoch, payload)
            } catch {
                logger.warning("metadata snapshot \(path) is unreadable: \(error); trying an older one")
            }
        }
        return nil
    }

    private func readFrames(name: String) throws {
        let total = try file.size()
        var data = try file.read(at: 0, length: total)
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
        size = position
        if position < total {
            logger.warning(
                "metadata log \(directory)/\(name): cut \(total - position) bytes of torn or damaged tail after entry \(startOffset + Int64(entries.count))"
            )
            try file.truncate(to: position)
        }
    }

    public var endOffset: Int64 { startOffset + Int64(entries.count) }

    private static func frame(epoch: Int32, payload: [UInt8]) -> ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: Self.frameHeader + payload.count)
        b.writeInteger(UInt32(payload.count))
        b.writeInteger(epoch)
        b.writeInteger(CRC32C.checksum(payload))
        b.writeBytes(payload)
        return b
    }

    public func append(epoch: Int32, payload: [UInt8]) throws {
        let b = Self.frame(epoch: epoch, payload: payload)
        try file.write(b, at: size)
        positions.append(size)
        size += b.readableBytes
        entries.append((epoch, payload))
    }

    /// Drops the entries at or after `offset` (never those a snapshot stands for).
    public func truncate(to offset: Int64) throws {
        guard offset < endOffset else { return }
        let keep = Int(max(offset, startOffset) - startOffset)
        let cut = positions[keep]
        try file.truncate(to: cut)
        size = cut
        positions.removeLast(positions.count - keep)
        entries.removeLast(entries.count - keep)
    }

    public func sync() throws { try file.sync() }

    /// Stores a snapshot of the state at `endOffset` (taken in `epoch`), then forgets the entries
    /// below it. When the log does not reach `endOffset` (a snapshot fetched from the leader),
    /// every entry goes and the log continues from `endOffset`.
    public func saveSnapshot(endOffset end: Int64, epoch: Int32, payload: [UInt8]) throws {
        let path = directory + "/" + Self.snapshotName(end, epoch)
        let tmp = path + ".tmp"
        try FileSystem.remove(tmp)
        let f = try DataFile(path: tmp)
        var b = ByteBufferAllocator().buffer(capacity: 4 + payload.count)
        b.writeInteger(CRC32C.checksum(payload))
        b.writeBytes(payload)
        try f.write(b, at: 0)
        try f.sync()
        try FileSystem.rename(tmp, path)
        let old = snapshot
        snapshot = (end, epoch, payload)
        try compact(upTo: end, epoch: epoch)
        if let old, old.endOffset != end {
            try FileSystem.remove(directory + "/" + Self.snapshotName(old.endOffset, old.epoch))
        }
    }

    /// Rewrites the log to hold only entries from `offset` on, in a new file named by it.
    private func compact(upTo offset: Int64, epoch: Int32) throws {
        let keep = offset >= startOffset && offset < endOffset ? Array(entries[Int(offset - startOffset)...]) : []
        let name = Self.entriesName(offset)
        let path = directory + "/" + name
        let tmp = path + ".tmp"
        try FileSystem.remove(tmp)
        let f = try DataFile(path: tmp)
        var out = ByteBufferAllocator().buffer(capacity: 0)
        var newPositions: [Int] = []
        for e in keep {
            newPositions.append(out.writerIndex)
            var frame = Self.frame(epoch: e.epoch, payload: e.payload)
            out.writeBuffer(&frame)
        }
        try f.write(out, at: 0)
        try f.sync()
        try FileSystem.rename(tmp, path)
        let oldName = fileName
        file = f
        fileName = name
        if oldName != name { try FileSystem.remove(directory + "/" + oldName) }
        positions = newPositions
        size = out.writerIndex
        entries = keep
        startOffset = offset
    }
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
