//! Kafka 4's topic configs, every one of them: its name, type, valid values and default,
//! its broker-level synonym, and whether samsa acts on it. CreateTopics, AlterConfigs,
//! IncrementalAlterConfigs and DescribeConfigs all read this one table; docs/configs.md
//! lists it for users.

use std::collections::BTreeMap;

use super::config::{ConfigEntry, ConfigSource, ConfigSynonym, ConfigType, DescribeOptions};
use crate::error::{Error, Result};
use crate::log::{LogConfig, TimestampType};

/// What a value must be, beyond parsing as its type.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    Any,
    AtLeast(i64),
    Between(i64, i64),
    /// A gzip level: -1 (the codec's default) or 1 to 9.
    GzipLevel,
    Ratio,
    OneOf(&'static [&'static str]),
    /// A list whose every item is one of these.
    ListOf(&'static [&'static str]),
    /// Kafka's throttled-replica lists: `*` or `partition:broker` pairs.
    ThrottledReplicas,
}

/// Where a topic config's default comes from.
#[derive(Clone, Copy)]
enum DefaultValue {
    Fixed(&'static str),
    /// samsa's broker-level setting, which topics inherit.
    Broker(fn(&LogConfig) -> String),
}

pub struct TopicConfig {
    pub name: &'static str,
    pub kind: ConfigType,
    default: DefaultValue,
    pub check: Check,
    /// The broker config a topic without an override inherits (Kafka's primary synonym).
    pub broker_synonym: Option<&'static str>,
    /// Whether samsa's log behaves by it; the others are stored and described only.
    pub acted_on: bool,
    pub doc: &'static str,
}

const LONG_MAX: &str = "9223372036854775807";
const COMPRESSION: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

use ConfigType::{Boolean, Double, Int, List, Long, String as Str};
use DefaultValue::{Broker, Fixed};

/// Kafka 4.0's topic configs (LogConfig), by name.
pub const TOPIC_CONFIGS: &[TopicConfig] = &[
    TopicConfig { name: "cleanup.policy", kind: List, default: Fixed("delete"), check: Check::ListOf(&["compact", "delete"]), broker_synonym: Some("log.cleanup.policy"), acted_on: true, doc: "What happens to old segments: delete removes them by retention; compact keeps the last record of each key." },
    TopicConfig { name: "compression.type", kind: Str, default: Fixed("producer"), check: Check::OneOf(COMPRESSION), broker_synonym: Some("compression.type"), acted_on: false, doc: "The codec batches are stored with; producer keeps each batch as its producer compressed it." },
    TopicConfig { name: "compression.gzip.level", kind: Int, default: Fixed("-1"), check: Check::GzipLevel, broker_synonym: Some("compression.gzip.level"), acted_on: false, doc: "The gzip level when compression.type is gzip." },
    TopicConfig { name: "compression.lz4.level", kind: Int, default: Fixed("9"), check: Check::Between(1, 17), broker_synonym: Some("compression.lz4.level"), acted_on: false, doc: "The lz4 level when compression.type is lz4." },
    TopicConfig { name: "compression.zstd.level", kind: Int, default: Fixed("3"), check: Check::Between(-131_072, 22), broker_synonym: Some("compression.zstd.level"), acted_on: false, doc: "The zstd level when compression.type is zstd." },
    TopicConfig { name: "delete.retention.ms", kind: Long, default: Fixed("86400000"), check: Check::AtLeast(0), broker_synonym: Some("log.cleaner.delete.retention.ms"), acted_on: true, doc: "How long tombstones stay in a compacted topic." },
    TopicConfig { name: "file.delete.delay.ms", kind: Long, default: Fixed("60000"), check: Check::AtLeast(0), broker_synonym: Some("log.segment.delete.delay.ms"), acted_on: false, doc: "How long a deleted segment's files linger before removal." },
    TopicConfig { name: "flush.messages", kind: Long, default: Fixed(LONG_MAX), check: Check::AtLeast(1), broker_synonym: Some("log.flush.interval.messages"), acted_on: false, doc: "Force an fsync after this many messages." },
    TopicConfig { name: "flush.ms", kind: Long, default: Fixed(LONG_MAX), check: Check::AtLeast(0), broker_synonym: Some("log.flush.interval.ms"), acted_on: false, doc: "Force an fsync after this much time." },
    TopicConfig { name: "follower.replication.throttled.replicas", kind: List, default: Fixed(""), check: Check::ThrottledReplicas, broker_synonym: None, acted_on: false, doc: "Replicas whose follower traffic is throttled." },
    TopicConfig { name: "index.interval.bytes", kind: Int, default: Broker(|c| c.segment.index_interval_bytes.to_string()), check: Check::AtLeast(0), broker_synonym: Some("log.index.interval.bytes"), acted_on: true, doc: "Bytes of batches between offset index entries." },
    TopicConfig { name: "leader.replication.throttled.replicas", kind: List, default: Fixed(""), check: Check::ThrottledReplicas, broker_synonym: None, acted_on: false, doc: "Replicas whose leader traffic is throttled." },
    TopicConfig { name: "local.retention.bytes", kind: Long, default: Fixed("-2"), check: Check::AtLeast(-2), broker_synonym: Some("log.local.retention.bytes"), acted_on: false, doc: "Local bytes kept when tiered storage is on." },
    TopicConfig { name: "local.retention.ms", kind: Long, default: Fixed("-2"), check: Check::AtLeast(-2), broker_synonym: Some("log.local.retention.ms"), acted_on: false, doc: "Local time kept when tiered storage is on." },
    TopicConfig { name: "max.compaction.lag.ms", kind: Long, default: Fixed(LONG_MAX), check: Check::AtLeast(1), broker_synonym: Some("log.cleaner.max.compaction.lag.ms"), acted_on: true, doc: "The longest a record stays ineligible for compaction." },
    TopicConfig { name: "max.message.bytes", kind: Int, default: Broker(|c| c.max_message_bytes.to_string()), check: Check::AtLeast(0), broker_synonym: Some("message.max.bytes"), acted_on: true, doc: "The largest record batch the topic accepts." },
    TopicConfig { name: "message.timestamp.after.max.ms", kind: Long, default: Broker(|c| c.timestamps.after_max_ms.to_string()), check: Check::AtLeast(0), broker_synonym: Some("log.message.timestamp.after.max.ms"), acted_on: true, doc: "How far ahead of the broker's clock a CreateTime timestamp may be." },
    TopicConfig { name: "message.timestamp.before.max.ms", kind: Long, default: Broker(|c| c.timestamps.before_max_ms.to_string()), check: Check::AtLeast(0), broker_synonym: Some("log.message.timestamp.before.max.ms"), acted_on: true, doc: "How far behind the broker's clock a CreateTime timestamp may be." },
    TopicConfig { name: "message.timestamp.type", kind: Str, default: Broker(|c| timestamp_type_name(c.timestamps.kind).into()), check: Check::OneOf(&["CreateTime", "LogAppendTime"]), broker_synonym: Some("log.message.timestamp.type"), acted_on: true, doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's clock." },
    TopicConfig { name: "min.cleanable.dirty.ratio", kind: Double, default: Fixed("0.5"), check: Check::Ratio, broker_synonym: Some("log.cleaner.min.cleanable.ratio"), acted_on: true, doc: "How dirty a compacted log gets before it is cleaned." },
    TopicConfig { name: "min.compaction.lag.ms", kind: Long, default: Fixed("0"), check: Check::AtLeast(0), broker_synonym: Some("log.cleaner.min.compaction.lag.ms"), acted_on: true, doc: "The shortest a record stays uncompacted." },
    TopicConfig { name: "min.insync.replicas", kind: Int, default: Fixed("1"), check: Check::AtLeast(1), broker_synonym: Some("min.insync.replicas"), acted_on: false, doc: "Replicas that must acknowledge an acks=all write." },
    TopicConfig { name: "preallocate", kind: Boolean, default: Fixed("false"), check: Check::Any, broker_synonym: Some("log.preallocate"), acted_on: false, doc: "Preallocate new segment files." },
    TopicConfig { name: "remote.log.copy.disable", kind: Boolean, default: Fixed("false"), check: Check::Any, broker_synonym: None, acted_on: false, doc: "Stop copying segments to tiered storage." },
    TopicConfig { name: "remote.log.delete.on.disable", kind: Boolean, default: Fixed("false"), check: Check::Any, broker_synonym: None, acted_on: false, doc: "Delete tiered data when tiered storage is turned off." },
    TopicConfig { name: "remote.storage.enable", kind: Boolean, default: Fixed("false"), check: Check::Any, broker_synonym: None, acted_on: false, doc: "Tiered storage for the topic (not available in samsa)." },
    TopicConfig { name: "retention.bytes", kind: Long, default: Broker(|c| c.retention_bytes.to_string()), check: Check::Any, broker_synonym: Some("log.retention.bytes"), acted_on: true, doc: "The most bytes a partition keeps before deleting old segments (-1: no limit)." },
    TopicConfig { name: "retention.ms", kind: Long, default: Broker(|c| c.retention_ms.to_string()), check: Check::AtLeast(-1), broker_synonym: Some("log.retention.ms"), acted_on: true, doc: "How long a segment is kept after its newest record (-1: forever)." },
    TopicConfig { name: "segment.bytes", kind: Int, default: Broker(|c| c.segment_bytes.to_string()), check: Check::AtLeast(14), broker_synonym: Some("log.segment.bytes"), acted_on: true, doc: "Roll to a new segment file at this size." },
    TopicConfig { name: "segment.index.bytes", kind: Int, default: Broker(|c| c.segment.max_index_bytes.to_string()), check: Check::AtLeast(4), broker_synonym: Some("log.index.size.max.bytes"), acted_on: true, doc: "The largest a segment's offset index grows." },
    TopicConfig { name: "segment.jitter.ms", kind: Long, default: Fixed("0"), check: Check::AtLeast(0), broker_synonym: Some("log.roll.jitter.ms"), acted_on: false, doc: "Random jitter subtracted from segment.ms." },
    TopicConfig { name: "segment.ms", kind: Long, default: Broker(|c| c.segment_ms.to_string()), check: Check::AtLeast(1), broker_synonym: Some("log.roll.ms"), acted_on: true, doc: "Roll to a new segment file after this long." },
    TopicConfig { name: "unclean.leader.election.enable", kind: Boolean, default: Fixed("false"), check: Check::Any, broker_synonym: Some("unclean.leader.election.enable"), acted_on: false, doc: "Let an out-of-sync replica become leader." },
];

/// Topic configs whose broker synonym Kafka sets by another name by default (the `.hours`
/// forms): Kafka lists no synonym for them when the topic has no override.
const SYNONYM_UNSET_BY_DEFAULT: &[&str] = &["retention.ms", "segment.ms", "segment.jitter.ms", "flush.ms"];

pub fn timestamp_type_name(kind: TimestampType) -> &'static str {
    match kind {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

pub fn find(name: &str) -> Option<&'static TopicConfig> {
    TOPIC_CONFIGS.iter().find(|c| c.name == name)
}

impl TopicConfig {
    pub fn default_value(&self, broker: &LogConfig) -> String {
        match self.default {
            Fixed(v) => v.to_string(),
            Broker(f) => f(broker),
        }
    }
}

fn invalid(name: &str, value: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidConfig(format!("Invalid value {value} for configuration {name}: {why}"))
}

/// The items of a LIST value, as Kafka splits them.
pub fn list_items(value: &str) -> Vec<&str> {
    let v = value.trim();
    if v.is_empty() {
        Vec::new()
    } else {
        v.split(',').map(str::trim).collect()
    }
}

/// Parses `value` as `kind` (an integer for INT, SHORT and LONG) and checks it, with
/// Kafka's messages. Returns the integer where there is one.
pub fn check_value(name: &str, kind: ConfigType, check: Check, value: &str) -> Result<Option<i64>> {
    let v = value.trim();
    let number = match kind {
        Int => Some(v.parse::<i32>().map(i64::from).map_err(|_| invalid(name, value, "Not a number of type INT"))?),
        ConfigType::Short => Some(v.parse::<i16>().map(i64::from).map_err(|_| invalid(name, value, "Not a number of type SHORT"))?),
        Long => Some(v.parse::<i64>().map_err(|_| invalid(name, value, "Not a number of type LONG"))?),
        Double => {
            let d: f64 = v.parse().map_err(|_| invalid(name, value, "Not a number of type DOUBLE"))?;
            if matches!(check, Check::Ratio) && !(0.0..=1.0).contains(&d) {
                return Err(invalid(name, value, "Value must be between 0 and 1"));
            }
            None
        }
        Boolean => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return Err(invalid(name, value, "Expected value to be either true or false"));
            }
            None
        }
        _ => None,
    };
    match (check, number) {
        (Check::AtLeast(min), Some(n)) if n < min => return Err(invalid(name, value, format!("Value must be at least {min}"))),
        (Check::Between(lo, hi), Some(n)) if n < lo || n > hi => {
            return Err(invalid(name, value, format!("Value must be between {lo} and {hi}")))
        }
        (Check::GzipLevel, Some(n)) if n != -1 && !(1..=9).contains(&n) => {
            return Err(invalid(name, value, "Value must be between 1 and 9 or equal to -1"))
        }
        (Check::OneOf(allowed), _) if !allowed.contains(&v) => {
            return Err(invalid(name, value, format!("String must be one of: {}", allowed.join(", "))))
        }
        (Check::ListOf(allowed), _) => {
            if let Some(bad) = list_items(v).into_iter().find(|i| !allowed.contains(i)) {
                return Err(invalid(name, bad, format!("String must be one of: {}", allowed.join(", "))));
            }
        }
        (Check::ThrottledReplicas, _) => {
            let items = list_items(v);
            let pair = |i: &str| i.split_once(':').is_some_and(|(p, b)| p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok());
            if !(items == ["*"] || items.iter().all(|i| pair(i))) {
                return Err(invalid(name, value, "must be the literal '*' or a list of replicas in the format [partitionId]:[brokerId],..."));
            }
        }
        _ => {}
    }
    Ok(number)
}

