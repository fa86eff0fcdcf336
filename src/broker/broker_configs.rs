//! The broker's configs by Kafka's names: those DescribeConfigs lists for broker 0 (samsa's
//! setting where it has one, else Kafka's default), which of them Kafka lets AlterConfigs
//! change at run time, and the changes made so (Kafka's dynamic broker configs). samsa
//! keeps and describes dynamic changes but does not act on them: its settings are the
//! options it was opened with.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::{BrokerConfig, ConfigEntry, ConfigSource, ConfigSynonym, ConfigType, DescribeOptions};
use super::topic_configs::{check_value, Check, TOPIC_CONFIGS};
use crate::error::{Error, Result};
use crate::log::LogConfig;

/// samsa's one broker.
pub const NODE_ID: &str = "0";

/// Whether AlterConfigs may change a config, and for whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dynamic {
    /// Read-only: set when the broker starts.
    No,
    /// Only for one broker (resource name "0").
    PerBroker,
    /// For one broker or as the cluster-wide default (resource name "").
    Anywhere,
}

/// Where a broker config's value comes from.
#[derive(Clone, Copy)]
enum Value {
    /// Kafka's default (samsa has no such setting, or it is Kafka's).
    Kafka,
    /// samsa's setting.
    Samsa(fn(&BrokerConfig, &Path) -> String),
}

struct BrokerConfigDef {
    name: &'static str,
    kind: ConfigType,
    /// Kafka's default (None: Kafka has no value for it).
    kafka_default: Option<&'static str>,
    dynamic: Dynamic,
    value: Value,
    doc: &'static str,
}

use ConfigType::{Boolean, Int, List, Long, Short, String as Str};
use Dynamic::{Anywhere, No, PerBroker};
use Value::{Kafka, Samsa};

const fn row(name: &'static str, kind: ConfigType, kafka_default: Option<&'static str>, dynamic: Dynamic, value: Value, doc: &'static str) -> BrokerConfigDef {
    BrokerConfigDef { name, kind, kafka_default, dynamic, value, doc }
}

