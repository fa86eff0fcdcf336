//! The transaction APIs (KIP-98), transactions v1 as every client speaks it:
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, and the admin tools'
//! DescribeTransactions and ListTransactions. InitProducerId with a transactional id is in
//! `produce.rs`, beside the idempotent one. Each runs off the connection's thread: ending
//! a transaction writes markers and its state durably.

use kafka_protocol::messages::add_partitions_to_txn_response::{AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult};
use kafka_protocol::messages::txn_offset_commit_response::{TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic};
use kafka_protocol::messages::*;

use super::{str_bytes, topic_name};
use crate::error::Error;
use crate::group::Committed;
use crate::wire::Ctx;

/// OPERATION_NOT_ATTEMPTED: another partition of the request failed, so none was added.
const OPERATION_NOT_ATTEMPTED: i16 = 55;
/// INVALID_PRODUCER_EPOCH, what clients older than PRODUCER_FENCED are told instead.
const INVALID_PRODUCER_EPOCH: i16 = 47;

/// The code for `e` at a request version that knows PRODUCER_FENCED from `fenced_from` on:
/// below it Kafka answers INVALID_PRODUCER_EPOCH (kafkajs, which sends v1, sees that).
fn code(ctx: &Ctx, e: &Error, version: i16, fenced_from: i16) -> i16 {
    match e {
        Error::ProducerFenced(_) if version < fenced_from => INVALID_PRODUCER_EPOCH,
        _ => ctx.code(e),
    }
}

pub async fn add_partitions(ctx: &Ctx, req: AddPartitionsToTxnRequest, version: i16, _: &RequestHeader) -> Option<AddPartitionsToTxnResponse> {
    if version >= 4 {
        // v4+ is the brokers' own (VerifyOnly): one broker never sends it.
        return Some(AddPartitionsToTxnResponse::default().with_error_code(ctx.code(&Error::InvalidRequest(String::new()))));
    }
    let partitions: Vec<(String, i32)> =
        req.v3_and_below_topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p))).collect();
    let unknown: Vec<bool> = partitions.iter().map(|(t, p)| !ctx.broker.has_partition(t, *p)).collect();
    let result = if unknown.iter().any(|u| *u) {
        None
    } else {
        let (id, pid, epoch) = (req.v3_and_below_transactional_id.0.to_string(), req.v3_and_below_producer_id.0, req.v3_and_below_producer_epoch);
        Some(tokio::task::block_in_place(|| ctx.broker.add_partitions_to_txn(&id, pid, epoch, &partitions)))
    };
    let mut i = 0;
    let topics = req
        .v3_and_below_topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|p| {
                    let error = match &result {
                        Some(Ok(())) => 0,
                        Some(Err(e)) => code(ctx, e, version, 2),
                        None if unknown[i] => ctx.code(&Error::UnknownTopicOrPartition { topic: t.name.0.to_string(), partition: Some(*p) }),
                        None => OPERATION_NOT_ATTEMPTED,
                    };
                    i += 1;
                    AddPartitionsToTxnPartitionResult::default().with_partition_index(*p).with_partition_error_code(error)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default().with_name(t.name.clone()).with_results_by_partition(results)
        })
        .collect();
    Some(AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics))
}

pub async fn add_offsets(ctx: &Ctx, req: AddOffsetsToTxnRequest, version: i16, _: &RequestHeader) -> Option<AddOffsetsToTxnResponse> {
    let r = tokio::task::block_in_place(|| {
        ctx.broker.add_offsets_to_txn(&req.transactional_id.0, req.producer_id.0, req.producer_epoch, &req.group_id.0)
    });
    Some(AddOffsetsToTxnResponse::default().with_error_code(r.err().map_or(0, |e| code(ctx, &e, version, 2))))
}

