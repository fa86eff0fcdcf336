//! ListOffsets (earliest, latest, max timestamp, or by time; read committed, latest is the
//! last stable offset) and OffsetForLeaderEpoch
//! (the leader epoch is always 0, so every epoch ends at the high watermark).

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::*;

use crate::broker::Isolation;
use crate::wire::Ctx;

pub async fn handle(ctx: &Ctx, req: ListOffsetsRequest, version: i16, _: &RequestHeader) -> Option<ListOffsetsResponse> {
    // A lookup by time reads (and expands) batches: off the thread that serves other
    // connections' requests. The others answer from memory.
    let by_time = req.topics.iter().flat_map(|t| &t.partitions).any(|p| p.timestamp >= 0);
    let answer = || Some(ListOffsetsResponse::default().with_topics(list(ctx, &req, version)));
    if by_time {
        tokio::task::block_in_place(answer)
    } else {
        answer()
    }
}

fn list(ctx: &Ctx, req: &ListOffsetsRequest, version: i16) -> Vec<ListOffsetsTopicResponse> {
    let isolation = if version >= 2 && req.isolation_level == 1 { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
    req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_leader_epoch(if version >= 4 { 0 } else { -1 });
                    match ctx.broker.list_offset(&t.name.0, p.partition_index, p.timestamp, isolation) {
                        Ok(o) => resp.with_offset(o.offset).with_timestamp(o.timestamp),
                        Err(e) => resp.with_error_code(ctx.code(&e)).with_offset(-1).with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect()
}

pub async fn for_leader_epoch(ctx: &Ctx, req: OffsetForLeaderEpochRequest, _: i16, _: &RequestHeader) -> Option<OffsetForLeaderEpochResponse> {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let resp = EpochEndOffset::default().with_partition(p.partition);
                    match ctx.broker.list_offset(&t.topic.0, p.partition, crate::broker::LATEST, Isolation::ReadUncommitted) {
                        // Epoch 0 is the only epoch: it ends at the high watermark.
                        Ok(o) if p.leader_epoch <= 0 => resp.with_leader_epoch(0).with_end_offset(o.offset),
                        Ok(_) => resp.with_error_code(74).with_leader_epoch(-1).with_end_offset(-1), // FENCED_LEADER_EPOCH
                        Err(e) => resp.with_error_code(ctx.code(&e)).with_leader_epoch(-1).with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(t.topic.clone()).with_partitions(partitions)
        })
        .collect();
    Some(OffsetForLeaderEpochResponse::default().with_topics(topics))
}
