//! OffsetCommit, OffsetFetch and OffsetDelete. Commits are checked by who makes them: a
//! classic member by its generation, a KIP-848 member by its epoch and by owning the
//! partitions, and a commit with generation -1 and no member (admin tools, assign()
//! consumers) only for a group without members. Metadata round-trips.

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;

use super::{str_bytes, topic_name};
use crate::error::Error;
use crate::group::{Committed, Committer};
use crate::wire::Ctx;

pub async fn commit(ctx: &Ctx, req: OffsetCommitRequest, version: i16, _: &RequestHeader) -> Option<OffsetCommitResponse> {
    let group = req.group_id.0.to_string();
    let member = req.member_id.to_string();
    let g = &ctx.broker.groups;
    let who = if member.is_empty() && req.generation_id_or_member_epoch < 0 {
        Committer::Admin
    } else if g.is_classic(&group) || version < 9 {
        Committer::Classic {
            member: &member,
            instance: req.group_instance_id.as_deref(),
            generation: req.generation_id_or_member_epoch,
            api_version: version,
        }
    } else {
        Committer::MemberEpoch(&member, req.generation_id_or_member_epoch)
    };
    let offsets: Vec<(String, i32, Committed)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let metadata = p.committed_metadata.as_ref().map(|m| m.to_string());
                let leader_epoch = (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch);
                (t.name.0.to_string(), p.partition_index, Committed { offset: p.committed_offset, metadata, leader_epoch })
            })
        })
        .collect();
    // Unknown topics or partitions get their own error; the rest is committed together.
    let known = |t: &str, p: i32| ctx.broker.has_partition(t, p);
    let valid: Vec<(String, i32, Committed)> = offsets.iter().filter(|(t, p, _)| known(t, *p)).cloned().collect();
    // With fsync on, a commit waits for the disk, and the runtime's thread is handed to
    // another meanwhile. Without, it is a write to the page cache (and, every ten thousand
    // commits or more, a rewrite of the file): cheaper than that handover, a thread woken
    // per commit, hundreds a second from auto-commit.
    let by_epoch = matches!(who, Committer::MemberEpoch(..));
    let commit = || g.commit_as(&group, who, &valid);
    let result = if valid.is_empty() {
        Ok(())
    } else if ctx.broker.config().fsync {
        tokio::task::block_in_place(commit)
    } else {
        commit()
    };
    let result = match result {
        // A KIP-848 member that no longer owns a partition is told its epoch is stale, so
        // that it heartbeats for its new assignment; a classic member keeps Kafka's
        // ILLEGAL_GENERATION whatever the version.
        Err(Error::IllegalGeneration(msg)) if by_epoch => Err(Error::StaleMemberEpoch(msg)),
        other => other,
    };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = OffsetCommitResponsePartition::default().with_partition_index(p.partition_index);
                    if !known(&t.name.0, p.partition_index) {
                        r.with_error_code(3)
                    } else {
                        match &result {
                            Ok(()) => r,
                            Err(e) => r.with_error_code(ctx.code(e)),
                        }
                    }
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    Some(OffsetCommitResponse::default().with_topics(topics))
}

/// One group's committed offsets for the listed topics (None: every topic it has offsets
/// for), as (topic, [(partition, commit)]); partitions without a commit get offset -1.
type Fetched = Vec<(String, Vec<(i32, Committed)>)>;

