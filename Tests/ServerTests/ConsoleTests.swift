import Testing

@testable import Server

/// The console's pure pieces: the text filter, lag arithmetic on hostile offsets, form decoding.
@Suite struct ConsoleTests {
    @Test func theFilterFindsEveryOccurrenceAndOnlyThose() {
        let hay = Array("the quick brown fox".utf8)
        for needle in ["the", "fox", "k b", "quick brown fox", "x", "the quick brown fox"] {
            #expect(ConsoleMessages.contains(hay, Array(needle.utf8)), "\(needle)")
        }
        for needle in ["foxes", "The", "qb", "the quick brown fox!"] {
            #expect(!ConsoleMessages.contains(hay, Array(needle.utf8)), "\(needle)")
        }
        #expect(ConsoleMessages.contains(hay, []))
        #expect(!ConsoleMessages.contains(nil, Array("a".utf8)))
        // Self-overlapping needles, where a naive restart would miss the match.
        #expect(ConsoleMessages.contains(Array("aaab".utf8), Array("aab".utf8)))
        #expect(ConsoleMessages.contains(Array("abababc".utf8), Array("ababc".utf8)))
        #expect(!ConsoleMessages.contains(Array("abababab".utf8), Array("ababc".utf8)))
        // A large hostile haystack against a long needle: linear, so this is quick.
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: 4 << 20)
        #expect(!ConsoleMessages.contains(a, [UInt8](repeating: UInt8(ascii: "a"), count: 255) + [UInt8(ascii: "b")]))
    }

    @Test func lagSaturatesOnHostileCommittedOffsets() {
        #expect(ConsoleModel.lag(end: 100, committed: 40) == 60)
        #expect(ConsoleModel.lag(end: 100, committed: 400) == 0)
        #expect(ConsoleModel.lag(end: 100, committed: Int64.min) == Int64.max)
        #expect(ConsoleModel.lag(end: 0, committed: Int64.max) == 0)
        #expect(ConsoleModel.lag(end: Int64.max, committed: -1) == Int64.max)
    }

    @Test func formsDecodePercentAndPlus() {
        let f = FormDecoding.decode("topic=t&value=hello+world%21&headers=a%3A%20b%0Ac%3Ad&empty=&bad=%zz%4")
        #expect(f["topic"] == "t")
        #expect(f["value"] == "hello world!")
        #expect(f["headers"] == "a: b\nc:d")
        #expect(f["empty"] == "")
        #expect(f["bad"] == "%zz%4")
    }

    @Test func base64MatchesTheStandardAlphabet() {
        #expect(ConsoleMessages.base64([]) == "")
        #expect(ConsoleMessages.base64(Array("f".utf8)) == "Zg==")
        #expect(ConsoleMessages.base64(Array("fo".utf8)) == "Zm8=")
        #expect(ConsoleMessages.base64(Array("foo".utf8)) == "Zm9v")
        #expect(ConsoleMessages.base64([0xff, 0xfe, 0x00]) == "//4A")
    }
}