/// The broker configs tools commonly read, beyond the broker-level defaults of topic
/// configs (which [`described`] adds from the topic table).
const BROKER_CONFIGS: &[BrokerConfigDef] = &[
    row("num.partitions", Int, Some("1"), No, Samsa(|c, _| c.default_num_partitions.to_string()), "Partitions of a topic created without a count."),
    row("default.replication.factor", Int, Some("1"), No, Kafka, "Replicas of a topic created without a factor (samsa is one broker)."),
    row("auto.create.topics.enable", Boolean, Some("true"), No, Samsa(|c, _| c.auto_create_topics.to_string()), "Create a topic when a client asks for an unknown one."),
    row("delete.topic.enable", Boolean, Some("true"), No, Kafka, "Whether topics may be deleted."),
    row("log.roll.hours", Int, Some("168"), No, Samsa(|c, _| hours(c.log.segment_ms)), "segment.ms's default, in hours."),
    row("log.retention.hours", Int, Some("168"), No, Samsa(|c, _| hours(c.log.retention_ms)), "retention.ms's default, in hours."),
    row("log.retention.minutes", Int, None, No, Kafka, "retention.ms's default, in minutes."),
    row("log.retention.check.interval.ms", Long, Some("300000"), No, Samsa(|c, _| c.retention_check_interval_ms.to_string()), "How often retention runs."),
    row("log.cleaner.enable", Boolean, Some("true"), No, Kafka, "Whether compacted topics are cleaned."),
    row("log.cleaner.backoff.ms", Long, Some("15000"), Anywhere, Samsa(|c, _| c.cleaner.backoff_ms.to_string()), "How long the cleaner sleeps when no log needs cleaning."),
    row("log.cleaner.dedupe.buffer.size", Long, Some("134217728"), Anywhere, Samsa(|c, _| c.cleaner.dedupe_buffer_bytes.to_string()), "The most memory a cleaning pass's key map takes."),
    row("log.cleaner.io.max.bytes.per.second", ConfigType::Double, Some("1.7976931348623157E308"), Anywhere, Samsa(|c, _| if c.cleaner.io_max_bytes_per_second > 0.0 { c.cleaner.io_max_bytes_per_second.to_string() } else { "1.7976931348623157E308".into() }), "The cleaner's disk reads and writes per second."),
    row("log.dir", Str, Some("/tmp/kafka-logs"), No, Samsa(|_, d| d.display().to_string()), "The data directory."),
    row("log.dirs", Str, None, No, Samsa(|_, d| d.display().to_string()), "The data directories (samsa has one)."),
    row("num.io.threads", Int, Some("8"), Anywhere, Kafka, "Threads serving requests."),
    row("num.network.threads", Int, Some("3"), Anywhere, Kafka, "Threads reading and writing connections."),
    row("num.recovery.threads.per.data.dir", Int, Some("2"), Anywhere, Kafka, "Threads recovering logs at start."),
    row("background.threads", Int, Some("10"), Anywhere, Kafka, "Threads for background work."),
    row("socket.request.max.bytes", Int, Some("104857600"), No, Kafka, "The largest request the broker reads."),
    row("socket.send.buffer.bytes", Int, Some("102400"), No, Kafka, "The sockets' send buffer."),
    row("socket.receive.buffer.bytes", Int, Some("102400"), No, Kafka, "The sockets' receive buffer."),
    row("replica.fetch.max.bytes", Int, Some("1048576"), No, Kafka, "Bytes a follower fetches per partition."),
    row("replica.lag.time.max.ms", Long, Some("30000"), No, Kafka, "How long a follower may lag before leaving the ISR."),
    row("fetch.max.bytes", Int, Some("57671680"), No, Kafka, "The most bytes one fetch returns."),
    row("offsets.topic.num.partitions", Int, Some("50"), No, Kafka, "Partitions of the offsets topic (samsa keeps offsets in a file of its own)."),
    row("offsets.topic.replication.factor", Short, Some("3"), No, Samsa(|_, _| "1".into()), "Replicas of the offsets topic."),
    row("offsets.topic.segment.bytes", Int, Some("104857600"), No, Kafka, "Segment size of the offsets topic."),
    row("offsets.retention.minutes", Int, Some("10080"), No, Kafka, "How long an empty group's offsets are kept."),
    row("offset.metadata.max.bytes", Int, Some("4096"), No, Kafka, "The longest commit metadata."),
    row("transaction.state.log.num.partitions", Int, Some("50"), No, Kafka, "Partitions of the transaction log."),
    row("transaction.state.log.replication.factor", Short, Some("3"), No, Samsa(|_, _| "1".into()), "Replicas of the transaction log."),
    row("transaction.state.log.min.isr", Int, Some("2"), No, Samsa(|_, _| "1".into()), "min.insync.replicas of the transaction log."),
    row("group.initial.rebalance.delay.ms", Int, Some("3000"), No, Samsa(|_, _| crate::group::CLASSIC_INITIAL_REBALANCE_DELAY_MS.to_string()), "How long a new classic group waits for more members."),
    row("group.min.session.timeout.ms", Int, Some("6000"), No, Kafka, "The shortest session timeout a classic member may ask for."),
    row("group.max.session.timeout.ms", Int, Some("1800000"), No, Kafka, "The longest session timeout a classic member may ask for."),
    row("group.coordinator.rebalance.protocols", List, Some("classic,consumer"), No, Kafka, "The group protocols served."),
    row("group.consumer.session.timeout.ms", Int, Some("45000"), No, Kafka, "A KIP-848 member's session timeout."),
    row("group.consumer.heartbeat.interval.ms", Int, Some("5000"), No, Samsa(|_, _| crate::group::CONSUMER_HEARTBEAT_INTERVAL_MS.to_string()), "How often a KIP-848 member heartbeats."),
    row("group.consumer.assignors", List, Some("uniform,range"), No, Kafka, "The server-side assignors of KIP-848 groups."),
    row("auto.leader.rebalance.enable", Boolean, Some("true"), No, Kafka, "Move leadership back to preferred replicas."),
    row("broker.id", Int, Some("-1"), No, Samsa(|_, _| NODE_ID.into()), "This broker's id."),
    row("node.id", Int, Some("-1"), No, Samsa(|_, _| NODE_ID.into()), "This node's id."),
];