fn fetch_group(ctx: &Ctx, group: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> Fetched {
    let committed = ctx.broker.groups.committed_all(group);
    let topics = topics.unwrap_or_else(|| {
        let mut by_topic: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
        for (t, p) in committed.keys() {
            by_topic.entry(t.clone()).or_default().push(*p);
        }
        by_topic.into_iter().collect()
    });
    topics
        .into_iter()
        .map(|(t, partitions)| {
            let rows = partitions
                .into_iter()
                .map(|p| match committed.get(&(t.clone(), p)) {
                    Some(c) => (p, c.clone()),
                    None => (p, Committed { offset: -1, metadata: None, leader_epoch: None }),
                })
                .collect();
            (t, rows)
        })
        .collect()
}

/// UNSTABLE_OFFSET_COMMIT
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

pub async fn fetch(ctx: &Ctx, req: OffsetFetchRequest, version: i16, _: &RequestHeader) -> Option<OffsetFetchResponse> {
    // The epoch as committed, -1 when none was (the field is there from v5).
    let epoch = |c: &Committed| if version >= 5 { c.leader_epoch.unwrap_or(-1) } else { -1 };
    // RequireStable (v7+): a partition whose offset an open transaction will change
    // answers UNSTABLE_OFFSET_COMMIT, which clients retry.
    let unstable = |group: &str, topic: &str, partition: i32| {
        if version >= 7 && req.require_stable && ctx.broker.has_pending_txn_offset(group, topic, partition) {
            UNSTABLE_OFFSET_COMMIT
        } else {
            0
        }
    };
    if version < 8 {
        let topics = req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect());
        let fetched = fetch_group(ctx, &req.group_id.0, topics);
        let topics = fetched
            .into_iter()
            .map(|(t, rows)| {
                OffsetFetchResponseTopic::default().with_name(topic_name(&t)).with_partitions(
                    rows.into_iter()
                        .map(|(p, c)| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(c.offset)
                                .with_committed_leader_epoch(epoch(&c))
                                .with_metadata(Some(str_bytes(c.metadata.unwrap_or_default())))
                                .with_error_code(unstable(&req.group_id.0, &t, p))
                        })
                        .collect(),
                )
            })
            .collect();
        return Some(OffsetFetchResponse::default().with_topics(topics));
    }
    // v8+: several groups per request; v9 members give their id and epoch.
    let groups = req
        .groups
        .iter()
        .map(|g| {
            let group = g.group_id.0.to_string();
            let resp = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            // Kafka checks the member of a KIP-848 group only: a classic member's id (which
            // some clients send with v9 too) says nothing about its right to read.
            let member = g.member_id.as_ref().filter(|m| !m.is_empty());
            if let Some(member) = member.filter(|_| !ctx.broker.groups.is_classic(&group)) {
                if let Err(e) = ctx.broker.groups.check_member_epoch(&group, member, g.member_epoch) {
                    return resp.with_error_code(ctx.code(&e));
                }
            }
            let topics = g.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect());
            let fetched = fetch_group(ctx, &group, topics);
            resp.with_topics(
                fetched
                    .into_iter()
                    .map(|(t, rows)| {
                        OffsetFetchResponseTopics::default().with_name(topic_name(&t)).with_partitions(
                            rows.into_iter()
                                .map(|(p, c)| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(c.offset)
                                        .with_committed_leader_epoch(epoch(&c))
                                        .with_metadata(Some(str_bytes(c.metadata.unwrap_or_default())))
                                        .with_error_code(unstable(&group, &t, p))
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    Some(OffsetFetchResponse::default().with_groups(groups))
}

pub async fn delete(ctx: &Ctx, req: OffsetDeleteRequest, _: i16, _: &RequestHeader) -> Option<OffsetDeleteResponse> {
    let partitions: Vec<(String, i32)> =
        req.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), p.partition_index))).collect();
    let results = match tokio::task::block_in_place(|| ctx.broker.groups.delete_offsets(&req.group_id.0, &partitions)) {
        Ok(r) => r,
        Err(e) => return Some(OffsetDeleteResponse::default().with_error_code(ctx.code(&e))),
    };
    let mut results = results.into_iter();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = OffsetDeleteResponsePartition::default().with_partition_index(p.partition_index);
                    match results.next() {
                        Some(Err(e)) => r.with_error_code(ctx.code(&e)),
                        _ => r,
                    }
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    Some(OffsetDeleteResponse::default().with_topics(topics))
}
