//! Broker settings, the shapes configs are described in, and Kafka's topic name rules.

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
    /// The log cleaner of compacted topics.
    pub cleaner: CleanerConfig,
}

/// The log cleaner's settings, Kafka's `log.cleaner.*` broker configs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.backoff.ms`: how long the cleaner sleeps when no log needs cleaning.
    pub backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: the most memory one pass's key map may take.
    pub dedupe_buffer_bytes: usize,
    /// `log.cleaner.io.max.bytes.per.second`: the cleaner's reads and writes together
    /// (0: unthrottled).
    pub io_max_bytes_per_second: f64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig { backoff_ms: 15_000, dedupe_buffer_bytes: 128 << 20, io_max_bytes_per_second: 100.0 * 1024.0 * 1024.0 }
    }
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
            cleaner: CleanerConfig::default(),
        }
    }
}

/// Kafka's config sources (DescribeConfigs' `config_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic's own override (Kafka's TOPIC_CONFIG, shown as DYNAMIC_TOPIC_CONFIG).
    Topic = 1,
    /// Set with AlterConfigs for this broker.
    DynamicBroker = 2,
    /// Set with AlterConfigs for every broker (resource name "").
    DynamicDefaultBroker = 3,
    /// A setting samsa was opened with (Kafka's server.properties).
    StaticBroker = 4,
    Default = 5,
}

impl ConfigSource {
    /// The source for a Kafka id (unknown ids as DEFAULT_CONFIG).
    pub fn from_kafka(id: i8) -> Self {
        match id {
            1 => ConfigSource::Topic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            _ => ConfigSource::Default,
        }
    }
}

/// Kafka's config types (DescribeConfigs v3+ `config_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    Unknown = 0,
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

impl ConfigType {
    pub fn from_kafka(id: i8) -> Self {
        use ConfigType::*;
        [Unknown, Boolean, String, Int, Short, Long, Double, List, Class, Password].get(id.max(0) as usize).copied().unwrap_or(Unknown)
    }
}

/// Where else a config's value is set, in the order Kafka looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One config as DescribeConfigs reports it, through either door.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// None for sensitive values (and Kafka's configs without a value).
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub kind: ConfigType,
    pub documentation: Option<String>,
    /// Empty unless asked for.
    pub synonyms: Vec<ConfigSynonym>,
}

/// What DescribeConfigs asks for besides the resource.
#[derive(Clone, Debug, Default)]
pub struct DescribeOptions {
    /// The configs wanted; None or empty: all.
    pub keys: Option<Vec<String>>,
    pub synonyms: bool,
    pub documentation: bool,
}

impl DescribeOptions {
    pub fn wants(&self, name: &str) -> bool {
        self.keys.as_ref().is_none_or(|k| k.is_empty() || k.iter().any(|n| n == name))
    }
}

/// The resource a config request is about (Kafka's resource types 2 and 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigResource {
    Topic(String),
    /// "0" (this broker) or "" (the cluster-wide defaults).
    Broker(String),
}

impl ConfigResource {
    pub const TOPIC: i8 = 2;
    pub const BROKER: i8 = 4;

    /// A resource by Kafka's type id; BROKER_LOGGER (8) and others have no configs here.
    pub fn from_kafka(kind: i8, name: &str) -> Result<Self> {
        match kind {
            Self::TOPIC => Ok(ConfigResource::Topic(name.to_string())),
            Self::BROKER => Ok(ConfigResource::Broker(name.to_string())),
            other => Err(Error::InvalidRequest(format!(
                "samsa has no configs for resource type {other}: it describes and alters topics (2) and the broker (4)"
            ))),
        }
    }
}

/// One change of Kafka's IncrementalAlterConfigs.
#[derive(Clone, Debug)]
pub enum ConfigOp {
    Set(String),
    Delete,
    /// Adds items to a LIST config.
    Append(String),
    /// Removes items from a LIST config.
    Subtract(String),
}

impl ConfigOp {
    /// Kafka's operation ids: SET 0, DELETE 1, APPEND 2, SUBTRACT 3.
    pub fn from_kafka(op: i8, value: Option<String>) -> Result<Self> {
        let value = || value.clone().ok_or_else(|| Error::InvalidRequest("Null value not supported for a config to set, append or subtract".into()));
        match op {
            0 => Ok(ConfigOp::Set(value()?)),
            1 => Ok(ConfigOp::Delete),
            2 => Ok(ConfigOp::Append(value()?)),
            3 => Ok(ConfigOp::Subtract(value()?)),
            other => Err(Error::InvalidRequest(format!("unknown config operation {other}"))),
        }
    }
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
}
