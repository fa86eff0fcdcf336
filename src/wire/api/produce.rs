//! Produce and InitProducerId. Batches are stored as the client sent them (compressed
//! ones stay compressed), after their CRC, size and idempotent sequence are checked; only
//! their base offsets change. acks=0 gets no reply at all.

use kafka_protocol::messages::produce_response::{BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;

use super::str_bytes;
use crate::error::Error;
use crate::wire::Ctx;

/// INVALID_REQUIRED_ACKS
const INVALID_REQUIRED_ACKS: i16 = 21;
/// INVALID_REQUEST
const INVALID_REQUEST: i16 = 42;

pub async fn handle(ctx: &Ctx, req: ProduceRequest, version: i16, _: &RequestHeader) -> Option<ProduceResponse> {
    // Fields newer than the request's version must stay at their defaults.
    let message = |m: String| (version >= 8).then(|| str_bytes(m));
    let b = &ctx.broker;
    let refuse = |why: i16, message: &str| {
        let responses = req
            .topic_data
            .iter()
            .map(|t| {
                TopicProduceResponse::default().with_name(t.name.clone()).with_partition_responses(
                    t.partition_data
                        .iter()
                        .map(|p| {
                            PartitionProduceResponse::default()
                                .with_index(p.index)
                                .with_error_code(why)
                                .with_base_offset(-1)
                                .with_error_message((version >= 8).then(|| str_bytes(message)))
                        })
                        .collect(),
                )
            })
            .collect();
        ProduceResponse::default().with_responses(responses)
    };
    if !matches!(req.acks, -1..=1) {
        return Some(refuse(INVALID_REQUIRED_ACKS, "acks must be -1, 0 or 1"));
    }
    if req.transactional_id.is_some() && req.acks != -1 {
        return (req.acks != 0).then(|| refuse(INVALID_REQUIRED_ACKS, "a transactional producer must use acks=all (-1)"));
    }
    let mut appends = Vec::new();
    for t in &req.topic_data {
        let topic = t.name.0.to_string();
        for p in &t.partition_data {
            let batches = match &p.records {
                None => Err(Error::InvalidRecord("a produce request for a partition carried no records".into())),
                // Checking a compressed batch expands it (up to 64 MiB at the default
                // limit): under one of the process's few permits to expand, waited for
                // without a thread, then off the thread that serves other connections'
                // requests. Uncompressed batches never wait for one.
                Some(bytes) if is_compressed(bytes) => {
                    let permit = crate::log::expansions::acquire().await;
                    tokio::task::block_in_place(|| permit.run(|| b.client_batches(&topic, p.index, bytes.to_vec())))
                }
                Some(bytes) => b.client_batches(&topic, p.index, bytes.to_vec()),
            };
            appends.push((topic.clone(), p.index, batches));
        }
    }
    // samsa's own producer in another process adds partitions to its transaction as it
    // sends (as in the owner's process); any other client calls AddPartitionsToTxn first.
    let implicit_add = ctx.samsa_peers() && req.transactional_id.is_some();
    let results = if implicit_add { tokio::task::block_in_place(|| b.produce_batches(appends, true)) } else { b.produce_batches(appends, false) };
    if req.acks == 0 {
        return None;
    }
    // Durable means fsynced when the broker fsyncs: answer after the group commit.
    let mut synced = Ok(());
    if b.config().fsync && results.iter().any(|r| r.as_ref().is_ok_and(|r| !r.duplicate)) {
        synced = match b.sync().await {
            Ok(r) => r,
            Err(_) => Err(Error::Closed),
        };
    }
    let mut results = results.into_iter();
    let responses = req
        .topic_data
        .iter()
        .map(|t| {
            let partitions = t
                .partition_data
                .iter()
                .map(|p| {
                    let resp = PartitionProduceResponse::default().with_index(p.index).with_log_append_time_ms(-1);
                    let failed = |e: &Error| {
                        let resp = PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(ctx.code(e))
                            .with_base_offset(-1)
                            .with_log_start_offset(-1)
                            .with_error_message(message(e.to_string()));
                        match e {
                            // KIP-467: the records refused, each with why (v8+), and the
                            // partition's real log start, as Kafka answers.
                            Error::InvalidTimestamp { records, .. } | Error::InvalidRecords(records) => {
                                let log_start = b.partition(&t.name.0, p.index).map_or(-1, |part| part.log().log_start_offset());
                                let resp = resp.with_log_start_offset(if version >= 5 { log_start } else { -1 });
                                if version < 8 {
                                    return resp;
                                }
                                resp.with_record_errors(
                                    records
                                        .iter()
                                        .map(|r| BatchIndexAndErrorMessage::default().with_batch_index(r.batch_index).with_batch_index_error_message(Some(str_bytes(r.message.clone()))))
                                        .collect(),
                                )
                            }
                            _ => resp,
                        }
                    };
                    match (results.next(), &synced) {
                        (Some(Ok(r)), Ok(())) => resp
                            .with_base_offset(r.base_offset)
                            .with_log_append_time_ms(r.log_append_time_ms)
                            .with_log_start_offset(if version >= 5 { r.log_start_offset } else { -1 }),
                        (Some(Ok(_)), Err(e)) => failed(e),
                        (Some(Err(e)), _) => failed(&e),
                        (None, _) => failed(&Error::Closed),
                    }
                })
                .collect();
            TopicProduceResponse::default().with_name(t.name.clone()).with_partition_responses(partitions)
        })
        .collect();
    Some(ProduceResponse::default().with_responses(responses))
}

/// Whether any batch of a partition's records is compressed (its attributes' codec), as
/// far as their lengths can be followed.
fn is_compressed(records: &[u8]) -> bool {
    let mut pos = 0;
    while let Some(h) = records.get(pos..).and_then(crate::log::batch::BatchHeader::parse) {
        if h.compression() != 0 {
            return true;
        }
        pos += h.total_size().max(crate::log::batch::HEADER_LEN);
    }
    false
}

/// InitProducerId: a new producer id at epoch 0, or, for a producer that gives its id
/// and epoch (KIP-360), the same id at the next epoch. With a transactional id, the id's
/// producer at a new epoch, fencing older ones (see `Broker::init_transactional_producer`).
pub async fn init_producer_id(ctx: &Ctx, req: InitProducerIdRequest, version: i16, _: &RequestHeader) -> Option<InitProducerIdResponse> {
    let resp = InitProducerIdResponse::default();
    if (req.producer_id.0 == -1) != (req.producer_epoch == -1) {
        return Some(resp.with_error_code(INVALID_REQUEST).with_producer_id((-1).into()).with_producer_epoch(-1));
    }
    if let Some(id) = &req.transactional_id {
        let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
        let r = tokio::task::block_in_place(|| ctx.broker.init_transactional_producer(id, req.transaction_timeout_ms, expected));
        return Some(match r {
            Ok((pid, epoch)) => resp.with_producer_id(pid.into()).with_producer_epoch(epoch),
            Err(e) => {
                // PRODUCER_FENCED is known from v4; older clients are told INVALID_PRODUCER_EPOCH.
                let code = if matches!(e, Error::ProducerFenced(_)) && version < 4 { 47 } else { ctx.code(&e) };
                resp.with_error_code(code).with_producer_id((-1).into()).with_producer_epoch(-1)
            }
        });
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return Some(resp.with_producer_id(req.producer_id).with_producer_epoch(req.producer_epoch + 1));
    }
    Some(match ctx.broker.init_producer_id() {
        Ok((id, epoch)) => resp.with_producer_id(id.into()).with_producer_epoch(epoch),
        Err(e) => resp.with_error_code(ctx.code(&e)).with_producer_id((-1).into()).with_producer_epoch(-1),
    })
}
