//! The broker: one data directory, locked by one process, holding topics of partition
//! logs. Appends are synchronous writes to the OS; durability beyond that (fsync) is
//! group-committed by [`sync::Syncer`] on its own thread.

pub mod config;
pub mod fsutil;
mod sync;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use config::{BrokerConfig, ConfigEntry};
use crate::error::{Error, Result};
use crate::group::{GroupCoordinator, SystemClock, TopicCounts};
use crate::log::{AppendResult, Compression, LogConfig, PartitionLog, Record};

const LOCK_FILE: &str = ".lock";
const CLEAN_MARKER: &str = ".clean-shutdown";
const TOPICS_DIR: &str = "topics";
const TOPIC_META: &str = "topic.json";
const DELETING_SUFFIX: &str = ".deleting";

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

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
}

impl Partition {
    pub fn log(&self) -> MutexGuard<'_, PartitionLog> {
        lock(&self.log)
    }
}

#[derive(Serialize, Deserialize)]
struct TopicMeta {
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

pub struct Topic {
    pub name: String,
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

    fn save_meta(&self) -> Result<()> {
        let meta = TopicMeta { partitions: self.partition_count(), configs: read(&self.overrides).clone() };
        let json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| Error::io("encoding topic metadata", std::io::Error::other(e)))?;
        fsutil::write_atomic(&self.dir.join(TOPIC_META), &json)
    }
}

/// Records bound for one partition.
pub struct PartitionAppend<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub records: Vec<Record<'a>>,
}

/// The low and high watermarks of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

/// The maintenance thread and the flag that stops it.
type Maintenance = (JoinHandle<()>, Arc<(Mutex<bool>, Condvar)>);

/// A broker over one data directory. Dropping it without [`Broker::close`] is an unclean
/// stop: the next open verifies the active segments.
pub struct Broker {
    dir: PathBuf,
    config: BrokerConfig,
    lock_file: Mutex<Option<File>>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    syncer: sync::Syncer,
    maintenance: Mutex<Option<Maintenance>>,
    closed: AtomicBool,
    /// Whether the previous stop was clean (for tests and logs).
    opened_clean: bool,
    pub groups: GroupCoordinator,
    /// Bumped whenever topics are created, deleted or grow (RegExp subscriptions watch it).
    topics_version: AtomicU64,
}

impl Broker {
    /// Locks `dir` (creating it if needed), recovers every topic and starts the
    /// background syncer and retention thread.
    pub fn open(dir: impl AsRef<Path>, config: BrokerConfig) -> Result<Arc<Broker>> {
        let dir = dir.as_ref();
        let fresh = !dir.join(TOPICS_DIR).exists();
        std::fs::create_dir_all(dir.join(TOPICS_DIR)).map_err(|e| Error::io_at("creating data directory", dir, e))?;
        let dir = dir.canonicalize().map_err(|e| Error::io_at("resolving", dir, e))?;
        let lock_file = acquire_lock(&dir)?;
        let marker = dir.join(CLEAN_MARKER);
        let clean = fresh || marker.exists();
        if marker.exists() {
            // From here on a crash must not pass for a clean stop.
            std::fs::remove_file(&marker).map_err(|e| Error::io_at("removing", &marker, e))?;
            fsutil::sync_dir(&dir)?;
        }
        let topics = load_topics(&dir.join(TOPICS_DIR), &config.log, clean)?;
        let groups = GroupCoordinator::open(&dir.join("groups"), config.fsync, Arc::new(SystemClock))?;
        let broker = Arc::new(Broker {
            groups,
            topics_version: AtomicU64::new(0),
            syncer: sync::Syncer::start()?,
            dir,
            config,
            lock_file: Mutex::new(Some(lock_file)),
            topics: RwLock::new(topics),
            maintenance: Mutex::new(None),
            closed: AtomicBool::new(false),
            opened_clean: clean,
        });
        broker.start_maintenance()?;
        Ok(broker)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub fn opened_clean(&self) -> bool {
        self.opened_clean
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_open()?;
        read(&self.topics)
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopicOrPartition { topic: name.to_string(), partition: None })
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
        config::resolve(&self.config.log, overrides)
    }

