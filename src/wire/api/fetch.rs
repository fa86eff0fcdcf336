//! Fetch: whole stored batches from the one holding the fetch offset, at least one batch
//! even above the byte limits, long-polled until `min_bytes` arrived or `max_wait` passed
//! (woken by the appends themselves, never a sleep loop). There are no transactions, so
//! the last stable offset is the high watermark (kafkajs reads READ_COMMITTED). Fetch
//! sessions are declined: every response has session id 0.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::*;

use crate::broker::FetchPartition;
use crate::wire::Ctx;

/// The longest a fetch is held, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub async fn handle(ctx: &Ctx, req: FetchRequest, version: i16, _: &RequestHeader) -> Option<FetchResponse> {
    let mut wanted = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            wanted.push(FetchPartition {
                topic: t.topic.0.to_string(),
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            });
        }
    }
    let max_bytes = if req.max_bytes > 0 { req.max_bytes as usize } else { usize::MAX };
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let fetched = ctx.broker.fetch(&wanted, wait, req.min_bytes.max(0) as usize, max_bytes).await;
    let mut fetched = fetched.into_iter();
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let data = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_aborted_transactions(Some(Vec::new()))
                        .with_preferred_read_replica((-1).into());
                    match fetched.next().map(|f| f.result) {
                        Some(Ok(r)) => data
                            .with_high_watermark(r.high_watermark)
                            .with_last_stable_offset(r.high_watermark)
                            .with_log_start_offset(if version >= 5 { r.log_start_offset } else { -1 })
                            .with_records(Some(Bytes::from(r.bytes))),
                        Some(Err(e)) => data
                            .with_error_code(ctx.code(&e))
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1)
                            .with_records(Some(Bytes::new())),
                        None => data.with_error_code(-1),
                    }
                })
                .collect();
            FetchableTopicResponse::default().with_topic(t.topic.clone()).with_topic_id(t.topic_id).with_partitions(partitions)
        })
        .collect();
    Some(FetchResponse::default().with_session_id(0).with_responses(responses))
}
