//! napi classes over the core. No logic lives here: arguments are converted, the core is
//! called, results and errors are converted back. Disk work that may take long (opening,
//! recovery, topic creation, fsync, close) runs off the JS thread.

mod configs;
mod error;
mod fetched;
mod group;
mod logs;
mod produce;
mod remote;

use std::sync::Arc;

use napi::bindgen_prelude::Float64Array;
use napi_derive::napi;

use self::error::{invalid_arg, IntoJs};
pub use self::fetched::FetchResult;
use self::fetched::{decode_fetch, Read};
use crate::broker::{Broker, BrokerConfig};

/// Broker settings from `new Kafka({...})`; absent fields keep Kafka's defaults.
#[napi(object)]
pub struct BrokerOptions {
    pub fsync: Option<bool>,
    pub auto_create_topics: Option<bool>,
    pub default_num_partitions: Option<i32>,
    pub segment_bytes: Option<f64>,
    pub segment_ms: Option<f64>,
    pub retention_ms: Option<f64>,
    pub retention_bytes: Option<f64>,
    pub max_message_bytes: Option<f64>,
    pub retention_check_interval_ms: Option<f64>,
    pub max_open_files: Option<u32>,
}

impl BrokerOptions {
    fn into_config(self) -> BrokerConfig {
        let mut c = BrokerConfig::default();
        if let Some(v) = self.fsync {
            c.fsync = v;
        }
        if let Some(v) = self.auto_create_topics {
            c.auto_create_topics = v;
        }
        if let Some(v) = self.default_num_partitions {
            c.default_num_partitions = v;
        }
        if let Some(v) = self.segment_bytes {
            c.log.segment_bytes = v as u64;
        }
        if let Some(v) = self.segment_ms {
            c.log.segment_ms = v as i64;
        }
        if let Some(v) = self.retention_ms {
            c.log.retention_ms = v as i64;
        }
        if let Some(v) = self.retention_bytes {
            c.log.retention_bytes = v as i64;
        }
        if let Some(v) = self.max_message_bytes {
            c.log.max_message_bytes = v as usize;
        }
        if let Some(v) = self.retention_check_interval_ms {
            c.retention_check_interval_ms = v as u64;
        }
        if let Some(v) = self.max_open_files {
            c.max_open_files = Some(v as usize);
        }
        c
    }
}

/// A topic to create: -1 partitions or replication factor for the broker's default.
#[napi(object)]
pub struct NewTopicJs {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i32,
    pub config_names: Vec<String>,
    pub config_values: Vec<String>,
    /// A manual replica assignment (partitions and replication factor then -1).
    pub assignments: Option<Vec<configs::ReplicaAssignmentJs>>,
}

#[napi(object)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub low: f64,
    pub high: f64,
}

/// Opens (and recovers) the data directory `dir` on a worker thread, and serves it to the
/// machine's other processes (src/wire/local.rs). `settings_record`: the broker settings
/// to record in the directory (lib/settings.js).
#[napi]
pub async fn open_broker(dir: String, options: BrokerOptions, settings_record: Option<String>) -> napi::Result<NativeBroker> {
    logs::install();
    let config = options.into_config();
    let (inner, local) = napi::bindgen_prelude::spawn_blocking(move || {
        let broker = Broker::open(dir, config)?;
        // The settings in force, for the processes that reach this directory through this
        // one: recorded under the lock, before they can connect.
        if let Some(record) = settings_record {
            crate::wire::local::record_settings(broker.dir(), &record)?;
        }
        // The owner serves the directory to the machine's other processes. Failing to
        // (a file system without sockets, say) leaves this process working on its own.
        let local = match crate::wire::local::serve(Arc::clone(&broker)) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot serve the data directory to other processes");
                None
            }
        };
        Ok::<_, crate::Error>((broker, local))
    })
    .await
    .map_err(invalid_arg)?
    .js()?;
    Ok(NativeBroker { inner, listener: std::sync::Mutex::new(None), local: std::sync::Mutex::new(local) })
}

