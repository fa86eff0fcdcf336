//! The second backend: a data directory another process owns, reached through the Kafka
//! protocol (src/remote). Its methods carry the local broker's names and results, so
//! `lib/` keeps one code path; those that must ask the owner return promises (and `lib/`
//! awaits every such call whatever the backend), while `fetch`, `partitionCount` and the
//! member's state answer at once from what was fetched or heard ahead.

use std::sync::Arc;

use napi::bindgen_prelude::{Float64Array, Int32Array};
use napi_derive::napi;

use super::error::{invalid_arg, to_js, IntoJs};
use super::group::{pairs, tps, BeatResult, GroupJs, MemberJs, OffsetJs, PollResult, TopicPartitionJs};
use super::produce::{result_rows, with_groups, ProduceResult};
use super::fetched::{decode_fetch, Read};
use super::{configs, AppendWatcher, FetchResult, ListenAddress, ListenOptions, NewTopicJs, PartitionOffsets, VerifyReport};
use crate::error::Error;
use crate::group::Strategy;
use crate::log::batch::encode_batches;
use crate::log::Compression;
use crate::remote::produce;
use crate::remote::{RemoteBroker as Core, RemoteMember as CoreMember};

/// Connects to the process that owns `dir` (its Unix socket, as recorded in `dir`).
/// `max_message_bytes`: the directory's limit, so sends are cut into batches it accepts;
/// `request_timeout_ms`: how long a request waits for the owner's answer (kafkajs's
/// requestTimeout).
#[napi]
pub async fn connect_broker(dir: String, max_message_bytes: f64, request_timeout_ms: f64) -> napi::Result<RemoteBroker> {
    super::logs::install();
    if !(request_timeout_ms.is_finite() && request_timeout_ms >= 1.0) {
        return Err(invalid_arg(format!("requestTimeout must be a number of milliseconds of at least 1, not {request_timeout_ms}")));
    }
    let timeout = std::time::Duration::from_secs_f64(request_timeout_ms.min(1e12) / 1000.0);
    let core = napi::bindgen_prelude::spawn_blocking(move || Core::connect(dir, timeout)).await.map_err(invalid_arg)?.js()?;
    Ok(RemoteBroker { core: Arc::new(core), max_message_bytes: max_message_bytes.max(1024.0) as usize })
}

#[napi]
pub struct RemoteBroker {
    core: Arc<Core>,
    max_message_bytes: usize,
}

fn unsupported(what: &str) -> napi::Error {
    to_js(Error::InvalidRequest(format!(
        "{what} runs in the process that owns the data directory; this process reaches it through that process"
    )))
}

impl RemoteBroker {
    async fn run<T: Send + 'static>(&self, f: impl std::future::Future<Output = crate::Result<T>> + Send + 'static) -> napi::Result<T> {
        self.core.run(f).await.js()
    }

    fn inner(&self) -> Arc<crate::remote::Inner> {
        Arc::clone(self.core.inner())
    }
}

type Resolve<T> = Box<dyn FnOnce(napi::Env) -> napi::Result<T> + Send>;

/// A promise settled once from the connection's own thread: by its answer, or, if the
/// task carrying it is dropped (the handle closed under it), rejected then, so no call
/// waits forever. No hop through napi's runtime on the way.
struct Answer<T: napi::bindgen_prelude::ToNapiValue + Send + 'static>(Option<napi::JsDeferred<T, Resolve<T>>>);

impl<T: napi::bindgen_prelude::ToNapiValue + Send + 'static> Answer<T> {
    /// The promise and its settler (made last in a call: nothing fails after it, so its
    /// promise is always the one returned).
    fn new(env: &napi::Env) -> napi::Result<(Answer<T>, napi::bindgen_prelude::Object<'_>)> {
        let (deferred, promise) = env.create_deferred::<T, Resolve<T>>()?;
        Ok((Answer(Some(deferred)), promise))
    }

    fn resolve(mut self, r: T) {
        if let Some(d) = self.0.take() {
            d.resolve(Box::new(move |_| Ok(r)));
        }
    }

    fn reject(mut self, e: napi::Error) {
        if let Some(d) = self.0.take() {
            d.reject(e);
        }
    }

    fn settle(self, r: crate::Result<T>) {
        match r {
            Ok(v) => self.resolve(v),
            Err(e) => self.reject(to_js(e)),
        }
    }
}

