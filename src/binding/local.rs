//! The local backend: this process owns the data directory and calls the core directly.
//! Disk work that may take long (topic changes, fsync, durable writes, close) runs on a
//! blocking thread; short work in memory, and an append (one write), run where called.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::backend::{BrokerBackend, CommittedOffsets, Join, MemberBackend, MemberState, Offset, ProduceArgs, TxnProducer};
use super::error::to_js;
use super::fetched::{decode_fetch, FetchResult, Filter, Read};
use super::group::{GroupJs, MemberJs};
use super::produce::{self, ProduceResult};
use super::promise::{BoxFuture, Pending, Spawn};
use super::{AppendWatcher, ListenAddress};
use crate::broker::{Broker, ConfigEntry, ConfigResource, DescribeOptions, Isolation, NewTopic, PartitionOffsets};
use crate::error::{Error, Result};
use crate::group::{Committed, JoinRequest, TopicPartition};
use crate::log::verify::PartitionReport;
use crate::wire::{Listener, ListenerConfig};

pub struct LocalBackend {
    broker: Arc<Broker>,
    /// The Kafka-protocol listener, once `listen` was called.
    listener: Mutex<Option<Listener>>,
    /// The Unix socket other processes reach this directory on, and its path.
    socket: Mutex<Option<(Listener, PathBuf)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on a blocking thread with the broker.
async fn blocking<T: Send + 'static>(broker: &Arc<Broker>, f: impl FnOnce(&Broker) -> Result<T> + Send + 'static) -> Result<T> {
    let b = Arc::clone(broker);
    tokio::task::spawn_blocking(move || f(&b)).await.unwrap_or_else(|e| Err(Error::InvalidRequest(format!("a worker thread failed: {e}"))))
}

fn committed(offsets: Vec<Offset>) -> Vec<(String, i32, Committed)> {
    offsets.into_iter().map(|(topic, partition, offset, metadata)| (topic, partition, Committed { offset, metadata, leader_epoch: None })).collect()
}

impl LocalBackend {
    /// Opens (and recovers) the directory, records `settings_record` (the settings in
    /// force, lib/settings.js) and serves the directory to the machine's other processes.
    /// Takes `lock` when the caller already holds the directory's lock.
    pub fn open(dir: PathBuf, config: crate::broker::BrokerConfig, settings_record: Option<String>, lock: Option<std::fs::File>) -> Result<LocalBackend> {
        let broker = Broker::open_locked(dir, config, lock)?;
        // Recorded under the lock, before other processes can connect.
        if let Some(record) = settings_record {
            crate::wire::local::record_settings(broker.dir(), &record)?;
        }
        // Failing to serve (a file system without sockets, say) leaves this process
        // working on its own.
        let socket = match crate::wire::local::serve(Arc::clone(&broker)) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot serve the data directory to other processes");
                None
            }
        };
        Ok(LocalBackend { broker, listener: Mutex::new(None), socket: Mutex::new(socket) })
    }

    pub fn dir(&self) -> String {
        self.broker.dir().display().to_string()
    }

    fn withdraw(&self) -> (Option<Listener>, Option<(Listener, PathBuf)>) {
        (lock(&self.listener).take(), lock(&self.socket).take())
    }
}

fn stop(broker: &Broker, listener: Option<Listener>, socket: Option<(Listener, PathBuf)>) -> Result<()> {
    if let Some(l) = listener {
        l.stop();
    }
    if let Some((l, path)) = socket {
        crate::wire::local::withdraw(broker.dir(), l, &path);
    }
    broker.set_append_listener(None);
    broker.close()
}

impl Spawn for LocalBackend {
    fn spawn(&self, f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>) {
        napi::bindgen_prelude::spawn(f);
    }
}

impl BrokerBackend for LocalBackend {
    type Member = LocalMember;

    fn opened_clean(&self) -> bool {
        self.broker.opened_clean()
    }

    fn cluster_id(&self) -> String {
        self.broker.cluster_id().to_string()
    }

    fn topics_version(&self) -> u64 {
        self.broker.topics_version()
    }