/// Checks one topic config: a name Kafka defines, and a value of its type and range.
pub fn validate(name: &str, value: &str) -> Result<()> {
    let c = find(name).ok_or_else(|| Error::InvalidConfig(format!("Unknown topic config name: {name}")))?;
    check_value(name, c.kind, c.check, value)?;
    Ok(())
}

/// Checks every override (each alone, then together) and applies the ones samsa acts on
/// over the broker's `defaults`.
pub fn resolve(defaults: &LogConfig, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
    for (name, value) in overrides {
        validate(name, value)?;
    }
    let long = |name: &str| overrides.get(name).and_then(|v| v.trim().parse::<i64>().ok());
    let (min, max) = (long("min.compaction.lag.ms").unwrap_or(0), long("max.compaction.lag.ms").unwrap_or(i64::MAX));
    if min > max {
        return Err(Error::InvalidConfig(format!(
            "conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})"
        )));
    }
    if let Some(policy) = overrides.get("cleanup.policy") {
        if list_items(policy).is_empty() {
            // Kafka 4 takes an empty policy to mean "keep everything"; samsa has no
            // such mode, and a topic that silently grew forever would surprise.
            return Err(Error::InvalidConfig(
                "cleanup.policy must name delete, compact or both: samsa keeps no topic without a cleanup policy".into(),
            ));
        }
    }
    if overrides.get("remote.storage.enable").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Err(Error::InvalidConfig(
            "Tiered storage is not available in samsa: a topic cannot have remote.storage.enable=true".into(),
        ));
    }
    let mut c = *defaults;
    if let Some(v) = long("index.interval.bytes") {
        c.segment.index_interval_bytes = v as u64;
    }
    if let Some(v) = long("max.message.bytes") {
        c.max_message_bytes = v as usize;
    }
    if let Some(v) = long("retention.bytes") {
        c.retention_bytes = v;
    }
    if let Some(v) = long("retention.ms") {
        c.retention_ms = v;
    }
    if let Some(v) = long("segment.bytes") {
        c.segment_bytes = v as u64;
    }
    if let Some(v) = long("segment.index.bytes") {
        // Kafka takes 4 bytes and up; samsa's time index needs room for one 12-byte entry.
        c.segment.max_index_bytes = (v as usize).max(12);
    }
    if let Some(v) = long("segment.ms") {
        c.segment_ms = v;
    }
    if let Some(v) = long("message.timestamp.before.max.ms") {
        c.timestamps.before_max_ms = v;
    }
    if let Some(v) = long("message.timestamp.after.max.ms") {
        c.timestamps.after_max_ms = v;
    }
    if let Some(policy) = overrides.get("cleanup.policy") {
        let items = list_items(policy);
        c.cleanup.delete = items.contains(&"delete");
        c.cleanup.compact = items.contains(&"compact");
    }
    if let Some(v) = overrides.get("min.cleanable.dirty.ratio").and_then(|v| v.trim().parse::<f64>().ok()) {
        c.cleanup.min_cleanable_dirty_ratio = v;
    }
    if let Some(v) = long("min.compaction.lag.ms") {
        c.cleanup.min_compaction_lag_ms = v;
    }
    if let Some(v) = long("max.compaction.lag.ms") {
        c.cleanup.max_compaction_lag_ms = v;
    }
    if let Some(v) = long("delete.retention.ms") {
        c.cleanup.delete_retention_ms = v;
    }
    if let Some(v) = overrides.get("message.timestamp.type") {
        c.timestamps.kind = if v.trim() == "LogAppendTime" { TimestampType::LogAppendTime } else { TimestampType::CreateTime };
    }
    Ok(c)
}

