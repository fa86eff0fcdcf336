//! Consumer-group classes: a `NativeMember` per consumer in a group, and the broker's
//! group queries for Admin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::Int32Array;
use napi_derive::napi;

use super::error::{invalid_arg, to_js, IntoJs};
use super::NativeBroker;
use crate::broker::Broker;
use crate::group::{Committed, JoinRequest, Strategy, TopicPartition};

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

pub(super) fn tps(v: Vec<TopicPartition>) -> Vec<TopicPartitionJs> {
    v.into_iter().map(|(topic, partition)| TopicPartitionJs { topic, partition }).collect()
}

fn offsets(v: Vec<OffsetJs>) -> Vec<(String, i32, Committed)> {
    v.into_iter().map(|o| (o.topic, o.partition, Committed { offset: o.offset as i64, metadata: o.metadata, leader_epoch: None })).collect()
}

/// One consumer's membership in a group.
#[napi]
pub struct NativeMember {
    broker: Arc<Broker>,
    group_id: String,
    member_id: String,
    /// The group's change counter.
    version: Arc<AtomicU64>,
}

#[napi]
impl NativeBroker {
    /// Joins `group_id` as a new member subscribed to `topics`.
    #[napi]
    pub fn join_group(
        &self,
        group_id: String,
        client_id: String,
        topics: Vec<String>,
        session_timeout_ms: f64,
        rebalance_timeout_ms: f64,
        strategy: String,
    ) -> napi::Result<NativeMember> {
        let strategy = Strategy::parse(&strategy).ok_or_else(|| invalid_arg(format!("unknown partition assigner {strategy}")))?;
        let req = JoinRequest {
            group_id: group_id.clone(),
            client_id,
            client_host: "/127.0.0.1".into(),
            topics,
            session_timeout_ms: session_timeout_ms as i64,
            rebalance_timeout_ms: rebalance_timeout_ms as i64,
            strategy,
        };
        let counts = self.inner.topic_counts();
        let joined = self.inner.groups.join(req, &counts).js()?;
        Ok(NativeMember { broker: Arc::clone(&self.inner), group_id, member_id: joined.member_id, version: joined.version })
    }

    #[napi]
    pub fn topics_version(&self) -> f64 {
        self.inner.topics_version() as f64
    }

    /// Committed offsets of a group for one topic (absent partitions have none).
    #[napi]
    pub fn committed_offsets(&self, group_id: String, topic: String) -> Vec<OffsetJs> {
        self.inner
            .groups
            .committed_all(&group_id)
            .into_iter()
            .filter(|((t, _), _)| *t == topic)
            .map(|((topic, partition), c)| OffsetJs { topic, partition, offset: c.offset as f64, metadata: c.metadata })
            .collect()
    }

    /// Every topic a group has committed offsets for.
    #[napi]
    pub fn committed_topics(&self, group_id: String) -> Vec<String> {
        let mut topics: Vec<String> = self.inner.groups.committed_all(&group_id).into_keys().map(|(t, _)| t).collect();
        topics.dedup();
        topics
    }

    /// Admin commit (setOffsets, resetOffsets): refused while the group has members.
    #[napi]
    pub async fn set_group_offsets(&self, group_id: String, offsets_: Vec<OffsetJs>) -> napi::Result<()> {
        let b = Arc::clone(&self.inner);
        let offsets_ = offsets(offsets_);
        napi::bindgen_prelude::spawn_blocking(move || b.groups.commit(&group_id, None, &offsets_))
            .await
            .map_err(invalid_arg)?
            .js()
    }

    /// The longest-standing member of a group (reported as its leader), if it has any.
    #[napi]
    pub fn group_leader(&self, group_id: String) -> Option<String> {
        self.inner.groups.leader(&group_id)
    }

    #[napi]
    pub fn list_groups(&self) -> Vec<String> {
        self.inner.groups.list().into_iter().map(|g| g.group_id).collect()
    }

    #[napi]
    pub fn describe_group(&self, group_id: String) -> GroupJs {
        let d = self.inner.groups.describe(&group_id);
        GroupJs {
            group_id: d.group_id,
            state: d.state.to_string(),
            protocol: d.protocol,
            generation: d.generation,
            members: d
                .members
                .into_iter()
                .map(|m| MemberJs {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    topics: m.topics,
                    assigned: tps(m.assigned),
                })
                .collect(),
        }
    }

