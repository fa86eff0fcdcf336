//! The crate's one error type, and the one table of Kafka's errors every door uses.
//!
//! Every variant has a stable Kafka error code; its name and whether retrying may help
//! come from the table ([`kafka_error`]: Kafka's own, as the kafka-protocol crate carries
//! it, under the names kafkajs gives them), except where samsa knows more than the code
//! says: a full disk, a broker poisoned by a failed fsync and damage in the stored log are
//! KAFKA_STORAGE_ERROR and CORRUPT_MESSAGE that retrying does not mend. An error that
//! crosses to another samsa process keeps that knowledge ([`Error::wire_code`] and
//! [`Error::from_wire`]), so the same failure means the same in every process.

use std::io;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One record a produce refused (Kafka's KIP-467 record error): its position in its
/// batch and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

impl std::fmt::Display for RecordError {
    /// Kafka's form, which the message of a refused produce quotes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordError(batchIndex={}, message='{}')", self.batch_index, self.message)
    }
}

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
    /// A newer producer with the same transactional id took over (Kafka's PRODUCER_FENCED).
    ProducerFenced(String),
    /// The transaction is not in a state that allows the request.
    InvalidTxnState(String),
    /// The producer id is not the one the transactional id holds.
    InvalidProducerIdMapping(String),
    /// A transaction timeout above the broker's `transaction.max.timeout.ms`, or below 1.
    InvalidTransactionTimeout(String),
    /// The transaction is ending; the request may succeed once it has.
    ConcurrentTransactions(String),
    /// DescribeTransactions of an id the coordinator does not know.
    TransactionalIdNotFound(String),
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
    /// A request the topic's configs forbid (DeleteRecords on a topic whose
    /// `cleanup.policy` lacks `delete`).
    PolicyViolation(String),
    MessageTooLarge { size: usize, max: usize },
    /// A compressed batch expands past what samsa takes from one batch (see
    /// [`crate::log::batch::decompressed_cap`]).
    RecordsTooLarge { max: usize },
    InvalidRecord(String),
    /// Records whose timestamps the topic's `message.timestamp.*` configs refuse (each
    /// listed), or a batch of the wrong timestamp type (`message`, no records).
    InvalidTimestamp { message: Option<String>, records: Vec<RecordError> },
    /// Records refused for what they hold (each listed): a record without a key on a
    /// compacted topic. Kafka's INVALID_RECORD with record errors.
    InvalidRecords(Vec<RecordError>),
    /// A manual replica assignment that does not fit the one broker (id 0) or itself.
    InvalidReplicaAssignment(String),
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
    /// A KIP-848 member asked for a server assignor the coordinator does not have.
    UnsupportedAssignor(String),
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
    /// An error the data directory's owner answered with (see [`Error::from_wire`]).
    Remote { code: i16, message: String, retriable: bool },
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
            Error::ProducerFenced(_) => 90,
            Error::InvalidTxnState(_) => 48,
            Error::InvalidProducerIdMapping(_) => 49,
            Error::InvalidTransactionTimeout(_) => 50,
            Error::ConcurrentTransactions(_) => 51,
            Error::TransactionalIdNotFound(_) => 105,
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
            Error::PolicyViolation(_) => 44,
            Error::MessageTooLarge { .. } | Error::RecordsTooLarge { .. } => 10,
            Error::InvalidRecord(_) | Error::InvalidRecords(_) => 87,
            Error::InvalidTimestamp { .. } => 32,
            Error::InvalidReplicaAssignment(_) => 39,
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
            Error::UnsupportedAssignor(_) => 112,
            Error::Locked { .. } | Error::Closed | Error::Connection(_) | Error::RequestTimeout(_) | Error::PermissionDenied(_) => -1,
            Error::Remote { code, .. } => *code,
        }
    }

    /// Kafka's error name, as kafkajs puts it in `error.type`; samsa's own for errors
    /// that have no Kafka code.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Locked { .. } => "DATA_DIR_LOCKED",
            Error::Closed => "BROKER_CLOSED",
            Error::Connection(_) | Error::PermissionDenied(_) => "CONNECTION_ERROR",
            Error::RequestTimeout(_) => "REQUEST_TIMEOUT",
            other => kafka_error(other.code()).name,
        }
    }

    /// Whether retrying the same request may succeed (kafkajs's `retriable`): the table's
    /// answer for the error's code, except where samsa knows more.
    pub fn retriable(&self) -> bool {
        match self {
            // A full disk stays full, and a failed fsync poisons until the broker is
            // reopened: a retry within kafkajs's budget cannot succeed.
            Error::Io { source, .. } if is_disk_full(source) => false,
            Error::Poisoned(_) => false,
            // Damage on disk does not mend by reading it again (a client's batch damaged
            // on its way in, CorruptRequest, may arrive whole when sent again).
            Error::Corrupt { .. } => false,
            Error::Connection(_) | Error::RequestTimeout(_) => true,
            Error::Locked { .. } | Error::Closed | Error::PermissionDenied(_) => false,
            Error::Remote { retriable, .. } => *retriable,
            other => kafka_error(other.code()).retriable,
        }
    }

    /// The code to answer a request with. For another samsa process (the owner's socket
    /// serves only those), an error whose retriability differs from its code's in the
    /// table is sent as [`SAMSA_FLIPPED`] plus the code, which [`Error::from_wire`] reads
    /// back; every other client gets Kafka's code.
    pub fn wire_code(&self, samsa_peer: bool) -> i16 {
        let code = self.code();
        if samsa_peer && code >= 0 && self.retriable() != kafka_error(code).retriable {
            SAMSA_FLIPPED + code
        } else {
            code
        }
    }

    /// The error another process's broker answered with: its code (see
    /// [`Error::wire_code`]) and message.
    pub fn from_wire(code: i16, message: String) -> Error {
        if code >= SAMSA_FLIPPED {
            let code = code - SAMSA_FLIPPED;
            Error::Remote { code, message, retriable: !kafka_error(code).retriable }
        } else {
            Error::Remote { code, message, retriable: kafka_error(code).retriable }
        }
    }
}

