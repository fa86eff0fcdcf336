//! `NativeBroker`: one napi class over the data directory, whichever process owns it.
//! Its backend is the local one (this process owns the directory) or the remote one
//! (another does), and changes from remote to local beneath the JS objects when this
//! process takes the directory over from an owner that exited (src/binding/takeover.rs).

use std::sync::{Arc, Mutex, RwLock};

use napi::bindgen_prelude::{Float64Array, PromiseRaw};
use napi_derive::napi;

use super::backend::{BrokerBackend, Join, ProduceArgs, TxnProducer};
use super::configs;
use super::error::{error_js, invalid_arg, ErrorJs, IntoJs};
use super::fetched::FetchResult;
use super::group::{GroupJs, OffsetJs};
use super::local::LocalBackend;
use super::member::{offsets_in, Member, NativeMember};
use super::produce::ProduceResult;
use super::promise::{promise, BoxFuture, Pending, Spawn};
use super::takeover::{Closed, Plan, TakeoverWatcher};
use super::remote::RemoteBackend;
use super::{new_topics, pairs, verify_report, AppendWatcher, ListenAddress, ListenOptions, NewTopicJs, PartitionOffsets, VerifyReport};
use crate::group::Strategy;

// One per handle, behind an Arc: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    Local(LocalBackend),
    Remote(RemoteBackend),
}

/// The backend in use and what must carry over to the next one.
pub struct Current {
    pub backend: RwLock<Arc<Backend>>,
    /// Who to tell of appends (kept to give the next backend).
    pub appends: Mutex<Option<Arc<AppendWatcher>>>,
    /// Who to tell when this process takes the directory over.
    watcher: Mutex<Option<Arc<TakeoverWatcher>>>,
    /// Remote backends replaced by a takeover, kept while their work finishes.
    retired: Mutex<Vec<Arc<Backend>>>,
    /// Sends waiting for the old backend's sends, in call order.
    waiting: Mutex<Turns>,
    /// Held by a takeover from its try of the lock to its swap.
    pub taking_over: tokio::sync::Mutex<()>,
    closed: Closed,
}