/// Dynamic configs Kafka accepts that samsa does not list unless they are set: a change is
/// checked against its type, kept and described.
const OTHER_DYNAMIC: &[(&str, ConfigType, Dynamic)] = &[
    ("listeners", Str, PerBroker),
    ("advertised.listeners", Str, PerBroker),
    ("listener.security.protocol.map", Str, PerBroker),
    ("max.connections", Int, Anywhere),
    ("max.connections.per.ip", Int, Anywhere),
    ("max.connections.per.ip.overrides", Str, Anywhere),
    ("max.connection.creation.rate", Int, Anywhere),
    ("num.replica.fetchers", Int, Anywhere),
    ("log.cleaner.threads", Int, Anywhere),
    ("log.cleaner.io.buffer.load.factor", ConfigType::Double, Anywhere),
    ("log.cleaner.io.buffer.size", Int, Anywhere),
    ("metric.reporters", List, Anywhere),
    ("producer.id.expiration.ms", Int, Anywhere),
    ("transaction.partition.verification.enable", Boolean, Anywhere),
    ("leader.replication.throttled.rate", Long, Anywhere),
    ("follower.replication.throttled.rate", Long, Anywhere),
    ("replica.alter.log.dirs.io.max.bytes.per.second", Long, Anywhere),
];

/// Listener security settings (ssl.*, sasl.*, per-listener ones): dynamic for one broker,
/// and sensitive (their values are not described), as Kafka keeps them.
fn is_security(name: &str) -> bool {
    ["ssl.", "sasl.", "listener.name."].iter().any(|p| name.starts_with(p))
}

fn hours(ms: i64) -> String {
    if ms < 0 {
        ms.to_string()
    } else {
        (ms / 3_600_000).to_string()
    }
}

/// Kafka's own topic-level defaults, to tell samsa's settings from them.
fn kafka_log_defaults() -> LogConfig {
    LogConfig { max_message_bytes: 1_048_588, ..LogConfig::default() }
}

/// One broker config as samsa knows it: name, type, dynamism, samsa's value and Kafka's.
struct Known {
    name: &'static str,
    kind: ConfigType,
    dynamic: Dynamic,
    value: Option<String>,
    kafka_default: Option<String>,
    doc: String,
}

/// Every broker config described for broker 0, in name order: the broker-level defaults of
/// topic configs, then the others.
fn described(config: &BrokerConfig, dir: &Path) -> Vec<Known> {
    let kafka = kafka_log_defaults();
    let synonyms = TOPIC_CONFIGS.iter().filter_map(|t| {
        t.broker_synonym.map(|name| Known {
            name,
            kind: t.kind,
            dynamic: Anywhere,
            value: Some(t.default_value(&config.log)),
            kafka_default: Some(t.default_value(&kafka)),
            doc: format!("The default of the topic config {}.", t.name),
        })
    });
    let others = BROKER_CONFIGS.iter().map(|r| Known {
        name: r.name,
        kind: r.kind,
        dynamic: r.dynamic,
        value: match r.value {
            Kafka => r.kafka_default.map(str::to_string),
            Samsa(f) => Some(f(config, dir)),
        },
        kafka_default: r.kafka_default.map(str::to_string),
        doc: r.doc.to_string(),
    });
    let mut all: Vec<Known> = synonyms.chain(others).collect();
    all.sort_by_key(|k| k.name);
    all.dedup_by_key(|k| k.name);
    all
}

