//! `NativeMember`: one consumer's membership in a group, over either backend.

use napi::bindgen_prelude::{Int32Array, PromiseRaw};
use napi_derive::napi;

use super::backend::MemberBackend;
use super::error::IntoJs;
use super::group::{pairs, BeatResult, OffsetJs, PollResult, TopicPartitionJs};
use super::local::LocalMember;
use super::promise::{promise, Spawn};
use super::remote::RemoteMember;

pub enum Member {
    Local(LocalMember),
    Remote(RemoteMember),
}

macro_rules! on {
    ($member:expr, $m:ident => $e:expr) => {
        match &$member {
            Member::Local($m) => $e,
            Member::Remote($m) => $e,
        }
    };
}

#[napi]
pub struct NativeMember {
    pub(super) inner: Member,
}

pub(super) fn offsets_in(v: Vec<OffsetJs>) -> Vec<super::backend::Offset> {
    v.into_iter().map(|o| (o.topic, o.partition, o.offset as i64, o.metadata)).collect()
}

#[napi]
impl NativeMember {
    #[napi(getter)]
    pub fn member_id(&self) -> String {
        on!(self.inner, m => m.member_id())
    }

    /// Changes whenever this member's state may have changed; poll again when it does.
    #[napi]
    pub fn state_version(&self) -> f64 {
        on!(self.inner, m => m.state_version()) as f64
    }

    /// Whether this member still owns the partition (eachBatch's `isStale`).
    #[napi]
    pub fn owns(&self, topic: String, partition: i32) -> bool {
        on!(self.inner, m => m.owns(&topic, partition))
    }

    /// Liveness signal and current assignment. `busy_since`: when the handler now running
    /// started (ms since the epoch), or null when idle.
    #[napi]
    pub fn poll(&self, busy_since: Option<f64>) -> napi::Result<PollResult> {
        let s = on!(self.inner, m => m.poll(busy_since.map(|t| t as i64))).js()?;
        let (topics, mut lists) = pairs(&[s.assigned, s.revoking]);
        let revoking = lists.pop().unwrap_or_else(|| Int32Array::new(Vec::new()));
        let assigned = lists.pop().unwrap_or_else(|| Int32Array::new(Vec::new()));
        Ok(PollResult { generation: s.generation, topics, assigned, revoking, pending: s.pending, topics_version: s.topics_version as f64 })
    }

    /// The liveness signal alone (the timer's): the generation, and how many partitions
    /// this member must give up.
    #[napi]
    pub fn beat(&self, busy_since: Option<f64>) -> napi::Result<BeatResult> {
        let s = on!(self.inner, m => m.poll(busy_since.map(|t| t as i64))).js()?;
        Ok(BeatResult { generation: s.generation, revoking: s.revoking.len() as u32 })
    }

    #[napi]
    pub fn subscribe(&self, topics: Vec<String>) -> napi::Result<()> {
        on!(self.inner, m => m.subscribe(topics)).js()
    }

    /// Hands back revoked partitions (after their offsets were committed).
    #[napi]
    pub fn release(&self, partitions: Vec<TopicPartitionJs>) -> napi::Result<()> {
        let list = partitions.into_iter().map(|p| (p.topic, p.partition)).collect();
        on!(self.inner, m => m.release(list)).js()
    }

    /// Commits offsets for partitions this member owns; fenced if it no longer does.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit<'env>(&self, env: &'env napi::Env, offsets: Vec<OffsetJs>) -> napi::Result<PromiseRaw<'env, ()>> {
        let offsets = offsets_in(offsets);
        on!(self.inner, m => promise(env, m as &dyn Spawn, m.commit(offsets)))
    }

    /// Leaves the group at once; the other members take over its partitions.
    #[napi]
    pub async fn leave(&self) -> napi::Result<()> {
        on!(self.inner, m => m.leave().await).js()
    }
}
