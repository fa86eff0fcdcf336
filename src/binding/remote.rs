//! The remote backend: another process owns the data directory, reached through the Kafka
//! protocol (src/remote). What must ask the owner runs on the client's own thread;
//! `fetch`, partition counts and a member's state answer at once from what was fetched or
//! heard ahead.

use std::sync::Arc;

use super::backend::{BrokerBackend, CommittedOffsets, Join, MemberBackend, MemberState, Offset, ProduceArgs, TxnProducer};
use super::error::to_js;
use super::fetched::{decode_fetch, FetchResult, Filter, Read};
use super::group::{GroupJs, MemberJs};
use super::produce::{result_rows, with_groups, ProduceResult};
use super::promise::{BoxFuture, Pending, Spawn};
use super::{AppendWatcher, ListenAddress};
use crate::broker::{ConfigEntry, ConfigResource, DescribeOptions, NewTopic, PartitionOffsets};
use crate::error::{Error, Result};
use crate::group::TopicPartition;
use crate::log::batch::encode_batches;
use crate::log::verify::PartitionReport;
use crate::log::Compression;
use crate::remote::produce;
use crate::remote::{Inner, RemoteBroker as Core, RemoteMember as CoreMember};
use crate::wire::ListenerConfig;

pub struct RemoteBackend {
    core: Arc<Core>,
    /// The directory's limit, so sends are cut into batches it accepts.
    max_message_bytes: usize,
}

fn unsupported(what: &str) -> Error {
    Error::InvalidRequest(format!("{what} runs in the process that owns the data directory; this process reaches it through that process"))
}

impl RemoteBackend {
    pub fn new(core: Core, max_message_bytes: usize) -> RemoteBackend {
        RemoteBackend { core: Arc::new(core), max_message_bytes }
    }

    /// Tells this backend's group members they are out of their groups (`why`).
    pub fn fence_members(&self, why: &str) {
        self.core.inner().fence_members(why);
    }

    pub fn produces_in_flight(&self) -> usize {
        self.core.inner().produces_in_flight()
    }

    fn inner(&self) -> Arc<Inner> {
        Arc::clone(self.core.inner())
    }

    /// Runs `f` with the client on its own thread (its connections live there).
    async fn run<T: Send + 'static, F>(&self, f: impl FnOnce(Arc<Inner>) -> F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        self.core.run(f(self.inner())).await
    }
}

impl Spawn for RemoteBackend {
    fn spawn(&self, f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>) {
        self.core.spawn(f);
    }
}

impl BrokerBackend for RemoteBackend {
    type Member = RemoteMember;

    /// Recovery is the owner's business: a remote handle always opens clean.
    fn opened_clean(&self) -> bool {
        true
    }

    fn cluster_id(&self) -> String {
        self.core.inner().cluster_id()
    }

    fn topics_version(&self) -> u64 {
        self.core.inner().topics_version()
    }

    /// As last loaded from the owner; `refresh_topics` loads again.
    fn partition_count(&self, topic: &str) -> Result<Option<i32>> {
        Ok(self.core.inner().partition_count(topic))
    }

    async fn refresh_topics(&self) -> Result<()> {
        self.run(|i| async move { i.refresh_topics().await }).await
    }

    async fn topics(&self) -> Result<Vec<String>> {
        self.run(|i| async move {
            i.refresh_topics().await?;
            Ok(i.topic_names())
        })
        .await
    }

    async fn create_topics(&self, specs: Vec<NewTopic>, validate_only: bool) -> Result<Vec<Result<()>>> {
        self.run(|i| async move { i.create_topics(specs, validate_only).await }).await
    }

    async fn delete_topic(&self, topic: String) -> Result<()> {
        self.run(|i| async move { i.delete_topic(&topic).await }).await
    }

