import KafkaProtocol

/// What an append did.
public struct AppendResult: Sendable, Equatable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var logStartOffset: Int64
    /// The time stamped on the batches with LogAppendTime; -1 with CreateTime (Produce's
    /// `log_append_time_ms`).
    public var logAppendTimeMs: Int64 = -1
}

/// Why an append was refused.
public enum AppendError: Error, Equatable {
    case batch(RecordBatchError)
    case tooLarge(size: Int, max: Int)
    case duplicateSequence(baseOffset: Int64)
    case outOfOrderSequence(expected: Int32, got: Int32)
    case invalidProducerEpoch(current: Int16, got: Int16)
    /// A CreateTime batch's timestamp is further from the broker's time than the topic allows.
    case invalidTimestamp(String)
    /// Records the topic cannot take (a compacted topic's records without a key), by their
    /// index in the request's records, as Produce's `record_errors` name them (KIP-467).
    case invalidRecords(indexes: [Int32], why: String)
    /// A plain batch from a producer whose transaction here is still open.
    case invalidTxnState(String)
    /// A marker from a transaction coordinator older than one whose marker is already here.
    case staleCoordinator(current: Int32, got: Int32)
    case io(String)

    public var errorCode: ErrorCode {
        switch self {
        case .batch(let e): return e.errorCode
        case .tooLarge: return .messageTooLarge
        case .duplicateSequence: return .duplicateSequenceNumber
        case .outOfOrderSequence: return .outOfOrderSequenceNumber
        case .invalidProducerEpoch: return .invalidProducerEpoch
        case .invalidTimestamp: return .invalidTimestamp
        case .invalidRecords: return .invalidRecord
        case .invalidTxnState: return .invalidTxnState
        case .staleCoordinator: return .transactionCoordinatorFenced
        case .io: return .unknownServerError
        }
    }

    public var message: String {
        switch self {
        case .batch(let e): return e.description
        case .tooLarge(let size, let max): return "batch of \(size) bytes exceeds max.message.bytes=\(max)"
        case .duplicateSequence: return "duplicate sequence"
        case .outOfOrderSequence(let expected, let got):
            return "out of order sequence: expected \(expected), got \(got)"
        case .invalidProducerEpoch(let current, let got): return "producer epoch \(got) is older than \(current)"
        case .invalidTimestamp(let why): return why
        case .invalidRecords(_, let why): return why
        case .invalidTxnState(let why): return why
        case .staleCoordinator(let current, let got):
            return "a marker of coordinator epoch \(got), older than \(current) which already wrote here"
        case .io(let why): return why
        }
    }
}