/// Added to a Kafka error code sent to another samsa process when samsa's retriability
/// for the error is the opposite of the table's (see [`Error::wire_code`]).
pub const SAMSA_FLIPPED: i16 = 10_000;

/// One row of the table of Kafka's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KafkaError {
    /// As kafkajs names it (`error.type`).
    pub name: &'static str,
    pub code: i16,
    /// Whether retrying may help, as Kafka (and kafkajs, which agrees) says.
    pub retriable: bool,
}

/// The names kafkajs gives codes that Kafka has since renamed.
const KAFKAJS_NAMES: &[(i16, &str)] = &[
    (-1, "UNKNOWN"),
    (6, "NOT_LEADER_FOR_PARTITION"),
    (14, "GROUP_LOAD_IN_PROGRESS"),
    (15, "GROUP_COORDINATOR_NOT_AVAILABLE"),
    (16, "NOT_COORDINATOR_FOR_GROUP"),
];

/// Every Kafka error the kafka-protocol crate knows, from -1 up.
fn table() -> &'static [KafkaError] {
    static TABLE: std::sync::OnceLock<Vec<KafkaError>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        use kafka_protocol::error::ResponseError;
        // Kafka's codes run from -1 into the low hundreds; the crate knows them all.
        (-1..1000)
            .filter_map(|code| match ResponseError::try_from_code(code) {
                Some(ResponseError::Unknown(_)) | None => None,
                Some(e) => Some(e),
            })
            .map(|e| {
                let name = KAFKAJS_NAMES.iter().find(|(c, _)| *c == e.code()).map_or_else(|| screaming_snake(&e.to_string()), |(_, n)| n.to_string());
                KafkaError { name: Box::leak(name.into_boxed_str()), code: e.code(), retriable: e.is_retriable() }
            })
            .collect()
    })
}