    /// Deletes a group's offsets (a durable write: off the JS thread).
    #[napi]
    pub async fn delete_group(&self, group_id: String) -> napi::Result<()> {
        let b = Arc::clone(&self.inner);
        napi::bindgen_prelude::spawn_blocking(move || b.groups.delete(&group_id)).await.map_err(invalid_arg)?.js()
    }
}

#[napi]
impl NativeMember {
    #[napi(getter)]
    pub fn member_id(&self) -> String {
        self.member_id.clone()
    }

    /// Changes whenever this group's state may have changed; poll again when it does.
    #[napi]
    pub fn state_version(&self) -> f64 {
        self.version.load(Ordering::Acquire) as f64
    }

    /// Whether this member still owns the partition (eachBatch's `isStale`).
    #[napi]
    pub fn owns(&self, topic: String, partition: i32) -> bool {
        self.broker.groups.owns(&self.group_id, &self.member_id, &(topic, partition))
    }

    /// Liveness signal and current assignment. `busy_since`: when the handler now running
    /// started (ms since the epoch), or null when idle.
    #[napi]
    pub fn poll(&self, busy_since: Option<f64>) -> napi::Result<PollResult> {
        let a = self.broker.groups.poll(&self.group_id, &self.member_id, busy_since.map(|t| t as i64)).js()?;
        let (topics, mut lists) = pairs(&[a.assigned, a.revoking]);
        let revoking = lists.pop().unwrap_or_else(|| Int32Array::new(Vec::new()));
        let assigned = lists.pop().unwrap_or_else(|| Int32Array::new(Vec::new()));
        Ok(PollResult {
            generation: a.generation,
            topics,
            assigned,
            revoking,
            pending: a.pending.len() as u32,
            topics_version: self.broker.topics_version() as f64,
        })
    }

    /// The liveness signal alone (the timer's): the generation, and how many partitions
    /// this member must give up.
    #[napi]
    pub fn beat(&self, busy_since: Option<f64>) -> napi::Result<BeatResult> {
        let a = self.broker.groups.poll(&self.group_id, &self.member_id, busy_since.map(|t| t as i64)).js()?;
        Ok(BeatResult { generation: a.generation, revoking: a.revoking.len() as u32 })
    }

    #[napi]
    pub fn subscribe(&self, topics: Vec<String>) -> napi::Result<()> {
        let counts = self.broker.topic_counts();
        self.broker.groups.subscribe(&self.group_id, &self.member_id, topics, &counts).js()
    }

    /// Hands back revoked partitions (after their offsets were committed).
    #[napi]
    pub fn release(&self, partitions: Vec<TopicPartitionJs>) -> napi::Result<()> {
        let list: Vec<TopicPartition> = partitions.into_iter().map(|p| (p.topic, p.partition)).collect();
        self.broker.groups.release(&self.group_id, &self.member_id, &list).js()
    }

    /// Commits offsets for partitions this member owns; fenced if it no longer does, and
    /// refused for partitions that do not exist.
    #[napi]
    pub async fn commit(&self, offsets_: Vec<OffsetJs>) -> napi::Result<()> {
        let b = Arc::clone(&self.broker);
        let (group, member) = (self.group_id.clone(), self.member_id.clone());
        let offsets_ = offsets(offsets_);
        napi::bindgen_prelude::spawn_blocking(move || b.commit_offsets(&group, &member, &offsets_))
            .await
            .map_err(invalid_arg)?
            .js()
    }

    /// The same as `commit`, on the calling thread: with fsync off a commit is one short
    /// write, cheaper than a hop to a worker thread and back.
    #[napi]
    pub fn commit_sync(&self, offsets_: Vec<OffsetJs>) -> napi::Result<()> {
        self.broker.commit_offsets(&self.group_id, &self.member_id, &offsets(offsets_)).js()
    }

    /// Leaves the group at once; the other members take over its partitions.
    #[napi]
    pub fn leave(&self) -> napi::Result<()> {
        let counts = self.broker.topic_counts();
        self.broker.groups.leave(&self.group_id, &self.member_id, &counts).map_err(to_js)
    }
}