    /// Creates a topic (Kafka's CreateTopics for one topic). `num_partitions` -1 means the
    /// broker default; `replication_factor` -1 or 1 (one broker).
    pub fn create_topic(
        &self,
        name: &str,
        num_partitions: i32,
        replication_factor: i32,
        configs: &[(String, String)],
        validate_only: bool,
    ) -> Result<()> {
        self.check_open()?;
        config::validate_topic_name(name)?;
        let partitions = if num_partitions == -1 { self.config.default_num_partitions } else { num_partitions };
        if partitions < 1 {
            return Err(Error::InvalidPartitions(format!("Number of partitions must be at least 1, got {num_partitions}")));
        }
        if partitions > 10_000 {
            return Err(Error::InvalidPartitions(format!("Number of partitions {partitions} is more than samsa allows (10000)")));
        }
        if replication_factor != -1 && replication_factor != 1 {
            return Err(Error::InvalidReplicationFactor(format!(
                "Replication factor: {replication_factor} larger than available brokers: 1 (samsa is a single, embedded broker)"
            )));
        }
        let overrides: BTreeMap<String, String> = configs.iter().cloned().collect();
        let log_config = self.log_config(&overrides)?;
        let mut topics = write(&self.topics);
        if topics.contains_key(name) {
            return Err(Error::TopicAlreadyExists(name.to_string()));
        }
        if validate_only {
            return Ok(());
        }
        let dir = self.dir.join(TOPICS_DIR).join(name);
        let topic = Topic {
            name: name.to_string(),
            dir: dir.clone(),
            overrides: RwLock::new(overrides),
            partitions: RwLock::new(Vec::new()),
        };
        let created = (|| {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io_at("creating", &dir, e))?;
            let mut parts = Vec::with_capacity(partitions as usize);
            for id in 0..partitions {
                parts.push(open_partition(&dir, id, log_config, true)?);
            }
            *write(&topic.partitions) = parts;
            topic.save_meta()?;
            fsutil::sync_dir(&self.dir.join(TOPICS_DIR))
        })();
        if let Err(e) = created {
            // Leave no half-created topic behind (a full disk, say).
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        topics.insert(name.to_string(), Arc::new(topic));
        drop(topics);
        tracing::debug!(topic = name, partitions, "created topic");
        self.topics_changed();
        Ok(())
    }

    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.check_open()?;
        let topic = write(&self.topics)
            .remove(name)
            .ok_or_else(|| Error::UnknownTopicOrPartition { topic: name.to_string(), partition: None })?;
        let doomed = topic.dir.with_file_name(format!("{name}.{}{DELETING_SUFFIX}", now_ms()));
        std::fs::rename(&topic.dir, &doomed).map_err(|e| Error::io_at("deleting topic", &topic.dir, e))?;
        fsutil::sync_dir(&self.dir.join(TOPICS_DIR))?;
        write(&topic.partitions).clear();
        std::fs::remove_dir_all(&doomed).map_err(|e| Error::io_at("deleting topic", &doomed, e))?;
        tracing::debug!(topic = name, "deleted topic");
        self.groups.delete_topic(name)?;
        self.topics_changed();
        Ok(())
    }

    /// Grows a topic to `count` partitions (Kafka's CreatePartitions).
    pub fn create_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<()> {
        let topic = self.topic(name)?;
        let mut parts = write(&topic.partitions);
        let current = parts.len() as i32;
        if count <= current {
            return Err(Error::InvalidPartitions(format!(
                "Topic \"{name}\" already has {current} partitions; the new count must be larger, got {count}"
            )));
        }
        if count > 10_000 {
            return Err(Error::InvalidPartitions(format!("Number of partitions {count} is more than samsa allows (10000)")));
        }
        if validate_only {
            return Ok(());
        }
        let log_config = self.log_config(&read(&topic.overrides))?;
        for id in current..count {
            parts.push(open_partition(&topic.dir, id, log_config, true)?);
        }
        drop(parts);
        topic.save_meta()?;
        self.topics_changed();
        Ok(())
    }

    /// Appends to several partitions at once (one producer send). Every partition and
    /// every record size is checked before anything is written, so bad input writes
    /// nothing; a disk error part-way leaves the earlier partitions appended, as Kafka's
    /// per-partition produce results do.
    pub fn append_all(&self, appends: &[PartitionAppend<'_>], compression: Compression) -> Result<Vec<AppendResult>> {
        let parts = appends
            .iter()
            .map(|a| {
                let p = self.partition(a.topic, a.partition)?;
                p.log().check_sizes(&a.records)?;
                Ok(p)
            })
            .collect::<Result<Vec<_>>>()?;
        let now = now_ms();
        let mut results = Vec::with_capacity(appends.len());
        for (a, p) in appends.iter().zip(&parts) {
            results.push(p.log().append(&a.records, compression, now)?);
            if self.config.fsync {
                self.syncer.mark_dirty(p);
            }
        }
        Ok(results)
    }

    /// Waits (asynchronously) until everything appended before this call is fsynced.
    /// Concurrent callers share one fsync per partition (group commit).
    pub fn sync(&self) -> tokio::sync::oneshot::Receiver<Result<(), String>> {
        self.syncer.request()
    }

    pub fn read(&self, topic: &str, partition: i32, offset: i64, max_bytes: usize) -> Result<Vec<u8>> {
        let part = self.partition(topic, partition)?;
        let bytes = part.log().read(offset, max_bytes);
        bytes.map_err(|e| with_partition(e, topic, partition))
    }

    pub fn offsets(&self, topic: &str) -> Result<Vec<PartitionOffsets>> {
        Ok(self
            .topic(topic)?
            .partitions()
            .iter()
            .map(|p| {
                let log = p.log();
                PartitionOffsets { partition: p.id, low: log.log_start_offset(), high: log.next_offset() }
            })
            .collect())
    }

    pub fn offset_for_timestamp(&self, topic: &str, partition: i32, timestamp: i64) -> Result<Option<i64>> {
        self.partition(topic, partition)?.log().offset_for_timestamp(timestamp)
    }

    /// Kafka's DeleteRecords: moves the partition's log start to `offset`.
    pub fn delete_records(&self, topic: &str, partition: i32, offset: i64) -> Result<i64> {
        let part = self.partition(topic, partition)?;
        let low = part.log().delete_records_before(offset);
        low.map_err(|e| with_partition(e, topic, partition))
    }

    pub fn describe_configs(&self, topic: &str) -> Result<Vec<ConfigEntry>> {
        let topic = self.topic(topic)?;
        let overrides = read(&topic.overrides);
        Ok(config::describe(&self.config.log, &overrides))
    }

    /// Kafka's (non-incremental) AlterConfigs: the given entries replace every override.
    pub fn alter_configs(&self, topic: &str, entries: &[(String, String)], validate_only: bool) -> Result<()> {
        let topic = self.topic(topic)?;
        let overrides: BTreeMap<String, String> = entries.iter().cloned().collect();
        let log_config = self.log_config(&overrides)?;
        if validate_only {
            return Ok(());
        }
        *write(&topic.overrides) = overrides;
        topic.save_meta()?;
        for p in topic.partitions() {
            p.log().set_config(log_config);
        }
        Ok(())
    }

    /// One pass of background work: retention. Runs on its own thread every
    /// `retention_check_interval_ms`; tests call it with their own clock.
    pub fn run_maintenance(&self, now_ms: i64) -> Result<usize> {
        let topics: Vec<Arc<Topic>> = read(&self.topics).values().cloned().collect();
        let mut deleted = 0;
        for topic in topics {
            for p in topic.partitions() {
                deleted += p.log().apply_retention(now_ms)?;
            }
        }
        Ok(deleted)
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

    /// Flushes every partition, writes the clean-shutdown marker and releases the lock.
    /// Later calls do nothing; every other method then fails with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some((handle, signal)) = lock(&self.maintenance).take() {
            *lock(&signal.0) = true;
            signal.1.notify_all();
            let _ = handle.join();
        }
        self.syncer.stop();
        let topics = std::mem::take(&mut *write(&self.topics));
        let mut result = Ok(());
        for topic in topics.values() {
            for p in topic.partitions() {
                if let Err(e) = p.log().close() {
                    result = Err(e);
                }
            }
        }
        if let Err(e) = self.groups.flush() {
            result = Err(e);
        }
        if result.is_ok() {
            let marker = self.dir.join(CLEAN_MARKER);
            result = File::create(&marker)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io_at("writing", &marker, e))
                .and_then(|()| fsutil::sync_dir(&self.dir));
        }
        // Dropping the file releases the OS lock.
        lock(&self.lock_file).take();
        result
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some((_, signal)) = lock(&self.maintenance).take() {
            *lock(&signal.0) = true;
            signal.1.notify_all();
        }
        self.syncer.stop();
    }
}

