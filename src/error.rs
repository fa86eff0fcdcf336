//! The crate's one error type. Every variant has a stable Kafka error code and name, so
//! the binding can turn it into the kafkajs error class a Kafka user already handles.

use std::io;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// A disk operation failed; the log is left as it was before the operation.
    Io { context: String, source: io::Error },
    /// Bytes on disk fail their length or CRC check where a torn write cannot explain it.
    /// `offset` is the first offset the damage makes unreadable, when it is known, and
    /// `partition` the topic-partition it belongs to (filled in by the broker).
    Corrupt { path: PathBuf, position: u64, offset: Option<i64>, partition: Option<(String, i32)>, detail: String },
    /// A client sent a record batch that fails its CRC or length check.
    CorruptRequest(String),
    /// An fsync failed earlier: what it covered may not be on disk, so the broker refuses
    /// every write until it is reopened (and recovers), rather than pretend.
    Poisoned(String),
    /// An idempotent producer's batch is not the next in its sequence for the partition.
    OutOfOrderSequence(String),
    /// An idempotent producer's epoch is older than the partition has seen (it was fenced).
    InvalidProducerEpoch(String),
    /// A KIP-848 member's epoch is not the coordinator's: it must rejoin.
    FencedMemberEpoch(String),
    /// A KIP-848 member committed with an epoch that is not its current one.
    StaleMemberEpoch(String),
    /// A request the broker cannot serve as asked (a transactional produce, say).
    InvalidRequest(String),
    /// OffsetDelete of a topic the group's members still consume.
    GroupSubscribedToTopic(String),
    InvalidTopic(String),
    UnknownTopicOrPartition { topic: String, partition: Option<i32> },
    TopicAlreadyExists(String),
    InvalidPartitions(String),
    InvalidReplicationFactor(String),
    InvalidConfig(String),
    MessageTooLarge { size: usize, max: usize },
    InvalidRecord(String),
    OffsetOutOfRange { topic: String, partition: i32, offset: i64 },
    UnsupportedCompression(String),
    /// The consumer group has no member with this id (it left, or was removed after a
    /// timeout): the caller must join again.
    UnknownMemberId { group: String, member: String },
    /// The member no longer owns a partition it tried to commit for (it moved on a
    /// rebalance): the commit is fenced off.
    IllegalGeneration(String),
    InvalidGroupId(String),
    /// The operation needs a group without members (offset resets, deletion).
    NonEmptyGroup(String),
    GroupIdNotFound(String),
    /// A classic-protocol member joined without a member id (JoinGroup v4+): it must join
    /// again with the id the coordinator generated for it, carried here.
    MemberIdRequired { group: String, member_id: String },
    /// The group is rebalancing: the member must join again.
    RebalanceInProgress(String),
    /// A member's protocol type or protocols do not fit the group's.
    InconsistentGroupProtocol(String),
    /// A session timeout outside the range the coordinator allows.
    InvalidSessionTimeout(String),
    /// The group has as many members as it may have.
    GroupMaxSizeReached(String),
    /// Another member holds this static member's group.instance.id.
    FencedInstanceId(String),
    /// The group coordinator cannot answer (the group went away under a waiting request).
    CoordinatorNotAvailable(String),
    /// Another process holds the data directory.
    Locked { path: PathBuf, holder: Option<String> },
    /// The broker was closed; nothing more can be done with this handle.
    Closed,
    /// The process that owns the data directory cannot be reached (it exited, or is
    /// starting): retriable, as kafkajs's connection errors are.
    Connection(String),
    /// The owner took a request but did not answer it within the client's requestTimeout
    /// (it is alive but stuck, say): retriable, as kafkajs's request timeouts are.
    RequestTimeout(String),
    /// This user may not open the owner's socket: retrying does not help.
    PermissionDenied(String),
    /// An error code the data directory's owner answered with (see [`kafka_error_name`]).
    Remote { code: i16, message: String },
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    pub fn io_at(action: &str, path: &Path, source: io::Error) -> Self {
        Error::io(format!("{action} {}", path.display()), source)
    }

    /// Damage in a file that is not a partition's log (metadata, committed offsets).
    pub fn corrupt_file(path: &Path, position: u64, detail: impl Into<String>) -> Self {
        Error::Corrupt { path: path.to_path_buf(), position, offset: None, partition: None, detail: detail.into() }
    }

    /// Kafka's numeric error code (-1 for samsa's own, non-protocol errors).
    pub fn code(&self) -> i16 {
        match self {
            Error::Io { .. } => 56,
            Error::Corrupt { .. } | Error::CorruptRequest(_) => 2,
            Error::Poisoned(_) => 56,
            Error::OutOfOrderSequence(_) => 45,
            Error::InvalidProducerEpoch(_) => 47,
            Error::FencedMemberEpoch(_) => 110,
            Error::StaleMemberEpoch(_) => 113,
            Error::InvalidRequest(_) => 42,
            Error::GroupSubscribedToTopic(_) => 86,
            Error::InvalidTopic(_) => 17,
            Error::UnknownTopicOrPartition { .. } => 3,
            Error::TopicAlreadyExists(_) => 36,
            Error::InvalidPartitions(_) => 37,
            Error::InvalidReplicationFactor(_) => 38,
            Error::InvalidConfig(_) => 40,
            Error::MessageTooLarge { .. } => 10,
            Error::InvalidRecord(_) => 87,
            Error::OffsetOutOfRange { .. } => 1,
            Error::UnsupportedCompression(_) => 76,
            Error::UnknownMemberId { .. } => 25,
            Error::IllegalGeneration(_) => 22,
            Error::InvalidGroupId(_) => 24,
            Error::NonEmptyGroup(_) => 68,
            Error::GroupIdNotFound(_) => 69,
            Error::MemberIdRequired { .. } => 79,
            Error::RebalanceInProgress(_) => 27,
            Error::InconsistentGroupProtocol(_) => 23,
            Error::InvalidSessionTimeout(_) => 26,
            Error::GroupMaxSizeReached(_) => 81,
            Error::FencedInstanceId(_) => 82,
            Error::CoordinatorNotAvailable(_) => 15,
            Error::Locked { .. } | Error::Closed | Error::Connection(_) | Error::RequestTimeout(_) | Error::PermissionDenied(_) => -1,
            Error::Remote { code, .. } => *code,
        }
    }

    /// Kafka's error name, as kafkajs puts it in `error.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { source, .. } if is_disk_full(source) => "KAFKA_STORAGE_ERROR",
            Error::Io { .. } => "KAFKA_STORAGE_ERROR",
            Error::Corrupt { .. } | Error::CorruptRequest(_) => "CORRUPT_MESSAGE",
            Error::Poisoned(_) => "KAFKA_STORAGE_ERROR",
            Error::OutOfOrderSequence(_) => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            Error::InvalidProducerEpoch(_) => "INVALID_PRODUCER_EPOCH",
            Error::FencedMemberEpoch(_) => "FENCED_MEMBER_EPOCH",
            Error::StaleMemberEpoch(_) => "STALE_MEMBER_EPOCH",
            Error::InvalidRequest(_) => "INVALID_REQUEST",
            Error::GroupSubscribedToTopic(_) => "GROUP_SUBSCRIBED_TO_TOPIC",
            Error::InvalidTopic(_) => "INVALID_TOPIC_EXCEPTION",
            Error::UnknownTopicOrPartition { .. } => "UNKNOWN_TOPIC_OR_PARTITION",
            Error::TopicAlreadyExists(_) => "TOPIC_ALREADY_EXISTS",
            Error::InvalidPartitions(_) => "INVALID_PARTITIONS",
            Error::InvalidReplicationFactor(_) => "INVALID_REPLICATION_FACTOR",
            Error::InvalidConfig(_) => "INVALID_CONFIG",
            Error::MessageTooLarge { .. } => "MESSAGE_TOO_LARGE",
            Error::InvalidRecord(_) => "INVALID_RECORD",
            Error::OffsetOutOfRange { .. } => "OFFSET_OUT_OF_RANGE",
            Error::UnsupportedCompression(_) => "UNSUPPORTED_COMPRESSION_TYPE",
            Error::UnknownMemberId { .. } => "UNKNOWN_MEMBER_ID",
            Error::IllegalGeneration(_) => "ILLEGAL_GENERATION",
            Error::InvalidGroupId(_) => "INVALID_GROUP_ID",
            Error::NonEmptyGroup(_) => "NON_EMPTY_GROUP",
            Error::GroupIdNotFound(_) => "GROUP_ID_NOT_FOUND",
            Error::MemberIdRequired { .. } => "MEMBER_ID_REQUIRED",
            Error::RebalanceInProgress(_) => "REBALANCE_IN_PROGRESS",
            Error::InconsistentGroupProtocol(_) => "INCONSISTENT_GROUP_PROTOCOL",
            Error::InvalidSessionTimeout(_) => "INVALID_SESSION_TIMEOUT",
            Error::GroupMaxSizeReached(_) => "GROUP_MAX_SIZE_REACHED",
            Error::FencedInstanceId(_) => "FENCED_INSTANCE_ID",
            Error::CoordinatorNotAvailable(_) => "COORDINATOR_NOT_AVAILABLE",
            Error::Locked { .. } => "DATA_DIR_LOCKED",
            Error::Closed => "BROKER_CLOSED",
            Error::Connection(_) | Error::PermissionDenied(_) => "CONNECTION_ERROR",
            Error::RequestTimeout(_) => "REQUEST_TIMEOUT",
            Error::Remote { code, .. } => kafka_error_name(*code).0,
        }
    }

    /// Whether retrying the same request may succeed (kafkajs's `retriable`).
    pub fn retriable(&self) -> bool {
        match self {
            Error::Io { source, .. } => !is_disk_full(source),
            // A client's batch damaged on the way may arrive whole when sent again; damage
            // on disk does not mend by reading it again.
            Error::CorruptRequest(_) => true,
            Error::UnknownTopicOrPartition { .. } => true,
            Error::UnknownMemberId { .. } | Error::IllegalGeneration(_) => true,
            Error::CoordinatorNotAvailable(_) => true,
            Error::Connection(_) | Error::RequestTimeout(_) => true,
            Error::Remote { code, .. } => kafka_error_name(*code).1,
            _ => false,
        }
    }
}

