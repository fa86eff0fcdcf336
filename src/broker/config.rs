//! Broker settings and Kafka-named topic configs.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::log::LogConfig;

/// Settings of one broker (one data directory).
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// Acknowledge appends only after fsync (with group commit) instead of after write.
    pub fsync: bool,
    /// Kafka's `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// Kafka's `num.partitions`: partitions of a topic created without a count.
    pub default_num_partitions: i32,
    /// Defaults for every topic's log; topics override them with `configEntries`.
    pub log: LogConfig,
    /// How often retention runs (Kafka's `log.retention.check.interval.ms`).
    pub retention_check_interval_ms: u64,
    /// The most segment files kept open at once (None: half the process's descriptor
    /// limit, see [`crate::log::FileCache::default_budget`]).
    pub max_open_files: Option<usize>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            fsync: false,
            auto_create_topics: true,
            default_num_partitions: 1,
            log: LogConfig::default(),
            retention_check_interval_ms: 5 * 60 * 1000,
            max_open_files: None,
        }
    }
}

/// One topic config as DescribeConfigs reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
    pub is_default: bool,
}

/// The topic configs samsa understands, by Kafka's names.
pub const TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "index.interval.bytes",
    "max.message.bytes",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.ms",
];

fn parse_long(name: &str, value: &str, min: i64) -> Result<i64> {
    let v: i64 = value
        .trim()
        .parse()
        .map_err(|_| Error::InvalidConfig(format!("Invalid value {value} for configuration {name}: not a number")))?;
    if v < min {
        return Err(Error::InvalidConfig(format!(
            "Invalid value {value} for configuration {name}: value must be at least {min}"
        )));
    }
    Ok(v)
}

/// Checks Kafka-named overrides and applies them over `defaults`.
pub fn resolve(defaults: &LogConfig, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
    let mut c = *defaults;
    for (name, value) in overrides {
        match name.as_str() {
            "cleanup.policy" => {
                if value.trim() != "delete" {
                    return Err(Error::InvalidConfig(format!(
                        "cleanup.policy={value} is not supported: samsa deletes old segments by retention (cleanup.policy=delete) and does not compact logs yet"
                    )));
                }
            }
            "index.interval.bytes" => c.segment.index_interval_bytes = parse_long(name, value, 0)? as u64,
            "max.message.bytes" => c.max_message_bytes = parse_long(name, value, 0)?.min(i32::MAX as i64) as usize,
            "retention.bytes" => c.retention_bytes = parse_long(name, value, i64::MIN)?,
            "retention.ms" => c.retention_ms = parse_long(name, value, -1)?,
            "segment.bytes" => c.segment_bytes = parse_long(name, value, 14)? as u64,
            "segment.index.bytes" => c.segment.max_index_bytes = parse_long(name, value, 12)? as usize,
            "segment.ms" => c.segment_ms = parse_long(name, value, 1)?,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "Unknown topic config name: {other} (samsa supports {})",
                    TOPIC_CONFIGS.join(", ")
                )))
            }
        }
    }
    Ok(c)
}

/// Every supported topic config with its effective value.
pub fn describe(defaults: &LogConfig, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
    let d = defaults;
    TOPIC_CONFIGS
        .iter()
        .map(|&name| {
            let default = match name {
                "cleanup.policy" => "delete".to_string(),
                "index.interval.bytes" => d.segment.index_interval_bytes.to_string(),
                "max.message.bytes" => d.max_message_bytes.to_string(),
                "retention.bytes" => d.retention_bytes.to_string(),
                "retention.ms" => d.retention_ms.to_string(),
                "segment.bytes" => d.segment_bytes.to_string(),
                "segment.index.bytes" => d.segment.max_index_bytes.to_string(),
                _ => d.segment_ms.to_string(),
            };
            match overrides.get(name) {
                Some(v) => ConfigEntry { name: name.into(), value: v.clone(), is_default: false },
                None => ConfigEntry { name: name.into(), value: default, is_default: true },
            }
        })
        .collect()
}

/// The topics Kafka keeps for itself (its group coordinator's offsets, its transaction and
/// share-group state, its metadata log). samsa keeps that state in stores of its own, so a
/// topic of one of these names would be an ordinary topic that tools mistake for Kafka's.
const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata"];

pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// Refuses creating one of Kafka's internal topics, as Kafka refuses its metadata log.
pub fn check_creatable(name: &str) -> Result<()> {
    validate_topic_name(name)?;
    if is_internal_topic(name) {
        return Err(Error::InvalidRequest(format!(
            "Creation of internal topic {name} is prohibited: Kafka reserves the name, and samsa keeps committed offsets and group and transaction state in its own stores"
        )));
    }
    Ok(())
}

/// Kafka's topic name rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |why: &str| Err(Error::InvalidTopic(format!("Invalid topic name \"{name}\": {why}")));
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return invalid("it is longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka() {
        for ok in ["rider-updates", "a", "A.b_c-9", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "has space", "slash/no", "ünï", &"x".repeat(250)] {
            assert_eq!(validate_topic_name(bad).unwrap_err().code(), 17, "{bad}");
        }
    }

    #[test]
    fn overrides_apply_and_unknown_names_are_refused() {
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "3600000".to_string());
        o.insert("segment.bytes".to_string(), "1048576".to_string());
        let c = resolve(&LogConfig::default(), &o).unwrap();
        assert_eq!(c.retention_ms, 3_600_000);
        assert_eq!(c.segment_bytes, 1 << 20);
        o.insert("no.such".to_string(), "1".to_string());
        assert_eq!(resolve(&LogConfig::default(), &o).unwrap_err().code(), 40);
        let mut bad = BTreeMap::new();
        bad.insert("retention.ms".to_string(), "soon".to_string());
        assert!(resolve(&LogConfig::default(), &bad).is_err());
        let d = describe(&LogConfig::default(), &BTreeMap::new());
        assert!(d.iter().all(|e| e.is_default));
    }
}
