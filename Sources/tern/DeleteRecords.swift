import ArgumentParser
import KafkaClient
import KafkaProtocol
import Storage

/// `tern delete-records` (`bin/kafka-delete-records.sh`): moves partitions' log start offsets
/// forward, from Kafka's offset JSON file, with Kafka's output.
struct DeleteRecords: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-records",
        abstract: "Delete records below an offset in partitions (as kafka-delete-records.sh).")

    @OptionGroup var connection: ConnectionOptions
    @Option(
        name: .customLong("offset-json-file"),
        help:
            #"JSON: {"partitions": [{"topic": "t", "partition": 0, "offset": 10}], "version": 1}; offset -1 is the high watermark."#
    )
    var offsetJsonFile: String

    /// (topic, partition, offset) from the JSON file's text.
    static func parse(_ text: String) throws -> [(String, Int32, Int64)] {
        var parser = JSONParser(text)
        guard case .object(let root) = try parser.document(), case .array(let parts)? = root["partitions"] else {
            throw CLIError(
                #"The offset JSON file needs a "partitions" array: {"partitions": [{"topic": "t", "partition": 0, "offset": 10}], "version": 1}"#
            )
        }
        return try parts.enumerated().map { i, p in
            guard case .object(let o) = p, case .string(let topic)? = o["topic"],
                case .number(let partition)? = o["partition"],
                case .number(let offset)? = o["offset"], partition >= 0, partition <= Double(Int32.max), offset >= -1
            else {
                throw CLIError(
                    "partitions[\(i)] needs \"topic\" (a string), \"partition\" and \"offset\" (numbers, offset ≥ -1)")
            }
            return (topic, Int32(partition), Int64(offset))
        }
    }

    func run() async throws {
        let wanted = try await exitingOnError(otherwise: "Could not read \(offsetJsonFile)") {
            try Self.parse(try FileSystem.readText(offsetJsonFile))
        }
        let client = try KafkaClient(
            bootstrapServers: try connection.servers(), clientId: "delete-records", security: try connection.security())
        print("Executing records delete operation")
        var failed = false
        do {
            let md = try await client.metadata(topics: Array(Set(wanted.map(\.0))))
            var lines: [String] = []
            // One request per leader, as the partitions' leaders answer DeleteRecords.
            var byLeader: [Int32: [(String, Int32, Int64)]] = [:]
            for w in wanted {
                let leader = md.topics.first { $0.name == w.0 }?.partitions.first { $0.partitionIndex == w.1 }?.leaderId
                guard let leader, leader >= 0 else {
                    lines.append("partition: \(w.0)-\(w.1)\terror: This server does not host this topic-partition.")
                    failed = true
                    continue
                }
                byLeader[leader, default: []].append(w)
            }
            for (leader, parts) in byLeader.sorted(by: { $0.key < $1.key }) {
                var request = DeleteRecordsRequest()
                for (topic, group) in Dictionary(grouping: parts, by: \.0) {
                    var t = DeleteRecordsRequest.Topic()
                    t.name = topic
                    t.partitions = group.map {
                        var p = DeleteRecordsRequest.Partition()
                        p.partitionIndex = $0.1
                        p.offset = $0.2
                        return p
                    }
                    request.topics.append(t)
                }
                let response = try await client.send(request, toNode: leader, as: DeleteRecordsResponse.self)
                for t in response.topics {
                    for p in t.partitions {
                        if p.errorCode == 0 {
                            lines.append("partition: \(t.name)-\(p.partitionIndex)\tlow_watermark: \(p.lowWatermark)")
                        } else {
                            let code = ErrorCode(rawValue: p.errorCode)
                            let why =
                                code == .offsetOutOfRange
                                ? "the offset is past the partition's high watermark" : "\(code)"
                            lines.append("partition: \(t.name)-\(p.partitionIndex)\terror: \(why)")
                            failed = true
                        }
                    }
                }
            }
            print("Records delete operation completed:")
            for line in lines.sorted() { print(line) }
        } catch {
            printError("Error while deleting records: \(error)")
            await client.close()
            throw ExitCode(1)
        }
        await client.close()
        if failed { throw ExitCode(1) }
    }
}

/// Just enough JSON for the tools' input files: objects, arrays, strings (with the common
/// escapes), numbers, true, false and null.
struct JSONParser {
    indirect enum Value: Equatable {
        case object([String: Value])
        case array([Value])
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
    }

    private let bytes: [UInt8]
    private var i = 0

    init(_ text: String) { bytes = Array(text.utf8) }

    mutating func document() throws -> Value {
        let v = try value()
        skipSpace()
        guard i == bytes.count else { throw error("unexpected text after the JSON value") }
        return v
    }

    private func error(_ why: String) -> CLIError {
        CLIError("The JSON file is not valid JSON: \(why) at byte \(i)")
    }

    private mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
    }

    private mutating func value() throws -> Value {
        skipSpace()
        guard i < bytes.count else { throw error("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var out: [String: Value] = [:]
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                return .object(out)
            }
            while true {
                skipSpace()
                guard case .string(let key) = try value() else { throw error("an object key must be a string") }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                out[key] = try value()
                skipSpace()
                guard i < bytes.count else { throw error("unexpected end") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(out)
                } else {
                    throw error("expected ',' or '}'")
                }
            }
        case UInt8(ascii: "["):
            i += 1
            var out: [Value] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                return .array(out)
            }
            while true {
                out.append(try value())
                skipSpace()
                guard i < bytes.count else { throw error("unexpected end") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(out)
                } else {
                    throw error("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""):
            i += 1
            var s: [UInt8] = []
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                if bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count {
                    i += 1
                    let map: [UInt8: UInt8] = [0x6E: 0x0A, 0x74: 0x09, 0x72: 0x0D, 0x62: 0x08, 0x66: 0x0C]
                    s.append(map[bytes[i]] ?? bytes[i])
                } else {
                    s.append(bytes[i])
                }
                i += 1
            }
            guard i < bytes.count else { throw error("unterminated string") }
            i += 1
            return .string(String(decoding: s, as: UTF8.self))
        default:
            for (word, v) in [("true", Value.bool(true)), ("false", .bool(false)), ("null", .null)]
            where bytes[i...].starts(with: word.utf8) {
                i += word.utf8.count
                return v
            }
            let start = i
            while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
            guard i > start, let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else {
                throw error("unexpected character")
            }
            return .number(d)
        }
    }
}