/// Kafka's name for an error code and whether Kafka counts it retriable: the codes a
/// samsa broker answers with, and the common ones of any Kafka broker.
pub fn kafka_error_name(code: i16) -> (&'static str, bool) {
    match code {
        1 => ("OFFSET_OUT_OF_RANGE", false),
        2 => ("CORRUPT_MESSAGE", true),
        3 => ("UNKNOWN_TOPIC_OR_PARTITION", true),
        5 => ("LEADER_NOT_AVAILABLE", true),
        6 => ("NOT_LEADER_OR_FOLLOWER", true),
        7 => ("REQUEST_TIMED_OUT", true),
        10 => ("MESSAGE_TOO_LARGE", false),
        13 => ("NETWORK_EXCEPTION", true),
        14 => ("COORDINATOR_LOAD_IN_PROGRESS", true),
        15 => ("COORDINATOR_NOT_AVAILABLE", true),
        16 => ("NOT_COORDINATOR", true),
        17 => ("INVALID_TOPIC_EXCEPTION", false),
        22 => ("ILLEGAL_GENERATION", true),
        23 => ("INCONSISTENT_GROUP_PROTOCOL", false),
        24 => ("INVALID_GROUP_ID", false),
        25 => ("UNKNOWN_MEMBER_ID", true),
        26 => ("INVALID_SESSION_TIMEOUT", false),
        27 => ("REBALANCE_IN_PROGRESS", false),
        35 => ("UNSUPPORTED_VERSION", false),
        36 => ("TOPIC_ALREADY_EXISTS", false),
        37 => ("INVALID_PARTITIONS", false),
        38 => ("INVALID_REPLICATION_FACTOR", false),
        40 => ("INVALID_CONFIG", false),
        42 => ("INVALID_REQUEST", false),
        45 => ("OUT_OF_ORDER_SEQUENCE_NUMBER", false),
        46 => ("DUPLICATE_SEQUENCE_NUMBER", false),
        47 => ("INVALID_PRODUCER_EPOCH", false),
        56 => ("KAFKA_STORAGE_ERROR", true),
        68 => ("NON_EMPTY_GROUP", false),
        69 => ("GROUP_ID_NOT_FOUND", false),
        76 => ("UNSUPPORTED_COMPRESSION_TYPE", false),
        79 => ("MEMBER_ID_REQUIRED", false),
        81 => ("GROUP_MAX_SIZE_REACHED", false),
        82 => ("FENCED_INSTANCE_ID", false),
        86 => ("GROUP_SUBSCRIBED_TO_TOPIC", false),
        87 => ("INVALID_RECORD", false),
        110 => ("FENCED_MEMBER_EPOCH", false),
        113 => ("STALE_MEMBER_EPOCH", false),
        _ => ("UNKNOWN_SERVER_ERROR", false),
    }
}

fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { context, source } if is_disk_full(source) => {
                write!(f, "disk full: {context}: {source}; nothing was written")
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Corrupt { path, position, offset, partition, detail } => {
                write!(f, "corrupt data in {} at byte {position}", path.display())?;
                if let Some((t, p)) = partition {
                    write!(f, " (topic \"{t}\" partition {p}")?;
                    match offset {
                        Some(o) => write!(f, ", offset {o})")?,
                        None => write!(f, ")")?,
                    }
                } else if let Some(o) = offset {
                    write!(f, " (offset {o})")?;
                }
                write!(f, ": {detail}")?;
                if offset.is_some() {
                    write!(f, "; the partition stops here: seek past the damage to go on, or run `npx samsa verify --repair`")?;
                }
                Ok(())
            }
            Error::CorruptRequest(msg) => write!(f, "{msg}"),
            Error::Poisoned(why) => write!(
                f,
                "the broker refuses writes since an fsync failed ({why}): what it covered may not be on disk; close and reopen the broker to recover"
            ),
            Error::OutOfOrderSequence(msg) => write!(f, "{msg}"),
            Error::InvalidProducerEpoch(msg) => write!(f, "{msg}"),
            Error::FencedMemberEpoch(msg) | Error::StaleMemberEpoch(msg) | Error::InvalidRequest(msg) | Error::GroupSubscribedToTopic(msg) => {
                write!(f, "{msg}")
            }
            Error::InvalidTopic(msg) => write!(f, "{msg}"),
            Error::UnknownTopicOrPartition { topic, partition: Some(p) } => {
                write!(f, "This server does not host this topic-partition: topic \"{topic}\" has no partition {p}")
            }
            Error::UnknownTopicOrPartition { topic, partition: None } => {
                write!(f, "This server does not host this topic-partition: unknown topic \"{topic}\"")
            }
            Error::TopicAlreadyExists(t) => write!(f, "Topic with this name already exists: \"{t}\""),
            Error::InvalidPartitions(msg) => write!(f, "{msg}"),
            Error::InvalidReplicationFactor(msg) => write!(f, "{msg}"),
            Error::InvalidConfig(msg) => write!(f, "{msg}"),
            Error::MessageTooLarge { size, max } => write!(
                f,
                "The request included a message larger than the max message size the server will accept: {size} bytes > max.message.bytes {max}"
            ),
            Error::InvalidRecord(msg) => write!(f, "{msg}"),
            Error::OffsetOutOfRange { topic, partition, offset } => write!(
                f,
                "offset {offset} is out of range for topic \"{topic}\" partition {partition}"
            ),
            Error::UnsupportedCompression(msg) => write!(f, "{msg}"),
            Error::UnknownMemberId { group, member } => write!(
                f,
                "The coordinator is not aware of this member: \"{member}\" is not in group \"{group}\" (it left or timed out)"
            ),
            Error::IllegalGeneration(msg) => write!(f, "{msg}"),
            Error::InvalidGroupId(msg) => write!(f, "{msg}"),
            Error::NonEmptyGroup(g) => write!(f, "The group \"{g}\" has running members; stop its consumers first"),
            Error::GroupIdNotFound(g) => write!(f, "The group id \"{g}\" does not exist"),
            Error::MemberIdRequired { group, member_id } => write!(
                f,
                "The group member needs to have a valid member id before actually entering a consumer group: join group \"{group}\" again with member id \"{member_id}\""
            ),
            Error::RebalanceInProgress(msg) => write!(f, "{msg}"),
            Error::InconsistentGroupProtocol(msg) => write!(f, "{msg}"),
            Error::InvalidSessionTimeout(msg) => write!(f, "{msg}"),
            Error::GroupMaxSizeReached(msg) => write!(f, "{msg}"),
            Error::FencedInstanceId(msg) => write!(f, "{msg}"),
            Error::CoordinatorNotAvailable(msg) => write!(f, "{msg}"),
            Error::Locked { path, holder } => match holder {
                Some(h) => write!(f, "data directory {} is locked by another process ({h}); one process owns a data directory", path.display()),
                None => write!(f, "data directory {} is locked by another process; one process owns a data directory", path.display()),
            },
            Error::Closed => write!(f, "the broker is closed"),
            Error::Connection(msg) | Error::RequestTimeout(msg) | Error::PermissionDenied(msg) | Error::Remote { message: msg, .. } => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