/// What samsa knows of a broker config name: its type and whether it is dynamic (None: a
/// name Kafka would take as a custom one).
fn lookup(name: &str) -> Option<(ConfigType, Dynamic)> {
    if let Some(t) = TOPIC_CONFIGS.iter().find(|t| t.broker_synonym == Some(name)) {
        return Some((t.kind, Anywhere));
    }
    if let Some(r) = BROKER_CONFIGS.iter().find(|r| r.name == name) {
        return Some((r.kind, r.dynamic));
    }
    if let Some((_, kind, dynamic)) = OTHER_DYNAMIC.iter().find(|(n, _, _)| *n == name) {
        return Some((*kind, *dynamic));
    }
    is_security(name).then_some((ConfigType::Password, PerBroker))
}

/// The value checks of the topic config a broker config is the default of.
fn check_of(name: &str) -> Check {
    TOPIC_CONFIGS.iter().find(|t| t.broker_synonym == Some(name)).map_or(Check::Any, |t| t.check)
}

/// The dynamic broker configs: per broker (for "0") and cluster-wide (for ""), as
/// AlterConfigs left them. Kept in the data directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicConfigs {
    #[serde(default)]
    pub broker: BTreeMap<String, String>,
    #[serde(default)]
    pub cluster: BTreeMap<String, String>,
}

pub const FILE: &str = "broker-configs.json";

impl DynamicConfigs {
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::corrupt_file(&path, 0, format!("dynamic broker configs are not valid: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io_at("reading", &path, e)),
        }
    }

    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::io("encoding dynamic broker configs", std::io::Error::other(e)))
    }

    /// The map a broker resource name addresses: "0" this broker's, "" the cluster's.
    pub fn scope_mut(&mut self, resource: &str) -> Result<&mut BTreeMap<String, String>> {
        Ok(if check_name(resource, false)? { &mut self.broker } else { &mut self.cluster })
    }
}

/// Checks a broker resource name: true for this broker ("0"), false for the cluster
/// defaults (""); any other is refused as Kafka refuses it.
pub fn check_name(name: &str, describing: bool) -> Result<bool> {
    if name.is_empty() {
        return Ok(false);
    }
    if name.parse::<i32>().is_err() {
        return Err(Error::InvalidRequest(format!("Broker id must be an integer, but it is: {name}")));
    }
    if name != NODE_ID {
        let expected = if describing { "0 or empty string" } else { "0" };
        return Err(Error::InvalidRequest(format!("Unexpected broker id, expected {expected}, but received {name}")));
    }
    Ok(true)
}

/// Checks a new set of dynamic configs for one scope as Kafka does: read-only names, names
/// only one broker may set given for all, and values of the wrong type are all
/// INVALID_REQUEST; names samsa does not know are taken as custom configs.
pub fn validate(configs: &BTreeMap<String, String>, per_broker: bool) -> Result<()> {
    let read_only: Vec<&str> = configs.keys().map(String::as_str).filter(|n| lookup(n).is_some_and(|(_, d)| d == No)).collect();
    if !read_only.is_empty() {
        return Err(Error::InvalidRequest(format!("Cannot update these configs dynamically: {}", read_only.join(", "))));
    }
    if !per_broker {
        let only_one: Vec<&str> = configs.keys().map(String::as_str).filter(|n| lookup(n).is_some_and(|(_, d)| d == PerBroker)).collect();
        if !only_one.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "Cannot update these configs at default cluster level, broker id must be specified: {}",
                only_one.join(", ")
            )));
        }
    }
    for (name, value) in configs {
        if let Some((kind, _)) = lookup(name) {
            // Kafka answers a bad dynamic value with INVALID_REQUEST, not INVALID_CONFIG.
            check_value(name, kind, check_of(name), value).map_err(|e| Error::InvalidRequest(e.to_string()))?;
        }
    }
    Ok(())
}

