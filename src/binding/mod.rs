//! napi classes over the core. No logic lives here: arguments are converted, the core is
//! called, results and errors are converted back. Disk work that may take long (opening,
//! recovery, topic creation, fsync, close) runs off the JS thread.

mod backend;
mod broker;
mod configs;
mod error;
mod fetched;
mod group;
mod local;
mod logs;
mod member;
mod produce;
mod promise;
mod remote;
mod takeover;

use napi_derive::napi;

use self::broker::{Backend, NativeBroker};
use self::error::{invalid_arg, IntoJs};
use self::local::LocalBackend;
use self::remote::RemoteBackend;
use crate::broker::BrokerConfig;

/// Broker settings from `new Kafka({...})`; absent fields keep Kafka's defaults. Also the
/// form of the settings an owner records in the directory (lib/settings.js).
#[napi(object)]
#[derive(Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
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
    pub cleaner_backoff_ms: Option<f64>,
    pub cleaner_dedupe_buffer_size: Option<f64>,
    pub cleaner_io_max_bytes_per_second: Option<f64>,
}

impl BrokerOptions {
    pub(crate) fn into_config(self) -> BrokerConfig {
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
        if let Some(v) = self.cleaner_backoff_ms {
            c.cleaner.backoff_ms = v as u64;
        }
        if let Some(v) = self.cleaner_dedupe_buffer_size {
            c.cleaner.dedupe_buffer_bytes = v as usize;
        }
        if let Some(v) = self.cleaner_io_max_bytes_per_second {
            c.cleaner.io_max_bytes_per_second = v;
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
    /// The last stable offset: "latest" for a read-committed reader.
    pub stable: f64,
}

/// Opens (and recovers) the data directory `dir` on a worker thread, and serves it to the
/// machine's other processes (src/wire/local.rs). `settings_record`: the broker settings
/// to record in the directory (lib/settings.js).
#[napi]
pub async fn open_broker(dir: String, options: BrokerOptions, settings_record: Option<String>) -> napi::Result<NativeBroker> {
    logs::install();
    let config = options.into_config();
    let local = napi::bindgen_prelude::spawn_blocking(move || LocalBackend::open(dir.into(), config, settings_record, None))
        .await
        .map_err(invalid_arg)?
        .js()?;
    let dir = local.dir();
    Ok(NativeBroker::new(dir, Backend::Local(local), None))
}

/// Connects to the process that owns `dir` (its Unix socket, as recorded in `dir`).
/// `options` and `settings_record`: the directory's settings in force as this process
/// found them, with which it opens the directory should it take it over when its owner
/// exits and no owner recorded others meanwhile.
/// `request_timeout_ms`: how long a request waits for the owner's answer (kafkajs's
/// requestTimeout).
#[napi]
pub async fn connect_broker(dir: String, options: BrokerOptions, settings_record: Option<String>, request_timeout_ms: f64) -> napi::Result<NativeBroker> {
    logs::install();
    if !(request_timeout_ms.is_finite() && request_timeout_ms >= 1.0) {
        return Err(invalid_arg(format!("requestTimeout must be a number of milliseconds of at least 1, not {request_timeout_ms}")));
    }
    let timeout = std::time::Duration::from_secs_f64(request_timeout_ms.min(1e12) / 1000.0);
    let max_message_bytes = options.clone().into_config().log.max_message_bytes;
    let path = std::path::PathBuf::from(&dir);
    let core = napi::bindgen_prelude::spawn_blocking(move || crate::remote::RemoteBroker::connect(path, timeout)).await.map_err(invalid_arg)?.js()?;
    let plan = takeover::Plan { dir: core.inner().dir().to_path_buf(), options, settings_record };
    let remote = RemoteBackend::new(core, max_message_bytes.max(1024));
    Ok(NativeBroker::new(dir, Backend::Remote(remote), Some(plan)))
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
pub type AppendWatcher = napi::threadsafe_function::ThreadsafeFunction<
    napi::bindgen_prelude::FnArgs<(Vec<String>, Vec<i32>)>,
    (),
    napi::bindgen_prelude::FnArgs<(Vec<String>, Vec<i32>)>,
    napi::Status,
    false,
    true,
>;

pub(crate) fn new_topics(topics: Vec<NewTopicJs>) -> napi::Result<Vec<crate::broker::NewTopic>> {
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

pub(crate) fn pairs(names: Vec<String>, values: Vec<String>) -> napi::Result<Vec<(String, String)>> {
    if names.len() != values.len() {
        return Err(invalid_arg("config names and values differ in length"));
    }
    Ok(names.into_iter().zip(values).collect())
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

/// A transaction with records but no marker, which the coordinator does not know as open.
#[napi(object)]
pub struct HangingTransactionJs {
    pub topic: String,
    pub partition: i32,
    pub producer_id: f64,
    pub first_offset: f64,
    /// The repair ended it with an abort marker.
    pub aborted: bool,
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
    /// Transaction markers (control batches) found.
    pub markers: f64,
    pub hanging_transactions: Vec<HangingTransactionJs>,
}

pub(crate) fn verify_report(
    reports: Vec<crate::log::verify::PartitionReport>,
    repaired: Vec<(String, i32, i64, i64)>,
    hanging: Vec<(String, i32, i64, i64, bool)>,
) -> VerifyReport {
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
        markers: reports.iter().map(|r| r.markers as f64).sum(),
        hanging_transactions: hanging
            .into_iter()
            .map(|(topic, partition, pid, first, aborted)| HangingTransactionJs { topic, partition, producer_id: pid as f64, first_offset: first as f64, aborted })
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
    Ok(verify_report(r.partitions, r.repaired, r.hanging))
}