    async fn create_partitions(&self, topic: String, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<()> {
        self.run(|i| async move { i.create_partitions(&topic, count, assignments, validate_only).await }).await
    }

    /// Encoded as record batches straight into one Produce request, on the calling thread
    /// (so the caller's buffers are free again on return), and written to the owner when
    /// the connection is free: the owner is at work while the wait for its answer is
    /// scheduled.
    fn produce(&self, s: ProduceArgs<'_>) -> Pending<ProduceResult> {
        let codec = match Compression::from_id(s.compression) {
            Ok(c) => c,
            Err(e) => return Pending::Ready(Err(to_js(e))),
        };
        let max = self.max_message_bytes;
        let i = self.inner();
        let mut frame = i.produce_frame();
        let transactional = s.transactional_id.is_some() && s.producer.is_some();
        let encoded = with_groups(s.topics, s.data, s.meta, s.timestamps, s.producer, s.sequences, transactional, |indexes, groups| {
            let parts: Vec<(&str, i32)> = groups.iter().map(|g| (g.topic, g.partition)).collect();
            let errors = produce::write(&mut frame, &parts, s.transactional_id, |k, out| {
                let g = &groups[k];
                encode_batches(out, &g.records, codec, max, g.producer, |_| {})
            });
            // As the owner's process appends a send: a partition that cannot be encoded (a
            // message too large) fails the whole send, before anything of it is sent.
            if let Some((_, e)) = errors.into_iter().min_by_key(|(k, _)| *k) {
                return Err(to_js(e));
            }
            Ok((indexes.to_vec(), parts.iter().map(|(t, p)| (t.to_string(), *p)).collect::<Vec<_>>()))
        });
        let (indexes, parts) = match encoded {
            Ok(v) => v,
            Err(e) => return Pending::Ready(Err(e)),
        };
        if parts.is_empty() {
            return Pending::Ready(Ok(result_rows(&[], std::iter::empty(), std::iter::empty())));
        }
        let call = match i.begin_produce(parts.clone(), frame) {
            Ok(c) => c,
            Err(e) => return Pending::Ready(Err(to_js(e))),
        };
        let work: BoxFuture<ProduceResult> = Box::pin(async move {
            let outcomes = i.finish_produce(call).await.map_err(to_js)?;
            Ok(result_rows(&indexes, parts.iter().map(|(_, p)| *p), outcomes.into_iter()))
        });
        Pending::Later(work)
    }

    async fn init_producer_id(&self) -> Result<(i64, i16)> {
        self.run(|i| async move { i.init_producer_id().await }).await
    }

    async fn init_transactions(&self, transactional_id: String, timeout_ms: i32) -> Result<(i64, i16)> {
        self.run(|i| async move { i.init_transactions(&transactional_id, timeout_ms).await }).await
    }

    async fn send_offsets_to_txn(&self, txn: TxnProducer, group_id: String, offsets: Vec<Offset>) -> Result<()> {
        self.run(|i| async move { i.send_offsets_to_txn(&txn.transactional_id, txn.producer_id, txn.epoch, &group_id, offsets).await }).await
    }

    /// Run on the client's own thread, where the promise is settled.
    fn end_txn(&self, txn: TxnProducer, commit: bool) -> Pending<()> {
        let i = self.inner();
        Pending::Later(Box::pin(async move { i.end_txn(&txn.transactional_id, txn.producer_id, txn.epoch, commit).await.map_err(to_js) }))
    }

    async fn verify(&self) -> Result<Vec<PartitionReport>> {
        Err(unsupported("verify()"))
    }

    /// The owner answers a produce once it is durable (fsynced when the directory fsyncs).
    async fn sync(&self) -> Result<()> {
        Ok(())
    }

    async fn offsets(&self, topic: String) -> Result<Vec<PartitionOffsets>> {
        self.run(|i| async move { i.offsets(&topic).await }).await
    }

    async fn offset_for_timestamp(&self, topic: String, partition: i32, timestamp: i64) -> Result<Option<i64>> {
        self.run(|i| async move { i.offset_for_timestamp(&topic, partition, timestamp).await }).await
    }

    async fn delete_records(&self, topic: String, partition: i32, offset: i64) -> Result<i64> {
        self.run(|i| async move { i.delete_records(&topic, partition, offset).await }).await
    }

    async fn describe_configs(&self, resource: ConfigResource, options: DescribeOptions) -> Result<Vec<ConfigEntry>> {
        self.run(|i| async move { i.describe_configs(&resource, &options).await }).await
    }

    async fn alter_configs(&self, resource: ConfigResource, entries: Vec<(String, String)>, validate_only: bool) -> Result<()> {
        self.run(|i| async move { i.alter_configs(&resource, entries, validate_only).await }).await
    }

    /// What was fetched ahead at `offset` for `reader` (each consumer has its own), or None
    /// (asked for now; `watch_appends`'s callback names the partition when it arrives).
    fn fetch(&self, reader: u32, topic: &str, partition: i32, offset: i64, max_bytes: u32, committed: bool) -> napi::Result<Option<FetchResult>> {
        match self.core.inner().fetch(reader, topic, partition, offset, max_bytes.min(i32::MAX as u32) as i32, committed).map_err(to_js)? {
            None => Ok(None),
            Some(f) => {
                let filter = if committed { Filter::ReadCommitted(&f.aborted) } else { Filter::ReadUncommitted };
                decode_fetch(Read::Shared(f.bytes), offset, f.high_watermark, f.log_start_offset, filter)
            }
        }
    }

    fn inject_append_failures(&self, _topic: &str, _partition: i32, _n: u32) -> Result<()> {
        Err(unsupported("injecting failures"))
    }

    fn inject_fsync_failures(&self, _n: u32) -> Result<()> {
        Err(unsupported("injecting failures"))
    }

    async fn run_maintenance(&self, _now_ms: i64) -> Result<u32> {
        Err(unsupported("retention's maintenance pass"))
    }

    fn listen(&self, _config: ListenerConfig) -> Result<ListenAddress> {
        let dir = self.core.inner().dir().to_path_buf();
        let owner = match crate::wire::local::read_record(&dir) {
            Ok(Some(r)) => crate::broker::describe_process(r.pid),
            _ => "another process".to_string(),
        };
        Err(Error::InvalidRequest(format!(
            "data directory {} is held by {owner}, which owns it: listen() (and `samsa serve`) runs in the owning process; one process serves a data directory",
            dir.display()
        )))
    }

    async fn stop_listening(&self) -> Result<()> {
        Ok(())
    }

    /// Fetched records arrived for (topics[i], partitions[i]); empty lists: a group of this
    /// process changed.
    fn watch_appends(&self, callback: Option<Arc<AppendWatcher>>) {
        self.core.inner().set_notify(callback.map(|callback| {
            Box::new(move |topics, partitions| {
                callback.call((topics, partitions).into(), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
            }) as crate::remote::Notify
        }));
    }

    async fn close(&self) -> Result<()> {
        self.core.close().await
    }

    fn close_sync(&self) -> Result<()> {
        self.core.shutdown();
        Ok(())
    }

    /// Joins as a KIP-848 member; resolves once the owner answered the first heartbeat.
    async fn join_group(&self, j: Join) -> Result<RemoteMember> {
        let member = self
            .run(|i| async move {
                CoreMember::join(i, j.group_id, j.client_id, j.strategy, j.topics, j.rebalance_timeout_ms, j.session_timeout_ms, j.heartbeat_interval_ms).await
            })
            .await?;
        Ok(RemoteMember { core: Arc::clone(&self.core), member })
    }

    async fn committed(&self, group_id: String) -> Result<CommittedOffsets> {
        Ok(self.run(|i| async move { i.committed(&group_id).await }).await?.into_iter().collect())
    }

    async fn set_group_offsets(&self, group_id: String, offsets: Vec<Offset>) -> Result<()> {
        self.run(|i| async move { i.commit(&group_id, "", -1, offsets).await }).await
    }

    /// The first member the owner lists (its longest-standing one).
    async fn group_leader(&self, group_id: String) -> Result<Option<String>> {
        let d = self.run(|i| async move { i.describe_group(&group_id).await }).await?;
        Ok(d.members.into_iter().next().map(|m| m.member_id))
    }

    async fn list_groups(&self) -> Result<Vec<String>> {
        self.run(|i| async move { i.list_groups().await }).await
    }

    async fn describe_group(&self, group_id: String) -> Result<GroupJs> {
        let g = group_id.clone();
        let d = self.run(|i| async move { i.describe_group(&g).await }).await?;
        Ok(GroupJs {
            group_id,
            state: d.state,
            protocol: d.protocol,
            generation: -1,
            members: d
                .members
                .into_iter()
                .map(MemberJs::from)
                .collect(),
        })
    }

    async fn delete_group(&self, group_id: String) -> Result<()> {
        self.run(|i| async move { i.delete_group(&group_id).await }).await
    }
}

/// A consumer's membership in a group whose coordinator is in the owning process.
pub struct RemoteMember {
    core: Arc<Core>,
    member: Arc<CoreMember>,
}

impl RemoteMember {
    /// Out of the group (the owner said why): the member must join again.
    fn check_in(&self) -> Result<std::sync::MutexGuard<'_, crate::remote::MemberState>> {
        let s = self.member.lock();
        if let Some(why) = &s.fenced {
            return Err(Error::from_wire(25, format!("out of group \"{}\": {why}", self.member.group_id)));
        }
        Ok(s)
    }
}

impl Spawn for RemoteMember {
    fn spawn(&self, f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>) {
        self.core.spawn(f);
    }
}

impl MemberBackend for RemoteMember {
    fn member_id(&self) -> String {
        self.member.lock().member_id.clone()
    }