#[napi]
pub struct NativeBroker {
    inner: Arc<Broker>,
    /// The Kafka-protocol listener, once `listen` was called.
    listener: std::sync::Mutex<Option<crate::wire::Listener>>,
    /// The Unix socket other processes reach this directory on, and its path.
    local: std::sync::Mutex<Option<(crate::wire::Listener, std::path::PathBuf)>>,
}

#[napi(object)]
pub struct ListenOptions {
    pub host: String,
    pub port: u32,
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u32>,
    pub max_request_bytes: Option<f64>,
    pub max_queued_request_bytes: Option<f64>,
    pub max_connections: Option<u32>,
    pub idle_timeout_ms: Option<f64>,
    pub request_read_timeout_ms: Option<f64>,
}

#[napi(object)]
pub struct ListenAddress {
    pub host: String,
    pub port: u32,
    pub advertised_host: String,
    pub advertised_port: u32,
}

/// Called with the partitions that appends over the wire landed on (topics, partitions):
/// in-process consumers wait in JavaScript and are woken by it.
type AppendWatcher = napi::threadsafe_function::ThreadsafeFunction<
    napi::bindgen_prelude::FnArgs<(Vec<String>, Vec<i32>)>,
    (),
    napi::bindgen_prelude::FnArgs<(Vec<String>, Vec<i32>)>,
    napi::Status,
    false,
    true,
>;

/// Runs `f` on a blocking thread with the broker.
async fn blocking<T: Send + 'static>(
    broker: &Arc<Broker>,
    f: impl FnOnce(&Broker) -> crate::Result<T> + Send + 'static,
) -> napi::Result<T> {
    let b = Arc::clone(broker);
    napi::bindgen_prelude::spawn_blocking(move || f(&b)).await.map_err(invalid_arg)?.js()
}

fn new_topics(topics: Vec<NewTopicJs>) -> napi::Result<Vec<crate::broker::NewTopic>> {
    topics
        .into_iter()
        .map(|t| {
            Ok(crate::broker::NewTopic {
                name: t.name,
                partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                configs: pairs(t.config_names, t.config_values)?,
                assignments: t
                    .assignments
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| crate::broker::assignment::ReplicaAssignment { partition: a.partition, replicas: a.replicas })
                    .collect(),
            })
        })
        .collect()
}

fn pairs(names: Vec<String>, values: Vec<String>) -> napi::Result<Vec<(String, String)>> {
    if names.len() != values.len() {
        return Err(invalid_arg("config names and values differ in length"));
    }
    Ok(names.into_iter().zip(values).collect())
}

#[napi]
impl NativeBroker {
    #[napi(getter)]
    pub fn dir(&self) -> String {
        self.inner.dir().display().to_string()
    }

    #[napi(getter)]
    pub fn opened_clean(&self) -> bool {
        self.inner.opened_clean()
    }

    /// The data directory's cluster id (its meta.properties).
    #[napi(getter)]
    pub fn cluster_id(&self) -> String {
        self.inner.cluster_id().to_string()
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
        blocking(&self.inner, move |b| {
            b.create_topic(&name, num_partitions, replication_factor, &configs, validate_only)
        })
        .await
    }

    /// Creates several topics in one call (Kafka's CreateTopics): one entry per topic, in
    /// order, null where it was created and the error's prefixed message where it was not.
    #[napi]
    pub async fn create_topics(&self, topics: Vec<NewTopicJs>, validate_only: bool) -> napi::Result<Vec<Option<String>>> {
        let specs = new_topics(topics)?;
        let b = Arc::clone(&self.inner);
        let results = napi::bindgen_prelude::spawn_blocking(move || b.create_topics(&specs, validate_only))
            .await
            .map_err(invalid_arg)?;
        Ok(results.into_iter().map(|r| r.err().map(|e| error::to_js(e).reason)).collect())
    }

