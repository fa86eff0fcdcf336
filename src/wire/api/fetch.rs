//! Fetch: whole stored batches from the one holding the fetch offset, at least one batch
//! even above the byte limits, long-polled until `min_bytes` arrived or `max_wait` passed
//! (woken by the appends themselves, never a sleep loop). Read committed (isolation level
//! 1, kafkajs's default), a partition is read up to its last stable offset and the response
//! lists the aborted transactions among the records, for the client to skip. Fetch
//! sessions are declined: every response has session id 0. From v13 topics are named by
//! id (v15's replica state and v16's node endpoints concern followers and leader changes,
//! which one broker never has).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::*;

use crate::broker::{FetchPartition, Isolation};
use crate::wire::Ctx;

/// The longest a fetch is held, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// The most one response carries, whatever the client asks (Kafka's fetch.max.bytes):
/// a response is built in memory, and a client's declared maximum is no bound.
const FETCH_MAX_BYTES: usize = 57_671_680;

/// UNKNOWN_TOPIC_ID: a v13+ fetch names a topic by an id no topic has.
const UNKNOWN_TOPIC_ID: i16 = 100;

pub async fn handle(ctx: &Ctx, req: FetchRequest, version: i16, _: &RequestHeader) -> Option<FetchResponse> {
    // v13+ name topics by id (Kafka 3.1+); an id no topic has fails its partitions alone.
    let names: Vec<Option<String>> = req
        .topics
        .iter()
        .map(|t| {
            if version >= 13 {
                ctx.broker.topic_by_id(t.topic_id.as_bytes()).ok().map(|topic| topic.name.clone())
            } else {
                Some(t.topic.0.to_string())
            }
        })
        .collect();
    let mut wanted = Vec::new();
    for (t, name) in req.topics.iter().zip(&names) {
        let Some(name) = name else { continue };
        for p in &t.partitions {
            wanted.push(FetchPartition {
                topic: name.clone(),
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            });
        }
    }
    let max_bytes = if req.max_bytes > 0 { (req.max_bytes as usize).min(FETCH_MAX_BYTES) } else { FETCH_MAX_BYTES };
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let isolation = if req.isolation_level == 1 { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
    let fetched = ctx.broker.fetch(&wanted, wait, req.min_bytes.max(0) as usize, max_bytes, isolation).await;
    let mut fetched = fetched.into_iter();
    let responses = req
        .topics
        .iter()
        .zip(&names)
        .map(|(t, name)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let data = PartitionData::default().with_partition_index(p.partition).with_preferred_read_replica((-1).into());
                    if name.is_none() {
                        return data.with_error_code(UNKNOWN_TOPIC_ID).with_high_watermark(-1).with_aborted_transactions(None);
                    }
                    match fetched.next().map(|f| f.result) {
                        Some(Ok(r)) => data
                            .with_high_watermark(r.high_watermark)
                            .with_last_stable_offset(r.last_stable_offset)
                            .with_aborted_transactions((isolation == Isolation::ReadCommitted).then(|| {
                                r.aborted
                                    .iter()
                                    .map(|a| AbortedTransaction::default().with_producer_id(a.producer_id.into()).with_first_offset(a.first_offset))
                                    .collect()
                            }))
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
            // From v13 the topic is its id alone: the name is not on the wire.
            FetchableTopicResponse::default().with_topic(t.topic.clone()).with_topic_id(t.topic_id).with_partitions(partitions)
        })
        .collect();
    Some(FetchResponse::default().with_session_id(0).with_responses(responses))
}