impl<T: napi::bindgen_prelude::ToNapiValue + Send + 'static> Drop for Answer<T> {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            d.reject(to_js(Error::Closed));
        }
    }
}

fn offsets_in(v: Vec<OffsetJs>) -> Vec<(String, i32, i64, Option<String>)> {
    v.into_iter().map(|o| (o.topic, o.partition, o.offset as i64, o.metadata)).collect()
}

#[napi]
impl RemoteBroker {
    #[napi(getter)]
    pub fn dir(&self) -> String {
        self.core.inner().dir().display().to_string()
    }

    /// Recovery is the owner's business: a remote handle always opens clean.
    #[napi(getter)]
    pub fn opened_clean(&self) -> bool {
        true
    }

    /// The data directory's cluster id, as its owner reports it.
    #[napi(getter)]
    pub fn cluster_id(&self) -> String {
        self.core.inner().cluster_id()
    }

    #[napi]
    pub fn topics_version(&self) -> f64 {
        self.core.inner().topics_version() as f64
    }

    /// The partition count as last loaded from the owner; `refreshTopics` loads again.
    #[napi]
    pub fn partition_count(&self, name: String) -> Option<i32> {
        self.core.inner().partition_count(&name)
    }

    #[napi]
    pub async fn refresh_topics(&self) -> napi::Result<()> {
        let i = self.inner();
        self.run(async move { i.refresh_topics().await }).await
    }

    #[napi]
    pub async fn topics(&self) -> napi::Result<Vec<String>> {
        let i = self.inner();
        self.run(async move {
            i.refresh_topics().await?;
            Ok(i.topic_names())
        })
        .await
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
        let configs = super::pairs(config_names, config_values)?;
        let spec = crate::broker::NewTopic { name, partitions: num_partitions, replication_factor, configs, assignments: Vec::new() };
        let i = self.inner();
        self.run(async move { i.create_topics(vec![spec], validate_only).await?.pop().unwrap_or(Ok(())) }).await
    }

    #[napi]
    pub async fn create_topics(&self, topics: Vec<NewTopicJs>, validate_only: bool) -> napi::Result<Vec<Option<String>>> {
        let specs = super::new_topics(topics)?;
        let i = self.inner();
        let results = self.run(async move { i.create_topics(specs, validate_only).await }).await?;
        Ok(results.into_iter().map(|r| r.err().map(|e| to_js(e).reason)).collect())
    }

    #[napi]
    pub async fn delete_topic(&self, name: String) -> napi::Result<()> {
        let i = self.inner();
        self.run(async move { i.delete_topic(&name).await }).await
    }