/// "UnknownTopicOrPartition" as "UNKNOWN_TOPIC_OR_PARTITION".
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

/// The table's row for a code; codes it does not know are UNKNOWN_SERVER_ERROR's kind
/// (not retriable) under their own number.
pub fn kafka_error(code: i16) -> KafkaError {
    table()
        .iter()
        .find(|e| e.code == code)
        .copied()
        .unwrap_or(KafkaError { name: "UNKNOWN_SERVER_ERROR", code, retriable: false })
}

/// Kafka's name for a code another samsa process answered with (see [`Error::wire_code`]).
pub fn wire_error_name(code: i16) -> &'static str {
    kafka_error(if code >= SAMSA_FLIPPED { code - SAMSA_FLIPPED } else { code }).name
}

/// Every row of the table, for the JavaScript side's error classes.
pub fn kafka_errors() -> &'static [KafkaError] {
    table()
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
            Error::InvalidProducerEpoch(msg)
            | Error::ProducerFenced(msg)
            | Error::InvalidTxnState(msg)
            | Error::InvalidProducerIdMapping(msg)
            | Error::InvalidTransactionTimeout(msg)
            | Error::ConcurrentTransactions(msg)
            | Error::TransactionalIdNotFound(msg) => write!(f, "{msg}"),
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
            Error::InvalidConfig(msg) | Error::PolicyViolation(msg) => write!(f, "{msg}"),
            Error::MessageTooLarge { size, max } => write!(
                f,
                "The request included a message larger than the max message size the server will accept: {size} bytes > max.message.bytes {max}"
            ),
            Error::RecordsTooLarge { max } => write!(
                f,
                "The request included a message larger than the max message size the server will accept: a compressed record batch expands to more than {max} bytes (64 times max.message.bytes, at most 1 GiB)"
            ),
            Error::InvalidRecord(msg) => write!(f, "{msg}"),
            Error::InvalidTimestamp { message: Some(msg), .. } => write!(f, "{msg}"),
            Error::InvalidTimestamp { message: None, .. } => write!(f, "One or more records have been rejected due to invalid timestamp"),
            Error::InvalidRecords(records) => {
                let shown: Vec<String> = records.iter().take(3).map(RecordError::to_string).collect();
                write!(
                    f,
                    "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                    records.len(),
                    shown.join(", ")
                )
            }
            Error::InvalidReplicaAssignment(msg) => write!(f, "{msg}"),
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
            Error::CoordinatorNotAvailable(msg) | Error::UnsupportedAssignor(msg) => write!(f, "{msg}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_kafkajs_names_and_kafka_retriability() {
        assert_eq!(kafka_error(3), KafkaError { name: "UNKNOWN_TOPIC_OR_PARTITION", code: 3, retriable: true });
        assert_eq!(kafka_error(15).name, "GROUP_COORDINATOR_NOT_AVAILABLE");
        assert_eq!(kafka_error(17).name, "INVALID_TOPIC_EXCEPTION");
        assert!(!kafka_error(22).retriable && !kafka_error(25).retriable);
        assert_eq!(kafka_error(113).name, "STALE_MEMBER_EPOCH");
        assert_eq!(kafka_error(-1).name, "UNKNOWN");
        assert_eq!(kafka_error(9999).name, "UNKNOWN_SERVER_ERROR");
    }

    #[test]
    fn errors_keep_their_retriability_across_processes() {
        let full = Error::io("appending", io::Error::from_raw_os_error(28));
        let eio = Error::io("appending", io::Error::from_raw_os_error(5));
        let illegal = Error::IllegalGeneration("stale".into());
        for e in [full, eio, Error::Poisoned("fsync".into()), illegal, Error::CorruptRequest("crc".into())] {
            let there = Error::from_wire(e.wire_code(true), e.to_string());
            assert_eq!((there.kind(), there.code(), there.retriable()), (e.kind(), e.code(), e.retriable()), "{e}");
            assert!(e.wire_code(false) < SAMSA_FLIPPED, "other clients get Kafka's code");
        }
    }
}
