//! The broker as seen from a process that does not own the data directory: every operation
//! is a Kafka request to the owner, over the Unix socket it records in the directory
//! (src/wire/local.rs). The binding offers this as a second backend with the same methods
//! as the local broker, so the JavaScript layer keeps one code path.
//!
//! Kafka types stay in here; callers get the same plain values and the same errors (Kafka
//! error codes become [`Error::Remote`], an unreachable owner [`Error::Connection`], a
//! request it does not answer in time [`Error::RequestTimeout`]).
//!
//! Requests go on a few connections, so a long-polling fetch or a slow produce never
//! holds a heartbeat: control (admin, offsets), produce, fetch and group. Background work
//! (the fetcher, members' heartbeats) runs on a thread of this handle's own.

mod conn;
mod fetcher;
mod member;
pub mod produce;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use self::conn::Conn;
pub use self::fetcher::Fetched;
pub use self::member::{MemberState, RemoteMember};
use crate::broker::{ConfigEntry, ConfigResource, ConfigSource, ConfigSynonym, ConfigType, DescribeOptions, NewTopic, PartitionOffsets};
use crate::group::MemberDescription;
use crate::error::{Error, Result};

/// How long a request may take before the owner counts as unreachable, unless the client
/// says otherwise (kafkajs's requestTimeout and its default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How old the topic list may grow before it is loaded again.
const TOPICS_MAX_AGE: Duration = Duration::from_secs(10);
/// How long a produce is resent over lost connections before it fails (kafkajs's default
/// retry budget): long enough for a restarted owner to open the directory again.
const RESEND_FOR: Duration = Duration::from_secs(30);
/// Kafka's error code for a topic or partition that does not exist.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// KIP-848's error code for a commit from a member at the wrong epoch.
const STALE_MEMBER_EPOCH: i16 = 113;

/// Called with the partitions that fetched data arrived for; empty lists mean a group of
/// this process changed (a heartbeat brought news).
pub type Notify = Box<dyn Fn(Vec<String>, Vec<i32>) + Send + Sync>;

#[derive(Default)]
struct Topics {
    by_name: HashMap<String, (uuid::Uuid, i32)>,
    by_id: HashMap<uuid::Uuid, String>,
}

pub struct Inner {
    dir: PathBuf,
    control: Conn,
    produce: Conn,
    fetch: Conn,
    fetch_quiet: Conn,
    group: Conn,
    topics: Mutex<Topics>,
    topics_version: AtomicU64,
    /// The owner's cluster id, from its Metadata answers.
    cluster_id: Mutex<String>,
    notify: Mutex<Option<Arc<Notify>>>,
    closed: AtomicBool,
    /// This handle's group members, to tell them they are out should the owner change
    /// beneath them (see `fence_members`).
    members: Mutex<Vec<std::sync::Weak<RemoteMember>>>,
    fetcher: fetcher::Fetcher,
    /// Produce frame buffers to reuse.
    frames: Mutex<Vec<Vec<u8>>>,
    produce_order: Arc<ProduceOrder>,
    /// How long one request may wait for the owner's answer.
    request_timeout: Duration,
}

/// Produce requests reach the owner in the order they were made, on every connection: a
/// producer has several out at a time (each with the sequences that follow the one before),
/// and after a lost connection they are sent again in that same order. Were a later one to
/// arrive first, the owner would refuse it as out of order, or, for a producer it does not
/// know yet, take it and then refuse the earlier one.
#[derive(Default)]
struct ProduceOrder {
    /// Per produce not yet answered (by when it was made): the connection it was last
    /// written on (0: none yet).
    written_on: Mutex<BTreeMap<u64, u64>>,
    made: AtomicU64,
    /// Told when a produce is written or answered.
    changed: tokio::sync::Notify,
}

