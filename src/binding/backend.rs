//! The one interface of a data directory as JS uses it, whichever process owns it: the
//! local backend (this process owns it: the core, called directly) and the remote one
//! (another process owns it: Kafka requests over its socket) implement the same trait, so
//! the napi classes over them (`NativeBroker`, `NativeMember`) have one shape, and a
//! signature that drifts in either backend fails to compile.
//!
//! What may cross a process is async in both (a local backend answers at once where it
//! can, on the calling thread); what is always answered from this process's memory (topic
//! counts as last loaded, fetched-ahead records, a member's state as last heard) is
//! synchronous in both.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::fetched::FetchResult;
use super::group::GroupJs;
use super::produce::ProduceResult;
use super::promise::{Pending, Spawn};
use super::{AppendWatcher, ListenAddress};
use crate::broker::{ConfigEntry, ConfigResource, DescribeOptions, NewTopic, PartitionOffsets};
use crate::error::Result;
use crate::group::{Strategy, TopicPartition};
use crate::log::verify::PartitionReport;
use crate::wire::ListenerConfig;

/// A send as `lib/send-queue/` packs it (src/binding/produce.rs has the layout).
pub struct ProduceArgs<'a> {
    pub topics: &'a [String],
    pub data: &'a [u8],
    pub meta: &'a [i32],
    pub timestamps: &'a [f64],
    pub compression: i32,
    pub producer: Option<(i64, i16)>,
    pub sequences: &'a [i32],
    /// A transactional producer's id: its batches are part of its open transaction, to
    /// which their partitions are added as they are sent.
    pub transactional_id: Option<&'a str>,
}

/// A transactional producer as the coordinator knows it.
#[derive(Clone, Debug)]
pub struct TxnProducer {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
}

/// A consumer joining a group.
pub struct Join {
    pub group_id: String,
    pub client_id: String,
    pub topics: Vec<String>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub strategy: Strategy,
    pub heartbeat_interval_ms: u64,
}

/// An offset to commit: topic, partition, offset, metadata.
pub type Offset = (String, i32, i64, Option<String>);

/// A group's committed offsets: per topic, (partition, offset, metadata).
pub type CommittedOffsets = BTreeMap<String, Vec<(i32, i64, Option<String>)>>;

pub trait BrokerBackend: Spawn + Send + Sync {
    type Member: MemberBackend;

    fn opened_clean(&self) -> bool;
    fn cluster_id(&self) -> String;
    /// Changes whenever topics were created, deleted or grew.
    fn topics_version(&self) -> u64;
    /// The partition count of `topic` as this process knows it; None when unknown.
    fn partition_count(&self, topic: &str) -> Result<Option<i32>>;
    /// Loads the topics again where they may be stale (another process changed them).
    async fn refresh_topics(&self) -> Result<()>;
    async fn topics(&self) -> Result<Vec<String>>;
    async fn create_topics(&self, specs: Vec<NewTopic>, validate_only: bool) -> Result<Vec<Result<()>>>;
    async fn delete_topic(&self, topic: String) -> Result<()>;
    async fn create_partitions(&self, topic: String, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<()>;
    /// Stores a send. Its buffers are read before this returns.
    fn produce(&self, send: ProduceArgs<'_>) -> Pending<ProduceResult>;
    async fn init_producer_id(&self) -> Result<(i64, i16)>;
    /// Kafka's InitProducerId with a transactional id: the id's producer at a new epoch,
    /// fencing older ones and aborting a transaction they left open.
    async fn init_transactions(&self, transactional_id: String, timeout_ms: i32) -> Result<(i64, i16)>;
    /// Kafka's AddOffsetsToTxn then TxnOffsetCommit: offsets the group gets when the
    /// transaction commits.
    async fn send_offsets_to_txn(&self, txn: TxnProducer, group_id: String, offsets: Vec<Offset>) -> Result<()>;
    /// Kafka's EndTxn. Resolves once the markers are written (and durable when the
    /// directory fsyncs).
    fn end_txn(&self, txn: TxnProducer, commit: bool) -> Pending<()>;
    async fn verify(&self) -> Result<Vec<PartitionReport>>;
    /// Resolves once everything this process appended is durable.
    async fn sync(&self) -> Result<()>;
    async fn offsets(&self, topic: String) -> Result<Vec<PartitionOffsets>>;
    async fn offset_for_timestamp(&self, topic: String, partition: i32, timestamp: i64) -> Result<Option<i64>>;
    async fn delete_records(&self, topic: String, partition: i32, offset: i64) -> Result<i64>;
    async fn describe_configs(&self, resource: ConfigResource, options: DescribeOptions) -> Result<Vec<ConfigEntry>>;
    async fn alter_configs(&self, resource: ConfigResource, entries: Vec<(String, String)>, validate_only: bool) -> Result<()>;
    /// Records from `offset` that this process has at hand for `reader`, or None.
    /// Read committed (`committed`), only records below the last stable offset, and none
    /// of an aborted transaction.
    fn fetch(&self, reader: u32, topic: &str, partition: i32, offset: i64, max_bytes: u32, committed: bool) -> napi::Result<Option<FetchResult>>;
    fn inject_append_failures(&self, topic: &str, partition: i32, n: u32) -> Result<()>;
    fn inject_fsync_failures(&self, n: u32) -> Result<()>;
    async fn run_maintenance(&self, now_ms: i64) -> Result<u32>;
    fn listen(&self, config: ListenerConfig) -> Result<ListenAddress>;
    async fn stop_listening(&self) -> Result<()>;
    /// Who to tell of appends and group news that consumers of this process wait for.
    fn watch_appends(&self, callback: Option<Arc<AppendWatcher>>);
    async fn close(&self) -> Result<()>;
    /// `close` on the calling thread, for `process.on('exit')`.
    fn close_sync(&self) -> Result<()>;
    async fn join_group(&self, join: Join) -> Result<Self::Member>;
    async fn committed(&self, group_id: String) -> Result<CommittedOffsets>;
    /// An admin's commit: refused while the group has members.
    async fn set_group_offsets(&self, group_id: String, offsets: Vec<Offset>) -> Result<()>;
    async fn group_leader(&self, group_id: String) -> Result<Option<String>>;
    async fn list_groups(&self) -> Result<Vec<String>>;
    async fn describe_group(&self, group_id: String) -> Result<GroupJs>;
    async fn delete_group(&self, group_id: String) -> Result<()>;
}

/// A member's state as last known: generation, partitions held (without those being
/// revoked), partitions to hand back, how many wait to be assigned.
pub struct MemberState {
    pub generation: i32,
    pub assigned: Vec<TopicPartition>,
    pub revoking: Vec<TopicPartition>,
    pub pending: u32,
    /// The directory's topics version as this process knows it.
    pub topics_version: u64,
}

pub trait MemberBackend: Spawn + Send + Sync {
    fn member_id(&self) -> String;
    /// Changes whenever this member's state may have changed.
    fn state_version(&self) -> u64;
    fn owns(&self, topic: &str, partition: i32) -> bool;
    /// The liveness signal (`busy_since`: when the handler now running began) and the
    /// member's state.
    fn poll(&self, busy_since: Option<i64>) -> Result<MemberState>;
    fn subscribe(&self, topics: Vec<String>) -> Result<()>;
    /// Hands back revoked partitions (after their offsets were committed).
    fn release(&self, partitions: Vec<TopicPartition>) -> Result<()>;
    fn commit(&self, offsets: Vec<Offset>) -> Pending<()>;
    async fn leave(&self) -> Result<()>;
}
