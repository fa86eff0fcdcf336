//! The broker: one data directory, locked by one process, holding topics of partition
//! logs. Appends are synchronous writes to the OS; durability beyond that (fsync) is
//! group-committed by [`sync::Syncer`] on its own thread.

pub mod assignment;
pub mod broker_configs;
mod cleaner;
pub mod config;
mod configure;
pub mod data_dir;
pub use data_dir::describe_process;
mod producer_ids;
mod requests;
mod sync;
pub mod topic_configs;
mod transactions;

pub use requests::{FetchPartition, FetchedPartition, ListedOffset, TopicMetadata, EARLIEST, LATEST, MAX_TIMESTAMP};

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::clock::now_ms;
use crate::clock::SystemClock;
use crate::durability::Durability;
pub use config::{BrokerConfig, ConfigEntry, ConfigOp, ConfigResource, ConfigSource, ConfigSynonym, ConfigType, DescribeOptions};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::group::{Committed, GroupCoordinator, TopicCounts};
use crate::log::verify::{self, PartitionReport};
use crate::log::{self as plog, AppendResult, Compression, EncodedBatches, FileCache, LogConfig, PartitionLog, ProducerStamp, Record};

const CLEAN_MARKER: &str = ".clean-shutdown";
const TOPICS_DIR: &str = "topics";
const TOPIC_META: &str = "topic.json";
const DELETING_SUFFIX: &str = ".deleting";
/// The most partitions a topic may have.
pub const MAX_PARTITIONS: i32 = 10_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave a log half-updated (appends undo
    // themselves on error), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

/// One partition of a topic.
pub struct Partition {
    pub id: i32,
    log: Mutex<PartitionLog>,
    /// Set when an append is waiting for the syncer to fsync this partition.
    queued_for_sync: AtomicBool,
    /// Fired by every append, whichever door it came through: long-polling fetches wait
    /// on it.
    appended: tokio::sync::Notify,
    /// Held by a cleaning pass for its whole length: one pass at a time, and a deletion
    /// of the topic waits for it.
    cleaning: Mutex<()>,
    /// The topic is being deleted: a pass stops at its next chunk.
    retired: AtomicBool,
}

impl Partition {
    pub fn log(&self) -> MutexGuard<'_, PartitionLog> {
        lock(&self.log)
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct TopicMeta {
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
    /// The topic's id (Kafka's topic UUID, as 32 hex digits): a topic deleted and created
    /// again gets a new one. Topics from before ids get one when first opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

/// A topic's UUID.
pub type TopicId = [u8; 16];

fn new_topic_id() -> TopicId {
    data_dir::random_uuid()
}

fn id_to_hex(id: &TopicId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn id_from_hex(s: &str) -> Option<TopicId> {
    let mut id = [0u8; 16];
    if s.len() != 32 {
        return None;
    }
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

pub struct Topic {
    pub name: String,
    pub id: TopicId,
    dir: PathBuf,
    overrides: RwLock<BTreeMap<String, String>>,
    partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    pub fn partition_count(&self) -> i32 {
        read(&self.partitions).len() as i32
    }

    pub fn partition(&self, id: i32) -> Result<Arc<Partition>> {
        read(&self.partitions)
            .get(usize::try_from(id).unwrap_or(usize::MAX))
            .cloned()
            .ok_or_else(|| Error::UnknownTopicOrPartition { topic: self.name.clone(), partition: Some(id) })
    }

    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        read(&self.partitions).clone()
    }

    fn meta(&self, partitions: i32, configs: BTreeMap<String, String>) -> TopicMeta {
        TopicMeta { partitions, configs, id: Some(id_to_hex(&self.id)) }
    }
}

/// Records bound for one partition, from one producer.
pub struct PartitionAppend<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub records: Vec<Record<'a>>,
    /// An idempotent producer's stamp for the first record (None: not idempotent).
    pub producer: Option<ProducerStamp>,
}

/// A topic to create (Kafka's CreateTopics entry).
#[derive(Clone, Debug, Default)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker's default, or the assignment's count.
    pub partitions: i32,
    /// -1 or 1: there is one broker.
    pub replication_factor: i32,
    pub configs: Vec<(String, String)>,
    /// A manual replica assignment (empty: none); partitions and replication factor
    /// must then be -1.
    pub assignments: Vec<assignment::ReplicaAssignment>,
}

/// The low and high watermarks of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
    /// The last stable offset: where "latest" is for a read-committed reader.
    pub stable: i64,
}

/// Bytes read from a partition, with its watermarks at the time of the read.
pub struct ReadResult {
    /// Whole, verified batches, as stored.
    pub bytes: Vec<u8>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// The first offset of the oldest open transaction, or the high watermark.
    pub last_stable_offset: i64,
    /// Read committed: the aborted transactions with records in `bytes`, by first offset.
    pub aborted: Vec<crate::log::AbortedTxn>,
}

/// Kafka's isolation level for reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Every record up to the high watermark, transactional ones open or aborted too.
    ReadUncommitted,
    /// Records below the last stable offset, with the aborted transactions among them
    /// listed for the reader to skip.
    ReadCommitted,
}

/// The maintenance thread and the flag that stops it.
type Maintenance = (JoinHandle<()>, Arc<(Mutex<bool>, Condvar)>);