impl ProduceOrder {
    fn take(self: &Arc<Self>) -> ProduceTicket {
        let id = self.made.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(id, 0);
        ProduceTicket { order: Arc::clone(self), id }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, u64>> {
        self.written_on.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether produce `id` may be written on connection `link` now: once every produce
    /// made before it and not yet answered is written there. Yes also marks it written.
    fn may_write(&self, id: u64, link: u64) -> bool {
        let mut written = self.lock();
        if !written.range(..id).all(|(_, on)| *on == link) {
            return false;
        }
        written.insert(id, link);
        drop(written);
        self.changed.notify_waiters();
        true
    }
}

/// A produce's place in [`ProduceOrder`], given up when it is answered (or given up on).
struct ProduceTicket {
    order: Arc<ProduceOrder>,
    id: u64,
}

impl Drop for ProduceTicket {
    fn drop(&mut self) {
        self.order.lock().remove(&self.id);
        self.order.changed.notify_waiters();
    }
}

/// A handle on a data directory another process owns.
pub struct RemoteBroker {
    inner: Arc<Inner>,
    /// Ends the runtime's thread when sent (or dropped).
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    handle: tokio::runtime::Handle,
}

/// One partition's outcome of a produce: base offset, log start and the time a
/// LogAppendTime topic stamped (-1 for CreateTime), or its error.
pub type ProduceOutcome = Result<(i64, i64, i64)>;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn group_name(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_string()))
}

/// Offsets to commit (topic, partition, offset, metadata) as a request's entries, gathered
/// by topic in order of first appearance.
fn by_topic<P>(offsets: Vec<(String, i32, i64, Option<String>)>, entry: impl Fn(i32, i64, Option<String>) -> P) -> Vec<(String, Vec<P>)> {
    let mut topics: Vec<(String, Vec<P>)> = Vec::new();
    for (topic, partition, offset, metadata) in offsets {
        let p = entry(partition, offset, metadata);
        match topics.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, ps)) => ps.push(p),
            None => topics.push((topic, vec![p])),
        }
    }
    topics
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A Kafka error code with the owner's message, or Ok for 0.
/// A config resource as Kafka's type id and name.
fn kafka_resource(resource: &ConfigResource) -> (i8, &str) {
    match resource {
        ConfigResource::Topic(n) => (ConfigResource::TOPIC, n),
        ConfigResource::Broker(n) => (ConfigResource::BROKER, n),
    }
}

fn check(code: i16, message: Option<&StrBytes>, what: impl FnOnce() -> String) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    let message = match message {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => format!("{} ({})", what(), crate::error::wire_error_name(code)),
    };
    Err(Error::from_wire(code, message))
}

impl RemoteBroker {
    /// A handle on `dir`, owned by another process. Connects at once, so a directory no
    /// process serves (or one this user may not reach) fails here. A request the owner has
    /// not answered within `request_timeout` fails with [`Error::RequestTimeout`] (and ends
    /// its connection).
    pub fn connect(dir: impl AsRef<Path>, request_timeout: Duration) -> Result<RemoteBroker> {
        let dir = dir.as_ref().to_path_buf();
        // One thread, parked in epoll, that runs its tasks itself: an answer from the owner
        // wakes the very thread that hands it to JS (a multi-threaded runtime would wake a
        // second thread for it, a hop per request).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::io("starting the remote client's runtime", e))?;
        let inner = Arc::new(Inner {
            control: Conn::new(&dir),
            produce: Conn::new(&dir),
            fetch: Conn::new(&dir),
            fetch_quiet: Conn::new(&dir),
            group: Conn::new(&dir),
            dir,
            topics: Mutex::new(Topics::default()),
            topics_version: AtomicU64::new(0),
            cluster_id: Mutex::new(String::new()),
            notify: Mutex::new(None),
            closed: AtomicBool::new(false),
            fetcher: fetcher::Fetcher::default(),
            members: Mutex::new(Vec::new()),
            frames: Mutex::new(Vec::new()),
            produce_order: Arc::default(),
            request_timeout,
        });
        let handle = runtime.handle().clone();
        let i = Arc::clone(&inner);
        // The first request makes the first connection, which checks the owner's versions.
        runtime.block_on(async move { i.refresh_topics().await })?;
        runtime.spawn(fetcher::run(Arc::clone(&inner), fetcher::Lane::Hot));
        runtime.spawn(fetcher::run(Arc::clone(&inner), fetcher::Lane::Quiet));
        // Topics other processes create, delete or grow show here within TOPICS_MAX_AGE
        // (as Kafka clients refresh metadata), and at once when this process misses one.
        let i = Arc::clone(&inner);
        runtime.spawn(async move {
            while !i.closed.load(Ordering::SeqCst) {
                tokio::time::sleep(TOPICS_MAX_AGE).await;
                let _ = i.refresh_topics().await;
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("samsa-remote".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let _ = stopped.await;
                });
                runtime.shutdown_background();
            })
            .map_err(|e| Error::io("starting the remote client's thread", e))?;
        Ok(RemoteBroker { inner, stop: Mutex::new(Some(stop)), handle })
    }