    fn state_version(&self) -> u64 {
        self.member.version()
    }

    fn owns(&self, topic: &str, partition: i32) -> bool {
        let s = self.member.lock();
        s.fenced.is_none() && s.owned.contains(&(topic.to_string(), partition))
    }

    /// As last heard: heartbeats run on their own, so this never waits for the owner.
    fn poll(&self, _busy_since: Option<i64>) -> Result<MemberState> {
        let s = self.check_in()?;
        Ok(MemberState {
            generation: s.epoch,
            assigned: s.owned.difference(&s.revoking).cloned().collect(),
            revoking: s.revoking.iter().cloned().collect(),
            pending: 0,
            topics_version: self.core.inner().topics_version(),
        })
    }

    fn subscribe(&self, topics: Vec<String>) -> Result<()> {
        self.member.subscribe(topics);
        Ok(())
    }

    fn release(&self, partitions: Vec<TopicPartition>) -> Result<()> {
        self.member.release(&partitions);
        Ok(())
    }

    /// With the member's epoch, settled from the client's thread (a consumer commits after
    /// every batch, so this is on the path of every message).
    fn commit(&self, offsets: Vec<Offset>) -> Pending<()> {
        let m = Arc::clone(&self.member);
        Pending::Later(Box::pin(async move { m.commit(offsets).await.map_err(to_js) }))
    }

    async fn leave(&self) -> Result<()> {
        let m = Arc::clone(&self.member);
        self.core.run(async move { m.leave().await }).await
    }
}
