//! KIP-848's ConsumerGroupHeartbeat for members over the wire, on the same groups and the
//! same server-side, sticky, cooperative assignment as samsa's in-process members: a
//! member is told the partitions it may consume; one it must give up is left out of its
//! assignment, and it is released once the member stops reporting it as owned (after
//! committing), so its next owner starts from the committed offset. Each change of a
//! member's assignment bumps its epoch, which fences its stale commits.

use std::collections::BTreeSet;

use super::{rebalance, remove_member, settle, validate_group_id, GroupCoordinator, Member, TopicCounts, TopicPartition};
use crate::error::{Error, Result};

/// A heartbeat as the coordinator needs it (topic ids already turned into names).
#[derive(Clone, Debug)]
pub struct ConsumerHeartbeat {
    pub group_id: String,
    /// Empty on a first heartbeat from a v0 client (the coordinator picks one).
    pub member_id: String,
    /// 0 to join, -1 to leave (-2: a static member leaving), else the current epoch.
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: Option<i64>,
    pub session_timeout_ms: i64,
    /// The assignor the member asks for (KIP-848's server assignor); the group keeps the
    /// one its first member asked for.
    pub assignor: Option<super::Strategy>,
    /// The subscription, when it changed (always on a join).
    pub subscribed_topics: Option<Vec<String>>,
    /// The partitions the member owns now, when it reports them.
    pub owned: Option<Vec<TopicPartition>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerHeartbeatResult {
    pub member_id: String,
    pub member_epoch: i32,
    /// The member's new assignment, when it changed.
    pub assignment: Option<Vec<TopicPartition>>,
}

impl GroupCoordinator {
    pub fn consumer_heartbeat(&self, hb: ConsumerHeartbeat, counts: &TopicCounts) -> Result<ConsumerHeartbeatResult> {
        validate_group_id(&hb.group_id)?;
        let now = self.now();
        let mut groups = super::lock(&self.groups);
        if hb.member_epoch < 0 {
            if let Some(group) = groups.get_mut(&hb.group_id) {
                if remove_member(group, &hb.member_id) {
                    rebalance(group, counts);
                    group.changed();
                }
            }
            return Ok(ConsumerHeartbeatResult { member_id: hb.member_id, member_epoch: hb.member_epoch, assignment: None });
        }
        let group = groups.entry(hb.group_id.clone()).or_default();
        self.expire(group, now);
        let member_id = if hb.member_epoch == 0 {
            let id = if hb.member_id.is_empty() { self.new_member_id(&hb.client_id) } else { hb.member_id.clone() };
            if !group.members.contains_key(&id) {
                let topics: BTreeSet<String> = hb.subscribed_topics.clone().unwrap_or_default().into_iter().collect();
                let rebalance_ms = hb.rebalance_timeout_ms.unwrap_or(300_000);
                group.strategy.get_or_insert(hb.assignor.unwrap_or(super::Strategy::RoundRobin));
                group.members.insert(id.clone(), Member::new(hb.client_id.clone(), hb.client_host.clone(), topics, hb.session_timeout_ms, rebalance_ms, now));
                rebalance(group, counts);
                group.changed();
            }
            id
        } else {
            let Some(m) = group.members.get(&hb.member_id) else {
                return Err(Error::UnknownMemberId { group: hb.group_id.clone(), member: hb.member_id.clone() });
            };
            // The current epoch, or the one before it (its last answer may have been lost).
            if hb.member_epoch != m.epoch && hb.member_epoch + 1 != m.epoch {
                return Err(Error::FencedMemberEpoch(format!(
                    "member {} sent epoch {} but its epoch is {}: it must rejoin",
                    hb.member_id, hb.member_epoch, m.epoch
                )));
            }
            hb.member_id.clone()
        };
        if let Some(m) = group.members.get_mut(&member_id) {
            m.last_seen = now;
            if let Some(ms) = hb.rebalance_timeout_ms {
                m.rebalance_timeout_ms = ms;
            }
        }
        if let Some(topics) = &hb.subscribed_topics {
            let topics: BTreeSet<String> = topics.iter().cloned().collect();
            if group.members.get(&member_id).is_some_and(|m| m.topics != topics) {
                if let Some(m) = group.members.get_mut(&member_id) {
                    m.topics = topics;
                }
                rebalance(group, counts);
                group.changed();
            }
        }
        // Partitions the member was told to give up and no longer reports are released.
        if let Some(owned) = &hb.owned {
            let owned: BTreeSet<&TopicPartition> = owned.iter().collect();
            let target = group.target.get(&member_id).cloned().unwrap_or_default();
            let released: Vec<TopicPartition> = group
                .owner
                .iter()
                .filter(|(tp, o)| **o == member_id && !target.contains(*tp) && !owned.contains(tp))
                .map(|(tp, _)| tp.clone())
                .collect();
            for tp in released {
                group.owner.remove(&tp);
                group.changed();
            }
        }
        let a = settle(group, &member_id);
        let Some(m) = group.members.get_mut(&member_id) else {
            return Err(Error::UnknownMemberId { group: hb.group_id.clone(), member: member_id });
        };
        m.revoking_since = if a.revoking.is_empty() { None } else { m.revoking_since.or(Some(now)) };
        let changed = m.sent.as_ref() != Some(&a.assigned);
        // A member a step behind lost the answer that moved it on: it gets its assignment
        // again, or it would never learn of it.
        let behind = hb.member_epoch != m.epoch;
        if changed || behind || hb.member_epoch == 0 {
            if changed {
                m.epoch += 1;
                m.sent = Some(a.assigned.clone());
            }
            Ok(ConsumerHeartbeatResult { member_id, member_epoch: m.epoch, assignment: Some(a.assigned) })
        } else {
            Ok(ConsumerHeartbeatResult { member_id, member_epoch: m.epoch, assignment: None })
        }
    }

    /// A commit from a KIP-848 member: it must exist with its current or previous epoch;
    /// the partitions must still be its own (checked by `commit`).
    pub fn check_member_epoch(&self, group_id: &str, member_id: &str, epoch: i32) -> Result<()> {
        let groups = super::lock(&self.groups);
        let m = groups
            .get(group_id)
            .and_then(|g| g.members.get(member_id))
            .ok_or_else(|| Error::UnknownMemberId { group: group_id.into(), member: member_id.into() })?;
        if epoch > m.epoch || epoch + 1 < m.epoch {
            return Err(Error::StaleMemberEpoch(format!(
                "member {member_id} committed with epoch {epoch} but its epoch is {}",
                m.epoch
            )));
        }
        Ok(())
    }
}
