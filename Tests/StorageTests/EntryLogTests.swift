import KafkaProtocol
import Logging
import NIOCore
import Storage
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite struct EntryLogTests {
    let logger = Logger(label: "test")

    func fill(_ log: EntryLog, _ range: Range<Int>, epoch: Int32 = 1) throws {
        for i in range { try log.append(epoch: epoch, payload: Array("entry \(i)".utf8)) }
        try log.sync()
    }

    @Test func entriesSurviveReopeningAndATornTailIsCut() throws {
        let dir = tempDir("entrylog")
        try fill(EntryLog(directory: dir, logger: logger), 0..<10)
        let f = try DataFile(path: dir + "/00000000000000000000.entries", create: false)
        try f.write(Array(repeating: 0xAB, count: 7), at: try f.size())  // a torn frame
        let log = try EntryLog(directory: dir, logger: logger)
        #expect(log.endOffset == 10)
        #expect(log.entries.last.map { String(decoding: $0.payload, as: UTF8.self) } == "entry 9")
    }

    @Test func aSnapshotReplacesTheEntriesBeforeItAcrossRestarts() throws {
        let dir = tempDir("entrylog-snap")
        let log = try EntryLog(directory: dir, logger: logger)
        try fill(log, 0..<10)
        try log.saveSnapshot(endOffset: 6, epoch: 1, payload: [1, 2, 3])
        #expect(log.startOffset == 6 && log.endOffset == 10)
        try fill(log, 10..<12, epoch: 2)
        try log.truncate(to: 11)
        let names = try FileSystem.list(dir).sorted()
        #expect(names.contains("00000000000000000006-0000000001.checkpoint"))
        #expect(names.contains("00000000000000000006.entries"))
        #expect(!names.contains("00000000000000000000.entries"))
        let back = try EntryLog(directory: dir, logger: logger)
        #expect(back.startOffset == 6 && back.endOffset == 11)
        #expect(back.snapshot?.payload == [1, 2, 3] && back.snapshot?.epoch == 1)
        #expect(back.entries.map(\.epoch) == [1, 1, 1, 1, 2])
        #expect(String(decoding: back.entries[0].payload, as: UTF8.self) == "entry 6")
        // A snapshot past the log's end (fetched from a leader) leaves an empty log there.
        try back.saveSnapshot(endOffset: 40, epoch: 3, payload: [9])
        let again = try EntryLog(directory: dir, logger: logger)
        #expect(again.startOffset == 40 && again.endOffset == 40 && again.entries.isEmpty)
        #expect(
            try FileSystem.list(dir).filter { $0.hasSuffix(".checkpoint") } == [
                "00000000000000000040-0000000003.checkpoint"
            ])
    }

    /// A crash after the snapshot was stored but before the log was rewritten: opening finishes
    /// the job. A damaged newer snapshot is skipped for an older readable one.
    @Test func openingFinishesAnInterruptedCompactionAndSkipsDamagedSnapshots() throws {
        let dir = tempDir("entrylog-crash")
        let log = try EntryLog(directory: dir, logger: logger)
        try fill(log, 0..<8)
        // The snapshot file as saveSnapshot writes it, without the rewrite that follows.
        let snap = try DataFile(path: dir + "/00000000000000000005-0000000001.checkpoint")
        var framed = ByteBuffer()
        framed.writeInteger(CRC32C.checksum([7, 7]))
        framed.writeBytes([7, 7])
        try snap.write(framed, at: 0)
        try snap.sync()
        let damaged = try DataFile(path: dir + "/00000000000000000007-0000000001.checkpoint")
        try damaged.write([0, 0, 0, 0, 1], at: 0)
        let back = try EntryLog(directory: dir, logger: logger)
        #expect(back.snapshot?.endOffset == 5 && back.snapshot?.payload == [7, 7])
        #expect(back.startOffset == 5 && back.endOffset == 8)
        #expect(String(decoding: back.entries[0].payload, as: UTF8.self) == "entry 5")
        #expect(try FileSystem.list(dir).filter { $0.hasSuffix(".entries") } == ["00000000000000000005.entries"])
    }

    @Test func aLogThatStartsPastEveryReadableSnapshotIsRefused() throws {
        let dir = tempDir("entrylog-missing")
        let log = try EntryLog(directory: dir, logger: logger)
        try fill(log, 0..<8)
        try log.saveSnapshot(endOffset: 4, epoch: 1, payload: [1])
        try FileSystem.remove(dir + "/00000000000000000004-0000000001.checkpoint")
        #expect(throws: StorageError.self) { try EntryLog(directory: dir, logger: logger) }
    }

    /// Logs written before snapshots existed are one `entries.log` from offset 0.
    @Test func aLogFromBeforeSnapshotsOpensAndCompacts() throws {
        let dir = tempDir("entrylog-legacy")
        try fill(EntryLog(directory: dir, logger: logger), 0..<5)
        try FileSystem.rename(dir + "/00000000000000000000.entries", dir + "/entries.log")
        let log = try EntryLog(directory: dir, logger: logger)
        #expect(log.startOffset == 0 && log.endOffset == 5)
        try fill(log, 5..<6)
        #expect(try EntryLog(directory: dir, logger: logger).endOffset == 6)
        try log.saveSnapshot(endOffset: 3, epoch: 1, payload: [3])
        #expect(!FileSystem.exists(dir + "/entries.log"))
        #expect(try EntryLog(directory: dir, logger: logger).endOffset == 6)
    }
}