    fn partition_count(&self, topic: &str) -> Result<Option<i32>> {
        match self.broker.topic(topic) {
            Ok(t) => Ok(Some(t.partition_count())),
            Err(Error::UnknownTopicOrPartition { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn refresh_topics(&self) -> Result<()> {
        Ok(())
    }

    async fn topics(&self) -> Result<Vec<String>> {
        self.broker.topic_names()
    }

    async fn create_topics(&self, specs: Vec<NewTopic>, validate_only: bool) -> Result<Vec<Result<()>>> {
        blocking(&self.broker, move |b| Ok(b.create_topics(&specs, validate_only))).await
    }

    async fn delete_topic(&self, topic: String) -> Result<()> {
        blocking(&self.broker, move |b| b.delete_topic(&topic)).await
    }

    async fn create_partitions(&self, topic: String, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<()> {
        blocking(&self.broker, move |b| b.create_partitions(&topic, count, assignments.as_deref(), validate_only)).await
    }

    /// Appended on the calling thread: one write, cheaper than a hop to another thread.
    /// With fsync on, answered once the append is on disk (one fsync for the appends of
    /// every caller meanwhile), as the owner answers another process's Produce.
    fn produce(&self, s: ProduceArgs<'_>) -> Pending<ProduceResult> {
        let transactional = s.transactional_id.is_some() && s.producer.is_some();
        if transactional && self.broker.config().fsync {
            // A transactional send may add partitions to its transaction, which is then
            // fsynced: off the JS thread, with its buffers copied. Without fsync that is
            // one small write, as cheap as the append itself.
            let (b, topics, data, meta, timestamps) = (Arc::clone(&self.broker), s.topics.to_vec(), s.data.to_vec(), s.meta.to_vec(), s.timestamps.to_vec());
            let (compression, producer, sequences) = (s.compression, s.producer, s.sequences.to_vec());
            return Pending::Later(Box::pin(async move {
                let stored = tokio::task::spawn_blocking({
                    let b = Arc::clone(&b);
                    move || produce::produce(&b, &topics, &data, &meta, &timestamps, compression, producer, &sequences, true)
                })
                .await
                .map_err(|e| to_js(Error::InvalidRequest(format!("a worker thread failed: {e}"))))??;
                if b.config().fsync {
                    b.sync().await.unwrap_or(Err(Error::Closed)).map_err(to_js)?;
                }
                Ok(stored)
            }));
        }
        let stored = produce::produce(&self.broker, s.topics, s.data, s.meta, s.timestamps, s.compression, s.producer, s.sequences, transactional);
        if !self.broker.config().fsync {
            return Pending::Ready(stored);
        }
        let synced = self.broker.sync();
        Pending::Later(Box::pin(async move {
            let stored = stored?;
            synced.await.unwrap_or(Err(Error::Closed)).map_err(to_js)?;
            Ok(stored)
        }))
    }

    /// Ids come from durably recorded blocks, so this may write.
    async fn init_producer_id(&self) -> Result<(i64, i16)> {
        blocking(&self.broker, |b| b.init_producer_id()).await
    }

    async fn init_transactions(&self, transactional_id: String, timeout_ms: i32) -> Result<(i64, i16)> {
        blocking(&self.broker, move |b| b.init_transactional_producer(&transactional_id, timeout_ms, None)).await
    }

    async fn send_offsets_to_txn(&self, txn: TxnProducer, group_id: String, offsets: Vec<Offset>) -> Result<()> {
        let offsets = committed(offsets);
        blocking(&self.broker, move |b| {
            b.add_offsets_to_txn(&txn.transactional_id, txn.producer_id, txn.epoch, &group_id)?;
            b.txn_offset_commit(&txn.transactional_id, &group_id, txn.producer_id, txn.epoch, &offsets)
        })
        .await
    }

    /// Without fsync, a few small writes: done on the calling thread, as an append is.
    /// With fsync, off it, and answered once the markers are durable.
    fn end_txn(&self, txn: TxnProducer, commit: bool) -> Pending<()> {
        if !self.broker.config().fsync {
            return Pending::Ready(self.broker.end_txn(&txn.transactional_id, txn.producer_id, txn.epoch, commit).map_err(to_js));
        }
        let broker = Arc::clone(&self.broker);
        Pending::Later(Box::pin(async move {
            blocking(&broker, move |b| b.end_txn(&txn.transactional_id, txn.producer_id, txn.epoch, commit)).await.map_err(to_js)?;
            broker.sync().await.unwrap_or(Err(Error::Closed)).map_err(to_js)
        }))
    }

    async fn verify(&self) -> Result<Vec<PartitionReport>> {
        blocking(&self.broker, |b| b.verify()).await
    }

    async fn sync(&self) -> Result<()> {
        self.broker.sync().await.unwrap_or(Err(Error::Closed))
    }

    async fn offsets(&self, topic: String) -> Result<Vec<PartitionOffsets>> {
        self.broker.offsets(&topic)
    }

    async fn offset_for_timestamp(&self, topic: String, partition: i32, timestamp: i64) -> Result<Option<i64>> {
        blocking(&self.broker, move |b| b.offset_for_timestamp(&topic, partition, timestamp)).await
    }

    async fn delete_records(&self, topic: String, partition: i32, offset: i64) -> Result<i64> {
        blocking(&self.broker, move |b| b.delete_records(&topic, partition, offset)).await
    }

    async fn describe_configs(&self, resource: ConfigResource, options: DescribeOptions) -> Result<Vec<ConfigEntry>> {
        self.broker.describe_configs(&resource, &options)
    }

    async fn alter_configs(&self, resource: ConfigResource, entries: Vec<(String, String)>, validate_only: bool) -> Result<()> {
        let entries: Vec<(String, Option<String>)> = entries.into_iter().map(|(n, v)| (n, Some(v))).collect();
        blocking(&self.broker, move |b| b.alter_configs(&resource, &entries, validate_only)).await
    }

    fn fetch(&self, _reader: u32, topic: &str, partition: i32, offset: i64, max_bytes: u32, committed: bool) -> napi::Result<Option<FetchResult>> {
        let isolation = if committed { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
        let read = self.broker.read_isolated(topic, partition, offset, max_bytes as usize, isolation).map_err(to_js)?;
        let aborted: Vec<(i64, i64)> = read.aborted.iter().map(|a| (a.producer_id, a.first_offset)).collect();
        let filter = if committed { Filter::ReadCommitted(&aborted) } else { Filter::ReadUncommitted };
        decode_fetch(Read::Owned(read.bytes), offset, read.high_watermark, read.log_start_offset, filter)
    }

    fn inject_append_failures(&self, topic: &str, partition: i32, n: u32) -> Result<()> {
        self.broker.inject_append_failures(topic, partition, n);
        Ok(())
    }

    fn inject_fsync_failures(&self, n: u32) -> Result<()> {
        self.broker.inject_fsync_failures(n);
        Ok(())
    }

    async fn run_maintenance(&self, now_ms: i64) -> Result<u32> {
        Ok(blocking(&self.broker, move |b| b.run_maintenance(now_ms)).await? as u32)
    }

    /// Binding and starting the listener's threads is quick: done where called.
    fn listen(&self, config: ListenerConfig) -> Result<ListenAddress> {
        let mut slot = lock(&self.listener);
        if slot.is_some() {
            return Err(Error::InvalidRequest("this broker is already listening".into()));
        }
        let listener = Listener::start(Arc::clone(&self.broker), config)?;
        let local = listener.local_addr();
        let (host, port) = listener.advertised();
        let address = ListenAddress {
            host: local.ip().to_string(),
            port: u32::from(local.port()),
            advertised_host: host.to_string(),
            advertised_port: u32::from(port),
        };
        *slot = Some(listener);
        Ok(address)
    }

    async fn stop_listening(&self) -> Result<()> {
        let listener = lock(&self.listener).take();
        if let Some(l) = listener {
            let _ = tokio::task::spawn_blocking(move || l.stop()).await;
        }
        Ok(())
    }

    /// Appends that came over the wire (weakly held: it never keeps the process alive).
    fn watch_appends(&self, callback: Option<Arc<AppendWatcher>>) {
        self.broker.set_append_listener(callback.map(|callback| {
            Box::new(move |appended: &[(String, i32)]| {
                let (topics, partitions): (Vec<String>, Vec<i32>) = appended.iter().cloned().unzip();
                callback.call((topics, partitions).into(), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
            }) as Box<_>
        }));
    }

    /// Stops the listeners, flushes, writes the clean-shutdown marker and releases the
    /// directory.
    async fn close(&self) -> Result<()> {
        let (listener, socket) = self.withdraw();
        let b = Arc::clone(&self.broker);
        tokio::task::spawn_blocking(move || stop(&b, listener, socket)).await.unwrap_or(Err(Error::Closed))
    }

    fn close_sync(&self) -> Result<()> {
        let (listener, socket) = self.withdraw();
        stop(&self.broker, listener, socket)
    }

    async fn join_group(&self, j: Join) -> Result<LocalMember> {
        let req = JoinRequest {
            group_id: j.group_id.clone(),
            client_id: j.client_id,
            client_host: "/127.0.0.1".into(),
            topics: j.topics,
            session_timeout_ms: i64::from(j.session_timeout_ms),
            rebalance_timeout_ms: i64::from(j.rebalance_timeout_ms),
            strategy: j.strategy,
        };
        let counts = self.broker.topic_counts();
        let joined = self.broker.groups.join(req, &counts)?;
        Ok(LocalMember { broker: Arc::clone(&self.broker), group_id: j.group_id, member_id: joined.member_id, version: joined.version })
    }

    async fn committed(&self, group_id: String) -> Result<CommittedOffsets> {
        let mut out = CommittedOffsets::new();
        for ((topic, partition), c) in self.broker.groups.committed_all(&group_id) {
            out.entry(topic).or_default().push((partition, c.offset, c.metadata));
        }
        Ok(out)
    }

    async fn set_group_offsets(&self, group_id: String, offsets: Vec<Offset>) -> Result<()> {
        let offsets = committed(offsets);
        blocking(&self.broker, move |b| b.groups.commit(&group_id, None, &offsets)).await
    }

    async fn group_leader(&self, group_id: String) -> Result<Option<String>> {
        Ok(self.broker.groups.leader(&group_id))
    }

    async fn list_groups(&self) -> Result<Vec<String>> {
        Ok(self.broker.groups.list().into_iter().map(|g| g.group_id).collect())
    }

    async fn describe_group(&self, group_id: String) -> Result<GroupJs> {
        let d = self.broker.groups.describe(&group_id);
        Ok(GroupJs {
            group_id: d.group_id,
            state: d.state.to_string(),
            protocol: d.protocol,
            generation: d.generation,
            members: d
                .members
                .into_iter()
                .map(MemberJs::from)
                .collect(),
        })
    }

    /// Deletes a group's offsets (a durable write).
    async fn delete_group(&self, group_id: String) -> Result<()> {
        blocking(&self.broker, move |b| b.groups.delete(&group_id)).await
    }
}

/// One consumer's membership in a group of this process's coordinator.
pub struct LocalMember {
    broker: Arc<Broker>,
    group_id: String,
    member_id: String,
    /// The group's change counter.
    version: Arc<AtomicU64>,
}

impl Spawn for LocalMember {
    fn spawn(&self, f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>) {
        napi::bindgen_prelude::spawn(f);
    }
}

impl MemberBackend for LocalMember {
    fn member_id(&self) -> String {
        self.member_id.clone()
    }

    fn state_version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn owns(&self, topic: &str, partition: i32) -> bool {
        self.broker.groups.owns(&self.group_id, &self.member_id, &(topic.to_string(), partition))
    }

    fn poll(&self, busy_since: Option<i64>) -> Result<MemberState> {
        let a = self.broker.groups.poll(&self.group_id, &self.member_id, busy_since)?;
        Ok(MemberState { generation: a.generation, assigned: a.assigned, revoking: a.revoking, pending: a.pending.len() as u32, topics_version: self.broker.topics_version() })
    }

    fn subscribe(&self, topics: Vec<String>) -> Result<()> {
        let counts = self.broker.topic_counts();
        self.broker.groups.subscribe(&self.group_id, &self.member_id, topics, &counts)
    }

    fn release(&self, partitions: Vec<TopicPartition>) -> Result<()> {
        self.broker.groups.release(&self.group_id, &self.member_id, &partitions)
    }

    /// With fsync off a commit is one short write, done where called; with fsync on it
    /// waits for the disk on a blocking thread.
    fn commit(&self, offsets: Vec<Offset>) -> Pending<()> {
        let offsets = committed(offsets);
        if !self.broker.config().fsync {
            return Pending::Ready(self.broker.commit_offsets(&self.group_id, &self.member_id, &offsets).map_err(to_js));
        }
        let (b, group, member) = (Arc::clone(&self.broker), self.group_id.clone(), self.member_id.clone());
        let work: BoxFuture<()> = Box::pin(async move { blocking(&b, move |b| b.commit_offsets(&group, &member, &offsets)).await.map_err(to_js) });
        Pending::Later(work)
    }

    async fn leave(&self) -> Result<()> {
        let counts = self.broker.topic_counts();
        self.broker.groups.leave(&self.group_id, &self.member_id, &counts)
    }
}
