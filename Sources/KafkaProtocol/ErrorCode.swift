/// Kafka's wire error codes that Tern returns, each with Kafka's meaning and whether a client
/// may retry it.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    init(_ raw: Int16) { rawValue = raw }

    public static let resourceNotFound = ErrorCode(91)
    public static let duplicateResource = ErrorCode(92)
    public static let unacceptableCredential = ErrorCode(93)
    public static let topicAuthorizationFailed = ErrorCode(29)
    public static let groupAuthorizationFailed = ErrorCode(30)
    public static let clusterAuthorizationFailed = ErrorCode(31)
    public static let transactionalIdAuthorizationFailed = ErrorCode(53)
    public static let securityDisabled = ErrorCode(54)
    public static let preferredLeaderNotAvailable = ErrorCode(80)
    public static let eligibleLeadersNotAvailable = ErrorCode(83)
    public static let electionNotNeeded = ErrorCode(84)
    public static let noReassignmentInProgress = ErrorCode(85)
    public static let brokerIdNotRegistered = ErrorCode(102)
    public static let duplicateVoter = ErrorCode(126)
    public static let voterNotFound = ErrorCode(127)
    public static let unsupportedSaslMechanism = ErrorCode(33)
    public static let illegalSaslState = ErrorCode(34)
    public static let saslAuthenticationFailed = ErrorCode(58)
    public static let none = ErrorCode(0)
    public static let unknownServerError = ErrorCode(-1)
    public static let offsetOutOfRange = ErrorCode(1)
    public static let corruptMessage = ErrorCode(2)
    public static let unknownTopicOrPartition = ErrorCode(3)
    public static let invalidFetchSize = ErrorCode(4)
    public static let leaderNotAvailable = ErrorCode(5)
    public static let notLeaderOrFollower = ErrorCode(6)
    public static let requestTimedOut = ErrorCode(7)
    public static let coordinatorNotAvailable = ErrorCode(15)
    public static let messageTooLarge = ErrorCode(10)
    public static let invalidTopicException = ErrorCode(17)
    public static let recordListTooLarge = ErrorCode(18)
    public static let notEnoughReplicas = ErrorCode(19)
    public static let invalidRequiredAcks = ErrorCode(21)
    public static let unsupportedForMessageFormat = ErrorCode(43)
    public static let invalidTimestamp = ErrorCode(32)
    public static let unsupportedVersion = ErrorCode(35)
    public static let topicAlreadyExists = ErrorCode(36)
    public static let invalidPartitions = ErrorCode(37)
    public static let invalidReplicationFactor = ErrorCode(38)
    public static let invalidReplicaAssignment = ErrorCode(39)
    public static let invalidConfig = ErrorCode(40)
    public static let invalidRequest = ErrorCode(42)
    public static let policyViolation = ErrorCode(44)
    public static let outOfOrderSequenceNumber = ErrorCode(45)
    public static let duplicateSequenceNumber = ErrorCode(46)
    public static let invalidProducerEpoch = ErrorCode(47)
    public static let invalidTxnState = ErrorCode(48)
    public static let invalidProducerIdMapping = ErrorCode(49)
    public static let invalidTransactionTimeout = ErrorCode(50)
    /// Another EndTxn or marker write of the transactional id is still under way: retry.
    public static let concurrentTransactions = ErrorCode(51)
    /// WriteTxnMarkers from a coordinator that is no longer the producer's current one.
    public static let transactionCoordinatorFenced = ErrorCode(52)
    /// Not tried because another part of the same batched request failed.
    public static let operationNotAttempted = ErrorCode(55)
    public static let unstableOffsetCommit = ErrorCode(88)
    public static let producerFenced = ErrorCode(90)
    public static let transactionalIdNotFound = ErrorCode(105)
    /// The client should abort the transaction (KIP-890; AddOffsetsToTxn, EndTxn and
    /// TxnOffsetCommit v4 and later).
    public static let transactionAbortable = ErrorCode(120)
    public static let invalidRecord = ErrorCode(87)
    public static let unknownTopicId = ErrorCode(100)
    public static let notController = ErrorCode(41)
    public static let staleBrokerEpoch = ErrorCode(77)
    public static let inconsistentClusterId = ErrorCode(104)
    public static let snapshotNotFound = ErrorCode(98)
    public static let fencedLeaderEpoch = ErrorCode(74)
    /// AlterPartition with a stale partition epoch (Kafka's INVALID_UPDATE_VERSION).
    public static let invalidUpdateVersion = ErrorCode(95)
    public static let unknownLeaderEpoch = ErrorCode(75)
    /// ListOffsets on a new leader whose high watermark has not reached its epoch's start yet.
    public static let offsetNotAvailable = ErrorCode(78)
    public static let unknownProducerId = ErrorCode(59)
    public static let coordinatorLoadInProgress = ErrorCode(14)
    public static let notCoordinator = ErrorCode(16)
    public static let illegalGeneration = ErrorCode(22)
    public static let inconsistentGroupProtocol = ErrorCode(23)
    public static let invalidGroupId = ErrorCode(24)
    public static let unknownMemberId = ErrorCode(25)
    public static let invalidSessionTimeout = ErrorCode(26)
    public static let rebalanceInProgress = ErrorCode(27)
    public static let invalidCommitOffsetSize = ErrorCode(28)
    public static let offsetMetadataTooLarge = ErrorCode(12)
    public static let nonEmptyGroup = ErrorCode(68)
    public static let groupIdNotFound = ErrorCode(69)
    public static let memberIdRequired = ErrorCode(79)
    public static let fencedInstanceId = ErrorCode(82)
    public static let groupSubscribedToTopic = ErrorCode(86)
    public static let kafkaStorageError = ErrorCode(56)
    /// KIP-227: the fetch session named is not (or no longer) in the broker's cache.
    public static let fetchSessionIdNotFound = ErrorCode(70)
    /// KIP-227: the fetch session's epoch is not the one the broker expects next.
    public static let invalidFetchSessionEpoch = ErrorCode(71)
    public static let groupMaxSizeReached = ErrorCode(81)
    public static let inconsistentVoterSet = ErrorCode(94)
    public static let duplicateBrokerRegistration = ErrorCode(101)

    public var name: String {
        switch rawValue {
        case 0: return "NONE"
        case -1: return "UNKNOWN_SERVER_ERROR"
        case 1: return "OFFSET_OUT_OF_RANGE"
        case 2: return "CORRUPT_MESSAGE"
        case 3: return "UNKNOWN_TOPIC_OR_PARTITION"
        case 4: return "INVALID_FETCH_SIZE"
        case 5: return "LEADER_NOT_AVAILABLE"
        case 6: return "NOT_LEADER_OR_FOLLOWER"
        case 7: return "REQUEST_TIMED_OUT"
        case 15: return "COORDINATOR_NOT_AVAILABLE"
        case 10: return "MESSAGE_TOO_LARGE"
        case 17: return "INVALID_TOPIC_EXCEPTION"
        case 18: return "RECORD_LIST_TOO_LARGE"
        case 19: return "NOT_ENOUGH_REPLICAS"
        case 21: return "INVALID_REQUIRED_ACKS"
        case 32: return "INVALID_TIMESTAMP"
        case 35: return "UNSUPPORTED_VERSION"
        case 36: return "TOPIC_ALREADY_EXISTS"
        case 37: return "INVALID_PARTITIONS"
        case 38: return "INVALID_REPLICATION_FACTOR"
        case 39: return "INVALID_REPLICA_ASSIGNMENT"
        case 40: return "INVALID_CONFIG"
        case 41: return "NOT_CONTROLLER"
        case 77: return "STALE_BROKER_EPOCH"
        case 70: return "FETCH_SESSION_ID_NOT_FOUND"
        case 71: return "INVALID_FETCH_SESSION_EPOCH"
        case 104: return "INCONSISTENT_CLUSTER_ID"
        case 81: return "GROUP_MAX_SIZE_REACHED"
        case 80: return "PREFERRED_LEADER_NOT_AVAILABLE"
        case 83: return "ELIGIBLE_LEADERS_NOT_AVAILABLE"
        case 84: return "ELECTION_NOT_NEEDED"
        case 85: return "NO_REASSIGNMENT_IN_PROGRESS"
        case 94: return "INCONSISTENT_VOTER_SET"
        case 101: return "DUPLICATE_BROKER_REGISTRATION"
        case 102: return "BROKER_ID_NOT_REGISTERED"
        case 126: return "DUPLICATE_VOTER"
        case 127: return "VOTER_NOT_FOUND"
        case 98: return "SNAPSHOT_NOT_FOUND"
        case 42: return "INVALID_REQUEST"
        case 43: return "UNSUPPORTED_FOR_MESSAGE_FORMAT"
        case 44: return "POLICY_VIOLATION"
        case 45: return "OUT_OF_ORDER_SEQUENCE_NUMBER"
        case 46: return "DUPLICATE_SEQUENCE_NUMBER"
        case 47: return "INVALID_PRODUCER_EPOCH"
        case 48: return "INVALID_TXN_STATE"
        case 49: return "INVALID_PRODUCER_ID_MAPPING"
        case 50: return "INVALID_TRANSACTION_TIMEOUT"
        case 51: return "CONCURRENT_TRANSACTIONS"
        case 52: return "TRANSACTION_COORDINATOR_FENCED"
        case 55: return "OPERATION_NOT_ATTEMPTED"
        case 90: return "PRODUCER_FENCED"
        case 105: return "TRANSACTIONAL_ID_NOT_FOUND"
        case 120: return "TRANSACTION_ABORTABLE"
        case 59: return "UNKNOWN_PRODUCER_ID"
        case 74: return "FENCED_LEADER_EPOCH"
        case 95: return "INVALID_UPDATE_VERSION"
        case 75: return "UNKNOWN_LEADER_EPOCH"
        case 78: return "OFFSET_NOT_AVAILABLE"
        case 87: return "INVALID_RECORD"
        case 100: return "UNKNOWN_TOPIC_ID"
        case 14: return "COORDINATOR_LOAD_IN_PROGRESS"
        case 16: return "NOT_COORDINATOR"
        case 22: return "ILLEGAL_GENERATION"
        case 23: return "INCONSISTENT_GROUP_PROTOCOL"
        case 24: return "INVALID_GROUP_ID"
        case 25: return "UNKNOWN_MEMBER_ID"
        case 26: return "INVALID_SESSION_TIMEOUT"
        case 27: return "REBALANCE_IN_PROGRESS"
        case 28: return "INVALID_COMMIT_OFFSET_SIZE"
        case 12: return "OFFSET_METADATA_TOO_LARGE"
        case 68: return "NON_EMPTY_GROUP"
        case 69: return "GROUP_ID_NOT_FOUND"
        case 79: return "MEMBER_ID_REQUIRED"
        case 82: return "FENCED_INSTANCE_ID"
        case 86: return "GROUP_SUBSCRIBED_TO_TOPIC"
        case 56: return "KAFKA_STORAGE_ERROR"
        case 29: return "TOPIC_AUTHORIZATION_FAILED"
        case 30: return "GROUP_AUTHORIZATION_FAILED"
        case 31: return "CLUSTER_AUTHORIZATION_FAILED"
        case 53: return "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
        case 54: return "SECURITY_DISABLED"
        case 33: return "UNSUPPORTED_SASL_MECHANISM"
        case 34: return "ILLEGAL_SASL_STATE"
        case 58: return "SASL_AUTHENTICATION_FAILED"
        case 91: return "RESOURCE_NOT_FOUND"
        case 92: return "DUPLICATE_RESOURCE"
        case 93: return "UNACCEPTABLE_CREDENTIAL"
        default: return "ERROR_\(rawValue)"
        }
    }

    /// Whether Kafka documents this error as retriable.
    public var isRetriable: Bool {
        [1, 2, 3, 5, 6, 7, 14, 15, 16, 19, 27, 51, 56, 70, 71, 74, 75, 80, 83].contains(rawValue)
    }

    public var description: String { "\(name) (\(rawValue))" }
}