    #[napi]
    pub async fn create_partitions(&self, name: String, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> napi::Result<()> {
        let i = self.inner();
        self.run(async move { i.create_partitions(&name, count, assignments, validate_only).await }).await
    }

    /// A send, in the local broker's layout (src/binding/produce.rs), encoded here as
    /// record batches straight into one Produce request (on the calling thread, as the
    /// local broker appends there, so the caller's buffers are free again on return) and
    /// stored by the owner. The promise settles from the connection's own thread: no hop
    /// through napi's runtime on the way.
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
    ) -> napi::Result<napi::bindgen_prelude::Object<'env>> {
        let codec = Compression::from_id(compression).js()?;
        let producer = (producer_id >= 0.0).then_some((producer_id as i64, producer_epoch as i16));
        let max = self.max_message_bytes;
        let i = self.inner();
        let mut frame = i.produce_frame();
        let (indexes, parts) = with_groups(&topics, data, meta, timestamps, producer, sequences, |indexes, groups| {
            let parts: Vec<(&str, i32)> = groups.iter().map(|g| (g.topic, g.partition)).collect();
            let errors = produce::write(&mut frame, &parts, |k, out| {
                let g = &groups[k];
                encode_batches(out, &g.records, codec, max, g.producer, |_| {})
            });
            // As the owner's process appends a send: a partition that cannot be encoded (a
            // message too large) fails the whole send, before anything of it is sent.
            if let Some((_, e)) = errors.into_iter().min_by_key(|(k, _)| *k) {
                return Err(to_js(e));
            }
            Ok((indexes.to_vec(), parts.iter().map(|(t, p)| (t.to_string(), *p)).collect::<Vec<_>>()))
        })?;
        // Written to the owner from here when the connection is free: the owner is at work
        // while the wait for its answer is scheduled.
        let call = if parts.is_empty() { None } else { Some(i.begin_produce(parts.clone(), frame).js()?) };
        let (answer, promise) = Answer::<ProduceResult>::new(env)?;
        self.core.spawn(async move {
            let outcomes = match call {
                None => Ok(Vec::new()),
                Some(call) => i.finish_produce(call).await,
            };
            match outcomes {
                Err(e) => answer.reject(to_js(e)),
                Ok(outcomes) => answer.resolve(result_rows(&indexes, parts.iter().map(|(_, p)| *p), outcomes.into_iter())),
            }
        });
        Ok(promise)
    }

    #[napi]
    pub async fn init_producer_id(&self) -> napi::Result<Vec<f64>> {
        let i = self.inner();
        let (id, epoch) = self.run(async move { i.init_producer_id().await }).await?;
        Ok(vec![id as f64, epoch as f64])
    }

    #[napi]
    pub async fn verify(&self) -> napi::Result<VerifyReport> {
        Err(unsupported("verify()"))
    }

    /// The owner answers a produce once it is durable (fsynced when the directory fsyncs).
    #[napi]
    pub async fn sync(&self) -> napi::Result<()> {
        Ok(())
    }

    #[napi]
    pub async fn watermarks(&self, topic: String) -> napi::Result<Float64Array> {
        let i = self.inner();
        let offsets = self.run(async move { i.offsets(&topic).await }).await?;
        Ok(Float64Array::new(offsets.iter().flat_map(|o| [o.low as f64, o.high as f64]).collect()))
    }

    #[napi]
    pub async fn offsets(&self, topic: String) -> napi::Result<Vec<PartitionOffsets>> {
        let i = self.inner();
        let offsets = self.run(async move { i.offsets(&topic).await }).await?;
        Ok(offsets.into_iter().map(|o| PartitionOffsets { partition: o.partition, low: o.low as f64, high: o.high as f64 }).collect())
    }

    #[napi]
    pub async fn offset_for_timestamp(&self, topic: String, partition: i32, timestamp: f64) -> napi::Result<Option<f64>> {
        let i = self.inner();
        let o = self.run(async move { i.offset_for_timestamp(&topic, partition, timestamp as i64).await }).await?;
        Ok(o.map(|o| o as f64))
    }

    #[napi]
    pub async fn delete_records(&self, topic: String, partition: i32, offset: f64) -> napi::Result<f64> {
        let i = self.inner();
        Ok(self.run(async move { i.delete_records(&topic, partition, offset as i64).await }).await? as f64)
    }

    #[napi]
    pub async fn describe_configs(
        &self,
        resource_type: i32,
        name: String,
        config_names: Option<Vec<String>>,
        include_synonyms: bool,
    ) -> napi::Result<Vec<configs::ConfigEntryJs>> {
        let resource = configs::resource(resource_type, name).js()?;
        let opts = configs::options(config_names, include_synonyms);
        let i = self.inner();
        let entries = self.run(async move { i.describe_configs(&resource, &opts).await }).await?;
        Ok(entries.into_iter().map(Into::into).collect())
    }

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
        let entries = super::pairs(config_names, config_values)?;
        let i = self.inner();
        self.run(async move { i.alter_configs(&resource, entries, validate_only).await }).await
    }

    /// What was fetched ahead at `offset` for `reader` (each consumer has its own), or null
    /// (asked for now; `watchAppends`'s callback names the partition when it arrives).
    #[napi]
    pub fn fetch(&self, topic: String, partition: i32, offset: f64, max_bytes: u32, reader: Option<u32>) -> napi::Result<Option<FetchResult>> {
        match self.core.inner().fetch(reader.unwrap_or(0), &topic, partition, offset as i64, max_bytes.min(i32::MAX as u32) as i32).js()? {
            None => Ok(None),
            Some(f) => decode_fetch(Read::Shared(f.bytes), offset as i64, f.high_watermark, f.log_start_offset),
        }
    }

    #[napi]
    pub fn inject_append_failures(&self, _topic: String, _partition: i32, _n: u32) -> napi::Result<()> {
        Err(unsupported("injecting failures"))
    }

    #[napi]
    pub fn inject_fsync_failures(&self, _n: u32) -> napi::Result<()> {
        Err(unsupported("injecting failures"))
    }

    #[napi]
    pub async fn run_maintenance(&self, _now_ms: f64) -> napi::Result<f64> {
        Err(unsupported("retention's maintenance pass"))
    }

    #[napi]
    pub fn listen(&self, _options: ListenOptions) -> napi::Result<ListenAddress> {
        let dir = self.core.inner().dir().to_path_buf();
        let owner = match crate::wire::local::read_record(&dir) {
            Ok(Some(r)) => crate::broker::describe_process(r.pid),
            _ => "another process".to_string(),
        };
        Err(to_js(Error::InvalidRequest(format!(
            "data directory {} is held by {owner}, which owns it: listen() (and `samsa serve`) runs in the owning process; one process serves a data directory",
            dir.display()
        ))))
    }

    #[napi]
    pub async fn stop_listening(&self) -> napi::Result<()> {
        Ok(())
    }

    /// Fetched records arrived for (topics[i], partitions[i]); empty lists: a group of this
    /// process changed.
    #[napi]
    pub fn watch_appends(&self, callback: Option<AppendWatcher>) {
        self.core.inner().set_notify(callback.map(|callback| {
            Box::new(move |topics, partitions| {
                callback.call((topics, partitions).into(), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
            }) as crate::remote::Notify
        }));
    }

    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.core.close().await.js()
    }

    #[napi]
    pub fn close_sync(&self) {
        self.core.shutdown();
    }

    // ------------------------------------------------------------------ groups

    /// Joins `group_id` as a KIP-848 member; resolves once the owner answered the first
    /// heartbeat (with the first assignment).
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
    ) -> napi::Result<RemoteMember> {
        let i = self.inner();
        let hb = heartbeat_interval_ms.unwrap_or(3000.0).max(10.0) as u64;
        let rebalance = rebalance_timeout_ms.clamp(1.0, i32::MAX as f64) as i32;
        let session = session_timeout_ms.clamp(1.0, i32::MAX as f64) as i32;
        let assignor = Strategy::parse(&strategy).ok_or_else(|| invalid_arg(format!("unknown partition assigner {strategy}")))?;
        let member = self.run(async move { CoreMember::join(i, group_id, client_id, assignor, topics, rebalance, session, hb).await }).await?;
        Ok(RemoteMember { core: Arc::clone(&self.core), member })
    }

    #[napi]
    pub async fn committed_offsets(&self, group_id: String, topic: String) -> napi::Result<Vec<OffsetJs>> {
        let i = self.inner();
        let mut all = self.run(async move { i.committed(&group_id).await }).await?;
        Ok(all
            .remove(&topic)
            .unwrap_or_default()
            .into_iter()
            .map(|(partition, offset, metadata)| OffsetJs { topic: topic.clone(), partition, offset: offset as f64, metadata })
            .collect())
    }

    #[napi]
    pub async fn committed_topics(&self, group_id: String) -> napi::Result<Vec<String>> {
        let i = self.inner();
        Ok(self.run(async move { i.committed(&group_id).await }).await?.into_keys().collect())
    }

    #[napi]
    pub async fn set_group_offsets(&self, group_id: String, offsets: Vec<OffsetJs>) -> napi::Result<()> {
        let i = self.inner();
        let offsets = offsets_in(offsets);
        self.run(async move { i.commit(&group_id, "", -1, offsets).await }).await
    }

    /// The first member the owner lists (its longest-standing one).
    #[napi]
    pub async fn group_leader(&self, group_id: String) -> napi::Result<Option<String>> {
        let i = self.inner();
        let d = self.run(async move { i.describe_group(&group_id).await }).await?;
        Ok(d.members.into_iter().next().map(|m| m.member_id))
    }

    #[napi]
    pub async fn list_groups(&self) -> napi::Result<Vec<String>> {
        let i = self.inner();
        self.run(async move { i.list_groups().await }).await
    }

    #[napi]
    pub async fn describe_group(&self, group_id: String) -> napi::Result<GroupJs> {
        let i = self.inner();
        let g = group_id.clone();
        let d = self.run(async move { i.describe_group(&g).await }).await?;
        Ok(GroupJs {
            group_id,
            state: d.state,
            protocol: d.protocol,
            generation: -1,
            members: d
                .members
                .into_iter()
                .map(|m| MemberJs { member_id: m.member_id, client_id: m.client_id, client_host: m.client_host, topics: m.topics, assigned: tps(m.assigned) })
                .collect(),
        })
    }

    #[napi]
    pub async fn delete_group(&self, group_id: String) -> napi::Result<()> {
        let i = self.inner();
        self.run(async move { i.delete_group(&group_id).await }).await
    }
}

