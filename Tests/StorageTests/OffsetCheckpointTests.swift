import Storage
import Testing

/// The directory's high-watermark checkpoint: Kafka's `replication-offset-checkpoint` text, and
/// every kind of damaged or hostile file refused with the line that is wrong.
@Suite struct OffsetCheckpointTests {
    typealias Key = OffsetCheckpoint.Key

    @Test func writesKafkasFormatInPartitionOrder() throws {
        let entries: [Key: Int64] = [Key("orders", 10): 7, Key("orders", 2): 0, Key("__consumer_offsets", 49): 12]
        let text = OffsetCheckpoint.format(entries)
        #expect(text == "0\n3\n__consumer_offsets 49 12\norders 2 0\norders 10 7\n")
        #expect(try OffsetCheckpoint.parse(text) == entries)
        #expect(OffsetCheckpoint.format([:]) == "0\n0\n")
        #expect(try OffsetCheckpoint.parse("0\n0\n").isEmpty)
        // Extremes: the longest name, the largest partition and offset.
        let long = String(repeating: "a", count: 249)
        let edge: [Key: Int64] = [Key(long, .max): .max, Key("t.-_X9", 0): 0]
        #expect(try OffsetCheckpoint.parse(OffsetCheckpoint.format(edge)) == edge)
        // A last line without its newline is read too.
        #expect(try OffsetCheckpoint.parse("0\n1\nt 0 5") == [Key("t", 0): 5])
    }

    @Test func refusesDamagedAndHostileFilesNamingTheLine() {
        func line(_ text: String) -> Int? {
            do {
                _ = try OffsetCheckpoint.parse(text)
                return nil
            } catch {
                return error.line
            }
        }
        #expect(line("") == 1)
        #expect(line("0\n") == 2)
        #expect(line("1\n0\n") == 1)
        #expect(line("0\n-1\n") == 2)
        #expect(line("0\nx\n") == 2)
        // A huge count is compared with the lines present, never used to size anything.
        #expect(line("0\n2147483647\nt 0 1\n") == 2)
        #expect(line("0\n99999999999999999999999\n") == 2)
        #expect(line("0\n2\nt 0 1\n") == 2)
        #expect(line("0\n1\nt 0 1\nu 0 1\n") == 2)
        #expect(line("0\n1\nt 0\n") == 3)
        #expect(line("0\n1\nt  0 1\n") == 3)
        #expect(line("0\n1\nt 0 1 9\n") == 3)
        #expect(line("0\n1\nt/../x 0 1\n") == 3)
        #expect(line("0\n1\n\(String(repeating: "a", count: 250)) 0 1\n") == 3)
        #expect(line("0\n1\n\(String(repeating: "a", count: 32_767)) 0 1\n") == 3)
        #expect(line("0\n1\nt -1 1\n") == 3)
        #expect(line("0\n1\nt 2147483648 1\n") == 3)
        #expect(line("0\n1\nt 0 -5\n") == 3)
        #expect(line("0\n1\nt 0 9223372036854775808\n") == 3)
        #expect(line("0\n1\nt 0 1\n\n") == 2)
        #expect(line("0\n2\nt 0 1\nt 0 2\n") == 4)
        // The same partition 400 times.
        let repeated = "0\n400\n" + String(repeating: "t 3 1\n", count: 400)
        #expect(line(repeated) == 4)
    }

    @Test func readsWhatItWroteAndNothingWhenThereIsNoFile() throws {
        let dir = tempDir("offset-checkpoint")
        let path = dir + "/replication-offset-checkpoint"
        #expect(try OffsetCheckpoint.read(path) == nil)
        var entries: [Key: Int64] = [:]
        for p in Int32(0)..<10_000 { entries[Key("big", p)] = Int64(p) * 3 }
        try OffsetCheckpoint.write(entries, to: path)
        #expect(try OffsetCheckpoint.read(path) == entries)
        try OffsetCheckpoint.write([Key("big", 1): 9], to: path)
        #expect(try OffsetCheckpoint.read(path) == [Key("big", 1): 9])
        #expect(!FileSystem.exists(path + ".tmp"))
    }
}