/// Turns of the sends that wait: the last given out, and the last done.
#[derive(Default)]
struct Turns {
    given: u64,
    done: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Current {
    pub fn get(&self) -> Arc<Backend> {
        Arc::clone(&self.backend.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn closed(&self) -> bool {
        self.closed.get()
    }

    /// Marked under the backend's lock, where a takeover checks it before it swaps.
    fn mark_closed(&self) {
        let _slot = self.backend.write().unwrap_or_else(|p| p.into_inner());
        self.closed.set();
    }

    pub fn appends(&self) -> Option<Arc<AppendWatcher>> {
        lock(&self.appends).clone()
    }

    pub fn takeover_watcher(&self) -> Option<Arc<TakeoverWatcher>> {
        lock(&self.watcher).clone()
    }

    pub fn retire(&self, old: Arc<Backend>) {
        lock(&self.retired).push(old);
    }

    pub async fn close_retired(&self) {
        let old: Vec<Arc<Backend>> = std::mem::take(&mut *lock(&self.retired));
        for b in old {
            let _ = match &*b {
                Backend::Local(b) => b.close().await,
                Backend::Remote(b) => b.close().await,
            };
        }
    }

    fn close_retired_now(&self) {
        for b in std::mem::take(&mut *lock(&self.retired)) {
            let _ = match &*b {
                Backend::Local(b) => b.close_sync(),
                Backend::Remote(b) => b.close_sync(),
            };
        }
    }

    /// Sends of a replaced remote backend still on their way to the new owner: while there
    /// are any, new sends wait for them, so each producer's sequences arrive in order.
    fn old_sends_in_flight(&self) -> bool {
        lock(&self.retired).iter().any(|b| matches!(&**b, Backend::Remote(r) if r.produces_in_flight() > 0))
    }

    /// A turn for a send that must wait, if sends wait now (for the old backend's, or
    /// for other waiting sends: a send never overtakes one made before it).
    fn turn_to_wait(&self) -> Option<u64> {
        let mut turns = lock(&self.waiting);
        if turns.given == turns.done && !self.old_sends_in_flight() {
            return None;
        }
        turns.given += 1;
        Some(turns.given)
    }

    /// Waits until every send made before turn `turn` went, and the old backend's sends
    /// were answered (a minute at most: they are given up on after 30 s).
    async fn wait_turn(&self, turn: u64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while (lock(&self.waiting).done + 1 < turn || self.old_sends_in_flight()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    fn turn_done(&self) {
        lock(&self.waiting).done += 1;
    }
}

/// napi's own runtime, for work that settles a promise later.
pub struct NapiRuntime;

impl Spawn for NapiRuntime {
    fn spawn(&self, f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>) {
        napi::bindgen_prelude::spawn(f);
    }
}

/// A send whose buffers were copied, to store later.
struct OwnedSend {
    topics: Vec<String>,
    data: Vec<u8>,
    meta: Vec<i32>,
    timestamps: Vec<f64>,
    compression: i32,
    producer: Option<(i64, i16)>,
    sequences: Vec<i32>,
    transactional_id: Option<String>,
}

impl OwnedSend {
    fn of(s: &ProduceArgs<'_>) -> OwnedSend {
        OwnedSend {
            topics: s.topics.to_vec(),
            data: s.data.to_vec(),
            meta: s.meta.to_vec(),
            timestamps: s.timestamps.to_vec(),
            compression: s.compression,
            producer: s.producer,
            sequences: s.sequences.to_vec(),
            transactional_id: s.transactional_id.map(str::to_string),
        }
    }

    fn send(&self) -> ProduceArgs<'_> {
        ProduceArgs {
            topics: &self.topics,
            data: &self.data,
            meta: &self.meta,
            timestamps: &self.timestamps,
            compression: self.compression,
            producer: self.producer,
            sequences: &self.sequences,
            transactional_id: self.transactional_id.as_deref(),
        }
    }
}

async fn settled<T>(p: Pending<T>) -> napi::Result<T> {
    match p {
        Pending::Ready(r) => r,
        Pending::Later(work) => work.await,
    }
}

macro_rules! on {
    ($self:ident, $b:ident => $e:expr) => {{
        let current = $self.current.get();
        match &*current {
            Backend::Local($b) => $e,
            Backend::Remote($b) => $e,
        }
    }};
}

#[napi]
pub struct NativeBroker {
    pub(super) dir: String,
    pub(super) current: Arc<Current>,
}

impl NativeBroker {
    /// A handle on `backend`; a remote one is taken over as `plan` says when its owner exits.
    pub fn new(dir: String, backend: Backend, plan: Option<Plan>) -> NativeBroker {
        let current = Arc::new(Current {
            backend: RwLock::new(Arc::new(backend)),
            appends: Mutex::new(None),
            watcher: Mutex::new(None),
            retired: Mutex::new(Vec::new()),
            waiting: Mutex::new(Turns::default()),
            taking_over: tokio::sync::Mutex::new(()),
            closed: Closed::default(),
        });
        if let Some(plan) = plan {
            super::takeover::watch(Arc::clone(&current), plan);
        }
        NativeBroker { dir, current }
    }
}

#[napi]
impl NativeBroker {
    #[napi(getter)]
    pub fn dir(&self) -> String {
        self.dir.clone()
    }

    #[napi(getter)]
    pub fn opened_clean(&self) -> bool {
        on!(self, b => b.opened_clean())
    }

    /// Whether another process owns the directory (this one reaches it through that one).
    /// Changes to false when this process takes the directory over.
    #[napi(getter)]
    pub fn remote(&self) -> bool {
        matches!(&*self.current.get(), Backend::Remote(_))
    }

    /// The data directory's cluster id (its meta.properties).
    #[napi(getter)]
    pub fn cluster_id(&self) -> String {
        on!(self, b => b.cluster_id())
    }

    #[napi]
    pub fn topics_version(&self) -> f64 {
        on!(self, b => b.topics_version()) as f64
    }

    /// The partition count of `name` as this process knows it, or null when unknown
    /// (`refreshTopics` loads them again where another process may have changed them).
    #[napi]
    pub fn partition_count(&self, name: String) -> napi::Result<Option<i32>> {
        on!(self, b => b.partition_count(&name)).js()
    }

    #[napi]
    pub async fn refresh_topics(&self) -> napi::Result<()> {
        on!(self, b => b.refresh_topics().await).js()
    }

    #[napi]
    pub async fn topics(&self) -> napi::Result<Vec<String>> {
        on!(self, b => b.topics().await).js()
    }

    #[napi]
    pub async fn create_topic(
        &self,
        name: String,
        num_partitions: i32,
        replication_factor: i32,
        config_names: Vec<String>,
        config_values: Vec<String>,
        validate_only: bool,
    ) -> napi::Result<()> {
        let configs = pairs(config_names, config_values)?;
        let spec = crate::broker::NewTopic { name, partitions: num_partitions, replication_factor, configs, assignments: Vec::new() };
        let mut results = on!(self, b => b.create_topics(vec![spec], validate_only).await).js()?;
        results.pop().unwrap_or(Ok(())).js()
    }

    /// Creates several topics in one call (Kafka's CreateTopics): one entry per topic, in
    /// order, null where it was created and its error where it was not.
    #[napi]
    pub async fn create_topics(&self, topics: Vec<NewTopicJs>, validate_only: bool) -> napi::Result<Vec<Option<ErrorJs>>> {
        let specs = new_topics(topics)?;
        let results = on!(self, b => b.create_topics(specs, validate_only).await).js()?;
        Ok(results.into_iter().map(|r| r.err().map(|e| error_js(&e))).collect())
    }

    #[napi]
    pub async fn delete_topic(&self, name: String) -> napi::Result<()> {
        on!(self, b => b.delete_topic(name).await).js()
    }

    /// `assignments`: a replica list per new partition, or null.
    #[napi]
    pub async fn create_partitions(&self, name: String, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> napi::Result<()> {
        on!(self, b => b.create_partitions(name, count, assignments, validate_only).await).js()
    }

    /// Stores a whole send in one call (see `produce.rs` for the layout and the result).
    /// `producer_id` is -1 for a producer that is not idempotent. The buffers are read
    /// before this returns.
    #[napi(ts_return_type = "Promise<ProduceResult>")]
    #[allow(clippy::too_many_arguments)]
    pub fn produce<'env>(
        &self,
        env: &'env napi::Env,
        topics: Vec<String>,
        data: &[u8],
        meta: &[i32],
        timestamps: &[f64],
        compression: i32,
        producer_id: f64,
        producer_epoch: i32,
        sequences: &[i32],
        transactional_id: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, ProduceResult>> {
        let producer = (producer_id >= 0.0).then_some((producer_id as i64, producer_epoch as i16));
        let send = ProduceArgs { topics: &topics, data, meta, timestamps, compression, producer, sequences, transactional_id: transactional_id.as_deref() };
        // Checked and sent under the backend's lock: a takeover swaps it, and retires the
        // old one, between sends, never between the check and the send.
        let backend = self.current.backend.read().unwrap_or_else(|p| p.into_inner());
        if let Some(turn) = self.current.turn_to_wait() {
            drop(backend);
            let (owned, current) = (OwnedSend::of(&send), Arc::clone(&self.current));
            let later: BoxFuture<ProduceResult> = Box::pin(async move {
                current.wait_turn(turn).await;
                let backend = current.get();
                let pending = match &*backend {
                    Backend::Local(b) => b.produce(owned.send()),
                    Backend::Remote(b) => b.produce(owned.send()),
                };
                current.turn_done();
                settled(pending).await
            });
            return promise(env, &NapiRuntime, Pending::Later(later));
        }
        match &**backend {
            Backend::Local(b) => promise(env, b as &dyn Spawn, b.produce(send)),
            Backend::Remote(b) => promise(env, b as &dyn Spawn, b.produce(send)),
        }
    }

    /// A new idempotent producer id and its epoch (Kafka's InitProducerId).
    #[napi]
    pub async fn init_producer_id(&self) -> napi::Result<Vec<f64>> {
        let (id, epoch) = on!(self, b => b.init_producer_id().await).js()?;
        Ok(vec![id as f64, f64::from(epoch)])
    }

    /// A transactional producer's id and epoch (Kafka's InitProducerId with a transactional
    /// id): older producers of the id are fenced, and a transaction they left open aborted.
    #[napi]
    pub async fn init_transactions(&self, transactional_id: String, timeout_ms: i32) -> napi::Result<Vec<f64>> {
        let (id, epoch) = on!(self, b => b.init_transactions(transactional_id, timeout_ms).await).js()?;
        Ok(vec![id as f64, f64::from(epoch)])
    }

    /// Offsets for `groupId`, committed when the producer's transaction commits.
    #[napi]
    pub async fn send_offsets_to_transaction(
        &self,
        transactional_id: String,
        producer_id: f64,
        epoch: i32,
        group_id: String,
        offsets: Vec<OffsetJs>,
    ) -> napi::Result<()> {
        let txn = TxnProducer { transactional_id, producer_id: producer_id as i64, epoch: epoch as i16 };
        let offsets = offsets_in(offsets);
        on!(self, b => b.send_offsets_to_txn(txn.clone(), group_id.clone(), offsets.clone()).await).js()
    }

    /// Commits (or aborts) the producer's transaction: its records and offsets become
    /// visible to read-committed consumers together (or never).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn end_transaction<'env>(&self, env: &'env napi::Env, transactional_id: String, producer_id: f64, epoch: i32, commit: bool) -> napi::Result<PromiseRaw<'env, ()>> {
        let txn = TxnProducer { transactional_id, producer_id: producer_id as i64, epoch: epoch as i16 };
        let backend = self.current.get();
        match &*backend {
            Backend::Local(b) => promise(env, b as &dyn Spawn, b.end_txn(txn, commit)),
            Backend::Remote(b) => promise(env, b as &dyn Spawn, b.end_txn(txn, commit)),
        }
    }

    /// Checks every partition's files whole (see `verifyDataDir` for a closed directory).
    #[napi]
    pub async fn verify(&self) -> napi::Result<VerifyReport> {
        let reports = on!(self, b => b.verify().await).js()?;
        Ok(verify_report(reports, Vec::new(), Vec::new()))
    }

    /// Resolves when everything appended so far is durable (group commit).
    #[napi]
    pub async fn sync(&self) -> napi::Result<()> {
        on!(self, b => b.sync().await).js()
    }

    /// Every partition's log start and high watermark, as [low, high] pairs in partition
    /// order: thousands of partitions in one array, not thousands of objects.
    #[napi]
    pub async fn watermarks(&self, topic: String) -> napi::Result<Float64Array> {
        let offsets = on!(self, b => b.offsets(topic).await).js()?;
        Ok(Float64Array::new(offsets.iter().flat_map(|o| [o.low as f64, o.high as f64, o.stable as f64]).collect()))
    }

    #[napi]
    pub async fn offsets(&self, topic: String) -> napi::Result<Vec<PartitionOffsets>> {
        let offsets = on!(self, b => b.offsets(topic).await).js()?;
        Ok(offsets.into_iter().map(|o| PartitionOffsets { partition: o.partition, low: o.low as f64, high: o.high as f64, stable: o.stable as f64 }).collect())
    }

    /// The first offset with a timestamp >= `timestamp`, or null if every record is older.
    #[napi]
    pub async fn offset_for_timestamp(&self, topic: String, partition: i32, timestamp: f64) -> napi::Result<Option<f64>> {
        let o = on!(self, b => b.offset_for_timestamp(topic, partition, timestamp as i64).await).js()?;
        Ok(o.map(|o| o as f64))
    }

    #[napi]
    pub async fn delete_records(&self, topic: String, partition: i32, offset: f64) -> napi::Result<f64> {
        Ok(on!(self, b => b.delete_records(topic, partition, offset as i64).await).js()? as f64)
    }

    /// The configs of a topic (type 2) or the broker (type 4), as DescribeConfigs gives them.
    #[napi]
    pub async fn describe_configs(
        &self,
        resource_type: i32,
        name: String,
        config_names: Option<Vec<String>>,
        include_synonyms: bool,
    ) -> napi::Result<Vec<configs::ConfigEntryJs>> {
        let resource = configs::resource(resource_type, name).js()?;
        let options = configs::options(config_names, include_synonyms);
        let entries = on!(self, b => b.describe_configs(resource, options).await).js()?;
        Ok(entries.into_iter().map(Into::into).collect())
    }

    /// Kafka's AlterConfigs: the entries replace the resource's configs.
    #[napi]
    pub async fn alter_configs(
        &self,
        resource_type: i32,
        name: String,
        config_names: Vec<String>,
        config_values: Vec<String>,
        validate_only: bool,
    ) -> napi::Result<()> {
        let resource = configs::resource(resource_type, name).js()?;
        let entries = pairs(config_names, config_values)?;
        on!(self, b => b.alter_configs(resource, entries, validate_only).await).js()
    }

    /// Records from `offset` on, up to about `max_bytes` of batches, decoded into one
    /// Buffer plus tables, for consumer `reader` of this process. Null when none are at
    /// hand (at the end of the log, or not fetched from the owner yet: `watchAppends`'s
    /// callback names the partition when they arrive).
    #[napi]
    /// Read committed unless `readUncommitted` (kafkajs's consumer option, false by default).
    pub fn fetch(&self, topic: String, partition: i32, offset: f64, max_bytes: u32, reader: Option<u32>, read_uncommitted: Option<bool>) -> napi::Result<Option<FetchResult>> {
        let committed = !read_uncommitted.unwrap_or(false);
        on!(self, b => b.fetch(reader.unwrap_or(0), &topic, partition, offset as i64, max_bytes, committed))
    }

    /// Test hook: the next `n` appends to a partition fail with EIO.
    #[napi]
    pub fn inject_append_failures(&self, topic: String, partition: i32, n: u32) -> napi::Result<()> {
        on!(self, b => b.inject_append_failures(&topic, partition, n)).js()
    }

    /// Test hook: the next `n` fsyncs fail with EIO.
    #[napi]
    pub fn inject_fsync_failures(&self, n: u32) -> napi::Result<()> {
        on!(self, b => b.inject_fsync_failures(n)).js()
    }

    /// One retention pass now (it also runs by itself every `retentionCheckIntervalMs`).
    #[napi]
    pub async fn run_maintenance(&self, now_ms: f64) -> napi::Result<u32> {
        on!(self, b => b.run_maintenance(now_ms as i64).await).js()
    }

    /// Serves the Kafka wire protocol from this broker (see src/wire).
    #[napi]
    pub fn listen(&self, options: ListenOptions) -> napi::Result<ListenAddress> {
        let d = crate::wire::ListenerConfig::default();
        let ms = |v: Option<f64>, default: std::time::Duration| v.map_or(default, |ms| std::time::Duration::from_millis(ms as u64));
        let config = crate::wire::ListenerConfig {
            host: options.host,
            port: u16::try_from(options.port).map_err(|_| invalid_arg("port must be 0 to 65535"))?,
            advertised_host: options.advertised_host,
            advertised_port: options.advertised_port.map(|p| u16::try_from(p).unwrap_or(0)),
            max_frame_bytes: options.max_request_bytes.map_or(d.max_frame_bytes, |b| b as usize),
            max_queued_request_bytes: options.max_queued_request_bytes.map_or(d.max_queued_request_bytes, |b| b as usize),
            max_connections: options.max_connections.map_or(d.max_connections, |n| n as usize),
            idle_timeout: ms(options.idle_timeout_ms, d.idle_timeout),
            request_read_timeout: ms(options.request_read_timeout_ms, d.request_read_timeout),
        };
        on!(self, b => b.listen(config)).js()
    }

    /// Stops the listener (connections are closed); the broker stays open.
    #[napi]
    pub async fn stop_listening(&self) -> napi::Result<()> {
        on!(self, b => b.stop_listening().await).js()
    }

    /// Tells JavaScript of appends that came from elsewhere (other processes; for a remote
    /// backend also fetched records and group news, as empty lists), weakly held: it never
    /// keeps the process alive. Null stops it.
    #[napi]
    pub fn watch_appends(&self, callback: Option<AppendWatcher>) {
        let callback = callback.map(Arc::new);
        // Under the backend's lock, as a takeover hands the watcher to the next backend.
        let backend = self.current.backend.read().unwrap_or_else(|p| p.into_inner());
        lock(&self.current.appends).clone_from(&callback);
        match &**backend {
            Backend::Local(b) => b.watch_appends(callback),
            Backend::Remote(b) => b.watch_appends(callback),
        }
    }

    /// Stops the listeners, flushes, writes the clean-shutdown marker and releases the
    /// data directory (or, reached through another process, leaves its groups and closes
    /// the connections).
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.current.mark_closed();
        // A takeover under way finishes first (and, finding the handle closed, lets go).
        drop(self.current.taking_over.lock().await);
        let r = on!(self, b => b.close().await).js();
        self.current.close_retired().await;
        r
    }

    /// The same as `close`, on the calling thread: for `process.on('exit')`, where
    /// nothing asynchronous runs any more.
    #[napi]
    pub fn close_sync(&self) -> napi::Result<()> {
        self.current.mark_closed();
        let r = on!(self, b => b.close_sync()).js();
        self.current.close_retired_now();
        r
    }

    /// Calls `callback` (with this process's pid) when this process takes the directory
    /// over from an owner that exited. Weakly held: it never keeps the process alive.
    #[napi]
    pub fn on_takeover(&self, callback: TakeoverWatcher) {
        *lock(&self.current.watcher) = Some(Arc::new(callback));
    }

    /// Joins `group_id` as a new member subscribed to `topics`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub async fn join_group(
        &self,
        group_id: String,
        client_id: String,
        topics: Vec<String>,
        session_timeout_ms: f64,
        rebalance_timeout_ms: f64,
        strategy: String,
        heartbeat_interval_ms: Option<f64>,
    ) -> napi::Result<NativeMember> {
        let strategy = Strategy::parse(&strategy).ok_or_else(|| invalid_arg(format!("unknown partition assigner {strategy}")))?;
        let join = Join {
            group_id,
            client_id,
            topics,
            session_timeout_ms: session_timeout_ms.clamp(1.0, i32::MAX as f64) as i32,
            rebalance_timeout_ms: rebalance_timeout_ms.clamp(1.0, i32::MAX as f64) as i32,
            strategy,
            heartbeat_interval_ms: heartbeat_interval_ms.unwrap_or(3000.0).max(10.0) as u64,
        };
        let current = self.current.get();
        let inner = match &*current {
            Backend::Local(b) => Member::Local(b.join_group(join).await.js()?),
            Backend::Remote(b) => Member::Remote(b.join_group(join).await.js()?),
        };
        Ok(NativeMember { inner })
    }

    /// Committed offsets of a group for one topic (absent partitions have none).
    #[napi]
    pub async fn committed_offsets(&self, group_id: String, topic: String) -> napi::Result<Vec<OffsetJs>> {
        let mut all = on!(self, b => b.committed(group_id).await).js()?;
        Ok(all
            .remove(&topic)
            .unwrap_or_default()
            .into_iter()
            .map(|(partition, offset, metadata)| OffsetJs { topic: topic.clone(), partition, offset: offset as f64, metadata })
            .collect())
    }

    /// Every topic a group has committed offsets for.
    #[napi]
    pub async fn committed_topics(&self, group_id: String) -> napi::Result<Vec<String>> {
        Ok(on!(self, b => b.committed(group_id).await).js()?.into_keys().collect())
    }

    /// Admin commit (setOffsets, resetOffsets): refused while the group has members.
    #[napi]
    pub async fn set_group_offsets(&self, group_id: String, offsets: Vec<OffsetJs>) -> napi::Result<()> {
        let offsets = offsets_in(offsets);
        on!(self, b => b.set_group_offsets(group_id, offsets).await).js()
    }

    /// The longest-standing member of a group (reported as its leader), if it has any.
    #[napi]
    pub async fn group_leader(&self, group_id: String) -> napi::Result<Option<String>> {
        on!(self, b => b.group_leader(group_id).await).js()
    }

    #[napi]
    pub async fn list_groups(&self) -> napi::Result<Vec<String>> {
        on!(self, b => b.list_groups().await).js()
    }

    #[napi]
    pub async fn describe_group(&self, group_id: String) -> napi::Result<GroupJs> {
        on!(self, b => b.describe_group(group_id).await).js()
    }

    /// Deletes a group's offsets.
    #[napi]
    pub async fn delete_group(&self, group_id: String) -> napi::Result<()> {
        on!(self, b => b.delete_group(group_id).await).js()
    }
}