/// A consumer's membership in a group whose coordinator is in the owning process.
#[napi]
pub struct RemoteMember {
    core: Arc<Core>,
    member: Arc<CoreMember>,
}

/// The member is out of the group (the owner said why): it must join again.
fn out_of_group(group: &str, why: &str) -> napi::Error {
    to_js(Error::from_wire(25, format!("out of group \"{group}\": {why}")))
}

#[napi]
impl RemoteMember {
    #[napi(getter)]
    pub fn member_id(&self) -> String {
        self.member.lock().member_id.clone()
    }

    #[napi]
    pub fn state_version(&self) -> f64 {
        self.member.version() as f64
    }

    #[napi]
    pub fn owns(&self, topic: String, partition: i32) -> bool {
        let s = self.member.lock();
        s.fenced.is_none() && s.owned.contains(&(topic, partition))
    }

    /// The member's state as last heard: held partitions (without those being revoked) and
    /// those to hand back. Heartbeats run on their own; this never waits for the owner.
    #[napi]
    pub fn poll(&self, _busy_since: Option<f64>) -> napi::Result<PollResult> {
        let s = self.member.lock();
        if let Some(why) = &s.fenced {
            return Err(out_of_group(&self.member.group_id, why));
        }
        let assigned: Vec<(String, i32)> = s.owned.difference(&s.revoking).cloned().collect();
        let revoking: Vec<(String, i32)> = s.revoking.iter().cloned().collect();
        let generation = s.epoch;
        drop(s);
        let (topics, mut lists) = pairs(&[assigned, revoking]);
        let revoking = lists.pop().unwrap_or_else(|| Int32Array::new(Vec::new()));
        let assigned = lists.pop().unwrap_or_else(|| Int32Array::new(Vec::new()));
        Ok(PollResult { generation, topics, assigned, revoking, pending: 0, topics_version: self.core.inner().topics_version() as f64 })
    }