    #[napi]
    pub async fn delete_topic(&self, name: String) -> napi::Result<()> {
        blocking(&self.inner, move |b| b.delete_topic(&name)).await
    }

    #[napi]
    pub fn topics(&self) -> napi::Result<Vec<String>> {
        self.inner.topic_names().js()
    }

    /// The partition count of `name`, or null when there is no such topic.
    #[napi]
    pub fn partition_count(&self, name: String) -> napi::Result<Option<i32>> {
        match self.inner.topic(&name) {
            Ok(t) => Ok(Some(t.partition_count())),
            Err(crate::Error::UnknownTopicOrPartition { .. }) => Ok(None),
            Err(e) => Err(error::to_js(e)),
        }
    }

    /// `assignments`: a replica list per new partition, or null.
    #[napi]
    pub async fn create_partitions(&self, name: String, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> napi::Result<()> {
        blocking(&self.inner, move |b| b.create_partitions(&name, count, assignments.as_deref(), validate_only)).await
    }

    /// Appends a whole send in one call; see `produce.rs` for the layout and the result.
    /// `producer_id` is -1 for a producer that is not idempotent.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn produce(
        &self,
        topics: Vec<String>,
        data: &[u8],
        meta: &[i32],
        timestamps: &[f64],
        compression: i32,
        producer_id: f64,
        producer_epoch: i32,
        sequences: &[i32],
    ) -> napi::Result<produce::ProduceResult> {
        let producer = (producer_id >= 0.0).then_some((producer_id as i64, producer_epoch as i16));
        produce::produce(&self.inner, &topics, data, meta, timestamps, compression, producer, sequences)
    }

    /// A new idempotent producer id and its epoch (Kafka's InitProducerId). Ids come
    /// from durably recorded blocks, so this may write: off the JS thread.
    #[napi]
    pub async fn init_producer_id(&self) -> napi::Result<Vec<f64>> {
        let (id, epoch) = blocking(&self.inner, |b| b.init_producer_id()).await?;
        Ok(vec![id as f64, epoch as f64])
    }

    /// Checks every partition's files whole (see `verifyDataDir` for a closed directory).
    #[napi]
    pub async fn verify(&self) -> napi::Result<VerifyReport> {
        let reports = blocking(&self.inner, |b| b.verify()).await?;
        Ok(verify_report(reports, Vec::new()))
    }

    /// Resolves when everything appended so far is fsynced (group commit).
    #[napi]
    pub async fn sync(&self) -> napi::Result<()> {
        let rx = self.inner.sync();
        match rx.await {
            Ok(r) => r.js(),
            Err(_) => Err(error::to_js(crate::Error::Closed)),
        }
    }

    /// Every partition's log start and high watermark, as [low, high] pairs in partition
    /// order: thousands of partitions in one array, not thousands of objects.
    #[napi]
    pub fn watermarks(&self, topic: String) -> napi::Result<Float64Array> {
        let offsets = self.inner.offsets(&topic).js()?;
        Ok(Float64Array::new(offsets.iter().flat_map(|o| [o.low as f64, o.high as f64]).collect()))
    }

    #[napi]
    pub fn offsets(&self, topic: String) -> napi::Result<Vec<PartitionOffsets>> {
        Ok(self
            .inner
            .offsets(&topic)
            .js()?
            .into_iter()
            .map(|o| PartitionOffsets { partition: o.partition, low: o.low as f64, high: o.high as f64 })
            .collect())
    }

    /// The first offset with a timestamp >= `timestamp`, or null if every record is older.
    #[napi]
    pub fn offset_for_timestamp(&self, topic: String, partition: i32, timestamp: f64) -> napi::Result<Option<f64>> {
        Ok(self.inner.offset_for_timestamp(&topic, partition, timestamp as i64).js()?.map(|o| o as f64))
    }