/// A broker over one data directory. Dropping it without [`Broker::close`] is an unclean
/// stop: the next open verifies the active segments.
pub struct Broker {
    dir: PathBuf,
    /// The directory's cluster id (meta.properties), the same through every door.
    cluster_id: String,
    config: BrokerConfig,
    lock_file: Mutex<Option<File>>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    files: Arc<FileCache>,
    durability: Arc<Durability>,
    syncer: sync::Syncer,
    maintenance: Mutex<Option<Maintenance>>,
    cleaner: Mutex<Option<cleaner::CleanerThread>>,
    closed: AtomicBool,
    /// Whether the previous stop was clean (for tests and logs).
    opened_clean: bool,
    pub groups: GroupCoordinator,
    /// Bumped whenever topics are created, deleted or grow (RegExp subscriptions watch it).
    topics_version: AtomicU64,
    producer_ids: producer_ids::ProducerIds,
    /// The transaction coordinator's state.
    txns: crate::txn::Transactions,
    /// Encoding buffers reused across appends (a send encodes one per partition).
    scratch: Mutex<Vec<EncodedBatches>>,
    /// Told of appends made through the wire (see `produce_batches`).
    append_listener: RwLock<Option<requests::AppendListener>>,
    /// Test hook: appends to these partitions fail with EIO this many more times.
    append_faults: Mutex<BTreeMap<(String, i32), u32>>,
    any_append_faults: AtomicBool,
    /// Kafka's dynamic broker configs as AlterConfigs set them: kept and described only.
    dynamic_configs: Mutex<broker_configs::DynamicConfigs>,
}

impl Broker {
    /// Locks `dir` (creating it if needed), recovers every topic and starts the
    /// background syncer and retention thread.
    pub fn open(dir: impl AsRef<Path>, config: BrokerConfig) -> Result<Arc<Broker>> {
        Broker::open_locked(dir, config, None)
    }