    #[napi]
    pub fn beat(&self, _busy_since: Option<f64>) -> napi::Result<BeatResult> {
        let s = self.member.lock();
        if let Some(why) = &s.fenced {
            return Err(out_of_group(&self.member.group_id, why));
        }
        Ok(BeatResult { generation: s.epoch, revoking: s.revoking.len() as u32 })
    }

    #[napi]
    pub fn subscribe(&self, topics: Vec<String>) {
        self.member.subscribe(topics);
    }

    #[napi]
    pub fn release(&self, partitions: Vec<TopicPartitionJs>) {
        let list: Vec<(String, i32)> = partitions.into_iter().map(|p| (p.topic, p.partition)).collect();
        self.member.release(&list);
    }

    /// Commits with the member's epoch; settled from the connection's thread (a consumer
    /// commits after every batch, so this is on the path of every message).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit<'env>(&self, env: &'env napi::Env, offsets: Vec<OffsetJs>) -> napi::Result<napi::bindgen_prelude::Object<'env>> {
        let m = Arc::clone(&self.member);
        let offsets = offsets_in(offsets);
        let (answer, promise) = Answer::<()>::new(env)?;
        self.core.spawn(async move { answer.settle(m.commit(offsets).await) });
        Ok(promise)
    }

    /// Leaves the group now; resolves once the owner heard it.
    #[napi]
    pub async fn leave(&self) -> napi::Result<()> {
        let m = Arc::clone(&self.member);
        self.core.run(async move { m.leave().await }).await.js()
    }
}