    #[napi]
    pub async fn delete_records(&self, topic: String, partition: i32, offset: f64) -> napi::Result<f64> {
        let low = blocking(&self.inner, move |b| b.delete_records(&topic, partition, offset as i64)).await?;
        Ok(low as f64)
    }

    /// The configs of a topic (type 2) or the broker (type 4), as DescribeConfigs gives them.
    #[napi]
    pub fn describe_configs(
        &self,
        resource_type: i32,
        name: String,
        config_names: Option<Vec<String>>,
        include_synonyms: bool,
    ) -> napi::Result<Vec<configs::ConfigEntryJs>> {
        let resource = configs::resource(resource_type, name).js()?;
        let entries = self.inner.describe_configs(&resource, &configs::options(config_names, include_synonyms)).js()?;
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
        let entries: Vec<(String, Option<String>)> = pairs(config_names, config_values)?.into_iter().map(|(n, v)| (n, Some(v))).collect();
        blocking(&self.inner, move |b| b.alter_configs(&resource, &entries, validate_only)).await
    }

    /// Records from `offset` on, up to about `max_bytes` of batches, decoded into one
    /// Buffer plus tables. Records before `offset` in the first batch are skipped. Null
    /// at the end of the log, so a consumer that caught up allocates nothing.
    #[napi]
    pub fn fetch(&self, topic: String, partition: i32, offset: f64, max_bytes: u32) -> napi::Result<Option<FetchResult>> {
        let offset = offset as i64;
        let read = self.inner.read(&topic, partition, offset, max_bytes as usize).js()?;
        decode_fetch(Read::Owned(read.bytes), offset, read.high_watermark, read.log_start_offset)
    }

    /// Test hook: the next `n` appends to a partition fail with EIO.
    #[napi]
    pub fn inject_append_failures(&self, topic: String, partition: i32, n: u32) {
        self.inner.inject_append_failures(&topic, partition, n);
    }

    /// Test hook: the next `n` fsyncs fail with EIO.
    #[napi]
    pub fn inject_fsync_failures(&self, n: u32) {
        self.inner.inject_fsync_failures(n);
    }

    /// One retention pass now (it also runs by itself every `retentionCheckIntervalMs`).
    #[napi]
    pub async fn run_maintenance(&self, now_ms: f64) -> napi::Result<u32> {
        Ok(blocking(&self.inner, move |b| b.run_maintenance(now_ms as i64)).await? as u32)
    }

    /// Serves the Kafka wire protocol from this broker (see src/wire). Binding and
    /// starting the listener's threads is quick, so it happens on the calling thread.
    #[napi]
    pub fn listen(&self, options: ListenOptions) -> napi::Result<ListenAddress> {
        let mut slot = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Err(error::to_js(crate::Error::InvalidRequest("this broker is already listening".into())));
        }
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
        let listener = crate::wire::Listener::start(Arc::clone(&self.inner), config).js()?;
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

    /// Stops the listener (connections are closed); the broker stays open.
    #[napi]
    pub async fn stop_listening(&self) -> napi::Result<()> {
        let listener = self.listener.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(l) = listener {
            napi::bindgen_prelude::spawn_blocking(move || l.stop()).await.map_err(invalid_arg)?;
        }
        Ok(())
    }