    /// [`Broker::open`] for a caller that may already hold the directory's lock (a
    /// process taking over from an owner that died: see `data_dir::try_take_over`).
    pub fn open_locked(dir: impl AsRef<Path>, config: BrokerConfig, lock: Option<std::fs::File>) -> Result<Arc<Broker>> {
        let dir = dir.as_ref();
        let fresh = !dir.join(TOPICS_DIR).exists();
        data_dir::prepare(dir)?;
        let dir = dir.canonicalize().map_err(|e| Error::io_at("resolving", dir, e))?;
        let lock_file = match lock {
            Some(held) => data_dir::claim(&dir, held)?,
            None => data_dir::lock(&dir)?,
        };
        let cluster_id = data_dir::cluster_id(&dir)?;
        let marker = dir.join(CLEAN_MARKER);
        let clean = fresh || marker.exists();
        if marker.exists() {
            // From here on a crash must not pass for a clean stop.
            std::fs::remove_file(&marker).map_err(|e| Error::io_at("removing", &marker, e))?;
            fsutil::sync_dir(&dir)?;
        }
        let files = FileCache::new(config.max_open_files.unwrap_or_else(FileCache::default_budget));
        let durability = Arc::new(Durability::default());
        let options = plog::OpenOptions { clean, track_unsynced: config.fsync, files: Arc::clone(&files) };
        let topics = load_topics(&dir.join(TOPICS_DIR), &config.log, &options)?;
        let groups = GroupCoordinator::open(&dir.join("groups"), config.fsync, Arc::clone(&durability), Arc::new(SystemClock))?;
        let producer_ids = producer_ids::ProducerIds::open(&dir)?;
        let txns = crate::txn::Transactions::open(&dir, config.fsync, Arc::clone(&durability))?;
        let dynamic_configs = Mutex::new(broker_configs::DynamicConfigs::load(&dir)?);
        let broker = Arc::new(Broker {
            dynamic_configs,
            cluster_id,
            groups,
            topics_version: AtomicU64::new(0),
            syncer: sync::Syncer::start(Arc::clone(&durability))?,
            dir,
            config,
            lock_file: Mutex::new(Some(lock_file)),
            topics: RwLock::new(topics),
            files,
            durability,
            maintenance: Mutex::new(None),
            cleaner: Mutex::new(None),
            closed: AtomicBool::new(false),
            opened_clean: clean,
            producer_ids,
            txns,
            scratch: Mutex::new(Vec::new()),
            append_listener: RwLock::new(None),
            append_faults: Mutex::new(BTreeMap::new()),
            any_append_faults: AtomicBool::new(false),
        });
        broker.recover_transactions();
        broker.abort_timed_out_transactions(now_ms());
        broker.start_maintenance()?;
        let backoff = Duration::from_millis(broker.config.cleaner.backoff_ms.max(10));
        *self::lock(&broker.cleaner) = Some(cleaner::CleanerThread::start(Arc::downgrade(&broker), backoff)?);
        Ok(broker)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub fn opened_clean(&self) -> bool {
        self.opened_clean
    }

    /// Segment files open now (at most the file budget).
    pub fn open_files(&self) -> usize {
        self.files.open_count()
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Refuses writes once the broker is closed or an fsync has failed.
    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        self.durability.check()
    }

    pub fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_open()?;
        read(&self.topics)
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopicOrPartition { topic: name.to_string(), partition: None })
    }

    /// Whether the topic exists with this partition.
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.topic(topic).is_ok_and(|t| partition >= 0 && partition < t.partition_count())
    }

    /// Commits a member's offsets as Kafka's OffsetCommit does: those of partitions that
    /// do not exist are refused (UNKNOWN_TOPIC_OR_PARTITION), the rest committed together.
    pub fn commit_offsets(&self, group: &str, member: &str, offsets: &[(String, i32, Committed)]) -> Result<()> {
        if offsets.iter().all(|(t, p, _)| self.has_partition(t, *p)) {
            return self.groups.commit(group, Some(member), offsets);
        }
        let (known, unknown): (Vec<_>, Vec<_>) = offsets.iter().cloned().partition(|(t, p, _)| self.has_partition(t, *p));
        if !known.is_empty() {
            self.groups.commit(group, Some(member), &known)?;
        }
        match unknown.into_iter().next() {
            Some((topic, partition, _)) => Err(Error::UnknownTopicOrPartition { topic, partition: Some(partition) }),
            None => Ok(()),
        }
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>> {
        self.topic(topic)?.partition(partition)
    }

    pub fn topic_names(&self) -> Result<Vec<String>> {
        self.check_open()?;
        Ok(read(&self.topics).keys().cloned().collect())
    }

    /// Partition count of every topic.
    pub fn topic_counts(&self) -> TopicCounts {
        read(&self.topics).iter().map(|(n, t)| (n.clone(), t.partition_count())).collect()
    }

    pub fn topics_version(&self) -> u64 {
        self.topics_version.load(Ordering::Acquire)
    }

    fn topics_changed(&self) {
        self.topics_version.fetch_add(1, Ordering::AcqRel);
        self.groups.topics_changed(&self.topic_counts());
    }

    fn log_config(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
        topic_configs::resolve(&self.config.log, overrides)
    }

    fn log_options(&self, clean: bool) -> plog::OpenOptions {
        plog::OpenOptions { clean, track_unsynced: self.config.fsync, files: Arc::clone(&self.files) }
    }

    /// Writes a topic's metadata: atomically, and durably when the broker fsyncs.
    fn save_meta(&self, dir: &Path, meta: &TopicMeta) -> Result<()> {
        let json = serde_json::to_vec_pretty(meta).map_err(|e| Error::io("encoding topic metadata", std::io::Error::other(e)))?;
        self.write_file(&dir.join(TOPIC_META), &json)
    }

    /// Replaces a small file of the data directory (owner-only): atomically, and durably
    /// when the broker fsyncs.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        if self.config.fsync {
            self.durability.write_atomic(path, bytes)
        } else {
            fsutil::replace(path, bytes, false)
        }
    }

    fn sync_topics_dir(&self) -> Result<()> {
        if self.config.fsync {
            let dir = self.dir.join(TOPICS_DIR);
            self.durability.run(|| fsutil::sync_dir(&dir))?;
        }
        Ok(())
    }

    /// Creates a topic (Kafka's CreateTopics for one topic).
    pub fn create_topic(
        &self,
        name: &str,
        num_partitions: i32,
        replication_factor: i32,
        configs: &[(String, String)],
        validate_only: bool,
    ) -> Result<()> {
        let spec = NewTopic { name: name.to_string(), partitions: num_partitions, replication_factor, configs: configs.to_vec(), assignments: Vec::new() };
        self.create_topics(std::slice::from_ref(&spec), validate_only).pop().unwrap_or(Ok(()))
    }

    /// Creates several topics at once (Kafka's CreateTopics): one result per topic, in
    /// order. Each topic is created whole or not at all.
    pub fn create_topics(&self, specs: &[NewTopic], validate_only: bool) -> Vec<Result<()>> {
        if let Err(e) = self.check_writable() {
            return specs.iter().map(|_| Err(clone_error(&e))).collect();
        }
        let mut results = Vec::with_capacity(specs.len());
        let mut created = false;
        for spec in specs {
            let r = self.create_one(spec, validate_only);
            created |= r.is_ok() && !validate_only;
            results.push(r);
        }
        if created {
            if let Err(e) = self.sync_topics_dir() {
                return specs.iter().map(|_| Err(clone_error(&e))).collect();
            }
            self.topics_changed();
        }
        results
    }

    /// The partitions a topic gets when created from `spec` (for answers to a CreateTopics
    /// that only validates).
    pub fn partitions_for(&self, spec: &NewTopic) -> i32 {
        match (spec.assignments.len(), spec.partitions) {
            (0, -1) => self.config.default_num_partitions,
            (0, n) => n,
            (n, _) => n as i32,
        }
    }

    fn create_one(&self, spec: &NewTopic, validate_only: bool) -> Result<()> {
        let name = spec.name.as_str();
        config::check_creatable(name)?;
        if read(&self.topics).contains_key(name) {
            return Err(Error::TopicAlreadyExists(name.to_string()));
        }
        if !spec.assignments.is_empty() {
            assignment::check_new_topic(&spec.assignments, spec.partitions, spec.replication_factor)?;
        }
        let partitions = self.partitions_for(spec);
        if partitions < 1 {
            return Err(Error::InvalidPartitions(format!("Number of partitions must be at least 1, got {}", spec.partitions)));
        }
        if partitions > MAX_PARTITIONS {
            return Err(Error::InvalidPartitions(format!(
                "Number of partitions {partitions} is more than samsa allows ({MAX_PARTITIONS})"
            )));
        }
        if spec.assignments.is_empty() && spec.replication_factor != -1 && spec.replication_factor != 1 {
            return Err(Error::InvalidReplicationFactor(format!(
                "Replication factor: {} larger than available brokers: 1 (samsa is a single, embedded broker)",
                spec.replication_factor
            )));
        }
        let overrides: BTreeMap<String, String> = spec.configs.iter().cloned().collect();
        let log_config = self.log_config(&overrides)?;
        let mut topics = write(&self.topics);
        if topics.contains_key(name) {
            return Err(Error::TopicAlreadyExists(name.to_string()));
        }
        if validate_only {
            return Ok(());
        }
        let dir = self.dir.join(TOPICS_DIR).join(name);
        let id = new_topic_id();
        let created = (|| {
            fsutil::create_private_dir(&dir, true).map_err(|e| Error::io_at("creating", &dir, e))?;
            let mut parts = Vec::with_capacity(partitions as usize);
            for p in 0..partitions {
                parts.push(new_partition(&dir, p, log_config, &self.log_options(true))?);
            }
            self.save_meta(&dir, &TopicMeta { partitions, configs: overrides.clone(), id: Some(id_to_hex(&id)) })?;
            Ok(parts)
        })();
        let parts = match created {
            Ok(parts) => parts,
            Err(e) => {
                // Leave no half-created topic behind (a full disk, too many open files).
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let topic = Topic { name: name.to_string(), id, dir, overrides: RwLock::new(overrides), partitions: RwLock::new(parts) };
        topics.insert(name.to_string(), Arc::new(topic));
        tracing::debug!(topic = name, partitions, "created topic");
        Ok(())
    }

    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.check_writable()?;
        let topic = write(&self.topics)
            .remove(name)
            .ok_or_else(|| Error::UnknownTopicOrPartition { topic: name.to_string(), partition: None })?;
        // A cleaning pass must not outlive the topic: it would go on writing by path into
        // a topic created again under the same name.
        for p in topic.partitions() {
            p.retired.store(true, Ordering::Release);
        }
        for p in topic.partitions() {
            drop(lock(&p.cleaning));
        }
        let doomed = topic.dir.with_file_name(format!("{name}.{}{DELETING_SUFFIX}", now_ms()));
        std::fs::rename(&topic.dir, &doomed).map_err(|e| Error::io_at("deleting topic", &topic.dir, e))?;
        self.sync_topics_dir()?;
        write(&topic.partitions).clear();
        std::fs::remove_dir_all(&doomed).map_err(|e| Error::io_at("deleting topic", &doomed, e))?;
        tracing::debug!(topic = name, "deleted topic");
        self.groups.delete_topic(name)?;
        self.topics_changed();
        Ok(())
    }

    /// Grows a topic to `count` partitions (Kafka's CreatePartitions), with a replica list
    /// per new partition when `assignments` are given. The new partitions and the metadata
    /// that names them appear together or not at all.
    pub fn create_partitions(&self, name: &str, count: i32, assignments: Option<&[Vec<i32>]>, validate_only: bool) -> Result<()> {
        self.check_writable()?;
        let topic = self.topic(name)?;
        let mut parts = write(&topic.partitions);
        let current = parts.len() as i32;
        if count == current {
            return Err(Error::InvalidPartitions(format!("Topic already has {current} partition(s).")));
        }
        if count < current {
            return Err(Error::InvalidPartitions(format!(
                "The topic {name} currently has {current} partition(s); {count} would not be an increase."
            )));
        }
        if let Some(assignments) = assignments {
            // Every partition has one replica: the topic's replication factor is 1.
            assignment::check_new_partitions(assignments, current, count, 1)?;
        }
        if count > MAX_PARTITIONS {
            return Err(Error::InvalidPartitions(format!("Number of partitions {count} is more than samsa allows ({MAX_PARTITIONS})")));
        }
        if validate_only {
            return Ok(());
        }
        let overrides = read(&topic.overrides).clone();
        let log_config = self.log_config(&overrides)?;
        let added = (|| {
            let mut added = Vec::with_capacity((count - current) as usize);
            for id in current..count {
                added.push(new_partition(&topic.dir, id, log_config, &self.log_options(true))?);
            }
            self.save_meta(&topic.dir, &topic.meta(count, overrides))?;
            Ok(added)
        })();
        match added {
            Ok(added) => parts.extend(added),
            Err(e) => {
                for id in current..count {
                    let _ = std::fs::remove_dir_all(topic.dir.join(id.to_string()));
                }
                return Err(e);
            }
        }
        drop(parts);
        self.topics_changed();
        Ok(())
    }

    fn take_scratch(&self) -> EncodedBatches {
        lock(&self.scratch).pop().unwrap_or_default()
    }

    fn return_scratch(&self, mut enc: EncodedBatches) {
        // Keep buffers for later appends, but not huge ones from rare big sends.
        if enc.bytes.capacity() <= 4 << 20 {
            enc.clear();
            let mut pool = lock(&self.scratch);
            if pool.len() < 64 {
                pool.push(enc);
            }
        }
    }

    /// Appends one producer send to several partitions. Bad input (an unknown partition, a
    /// record too large) fails the whole send before anything is written. After that,
    /// each partition succeeds or fails on its own, as Kafka's per-partition produce
    /// results do (records the topic refuses, for their timestamps or, on a compacted
    /// topic, for want of a key, fail their partition);
    /// encoding and compression run before any partition is locked.
    pub fn append_all(&self, appends: &[PartitionAppend<'_>], compression: Compression) -> Result<Vec<Result<AppendResult>>> {
        self.check_writable()?;
        let now = now_ms();
        let mut encoded = Vec::with_capacity(appends.len());
        let prepared = (|| {
            for a in appends {
                let p = self.partition(a.topic, a.partition)?;
                let config = *p.log().config();
                let mut enc = self.take_scratch();
                let rules = plog::validate::RecordRules::of(&config, a.topic, a.partition, now);
                let mut refusals = plog::validate::Refusals::default();
                for (i, r) in a.records.iter().enumerate() {
                    refusals.check(&rules, i as i32, i as i64, r.timestamp, r.key.is_some());
                }
                let r = match refusals.into_result() {
                    Err(refused) => Ok(Some(refused)),
                    Ok(()) => enc.encode(&a.records, compression, config.max_message_bytes, a.producer).map(|()| None),
                };
                match r {
                    Ok(refused) => encoded.push((p, enc, refused)),
                    Err(e) => {
                        encoded.push((p, enc, None));
                        return Err(e);
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = prepared {
            for (_, enc, _) in encoded {
                self.return_scratch(enc);
            }
            return Err(e);
        }
        // A transactional send (samsa's own producer) adds its partitions to the
        // transaction as it goes: all of them at once, and its appends under the
        // transaction's lock.
        if let Some(s) = appends.first().and_then(|a| a.producer).filter(|s| s.transactional) {
            let partitions: Vec<(String, i32)> = appends.iter().map(|a| (a.topic.to_string(), a.partition)).collect();
            let appended = self.with_transaction(s.producer_id, s.epoch, &partitions, true, || self.append_encoded_all(encoded, appends, now));
            return match appended {
                Ok(results) => Ok(results),
                Err(e) => {
                    // Nothing was written: every partition fails alike.
                    Ok(appends.iter().map(|a| Err(with_partition(clone_error(&e), a.topic, a.partition))).collect())
                }
            };
        }
        Ok(self.append_encoded_all(encoded, appends, now))
    }

    /// Appends each partition's encoded batches (or gives the error it was refused with).
    fn append_encoded_all(&self, encoded: Vec<(Arc<Partition>, EncodedBatches, Option<Error>)>, appends: &[PartitionAppend<'_>], now: i64) -> Vec<Result<AppendResult>> {
        let mut results = Vec::with_capacity(encoded.len());
        for ((p, mut enc, refused), a) in encoded.into_iter().zip(appends) {
            let r = match (refused, self.injected_append_fault(a.topic, a.partition)) {
                (Some(e), _) | (None, Some(e)) => Err(e),
                (None, None) => self.append_to(&p, &mut enc, now),
            };
            results.push(r.map_err(|e| with_partition(e, a.topic, a.partition)));
            self.return_scratch(enc);
        }
        results
    }

    fn append_to(&self, p: &Arc<Partition>, enc: &mut EncodedBatches, now: i64) -> Result<AppendResult> {
        self.durability.check()?;
        let r = p.log().append_encoded(enc, now)?;
        if !r.duplicate {
            if self.config.fsync {
                self.syncer.mark_dirty(p);
            }
            p.appended.notify_waiters();
        }
        Ok(r)
    }

    /// Waits (asynchronously) until everything appended before this call is fsynced.
    /// Concurrent callers share one fsync per partition (group commit).
    pub fn sync(&self) -> tokio::sync::oneshot::Receiver<Result<()>> {
        self.syncer.request()
    }

    /// Whether a transaction holds offsets of `group` for the partition that it has not
    /// committed yet (OffsetFetch with RequireStable answers UNSTABLE_OFFSET_COMMIT).
    pub fn has_pending_txn_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.txns.has_pending_offset(group, topic, partition)
    }

    /// A new idempotent producer id (Kafka's InitProducerId without a transactional id):
    /// every producer gets its own id, at epoch 0.
    pub fn init_producer_id(&self) -> Result<(i64, i16)> {
        self.check_writable()?;
        Ok((self.producer_ids.next()?, 0))
    }

    /// Whole, verified batches from the one holding `offset`, up to about `max_bytes`,
    /// read uncommitted.
    pub fn read(&self, topic: &str, partition: i32, offset: i64, max_bytes: usize) -> Result<ReadResult> {
        self.read_isolated(topic, partition, offset, max_bytes, Isolation::ReadUncommitted)
    }

    /// [`Broker::read`] at an isolation level.
    pub fn read_isolated(&self, topic: &str, partition: i32, offset: i64, max_bytes: usize, isolation: Isolation) -> Result<ReadResult> {
        let part = self.partition(topic, partition)?;
        let mut log = part.log();
        let (bytes, isolated) = match isolation {
            Isolation::ReadCommitted => log.read_committed(offset, max_bytes),
            Isolation::ReadUncommitted => log.read(offset, max_bytes).and_then(|b| Ok((b, plog::Isolated { last_stable_offset: log.last_stable_offset()?, aborted: Vec::new() }))),
        }
        .map_err(|e| with_partition(e, topic, partition))?;
        Ok(ReadResult {
            bytes,
            high_watermark: log.next_offset(),
            log_start_offset: log.log_start_offset(),
            last_stable_offset: isolated.last_stable_offset,
            aborted: isolated.aborted,
        })
    }

    pub fn offsets(&self, topic: &str) -> Result<Vec<PartitionOffsets>> {
        Ok(self
            .topic(topic)?
            .partitions()
            .iter()
            .map(|p| {
                let mut log = p.log();
                let stable = log.last_stable_offset().map_err(|e| with_partition(e, topic, p.id))?;
                Ok(PartitionOffsets { partition: p.id, low: log.log_start_offset(), high: log.next_offset(), stable })
            })
            .collect::<Result<Vec<_>>>()?)
    }

    pub fn offset_for_timestamp(&self, topic: &str, partition: i32, timestamp: i64) -> Result<Option<i64>> {
        let found = self.partition(topic, partition)?.log().offset_for_timestamp(timestamp);
        found.map(|f| f.map(|(offset, _)| offset)).map_err(|e| with_partition(e, topic, partition))
    }

    /// Kafka's DeleteRecords: moves the partition's log start to `offset`. Only a topic
    /// whose `cleanup.policy` has `delete` allows it, as in Kafka: a compacted topic's
    /// records go only by compaction.
    pub fn delete_records(&self, topic: &str, partition: i32, offset: i64) -> Result<i64> {
        self.check_writable()?;
        let part = self.partition(topic, partition)?;
        let mut log = part.log();
        if !log.config().cleanup.delete {
            return Err(Error::PolicyViolation(format!(
                "Records of partition {topic}-{partition} can not be deleted due to the configured policy"
            )));
        }
        let low = log.delete_records_before(offset, now_ms());
        low.map_err(|e| with_partition(e, topic, partition))
    }

    /// One pass of background work: retention. Runs on its own thread every
    /// `retention_check_interval_ms`; tests call it with their own clock.
    pub fn run_maintenance(&self, now_ms: i64) -> Result<usize> {
        let topics: Vec<Arc<Topic>> = read(&self.topics).values().cloned().collect();
        let mut deleted = 0;
        for topic in topics {
            for p in topic.partitions() {
                deleted += p.log().apply_retention(now_ms).map_err(|e| with_partition(e, &topic.name, p.id))?;
            }
        }
        Ok(deleted)
    }

    /// Checks every partition's files whole (every batch's CRC, offsets, indexes), one
    /// partition at a time, each while its appends wait.
    pub fn verify(&self) -> Result<Vec<PartitionReport>> {
        self.check_open()?;
        let topics: Vec<Arc<Topic>> = read(&self.topics).values().cloned().collect();
        let mut reports = Vec::new();
        for topic in topics {
            for p in topic.partitions() {
                let log = p.log();
                reports.push(verify::verify_partition(log.dir(), &topic.name, p.id)?);
            }
        }
        Ok(reports)
    }

    /// Makes the next `n` appends to a partition fail with EIO, writing nothing (fault
    /// injection for tests of per-partition results and retries).
    #[doc(hidden)]
    pub fn inject_append_failures(&self, topic: &str, partition: i32, n: u32) {
        lock(&self.append_faults).insert((topic.to_string(), partition), n);
        self.any_append_faults.store(true, Ordering::Release);
    }

    fn injected_append_fault(&self, topic: &str, partition: i32) -> Option<Error> {
        if !self.any_append_faults.load(Ordering::Acquire) {
            return None;
        }
        let mut faults = lock(&self.append_faults);
        let left = faults.get_mut(&(topic.to_string(), partition)).filter(|n| **n > 0)?;
        *left -= 1;
        Some(Error::io(format!("appending to {topic}-{partition}"), std::io::Error::from_raw_os_error(libc::EIO)))
    }

    /// Makes the next `n` fsyncs fail with EIO (fault injection for tests).
    #[doc(hidden)]
    pub fn inject_fsync_failures(&self, n: u32) {
        self.durability.inject_failures(n);
    }

    /// Starts the background thread: consumer-group timeouts every second (members that
    /// vanished without leaving), retention every `retention_check_interval_ms`.
    fn start_maintenance(self: &Arc<Self>) -> Result<()> {
        let signal = Arc::new((Mutex::new(false), Condvar::new()));
        let weak = Arc::downgrade(self);
        let retention_every = Duration::from_millis(self.config.retention_check_interval_ms.max(10));
        let tick = retention_every.min(Duration::from_secs(1));
        let stop = Arc::clone(&signal);
        let handle = std::thread::Builder::new()
            .name("samsa-maintenance".into())
            .spawn(move || {
                let mut last_retention = std::time::Instant::now();
                loop {
                    let (flag, cv) = &*stop;
                    let guard = lock(flag);
                    let (guard, _) = cv.wait_timeout_while(guard, tick, |stopped| !*stopped).unwrap_or_else(|p| p.into_inner());
                    if *guard {
                        return;
                    }
                    drop(guard);
                    let Some(broker) = weak.upgrade() else { return };
                    broker.groups.tick();
                    broker.abort_timed_out_transactions(now_ms());
                    if last_retention.elapsed() >= retention_every {
                        last_retention = std::time::Instant::now();
                        if let Err(e) = broker.run_maintenance(now_ms()) {
                            tracing::warn!(error = %e, "retention pass failed");
                        }
                    }
                }
            })
            .map_err(|e| Error::io("starting the maintenance thread", e))?;
        *lock(&self.maintenance) = Some((handle, signal));
        Ok(())
    }

    /// Flushes everything with one filesystem sync, writes the clean-shutdown marker and
    /// releases the lock. After a failed fsync no marker is written (the next open
    /// recovers) and the poisoning error is returned. Later calls do nothing; every other
    /// method then fails with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some((handle, signal)) = lock(&self.maintenance).take() {
            *lock(&signal.0) = true;
            signal.1.notify_all();
            let _ = handle.join();
        }
        if let Some(cleaner) = lock(&self.cleaner).take() {
            cleaner.stop();
        }
        self.syncer.stop();
        let topics = std::mem::take(&mut *write(&self.topics));
        let now = now_ms();
        let mut result = Ok(());
        for topic in topics.values() {
            for p in topic.partitions() {
                if let Err(e) = p.log().close(now) {
                    result = Err(e);
                }
            }
        }
        drop(topics);
        if result.is_ok() {
            result = self.durability.check();
        }
        if result.is_ok() {
            let (dir, marker) = (&self.dir, self.dir.join(CLEAN_MARKER));
            result = self.durability.run(|| {
                fsutil::sync_filesystem(dir)?;
                fsutil::private_file()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&marker)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| Error::io_at("writing", &marker, e))?;
                fsutil::sync_dir(dir)
            });
        }
        // Dropping the file releases the OS lock.
        lock(&self.lock_file).take();
        result
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(cleaner) = lock(&self.cleaner).as_ref() {
            cleaner.signal();
        }
        if let Some((_, signal)) = lock(&self.maintenance).take() {
            *lock(&signal.0) = true;
            signal.1.notify_all();
        }
        self.syncer.stop();
    }
}

/// The same error again, for each of several results (io errors are not Clone).
fn clone_error(e: &Error) -> Error {
    match e {
        Error::Poisoned(w) => Error::Poisoned(w.clone()),
        Error::Closed => Error::Closed,
        // What a transaction refuses a send with stays what it is: a fenced producer must
        // hear INVALID_PRODUCER_EPOCH (not retriable), not a storage error it retries.
        Error::InvalidProducerEpoch(m) => Error::InvalidProducerEpoch(m.clone()),
        Error::ProducerFenced(m) => Error::ProducerFenced(m.clone()),
        Error::InvalidProducerIdMapping(m) => Error::InvalidProducerIdMapping(m.clone()),
        Error::InvalidTxnState(m) => Error::InvalidTxnState(m.clone()),
        Error::ConcurrentTransactions(m) => Error::ConcurrentTransactions(m.clone()),
        Error::UnknownTopicOrPartition { topic, partition } => Error::UnknownTopicOrPartition { topic: topic.clone(), partition: *partition },
        other => Error::io(other.to_string(), std::io::Error::other("failed")),
    }
}

/// Adds the topic-partition to errors that name one.
fn with_partition(e: Error, topic: &str, partition: i32) -> Error {
    match e {
        Error::OffsetOutOfRange { offset, .. } => Error::OffsetOutOfRange { topic: topic.to_string(), partition, offset },
        Error::Corrupt { path, position, offset, detail, .. } => {
            Error::Corrupt { path, position, offset, detail, partition: Some((topic.to_string(), partition)) }
        }
        other => other,
    }
}

fn open_partition(topic_dir: &Path, id: i32, config: LogConfig, options: &plog::OpenOptions) -> Result<Arc<Partition>> {
    partition(id, PartitionLog::open(&topic_dir.join(id.to_string()), config, options.clone())?)
}

/// A partition being created (a new topic, or CreatePartitions).
fn new_partition(topic_dir: &Path, id: i32, config: LogConfig, options: &plog::OpenOptions) -> Result<Arc<Partition>> {
    partition(id, PartitionLog::create(&topic_dir.join(id.to_string()), config, options.clone())?)
}

fn partition(id: i32, log: PartitionLog) -> Result<Arc<Partition>> {
    Ok(Arc::new(Partition {
        id,
        log: Mutex::new(log),
        queued_for_sync: AtomicBool::new(false),
        appended: tokio::sync::Notify::new(),
        cleaning: Mutex::new(()),
        retired: AtomicBool::new(false),
    }))
}

/// Takes the data directory's lock without opening a broker (offline tools); the lock is
/// held while the returned file lives.
pub fn lock_data_dir(dir: &Path) -> Result<File> {
    data_dir::lock(dir)
}

fn load_topics(topics_dir: &Path, defaults: &LogConfig, options: &plog::OpenOptions) -> Result<BTreeMap<String, Arc<Topic>>> {
    let mut topics = BTreeMap::new();
    for entry in std::fs::read_dir(topics_dir).map_err(|e| Error::io_at("listing", topics_dir, e))? {
        let entry = entry.map_err(|e| Error::io_at("listing", topics_dir, e))?;
        let dir = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(DELETING_SUFFIX) {
            // A deletion that a crash interrupted: finish it.
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io_at("deleting", &dir, e))?;
            continue;
        }
        let Some(mut meta) = read_topic_meta(&dir)? else {
            // A creation that a crash interrupted before its metadata was written.
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io_at("deleting", &dir, e))?;
            continue;
        };
        let id = match meta.id.as_deref().and_then(id_from_hex) {
            Some(id) => id,
            None => {
                // A topic from before topic ids: it gets one now, kept from here on.
                let id = new_topic_id();
                meta.id = Some(id_to_hex(&id));
                let json = serde_json::to_vec_pretty(&meta).map_err(|e| Error::io("encoding topic metadata", std::io::Error::other(e)))?;
                fsutil::write_atomic(&dir.join(TOPIC_META), &json)?;
                id
            }
        };
        let log_config = topic_configs::resolve(defaults, &meta.configs)?;
        let mut partitions = Vec::with_capacity(meta.partitions.max(0) as usize);
        for id in 0..meta.partitions {
            partitions.push(open_partition(&dir, id, log_config, options)?);
        }
        // Partitions a crash left behind while growing the topic are not in its metadata.
        for extra in meta.partitions.. {
            let p = dir.join(extra.to_string());
            if !p.exists() {
                break;
            }
            std::fs::remove_dir_all(&p).map_err(|e| Error::io_at("deleting", &p, e))?;
        }
        topics.insert(
            name.clone(),
            Arc::new(Topic { name, id, dir, overrides: RwLock::new(meta.configs), partitions: RwLock::new(partitions) }),
        );
    }
    Ok(topics)
}