    pub fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Runs `f` on this handle's runtime (its connections live there).
    pub async fn run<T: Send + 'static>(&self, f: impl std::future::Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        match self.handle.spawn(f).await {
            Ok(r) => r,
            Err(_) => Err(Error::Closed),
        }
    }

    pub fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        self.handle.spawn(f);
    }

    /// Members leave their groups, connections close, background work ends.
    pub async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let inner = Arc::clone(&self.inner);
        let _ = self
            .run(async move {
                inner.fetcher.wake_hot.notify_one();
                inner.fetcher.wake_quiet.notify_one();
                for c in [&inner.control, &inner.produce, &inner.fetch, &inner.fetch_quiet, &inner.group] {
                    c.close().await;
                }
                Ok(())
            })
            .await;
        self.shutdown();
        Ok(())
    }

    /// Ends the runtime now (process exit): nothing more is sent.
    pub fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for RemoteBroker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tells every member of this handle's groups that it is out of its group (`why`): the
    /// process took the directory over, so the coordinator these members joined is gone.
    pub fn fence_members(&self, why: &str) {
        let members: Vec<Arc<RemoteMember>> = self.members.lock().unwrap_or_else(|e| e.into_inner()).drain(..).filter_map(|m| m.upgrade()).collect();
        for m in members {
            m.fence(why);
        }
    }

    fn add_member(&self, member: &Arc<RemoteMember>) {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.retain(|m| m.strong_count() > 0);
        members.push(Arc::downgrade(member));
    }

    /// Produce requests made and not yet answered (or given up on).
    pub fn produces_in_flight(&self) -> usize {
        self.produce_order.lock().len()
    }

    pub fn set_notify(&self, f: Option<Notify>) {
        *self.notify.lock().unwrap_or_else(|e| e.into_inner()) = f.map(Arc::new);
    }

    fn notify(&self, topics: Vec<String>, partitions: Vec<i32>) {
        let f = self.notify.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(f) = f {
            f(topics, partitions);
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ topics

    /// Reloads every topic's id and partition count from the owner.
    pub async fn refresh_topics(&self) -> Result<()> {
        self.ensure_open()?;
        let req = MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false);
        let resp = self.control.call(&req, self.request_timeout).await?;
        if let Some(id) = &resp.cluster_id {
            *self.cluster_id.lock().unwrap_or_else(|e| e.into_inner()) = id.to_string();
        }
        let mut fresh = Topics::default();
        for t in resp.topics {
            let Some(n) = t.name else { continue };
            if t.error_code != 0 {
                continue;
            }
            fresh.by_id.insert(t.topic_id, n.0.to_string());
            fresh.by_name.insert(n.0.to_string(), (t.topic_id, t.partitions.len() as i32));
        }
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if topics.by_name != fresh.by_name {
            self.topics_version.fetch_add(1, Ordering::SeqCst);
        }
        *topics = fresh;
        Ok(())
    }

    pub fn cluster_id(&self) -> String {
        self.cluster_id.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes whenever a refresh found the topics changed.
    pub fn topics_version(&self) -> u64 {
        self.topics_version.load(Ordering::SeqCst)
    }

    /// The partition count as last loaded (None: not known to exist).
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner()).by_name.get(topic).map(|t| t.1)
    }

    pub fn topic_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.topics.lock().unwrap_or_else(|e| e.into_inner()).by_name.keys().cloned().collect();
        v.sort();
        v
    }

    fn topic_id(&self, topic: &str) -> Option<uuid::Uuid> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner()).by_name.get(topic).map(|t| t.0)
    }

    fn topic_by_id(&self, id: &uuid::Uuid) -> Option<String> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner()).by_id.get(id).cloned()
    }

    /// The partition count, loading the topics again when it is not known.
    async fn partitions_of(&self, topic: &str) -> Result<i32> {
        if let Some(n) = self.partition_count(topic) {
            return Ok(n);
        }
        self.refresh_topics().await?;
        self.partition_count(topic).ok_or_else(|| Error::UnknownTopicOrPartition { topic: topic.into(), partition: None })
    }

    pub async fn create_topics(&self, specs: Vec<NewTopic>, validate_only: bool) -> Result<Vec<Result<()>>> {
        self.ensure_open()?;
        let topics = specs
            .iter()
            .map(|t| {
                create_topics_request::CreatableTopic::default()
                    .with_name(name(&t.name))
                    .with_num_partitions(t.partitions)
                    .with_replication_factor(t.replication_factor as i16)
                    .with_assignments(
                        t.assignments
                            .iter()
                            .map(|a| {
                                create_topics_request::CreatableReplicaAssignment::default()
                                    .with_partition_index(a.partition)
                                    .with_broker_ids(a.replicas.iter().map(|&b| BrokerId(b)).collect())
                            })
                            .collect(),
                    )
                    .with_configs(
                        t.configs
                            .iter()
                            .map(|(k, v)| create_topics_request::CreatableTopicConfig::default().with_name(sb(k)).with_value(Some(sb(v))))
                            .collect(),
                    )
            })
            .collect();
        let req = CreateTopicsRequest::default().with_topics(topics).with_timeout_ms(30_000).with_validate_only(validate_only);
        let resp = self.control.call(&req, self.request_timeout).await?;
        let mut by_name: HashMap<String, Result<()>> = resp
            .topics
            .into_iter()
            .map(|t| {
                let n = t.name.0.to_string();
                let r = check(t.error_code, t.error_message.as_ref(), || format!("creating topic \"{n}\""));
                (n, r)
            })
            .collect();
        if !validate_only {
            self.refresh_topics().await?;
        }
        Ok(specs
            .iter()
            .map(|t| by_name.remove(&t.name).unwrap_or_else(|| Err(Error::InvalidRequest(format!("the owner did not answer for topic \"{}\"", t.name)))))
            .collect())
    }

    pub async fn delete_topic(&self, topic: &str) -> Result<()> {
        self.ensure_open()?;
        let req = DeleteTopicsRequest::default().with_topic_names(vec![name(topic)]).with_timeout_ms(30_000);
        // v5: the first with the owner's error message.
        let resp = self.control.call(&req, self.request_timeout).await?;
        let r = match resp.responses.first() {
            Some(t) => check(t.error_code, t.error_message.as_ref(), || format!("deleting topic \"{topic}\"")),
            None => Err(Error::InvalidRequest(format!("the owner did not answer for topic \"{topic}\""))),
        };
        self.refresh_topics().await?;
        r
    }

    pub async fn create_partitions(&self, topic: &str, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<()> {
        self.ensure_open()?;
        let assignments = assignments.map(|a| {
            a.into_iter()
                .map(|ids| create_partitions_request::CreatePartitionsAssignment::default().with_broker_ids(ids.into_iter().map(BrokerId).collect()))
                .collect()
        });
        let t = create_partitions_request::CreatePartitionsTopic::default().with_name(name(topic)).with_count(count).with_assignments(assignments);
        let req = CreatePartitionsRequest::default().with_topics(vec![t]).with_timeout_ms(30_000).with_validate_only(validate_only);
        let resp = self.control.call(&req, self.request_timeout).await?;
        let r = match resp.results.first() {
            Some(t) => check(t.error_code, t.error_message.as_ref(), || format!("adding partitions to \"{topic}\"")),
            None => Err(Error::InvalidRequest(format!("the owner did not answer for topic \"{topic}\""))),
        };
        if !validate_only {
            self.refresh_topics().await?;
        }
        r
    }

    // ------------------------------------------------------------------ offsets

    /// The offsets `timestamp` (-2 earliest, -1 latest, or a time) points at, per partition.
    async fn list_offsets(&self, topic: &str, partitions: &[i32], timestamp: i64, isolation_level: i8) -> Result<BTreeMap<i32, i64>> {
        let t = list_offsets_request::ListOffsetsTopic::default().with_name(name(topic)).with_partitions(
            partitions
                .iter()
                .map(|p| list_offsets_request::ListOffsetsPartition::default().with_partition_index(*p).with_current_leader_epoch(-1).with_timestamp(timestamp))
                .collect(),
        );
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(isolation_level).with_topics(vec![t]);
        let resp = self.control.call(&req, self.request_timeout).await?;
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                check(p.error_code, None, || format!("listing offsets of \"{topic}\" partition {}", p.partition_index))?;
                out.insert(p.partition_index, p.offset);
            }
        }
        Ok(out)
    }

    pub async fn offsets(&self, topic: &str) -> Result<Vec<PartitionOffsets>> {
        self.ensure_open()?;
        let n = self.partitions_of(topic).await?;
        let all: Vec<i32> = (0..n).collect();
        let low = self.list_offsets(topic, &all, -2, 0).await?;
        let high = self.list_offsets(topic, &all, -1, 0).await?;
        let stable = self.list_offsets(topic, &all, -1, 1).await?;
        let at = |m: &BTreeMap<i32, i64>, p: i32| m.get(&p).copied().unwrap_or(0);
        Ok(all.into_iter().map(|p| PartitionOffsets { partition: p, low: at(&low, p), high: at(&high, p), stable: at(&stable, p) }).collect())
    }

    pub async fn offset_for_timestamp(&self, topic: &str, partition: i32, timestamp: i64) -> Result<Option<i64>> {
        self.ensure_open()?;
        let found = self.list_offsets(topic, &[partition], timestamp, 0).await?;
        Ok(found.get(&partition).copied().filter(|o| *o >= 0))
    }

    pub async fn delete_records(&self, topic: &str, partition: i32, offset: i64) -> Result<i64> {
        self.ensure_open()?;
        let t = delete_records_request::DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![delete_records_request::DeleteRecordsPartition::default().with_partition_index(partition).with_offset(offset)]);
        let req = DeleteRecordsRequest::default().with_topics(vec![t]).with_timeout_ms(30_000);
        let resp = self.control.call(&req, self.request_timeout).await?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| Error::InvalidRequest("the owner did not answer the deletion".into()))?;
        check(p.error_code, None, || format!("deleting records of \"{topic}\" partition {partition}"))?;
        Ok(p.low_watermark)
    }

    // ------------------------------------------------------------------ configs

    /// A resource's configs, as the owner describes them.
    pub async fn describe_configs(&self, resource: &ConfigResource, opts: &DescribeOptions) -> Result<Vec<ConfigEntry>> {
        self.ensure_open()?;
        let (kind, rname) = kafka_resource(resource);
        let r = describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(sb(rname))
            .with_configuration_keys(opts.keys.as_ref().map(|k| k.iter().map(|n| sb(n)).collect()));
        let req = DescribeConfigsRequest::default()
            .with_resources(vec![r])
            .with_include_synonyms(opts.synonyms)
            .with_include_documentation(opts.documentation);
        let resp = self.control.call(&req, self.request_timeout).await?;
        let res = resp.results.into_iter().next().ok_or_else(|| Error::InvalidRequest("the owner did not describe the resource".into()))?;
        check(res.error_code, res.error_message.as_ref(), || format!("describing \"{rname}\""))?;
        Ok(res
            .configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: ConfigSource::from_kafka(c.config_source),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                kind: ConfigType::from_kafka(c.config_type),
                documentation: c.documentation.map(|d| d.to_string()),
                synonyms: c
                    .synonyms
                    .into_iter()
                    .map(|s| ConfigSynonym { name: s.name.to_string(), value: s.value.map(|v| v.to_string()), source: ConfigSource::from_kafka(s.source) })
                    .collect(),
            })
            .collect())
    }

    pub async fn alter_configs(&self, resource: &ConfigResource, entries: Vec<(String, String)>, validate_only: bool) -> Result<()> {
        self.ensure_open()?;
        let (kind, rname) = kafka_resource(resource);
        let r = alter_configs_request::AlterConfigsResource::default().with_resource_type(kind).with_resource_name(sb(rname)).with_configs(
            entries.iter().map(|(k, v)| alter_configs_request::AlterableConfig::default().with_name(sb(k)).with_value(Some(sb(v)))).collect(),
        );
        let req = AlterConfigsRequest::default().with_resources(vec![r]).with_validate_only(validate_only);
        let resp = self.control.call(&req, self.request_timeout).await?;
        match resp.responses.first() {
            Some(r) => check(r.error_code, r.error_message.as_ref(), || format!("altering \"{rname}\"")),
            None => Err(Error::InvalidRequest("the owner did not answer the change".into())),
        }
    }

    // ------------------------------------------------------------------ producing

    pub async fn init_producer_id(&self) -> Result<(i64, i16)> {
        self.ensure_open()?;
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(-1)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let resp = self.control.call(&req, self.request_timeout).await?;
        check(resp.error_code, None, || "getting a producer id".into())?;
        Ok((resp.producer_id.0, resp.producer_epoch))
    }

    /// The transactional id's producer at a new epoch (InitProducerId with the id).
    pub async fn init_transactions(&self, transactional_id: &str, timeout_ms: i32) -> Result<(i64, i16)> {
        self.ensure_open()?;
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb(transactional_id))))
            .with_transaction_timeout_ms(timeout_ms)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let resp = self.control.call(&req, self.request_timeout).await?;
        check(resp.error_code, None, || format!("initializing transactional id \"{transactional_id}\""))?;
        Ok((resp.producer_id.0, resp.producer_epoch))
    }

    /// AddOffsetsToTxn, then TxnOffsetCommit of `offsets` (topic, partition, offset, metadata).
    pub async fn send_offsets_to_txn(&self, transactional_id: &str, producer_id: i64, epoch: i16, group: &str, offsets: Vec<(String, i32, i64, Option<String>)>) -> Result<()> {
        self.ensure_open()?;
        let add = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(sb(transactional_id)))
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch)
            .with_group_id(group_name(group));
        let resp = self.control.call(&add, self.request_timeout).await?;
        check(resp.error_code, None, || format!("adding group \"{group}\" to the transaction"))?;
        let topics = by_topic(offsets, |partition, offset, metadata| {
            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(sb(metadata.as_deref().unwrap_or(""))))
        })
        .into_iter()
        .map(|(topic, partitions)| txn_offset_commit_request::TxnOffsetCommitRequestTopic::default().with_name(name(&topic)).with_partitions(partitions))
        .collect();
        let commit = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(sb(transactional_id)))
            .with_group_id(group_name(group))
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_member_id(sb(""))
            .with_topics(topics);
        let resp = self.control.call(&commit, self.request_timeout).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                check(p.error_code, None, || format!("sending offsets of \"{}\" partition {} to the transaction", t.name.0, p.partition_index))?;
            }
        }
        Ok(())
    }

    /// EndTxn: commits or aborts the producer's transaction.
    pub async fn end_txn(&self, transactional_id: &str, producer_id: i64, epoch: i16, commit: bool) -> Result<()> {
        self.ensure_open()?;
        let req = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(sb(transactional_id)))
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch)
            .with_committed(commit);
        let resp = self.control.call(&req, self.request_timeout).await?;
        check(resp.error_code, None, || format!("{} the transaction of \"{transactional_id}\"", if commit { "committing" } else { "aborting" }))
    }

    /// A buffer to write a Produce frame into ([`produce::write`]): a few are kept, as a
    /// send is often large and its pages would otherwise be faulted in afresh each time.
    pub fn produce_frame(&self) -> Vec<u8> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
    }

    /// Begins storing `frame`, a Produce request (acks all) written by [`produce::write`]
    /// for `parts` (topic, partition, as written). Written to the owner now, from the
    /// calling thread, when the connection is free; [`Inner::finish_produce`] waits for
    /// the answer.
    pub fn begin_produce(&self, parts: Vec<(String, i32)>, mut frame: Vec<u8>) -> Result<ProduceCall> {
        self.ensure_open()?;
        let ticket = self.produce_order.take();
        let begun = self.produce.begin(&mut frame, &|link| ticket.order.may_write(ticket.id, link));
        Ok(ProduceCall { frame, parts, begun, ticket })
    }

    /// The answer to a produce begun. A lost connection sends the very same request again
    /// (the same producer sequences: the owner, or the next one, drops what it already
    /// stored), in the order the produces were made, until RESEND_FOR passes.
    pub async fn finish_produce(&self, call: ProduceCall) -> Result<Vec<ProduceOutcome>> {
        let ProduceCall { mut frame, parts, begun, ticket } = call;
        let started = std::time::Instant::now();
        let mut first = begun;
        let may_write = |link| ticket.order.may_write(ticket.id, link);
        let answer = loop {
            let attempt = match first.take() {
                Some(b) => self.produce.finish::<ProduceRequest>(b, &frame, produce::VERSION, self.request_timeout).await,
                None => {
                    let changed = Some(&ticket.order.changed);
                    self.produce.call_frame_in_turn::<ProduceRequest>(&mut frame, &may_write, changed, produce::VERSION, self.request_timeout).await
                }
            };
            match attempt {
                Err(Error::Connection(_) | Error::RequestTimeout(_)) if started.elapsed() < RESEND_FOR && !self.closed.load(Ordering::SeqCst) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                r => break r,
            }
        };
        drop(ticket);
        // The buffer serves the next send (a few kept, none huge).
        let mut frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        if frames.len() < 4 && frame.capacity() <= 64 << 20 {
            frames.push(frame);
        }
        drop(frames);
        let resp = answer?;
        let mut answers: HashMap<(String, i32), ProduceOutcome> = HashMap::new();
        for t in resp.responses {
            let topic = t.name.0.to_string();
            for p in t.partition_responses {
                let r = check(p.error_code, p.error_message.as_ref(), || format!("producing to \"{topic}\" partition {}", p.index))
                    .map(|()| (p.base_offset, p.log_start_offset, p.log_append_time_ms));
                answers.insert((topic.clone(), p.index), r);
            }
        }
        Ok(parts
            .iter()
            .map(|(t, p)| answers.remove(&(t.clone(), *p)).unwrap_or_else(|| Err(Error::InvalidRequest(format!("the owner did not answer for \"{t}\" partition {p}")))))
            .collect())
    }

    /// Stores record batches already encoded: `parts` are (topic, partition, range of
    /// `batches`).
    pub async fn produce(&self, parts: Vec<(String, i32, std::ops::Range<usize>)>, batches: &[u8]) -> Result<Vec<ProduceOutcome>> {
        let mut frame = self.produce_frame();
        let names: Vec<(&str, i32)> = parts.iter().map(|(t, p, _)| (t.as_str(), *p)).collect();
        produce::write(&mut frame, &names, None, |k, out| {
            out.extend_from_slice(&batches[parts[k].2.clone()]);
            Ok(())
        });
        let call = self.begin_produce(parts.iter().map(|(t, p, _)| (t.clone(), *p)).collect(), frame)?;
        self.finish_produce(call).await
    }

    // ------------------------------------------------------------------ fetching

    /// What was fetched ahead for this partition at `offset`, if anything (and asks for it
    /// otherwise: the notify callback says when it arrived).
    pub fn fetch(&self, reader: u32, topic: &str, partition: i32, offset: i64, max_bytes: i32, committed: bool) -> Result<Option<Fetched>> {
        self.ensure_open()?;
        self.fetcher.take(reader, topic, partition, offset, max_bytes, committed)
    }

    // ------------------------------------------------------------------ groups

    pub async fn list_groups(&self) -> Result<Vec<String>> {
        self.ensure_open()?;
        let resp = self.control.call(&ListGroupsRequest::default(), self.request_timeout).await?;
        check(resp.error_code, None, || "listing groups".into())?;
        let mut ids: Vec<String> = resp.groups.into_iter().map(|g| g.group_id.0.to_string()).collect();
        ids.sort();
        Ok(ids)
    }

    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        self.ensure_open()?;
        let req = DescribeGroupsRequest::default().with_groups(vec![group_name(group)]);
        let resp = self.control.call(&req, self.request_timeout).await?;
        let g = resp.groups.into_iter().next().ok_or_else(|| Error::InvalidRequest("the owner did not describe the group".into()))?;
        check(g.error_code, g.error_message.as_ref(), || format!("describing group \"{group}\""))?;
        let members = g
            .members
            .into_iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                topics: subscription_topics(&m.member_metadata),
                assigned: assignment_partitions(&m.member_assignment),
            })
            .collect();
        Ok(GroupDescription {
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
        })
    }

    pub async fn delete_group(&self, group: &str) -> Result<()> {
        self.ensure_open()?;
        let req = DeleteGroupsRequest::default().with_groups_names(vec![group_name(group)]);
        let resp = self.control.call(&req, self.request_timeout).await?;
        match resp.results.first() {
            Some(r) => check(r.error_code, None, || format!("deleting group \"{group}\"")),
            None => Err(Error::InvalidRequest("the owner did not answer the deletion".into())),
        }
    }

    /// Every committed offset of a group: topic -> (partition, offset, metadata).
    pub async fn committed(&self, group: &str) -> Result<BTreeMap<String, Vec<(i32, i64, Option<String>)>>> {
        self.ensure_open()?;
        let g = offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group_name(group)).with_topics(None).with_member_epoch(-1);
        let req = OffsetFetchRequest::default().with_groups(vec![g]);
        let resp = self.control.call(&req, self.request_timeout).await?;
        let g = resp.groups.into_iter().next().ok_or_else(|| Error::InvalidRequest("the owner did not answer the offset fetch".into()))?;
        check(g.error_code, None, || format!("fetching offsets of group \"{group}\""))?;
        let mut out: BTreeMap<String, Vec<(i32, i64, Option<String>)>> = BTreeMap::new();
        for t in g.topics {
            let list: Vec<_> = t
                .partitions
                .into_iter()
                // -1 is Kafka's "nothing committed"; -2 is kept, as the owner's own
                // process sees it (resetOffsets to the earliest, as kafkajs commits it).
                .filter(|p| p.error_code == 0 && p.committed_offset != -1)
                .map(|p| (p.partition_index, p.committed_offset, p.metadata.map(|m| m.to_string())))
                .collect();
            if !list.is_empty() {
                out.insert(t.name.0.to_string(), list);
            }
        }
        Ok(out)
    }

    /// Commits offsets as `member` at `epoch`, or as an admin (no member, epoch -1).
    pub async fn commit(&self, group: &str, member: &str, epoch: i32, offsets: Vec<(String, i32, i64, Option<String>)>) -> Result<()> {
        self.ensure_open()?;
        let topics = by_topic(offsets, |partition, offset, metadata| {
            offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(sb(metadata.as_deref().unwrap_or(""))))
        })
        .into_iter()
        .map(|(topic, partitions)| offset_commit_request::OffsetCommitRequestTopic::default().with_name(name(&topic)).with_partitions(partitions))
        .collect();
        let req = OffsetCommitRequest::default()
            .with_group_id(group_name(group))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(sb(member))
            .with_retention_time_ms(-1)
            .with_topics(topics);
        let resp = self.control.call(&req, self.request_timeout).await?;
        // OffsetCommit carries no message. A commit the owner refuses to a member (KIP-848's
        // STALE_MEMBER_EPOCH, on every partition of the request) is given as kafkajs users
        // know it, ILLEGAL_GENERATION, before a partition that does not exist, as the
        // owner's process checks them.
        let codes: Vec<(String, i32, i16)> =
            resp.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), p.partition_index, p.error_code))).collect();
        if !member.is_empty() && codes.iter().any(|(_, _, c)| *c == STALE_MEMBER_EPOCH) {
            return Err(Error::IllegalGeneration(format!(
                "The member \"{member}\" no longer owns every partition of the commit, or its epoch {epoch} is stale: the commit is refused"
            )));
        }
        for (topic, partition, code) in codes {
            if code == UNKNOWN_TOPIC_OR_PARTITION {
                return Err(Error::UnknownTopicOrPartition { topic, partition: Some(partition) });
            }
            check(code, None, || format!("committing \"{topic}\" partition {partition} for group \"{group}\""))?;
        }
        Ok(())
    }
}

/// A produce begun on the calling thread (see [`Inner::begin_produce`]).
pub struct ProduceCall {
    frame: Vec<u8>,
    parts: Vec<(String, i32)>,
    begun: Option<conn::Begun>,
    ticket: ProduceTicket,
}

pub struct GroupDescription {
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// The topics of a consumer-protocol subscription (empty when it is not one).
fn subscription_topics(b: &Bytes) -> Vec<String> {
    use kafka_protocol::protocol::Decodable;
    let mut buf = b.clone();
    if buf.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    ConsumerProtocolSubscription::decode(&mut buf, version).map(|s| s.topics.into_iter().map(|t| t.to_string()).collect()).unwrap_or_default()
}

/// The partitions of a consumer-protocol assignment (empty when it is not one).
fn assignment_partitions(b: &Bytes) -> Vec<(String, i32)> {
    use kafka_protocol::protocol::Decodable;
    let mut buf = b.clone();
    if buf.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    ConsumerProtocolAssignment::decode(&mut buf, version)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .flat_map(|tp| {
                    let t = tp.topic.0.to_string();
                    tp.partitions.into_iter().map(move |p| (t.clone(), p))
                })
                .collect()
        })
        .unwrap_or_default()
}