/// Whether a broker config is a LIST (APPEND and SUBTRACT need one), and its default.
pub fn list_default(name: &str, config: &BrokerConfig, dir: &Path) -> Result<Option<String>> {
    match lookup(name) {
        None => Err(Error::InvalidConfig(format!("Unknown config name: {name}"))),
        Some((ConfigType::List, _)) => Ok(described(config, dir).into_iter().find(|k| k.name == name).and_then(|k| k.value)),
        Some(_) => Err(Error::InvalidConfig(format!("Config value append or subtract is not allowed for config key: {name}"))),
    }
}

/// DescribeConfigs of a broker resource: for "0", every config samsa lists plus every
/// dynamic one set; for "", the cluster-wide dynamic ones set.
pub fn describe(config: &BrokerConfig, dir: &Path, dynamic: &DynamicConfigs, resource: &str, opts: &DescribeOptions) -> Result<Vec<ConfigEntry>> {
    let this_broker = check_name(resource, true)?;
    let documentation = |doc: &str| opts.documentation.then(|| doc.to_string());
    if !this_broker {
        return Ok(dynamic
            .cluster
            .iter()
            .filter(|(n, _)| opts.wants(n))
            .map(|(n, v)| {
                let kind = lookup(n).map_or(ConfigType::Unknown, |(k, _)| k);
                let entry = set_entry(n, v, kind, ConfigSource::DynamicDefaultBroker, documentation(""));
                let synonyms = if opts.synonyms { vec![synonym(&entry)] } else { Vec::new() };
                ConfigEntry { synonyms, ..entry }
            })
            .collect());
    }
    let known = described(config, dir);
    let mut out = Vec::new();
    for k in &known {
        if !opts.wants(k.name) {
            continue;
        }
        let static_source = if k.value == k.kafka_default { ConfigSource::Default } else { ConfigSource::StaticBroker };
        let mut chain = Vec::new();
        if let Some(v) = dynamic.broker.get(k.name) {
            chain.push(ConfigSynonym { name: k.name.into(), value: Some(v.clone()), source: ConfigSource::DynamicBroker });
        }
        if let Some(v) = dynamic.cluster.get(k.name) {
            chain.push(ConfigSynonym { name: k.name.into(), value: Some(v.clone()), source: ConfigSource::DynamicDefaultBroker });
        }
        if k.value.is_some() {
            chain.push(ConfigSynonym { name: k.name.into(), value: k.value.clone(), source: static_source });
        }
        let (value, source) = chain.first().map_or((None, ConfigSource::Default), |s| (s.value.clone(), s.source));
        out.push(ConfigEntry {
            name: k.name.to_string(),
            value,
            source,
            read_only: k.dynamic == No,
            sensitive: false,
            kind: k.kind,
            documentation: documentation(&k.doc),
            synonyms: if opts.synonyms { chain } else { Vec::new() },
        });
    }
    // Dynamic configs set that samsa does not list (custom ones among them).
    let listed = |n: &str| known.iter().any(|k| k.name == n);
    let mut extra: BTreeMap<&str, ConfigEntry> = BTreeMap::new();
    for (scope, source) in [(&dynamic.cluster, ConfigSource::DynamicDefaultBroker), (&dynamic.broker, ConfigSource::DynamicBroker)] {
        for (n, v) in scope.iter().filter(|(n, _)| !listed(n) && opts.wants(n)) {
            let kind = lookup(n).map_or(ConfigType::Unknown, |(k, _)| k);
            let entry = set_entry(n, v, kind, source, documentation(""));
            let mut synonyms = extra.remove(n.as_str()).map(|e| e.synonyms).unwrap_or_default();
            if opts.synonyms {
                synonyms.insert(0, synonym(&entry));
            }
            extra.insert(n, ConfigEntry { synonyms, ..entry });
        }
    }
    out.extend(extra.into_values());
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A dynamic config as described: a value of unknown type (a custom config) or a password
/// is sensitive and not shown, as Kafka treats both.
fn set_entry(name: &str, value: &str, kind: ConfigType, source: ConfigSource, documentation: Option<String>) -> ConfigEntry {
    let sensitive = matches!(kind, ConfigType::Unknown | ConfigType::Password);
    ConfigEntry {
        name: name.to_string(),
        value: (!sensitive).then(|| value.to_string()),
        source,
        read_only: false,
        sensitive,
        kind,
        documentation,
        synonyms: Vec::new(),
    }
}

fn synonym(e: &ConfigEntry) -> ConfigSynonym {
    ConfigSynonym { name: e.name.clone(), value: e.value.clone(), source: e.source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn broker_0_lists_samsas_settings() {
        let config = BrokerConfig { default_num_partitions: 4, ..BrokerConfig::default() };
        let d = describe(&config, Path::new("/data"), &DynamicConfigs::default(), "0", &DescribeOptions::default()).unwrap();
        let get = |n: &str| d.iter().find(|e| e.name == n).unwrap_or_else(|| panic!("{n} listed"));
        assert_eq!((get("num.partitions").value.as_deref(), get("num.partitions").source), (Some("4"), ConfigSource::StaticBroker));
        assert!(get("num.partitions").read_only);
        assert_eq!(get("default.replication.factor").value.as_deref(), Some("1"));
        assert_eq!(get("default.replication.factor").source, ConfigSource::Default);
        assert_eq!(get("log.dirs").value.as_deref(), Some("/data"));
        assert_eq!(get("message.max.bytes").value.as_deref(), Some("1048576"));
        assert!(!get("message.max.bytes").read_only, "dynamic in Kafka");
        for t in TOPIC_CONFIGS {
            t.broker_synonym.map(get);
        }
        assert!(describe(&config, Path::new("/d"), &DynamicConfigs::default(), "", &DescribeOptions::default()).unwrap().is_empty());
        assert_eq!(describe(&config, Path::new("/d"), &DynamicConfigs::default(), "1", &DescribeOptions::default()).unwrap_err().code(), 42);
    }

    #[test]
    fn dynamic_changes_are_checked_as_kafka_checks_them() {
        assert!(validate(&map(&[("log.retention.ms", "1000"), ("my.custom", "x")]), false).is_ok());
        let e = validate(&map(&[("num.partitions", "3")]), true).unwrap_err();
        assert_eq!(e.code(), 42);
        assert!(e.to_string().starts_with("Cannot update these configs dynamically: num.partitions"), "{e}");
        assert_eq!(validate(&map(&[("message.max.bytes", "big")]), true).unwrap_err().code(), 42);
        assert_eq!(validate(&map(&[("listeners", "PLAINTEXT://:9092")]), false).unwrap_err().code(), 42);
        assert!(validate(&map(&[("listeners", "PLAINTEXT://:9092")]), true).is_ok());
    }

    #[test]
    fn dynamic_values_are_described_with_their_source() {
        let dynamic = DynamicConfigs { broker: map(&[("log.retention.ms", "1000"), ("my.custom", "x")]), cluster: map(&[("log.retention.ms", "2000")]) };
        let opts = DescribeOptions { synonyms: true, ..DescribeOptions::default() };
        let d = describe(&BrokerConfig::default(), Path::new("/d"), &dynamic, "0", &opts).unwrap();
        let r = d.iter().find(|e| e.name == "log.retention.ms").unwrap();
        assert_eq!((r.value.as_deref(), r.source), (Some("1000"), ConfigSource::DynamicBroker));
        let sources: Vec<_> = r.synonyms.iter().map(|s| s.source).collect();
        assert_eq!(sources, [ConfigSource::DynamicBroker, ConfigSource::DynamicDefaultBroker, ConfigSource::Default]);
        let c = d.iter().find(|e| e.name == "my.custom").unwrap();
        assert!(c.sensitive && c.value.is_none(), "a custom config's type is unknown: Kafka hides its value");
        let cluster = describe(&BrokerConfig::default(), Path::new("/d"), &dynamic, "", &opts).unwrap();
        assert_eq!(cluster.len(), 1);
        assert_eq!(cluster[0].source, ConfigSource::DynamicDefaultBroker);
    }
}