fn read_topic_meta(dir: &Path) -> Result<Option<TopicMeta>> {
    let path = dir.join(TOPIC_META);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::corrupt_file(&path, 0, format!("topic metadata is not valid: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io_at("reading", &path, e)),
    }
}

/// The topics of a data directory and their partition directories, read from disk (for
/// offline tools: no broker is opened).
pub fn list_partitions(data_dir: &Path) -> Result<Vec<(String, i32, PathBuf)>> {
    let topics_dir = data_dir.join(TOPICS_DIR);
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&topics_dir)
        .map_err(|e| Error::io_at("listing", &topics_dir, e))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(DELETING_SUFFIX) {
            continue;
        }
        if let Some(meta) = read_topic_meta(&entry.path())? {
            for p in 0..meta.partitions {
                out.push((name.clone(), p, entry.path().join(p.to_string())));
            }
        }
    }
    Ok(out)
}

/// What an offline check of a data directory found, and what a repair gave up.
pub struct DataDirReport {
    pub partitions: Vec<PartitionReport>,
    /// Per repaired partition: topic, partition, first and last offset given up.
    pub repaired: Vec<(String, i32, i64, i64)>,
    /// Transactions with records but no marker that the coordinator does not know as
    /// open (its state was lost): they hold the partition's last stable offset forever,
    /// as Kafka's hanging transactions do. (topic, partition, producer id, first offset,
    /// aborted by the repair)
    pub hanging: Vec<(String, i32, i64, i64, bool)>,
}