fn with_partition(e: Error, topic: &str, partition: i32) -> Error {
    match e {
        Error::OffsetOutOfRange { offset, .. } => Error::OffsetOutOfRange { topic: topic.to_string(), partition, offset },
        other => other,
    }
}

fn open_partition(topic_dir: &Path, id: i32, config: LogConfig, clean: bool) -> Result<Arc<Partition>> {
    let log = PartitionLog::open(&topic_dir.join(id.to_string()), config, clean)?;
    Ok(Arc::new(Partition {
        id,
        log: Mutex::new(log),
        queued_for_sync: AtomicBool::new(false),
    }))
}

fn acquire_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io_at("opening lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(Error::Locked {
                path: dir.to_path_buf(),
                holder: (!holder.is_empty()).then(|| holder.to_string()),
            });
        }
        Err(TryLockError::Error(e)) => return Err(Error::io_at("locking", &path, e)),
    }
    let who = format!("pid {}", std::process::id());
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(who.as_bytes()))
        .map_err(|e| Error::io_at("writing lock file", &path, e))?;
    Ok(file)
}

fn load_topics(topics_dir: &Path, defaults: &LogConfig, clean: bool) -> Result<BTreeMap<String, Arc<Topic>>> {
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
        let meta_path = dir.join(TOPIC_META);
        let meta: TopicMeta = match std::fs::read(&meta_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: meta_path.clone(),
                position: 0,
                detail: format!("topic metadata is not valid: {e}"),
            })?,
            // A creation that a crash interrupted before its metadata was written.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io_at("deleting", &dir, e))?;
                continue;
            }
            Err(e) => return Err(Error::io_at("reading", &meta_path, e)),
        };
        let log_config = config::resolve(defaults, &meta.configs)?;
        let mut partitions = Vec::with_capacity(meta.partitions.max(0) as usize);
        for id in 0..meta.partitions {
            partitions.push(open_partition(&dir, id, log_config, clean)?);
        }
        topics.insert(
            name.clone(),
            Arc::new(Topic { name, dir, overrides: RwLock::new(meta.configs), partitions: RwLock::new(partitions) }),
        );
    }
    Ok(topics)
}