/// Every topic config with its effective value (the override, else samsa's broker-level
/// default), as Kafka's DescribeConfigs lists a topic's.
pub fn describe(defaults: &LogConfig, overrides: &BTreeMap<String, String>, opts: &DescribeOptions) -> Vec<ConfigEntry> {
    TOPIC_CONFIGS
        .iter()
        .filter(|c| opts.wants(c.name))
        .map(|c| {
            let default = c.default_value(defaults);
            let over = overrides.get(c.name);
            let mut synonyms = Vec::new();
            if opts.synonyms {
                if let Some(v) = over {
                    synonyms.push(ConfigSynonym { name: c.name.to_string(), value: Some(v.clone()), source: ConfigSource::Topic });
                }
                if let Some(broker) = c.broker_synonym.filter(|_| !SYNONYM_UNSET_BY_DEFAULT.contains(&c.name)) {
                    synonyms.push(ConfigSynonym { name: broker.to_string(), value: Some(default.clone()), source: ConfigSource::Default });
                }
            }
            ConfigEntry {
                name: c.name.to_string(),
                value: Some(over.cloned().unwrap_or(default)),
                source: if over.is_some() { ConfigSource::Topic } else { ConfigSource::Default },
                read_only: false,
                sensitive: false,
                kind: c.kind,
                documentation: opts.documentation.then(|| c.doc.to_string()),
                synonyms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kafka_4_defines_33_topic_configs_and_samsa_knows_each() {
        assert_eq!(TOPIC_CONFIGS.len(), 33);
        let names: std::collections::BTreeSet<_> = TOPIC_CONFIGS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), 33, "no name twice");
        for c in TOPIC_CONFIGS {
            validate(c.name, &c.default_value(&LogConfig::default())).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        }
    }

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        let bad = [
            ("retention.ms", "soon", "Not a number of type LONG"),
            ("retention.ms", "-2", "at least -1"),
            ("min.insync.replicas", "0", "at least 1"),
            ("compression.type", "brotli", "String must be one of"),
            ("message.timestamp.type", "WallTime", "String must be one of"),
            ("preallocate", "yes", "either true or false"),
            ("min.cleanable.dirty.ratio", "1.5", "between 0 and 1"),
            ("compression.gzip.level", "0", "or equal to -1"),
            ("cleanup.policy", "delete,shred", "String must be one of"),
            ("leader.replication.throttled.replicas", "0-1", "[partitionId]:[brokerId]"),
            ("message.timestamp.difference.max.ms", "1", "Unknown topic config name: message.timestamp.difference.max.ms"),
        ];
        for (name, value, why) in bad {
            let e = validate(name, value).expect_err(name);
            assert_eq!(e.code(), 40);
            assert!(e.to_string().contains(why), "{name}={value}: {e}");
        }
        for (name, value) in [("compression.type", "zstd"), ("preallocate", "TRUE"), ("leader.replication.throttled.replicas", "0:0, 1:0"), ("leader.replication.throttled.replicas", "*"), ("min.insync.replicas", "2")] {
            validate(name, value).unwrap();
        }
    }

    #[test]
    fn overrides_apply() {
        let c = resolve(&LogConfig::default(), &map(&[("retention.ms", "3600000"), ("segment.bytes", "1048576"), ("message.timestamp.type", "LogAppendTime")])).unwrap();
        assert_eq!((c.retention_ms, c.segment_bytes), (3_600_000, 1 << 20));
        assert_eq!(c.timestamps.kind, TimestampType::LogAppendTime);
        assert!(c.cleanup.delete && !c.cleanup.compact);
        let c = resolve(&LogConfig::default(), &map(&[("cleanup.policy", "compact, delete"), ("min.cleanable.dirty.ratio", "0.1"), ("delete.retention.ms", "5")])).unwrap();
        assert!(c.cleanup.delete && c.cleanup.compact);
        assert_eq!((c.cleanup.min_cleanable_dirty_ratio, c.cleanup.delete_retention_ms), (0.1, 5));
        let c = resolve(&LogConfig::default(), &map(&[("cleanup.policy", "compact")])).unwrap();
        assert!(!c.cleanup.delete && c.cleanup.compact);
        assert!(resolve(&LogConfig::default(), &map(&[("cleanup.policy", "")])).is_err());
        let e = resolve(&LogConfig::default(), &map(&[("min.compaction.lag.ms", "10"), ("max.compaction.lag.ms", "5")])).unwrap_err();
        assert!(e.to_string().starts_with("conflict topic config setting"), "{e}");
    }

    #[test]
    fn describe_gives_sources_and_synonyms() {
        let opts = DescribeOptions { synonyms: true, ..DescribeOptions::default() };
        let d = describe(&LogConfig::default(), &map(&[("retention.ms", "1000")]), &opts);
        assert_eq!(d.len(), 33);
        let r = d.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!((r.value.as_deref(), r.source), (Some("1000"), ConfigSource::Topic));
        assert_eq!(r.synonyms.len(), 1, "log.retention.ms has no default of its own in Kafka");
        let s = d.iter().find(|e| e.name == "segment.bytes").unwrap();
        assert_eq!(s.source, ConfigSource::Default);
        assert_eq!(s.synonyms[0].name, "log.segment.bytes");
        assert!(d.iter().all(|e| e.documentation.is_none()));
    }
}