/// Ends a hanging transaction with an abort marker (Kafka's `kafka-transactions.sh abort`).
/// False if a repair cut the transaction's records off meanwhile.
fn abort_hanging(pdir: &Path, producer_id: i64, epoch: i16) -> Result<bool> {
    let mut log = PartitionLog::open(pdir, LogConfig::default(), plog::OpenOptions::standalone(false))?;
    if !log.has_open_transaction(producer_id)? {
        return Ok(false);
    }
    log.append_marker(producer_id, epoch, crate::log::control::Marker::Abort, now_ms())?;
    log.close(now_ms())?;
    log.sync_all()?;
    Ok(true)
}

/// Checks every partition of a data directory no process has open (it takes the lock for
/// the duration), and with `repair` cuts each damaged partition at its first damage.
pub fn verify_data_dir(dir: &Path, repair: bool) -> Result<DataDirReport> {
    if !dir.join(TOPICS_DIR).is_dir() {
        return Err(Error::io_at("verifying", dir, std::io::Error::other("not a samsa data directory (no topics/ in it)")));
    }
    let _lock = data_dir::lock(dir)?;
    let mut report = DataDirReport { partitions: Vec::new(), repaired: Vec::new(), hanging: Vec::new() };
    let open_in_coordinator: std::collections::HashSet<i64> =
        crate::txn::states_in(dir)?.into_values().filter(|m| m.state.is_open()).map(|m| m.producer_id).collect();
    for (topic, partition, pdir) in list_partitions(dir)? {
        if !pdir.exists() {
            continue;
        }
        // A swap of cleaned segments a crash interrupted is finished, as opening would.
        crate::log::cleaner::swap::recover(&pdir)?;
        let r = verify::verify_partition(&pdir, &topic, partition)?;
        if repair {
            if let Some((first, last)) = verify::repair_partition(&r)? {
                report.repaired.push((topic.clone(), partition, first, last));
            }
        }
        for &(pid, epoch, first) in r.open_transactions.iter().filter(|(pid, _, _)| !open_in_coordinator.contains(pid)) {
            let aborted = repair && abort_hanging(&pdir, pid, epoch)?;
            report.hanging.push((topic.clone(), partition, pid, first, aborted));
        }
        report.partitions.push(r);
    }
    Ok(report)
}