pub async fn txn_offset_commit(ctx: &Ctx, req: TxnOffsetCommitRequest, version: i16, _: &RequestHeader) -> Option<TxnOffsetCommitResponse> {
    let offsets: Vec<(String, i32, Committed)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let c = Committed {
                    offset: p.committed_offset,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    leader_epoch: (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
                };
                (t.name.0.to_string(), p.partition_index, c)
            })
        })
        .collect();
    let r = tokio::task::block_in_place(|| {
        ctx.broker.txn_offset_commit(&req.transactional_id.0, &req.group_id.0, req.producer_id.0, req.producer_epoch, &offsets)
    });
    // One error for every partition, as the whole commit is taken or refused together;
    // an unknown partition names itself.
    let error_for = |topic: &str, partition: i32| match &r {
        Ok(()) => 0,
        Err(Error::UnknownTopicOrPartition { topic: t, partition: Some(p) }) if (t.as_str(), *p) != (topic, partition) => OPERATION_NOT_ATTEMPTED,
        Err(e) => code(ctx, e, version, i16::MAX),
    };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| TxnOffsetCommitResponsePartition::default().with_partition_index(p.partition_index).with_error_code(error_for(&t.name.0, p.partition_index)))
                .collect();
            TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    Some(TxnOffsetCommitResponse::default().with_topics(topics))
}

pub async fn end(ctx: &Ctx, req: EndTxnRequest, version: i16, _: &RequestHeader) -> Option<EndTxnResponse> {
    let r = tokio::task::block_in_place(|| {
        ctx.broker.end_txn(&req.transactional_id.0, req.producer_id.0, req.producer_epoch, req.committed)
    });
    // Durable means fsynced when the broker fsyncs: the markers too, before the answer.
    let r = match r {
        Ok(()) if ctx.broker.config().fsync => match ctx.broker.sync().await {
            Ok(synced) => synced,
            Err(_) => Err(Error::Closed),
        },
        other => other,
    };
    Some(EndTxnResponse::default().with_error_code(r.err().map_or(0, |e| code(ctx, &e, version, 2))))
}

pub async fn describe(ctx: &Ctx, req: DescribeTransactionsRequest, _: i16, _: &RequestHeader) -> Option<DescribeTransactionsResponse> {
    use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
    let states = req
        .transactional_ids
        .iter()
        .map(|id| {
            let state = TransactionState::default().with_transactional_id(id.clone());
            match ctx.broker.describe_transaction(&id.0) {
                Ok(m) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for (t, p) in &m.partitions {
                        match topics.last_mut() {
                            Some(last) if last.topic.0.as_str() == t => last.partitions.push(*p),
                            _ => topics.push(TopicData::default().with_topic(topic_name(t)).with_partitions(vec![*p])),
                        }
                    }
                    state
                        .with_transaction_state(str_bytes(m.state.name()))
                        .with_transaction_timeout_ms(m.timeout_ms)
                        .with_transaction_start_time_ms(m.started_ms)
                        .with_producer_id(m.producer_id.into())
                        .with_producer_epoch(m.epoch)
                        .with_topics(topics)
                }
                Err(e) => state.with_error_code(ctx.code(&e)).with_transaction_state(str_bytes("")).with_producer_id((-1).into()).with_producer_epoch(-1),
            }
        })
        .collect();
    Some(DescribeTransactionsResponse::default().with_transaction_states(states))
}

pub async fn list(ctx: &Ctx, req: ListTransactionsRequest, version: i16, _: &RequestHeader) -> Option<ListTransactionsResponse> {
    use kafka_protocol::messages::list_transactions_response::TransactionState;
    const STATES: [&str; 6] = ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort"];
    let unknown: Vec<_> = req.state_filters.iter().filter(|s| !STATES.contains(&s.as_str())).cloned().collect();
    let now = crate::broker::now_ms();
    let states = ctx
        .broker
        .transactions()
        .into_iter()
        .filter(|m| req.state_filters.is_empty() || req.state_filters.iter().any(|s| s.as_str() == m.state.name()))
        .filter(|m| req.producer_id_filters.is_empty() || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id))
        // v1: only transactions running longer than the duration (-1: no filter).
        .filter(|m| version < 1 || req.duration_filter < 0 || (m.started_ms >= 0 && now - m.started_ms > req.duration_filter))
        .map(|m| {
            TransactionState::default()
                .with_transactional_id(kafka_protocol::messages::TransactionalId(str_bytes(m.id)))
                .with_producer_id(m.producer_id.into())
                .with_transaction_state(str_bytes(m.state.name()))
        })
        .collect();
    Some(ListTransactionsResponse::default().with_unknown_state_filters(unknown).with_transaction_states(states))
}
