import NIOCore

/// A request's topic: its name and the numbers of the partitions it names, whichever way its
/// API spells them (partition structs with `index`, `partition` or `partitionIndex`, or an INT32
/// array).
public protocol NamesPartitions {
    var name: String { get }
    var partitionNumbers: [Int32] { get }
}

/// A request's partition struct, by its number.
public protocol NumberedPartition {
    var partitionNumber: Int32 { get }
}

extension NamedTopic: NamesPartitions where Partition: NumberedPartition {
    public var partitionNumbers: [Int32] { partitions.map(\.partitionNumber) }
}

/// A response's partition that can answer a partition number with an error code and nothing else.
public protocol PartitionAnswer: Defaultable {
    static var numberField: WritableKeyPath<Self, Int32> { get }
    static var errorField: WritableKeyPath<Self, Int16> { get }
    /// The partition `number` answered `code`, every other field at its default.
    static func failing(_ number: Int32, _ code: Int16) -> Self
}

extension PartitionAnswer {
    public static func failing(_ number: Int32, _ code: Int16) -> Self {
        var p = Self()
        p[keyPath: numberField] = number
        p[keyPath: errorField] = code
        return p
    }
}

extension NamedTopic where Partition: PartitionAnswer {
    /// Every partition `topic` names, answered `code`.
    public static func failing(_ topic: some NamesPartitions, _ code: Int16) -> NamedTopic {
        NamedTopic(name: topic.name, partitions: topic.partitionNumbers.map { Partition.failing($0, code) })
    }

    /// The partitions `topics` name, in order, answered `codes` in the same order (one per
    /// partition; partitions past the end of `codes` get UNKNOWN_SERVER_ERROR).
    public static func answering(_ topics: [some NamesPartitions], codes: [Int16]) -> [NamedTopic] {
        var i = 0
        return topics.map { t in
            NamedTopic(
                name: t.name,
                partitions: t.partitionNumbers.map { n in
                    defer { i += 1 }
                    return Partition.failing(n, i < codes.count ? codes[i] : ErrorCode.unknownServerError.rawValue)
                })
        }
    }
}

// The requests' and responses' spellings of a partition's number and error.

extension ProduceRequest.PartitionData: NumberedPartition {
    public var partitionNumber: Int32 { index }
}
extension ProduceResponse.PartitionResponse: PartitionAnswer {
    public static var numberField: WritableKeyPath<Self, Int32> { \.index }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
}
extension FetchRequest.Partition: NumberedPartition {
    public var partitionNumber: Int32 { partition }
}
extension FetchResponse.Partition: PartitionAnswer {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partitionIndex }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
    /// A refused partition carries an empty record set, not a null one, as Kafka answers.
    public static func failing(_ number: Int32, _ code: Int16) -> Self {
        var p = Self()
        p.partitionIndex = number
        p.errorCode = code
        p.records = ByteBuffer()
        return p
    }
}
extension ListOffsetsRequest.Partition: NumberedPartition {
    public var partitionNumber: Int32 { partitionIndex }
}
extension ListOffsetsResponse.Partition: PartitionAnswer {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partitionIndex }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
}
extension OffsetForLeaderEpochRequest.Partition: NumberedPartition {
    public var partitionNumber: Int32 { partition }
}
extension OffsetForLeaderEpochResponse.Partition: PartitionAnswer {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partition }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
}
extension DeleteRecordsRequest.Partition: NumberedPartition {
    public var partitionNumber: Int32 { partitionIndex }
}
extension DeleteRecordsResponse.Partition: PartitionAnswer {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partitionIndex }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
}
extension OffsetCommitRequest.Partition: NumberedPartition {
    public var partitionNumber: Int32 { partitionIndex }
}
extension OffsetCommitResponse.Partition: PartitionAnswer {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partitionIndex }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
}
extension OffsetFetchRequest.Topic: NamesPartitions {
    public var partitionNumbers: [Int32] { partitionIndexes }
}
extension OffsetFetchResponse.Partition: PartitionAnswer {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partitionIndex }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
}
extension OffsetDeleteRequest.Topic: NamesPartitions {
    public var partitionNumbers: [Int32] { partitionIndexes }
}
extension OffsetDeleteResponse.Partition: PartitionAnswer {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partitionIndex }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
}

/// A response's partition whose error comes with a message.
public protocol PartitionAnswerWithMessage: PartitionAnswer {
    static var messageField: WritableKeyPath<Self, String?> { get }
}

extension PartitionAnswerWithMessage {
    /// The partition `number` answered `code` with `message`.
    public static func failing(_ number: Int32, _ code: Int16, _ message: String?) -> Self {
        var p = failing(number, code)
        p[keyPath: messageField] = message
        return p
    }
}

extension NamedTopic where Partition: PartitionAnswerWithMessage {
    /// Every partition `topic` names, answered `code` with `message`.
    public static func failing(_ topic: some NamesPartitions, _ code: Int16, _ message: String?) -> NamedTopic {
        NamedTopic(name: topic.name, partitions: topic.partitionNumbers.map { Partition.failing($0, code, message) })
    }
}

extension Int32: NumberedPartition {
    public var partitionNumber: Int32 { self }
}
extension ElectLeadersResponse.PartitionResult: PartitionAnswerWithMessage {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partitionId }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
    public static var messageField: WritableKeyPath<Self, String?> { \.errorMessage }
}
extension AlterPartitionReassignmentsRequest.Partition: NumberedPartition {
    public var partitionNumber: Int32 { partitionIndex }
}
extension AlterPartitionReassignmentsResponse.Partition: PartitionAnswerWithMessage {
    public static var numberField: WritableKeyPath<Self, Int32> { \.partitionIndex }
    public static var errorField: WritableKeyPath<Self, Int16> { \.errorCode }
    public static var messageField: WritableKeyPath<Self, String?> { \.errorMessage }
}
