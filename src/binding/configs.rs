//! Configs as JavaScript sees them: the core's described entries, field for field.

use napi_derive::napi;

use crate::broker::{ConfigEntry, ConfigResource, DescribeOptions};

#[napi(object)]
pub struct ConfigSynonymJs {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's config source id.
    pub source: i32,
}

#[napi(object)]
pub struct ConfigEntryJs {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's config source id (1 topic override, 2/3 dynamic broker, 4 static, 5 default).
    pub source: i32,
    pub read_only: bool,
    pub is_sensitive: bool,
    /// Kafka's config type id.
    pub config_type: i32,
    pub synonyms: Vec<ConfigSynonymJs>,
}

impl From<ConfigEntry> for ConfigEntryJs {
    fn from(e: ConfigEntry) -> Self {
        ConfigEntryJs {
            name: e.name,
            value: e.value,
            source: e.source as i32,
            read_only: e.read_only,
            is_sensitive: e.sensitive,
            config_type: e.kind as i32,
            synonyms: e.synonyms.into_iter().map(|s| ConfigSynonymJs { name: s.name, value: s.value, source: s.source as i32 }).collect(),
        }
    }
}

/// A resource by Kafka's type id (2 topic, 4 broker).
pub fn resource(kind: i32, name: String) -> crate::Result<ConfigResource> {
    ConfigResource::from_kafka(i8::try_from(kind).unwrap_or(0), &name)
}

pub fn options(config_names: Option<Vec<String>>, include_synonyms: bool) -> DescribeOptions {
    DescribeOptions { keys: config_names, synonyms: include_synonyms, documentation: false }
}

/// A manual assignment of a new topic's partition to brokers.
#[napi(object)]
pub struct ReplicaAssignmentJs {
    pub partition: i32,
    pub replicas: Vec<i32>,
}