    /// Tells JavaScript of appends that came over the wire (weakly held: it never keeps
    /// the process alive); null stops it (no consumer here to wake: the JS thread is left
    /// alone while other processes produce).
    #[napi]
    pub fn watch_appends(&self, callback: Option<AppendWatcher>) {
        self.inner.set_append_listener(callback.map(|callback| {
            Box::new(move |appended: &[(String, i32)]| {
                let (topics, partitions): (Vec<String>, Vec<i32>) = appended.iter().cloned().unzip();
                callback.call((topics, partitions).into(), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
            }) as Box<_>
        }));
    }

    /// Stops the listener, flushes, writes the clean-shutdown marker and releases the
    /// data directory.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        let listener = self.listener.lock().unwrap_or_else(|p| p.into_inner()).take();
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner()).take();
        let b = Arc::clone(&self.inner);
        napi::bindgen_prelude::spawn_blocking(move || {
            if let Some(l) = listener {
                l.stop();
            }
            if let Some((l, socket)) = local {
                crate::wire::local::withdraw(b.dir(), l, &socket);
            }
            b.set_append_listener(None);
            b.close()
        })
        .await
        .map_err(invalid_arg)?
        .js()
    }

    /// The same as `close`, on the calling thread: for `process.on('exit')`, where
    /// nothing asynchronous runs any more.
    #[napi]
    pub fn close_sync(&self) -> napi::Result<()> {
        if let Some(l) = self.listener.lock().unwrap_or_else(|p| p.into_inner()).take() {
            l.stop();
        }
        if let Some((l, socket)) = self.local.lock().unwrap_or_else(|p| p.into_inner()).take() {
            crate::wire::local::withdraw(self.inner.dir(), l, &socket);
        }
        self.inner.set_append_listener(None);
        self.inner.close().js()
    }
}

#[napi(object)]
pub struct DamageJs {
    pub topic: String,
    pub partition: i32,
    pub file: String,
    pub position: f64,
    pub first_offset: f64,
    /// Below `firstOffset` when the damage hides no record.
    pub last_offset: f64,
    pub detail: String,
}

#[napi(object)]
pub struct RepairJs {
    pub topic: String,
    pub partition: i32,
    /// The offsets given up by cutting the partition at its first damage.
    pub first_offset: f64,
    pub last_offset: f64,
}

#[napi(object)]
pub struct VerifyReport {
    pub partitions: u32,
    pub segments: u32,
    pub batches: f64,
    pub bytes: f64,
    pub damage: Vec<DamageJs>,
    pub index_problems: Vec<String>,
    pub torn_tails: Vec<String>,
    pub repaired: Vec<RepairJs>,
}

fn verify_report(reports: Vec<crate::log::verify::PartitionReport>, repaired: Vec<(String, i32, i64, i64)>) -> VerifyReport {
    let mut out = VerifyReport {
        partitions: reports.len() as u32,
        segments: 0,
        batches: 0.0,
        bytes: 0.0,
        damage: Vec::new(),
        index_problems: Vec::new(),
        torn_tails: Vec::new(),
        repaired: repaired
            .into_iter()
            .map(|(topic, partition, first, last)| RepairJs { topic, partition, first_offset: first as f64, last_offset: last as f64 })
            .collect(),
    };
    for r in &reports {
        for s in &r.segments {
            out.segments += 1;
            out.batches += s.batches as f64;
            out.bytes += s.bytes as f64;
            for d in &s.damage {
                out.damage.push(DamageJs {
                    topic: r.topic.clone(),
                    partition: r.partition,
                    file: s.path.display().to_string(),
                    position: d.position as f64,
                    first_offset: d.first_offset as f64,
                    last_offset: d.last_offset as f64,
                    detail: d.detail.clone(),
                });
            }
            for p in &s.index_problems {
                out.index_problems.push(format!("{}: {p}", s.path.display()));
            }
            if let Some((at, why)) = &s.torn_tail {
                out.torn_tails.push(format!("{} at byte {at}: {why}", s.path.display()));
            }
        }
    }
    out
}

/// Checks a data directory that no process has open (it is locked for the duration);
/// with `repair`, cuts each damaged partition at its first damage.
#[napi]
pub async fn verify_data_dir(dir: String, repair: bool) -> napi::Result<VerifyReport> {
    let r = napi::bindgen_prelude::spawn_blocking(move || crate::broker::verify_data_dir(std::path::Path::new(&dir), repair))
        .await
        .map_err(invalid_arg)?
        .js()?;
    Ok(verify_report(r.partitions, r.repaired))
}

