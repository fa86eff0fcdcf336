//! Consumer groups as JavaScript sees them: members, assignments and offsets.

use napi::bindgen_prelude::Int32Array;
use napi_derive::napi;

use crate::group::TopicPartition;

#[napi(object)]
pub struct TopicPartitionJs {
    pub topic: String,
    pub partition: i32,
}

#[napi(object)]
pub struct OffsetJs {
    pub topic: String,
    pub partition: i32,
    pub offset: f64,
    pub metadata: Option<String>,
}

/// A member's state: partitions as (topic index, partition) pairs into `topics`, so a
/// member of thousands of partitions gets a few arrays rather than thousands of objects.
#[napi(object)]
pub struct PollResult {
    pub generation: i32,
    pub topics: Vec<String>,
    pub assigned: Int32Array,
    pub revoking: Int32Array,
    pub pending: u32,
    pub topics_version: f64,
}

/// What the liveness timer needs to know.
#[napi(object)]
pub struct BeatResult {
    pub generation: i32,
    pub revoking: u32,
}

/// Partitions as (topic index, partition) pairs, with the topic names they index.
pub(super) fn pairs(parts: &[Vec<TopicPartition>]) -> (Vec<String>, Vec<Int32Array>) {
    let mut topics: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<&str, i32> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(parts.len());
    for list in parts {
        let mut flat = Vec::with_capacity(list.len() * 2);
        for (t, p) in list {
            let i = *index.entry(t.as_str()).or_insert_with(|| {
                topics.push(t.clone());
                topics.len() as i32 - 1
            });
            flat.extend_from_slice(&[i, *p]);
        }
        out.push(Int32Array::new(flat));
    }
    (topics, out)
}

#[napi(object)]
pub struct MemberJs {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub topics: Vec<String>,
    pub assigned: Vec<TopicPartitionJs>,
}

#[napi(object)]
pub struct GroupJs {
    pub group_id: String,
    pub state: String,
    pub protocol: String,
    pub generation: i32,
    pub members: Vec<MemberJs>,
}

impl From<crate::group::MemberDescription> for MemberJs {
    fn from(m: crate::group::MemberDescription) -> Self {
        MemberJs { member_id: m.member_id, client_id: m.client_id, client_host: m.client_host, topics: m.topics, assigned: tps(m.assigned) }
    }
}

pub(super) fn tps(v: Vec<TopicPartition>) -> Vec<TopicPartitionJs> {
    v.into_iter().map(|(topic, partition)| TopicPartitionJs { topic, partition }).collect()
}

