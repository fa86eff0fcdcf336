//! The transaction APIs at the protocol level, at the versions clients send: the errors a
//! fenced or unknown producer gets (PRODUCER_FENCED as INVALID_PRODUCER_EPOCH below the
//! versions that know it), a transactional batch refused for a partition not in the
//! transaction, Fetch's and ListOffsets' isolation levels, OffsetFetch's RequireStable, and
//! the admin tools' DescribeTransactions and ListTransactions.

mod common;

use common::wire::{serve, Client};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use samsa::broker::BrokerConfig;
use samsa::log::batch;
use samsa::log::{Compression, ProducerStamp, Record};

const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn txn_id(s: &str) -> TransactionalId {
    TransactionalId(sb(s))
}

fn init(c: &mut Client, id: &str, version: i16) -> InitProducerIdResponse {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    c.call(&req, version)
}

fn add_partitions(c: &mut Client, id: &str, pid: i64, epoch: i16, topic: &str, partitions: Vec<i32>, version: i16) -> Vec<i16> {
    let t = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default().with_name(TopicName(sb(topic))).with_partitions(partitions);
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![t]);
    let resp = c.call(&req, version);
    resp.results_by_topic_v3_and_below.iter().flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code)).collect()
}

fn end(c: &mut Client, id: &str, pid: i64, epoch: i16, commit: bool, version: i16) -> i16 {
    let req = EndTxnRequest::default().with_transactional_id(txn_id(id)).with_producer_id(ProducerId(pid)).with_producer_epoch(epoch).with_committed(commit);
    c.call(&req, version).error_code
}

fn produce(c: &mut Client, id: &str, pid: i64, epoch: i16, seq: i32, value: &'static str) -> i16 {
    let mut records = Vec::new();
    let r = Record { timestamp: 1, key: None, value: Some(value.as_bytes()), headers: &[] };
    let stamp = ProducerStamp { producer_id: pid, epoch, base_sequence: seq, transactional: true };
    batch::encode_batch(&mut records, 0, &[r], Compression::None, Some(stamp)).unwrap();
    let p = produce_request::PartitionProduceData::default().with_index(0).with_records(Some(records.into()));
    let t = produce_request::TopicProduceData::default().with_name(TopicName(sb("t"))).with_partition_data(vec![p]);
    let req = ProduceRequest::default().with_transactional_id(Some(txn_id(id))).with_acks(-1).with_timeout_ms(5000).with_topic_data(vec![t]);
    c.call(&req, 7).responses[0].partition_responses[0].error_code
}

fn latest(c: &mut Client, isolation: i8) -> i64 {
    let p = list_offsets_request::ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1);
    let t = list_offsets_request::ListOffsetsTopic::default().with_name(TopicName(sb("t"))).with_partitions(vec![p]);
    let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(isolation).with_topics(vec![t]);
    c.call(&req, 5).topics[0].partitions[0].offset
}

fn fetch(c: &mut Client, isolation: i8) -> fetch_response::PartitionData {
    let p = fetch_request::FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20).with_log_start_offset(-1);
    let t = fetch_request::FetchTopic::default().with_topic(TopicName(sb("t"))).with_partitions(vec![p]);
    let req = FetchRequest::default().with_replica_id(BrokerId(-1)).with_max_wait_ms(0).with_min_bytes(0).with_max_bytes(1 << 20).with_isolation_level(isolation).with_topics(vec![t]);
    c.call(&req, 11).responses.remove(0).partitions.remove(0)
}

#[test]
fn the_transaction_apis_answer_as_kafka_does() {
    let s = serve(BrokerConfig::default());
    s.broker.create_topic("t", 1, -1, &[], false).unwrap();
    let mut c = Client::connect(&s.listener);

    // A timeout above transaction.max.timeout.ms is refused.
    let req = InitProducerIdRequest::default().with_transactional_id(Some(txn_id("tx"))).with_transaction_timeout_ms(16 * 60_000).with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    assert_eq!(c.call(&req, 1).error_code, INVALID_TRANSACTION_TIMEOUT);

    let first = init(&mut c, "tx", 1);
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    let pid = first.producer_id.0;
    // Unknown partitions fail the request and nothing is added; the others are not attempted.
    let t = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default().with_name(TopicName(sb("t"))).with_partitions(vec![0, 9]);
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id("tx"))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(0)
        .with_v3_and_below_topics(vec![t]);
    let codes: Vec<i16> = c.call(&req, 1).results_by_topic_v3_and_below[0].results_by_partition.iter().map(|p| p.partition_error_code).collect();
    assert_eq!(codes, vec![55, 3]);
    // A transactional batch for a partition not in the transaction is refused.
    assert_eq!(produce(&mut c, "tx", pid, 0, 0, "early"), INVALID_TXN_STATE);
    assert_eq!(add_partitions(&mut c, "tx", pid, 0, "t", vec![0], 1), vec![0]);
    assert_eq!(produce(&mut c, "tx", pid, 0, 0, "a"), 0);

    // Open: read committed stops before it, read uncommitted sees it.
    assert_eq!(latest(&mut c, 1), 0);
    assert_eq!(latest(&mut c, 0), 1);
    let rc = fetch(&mut c, 1);
    assert_eq!((rc.high_watermark, rc.last_stable_offset), (1, 0));
    assert!(rc.records.as_ref().is_none_or(|r| r.is_empty()));
    assert_eq!(rc.aborted_transactions, Some(vec![]));
    let ru = fetch(&mut c, 0);
    assert!(ru.records.as_ref().is_some_and(|r| !r.is_empty()));
    assert_eq!(ru.aborted_transactions, None);

    // Offsets sent to the transaction are unstable until it ends.
    let req = AddOffsetsToTxnRequest::default().with_transactional_id(txn_id("tx")).with_producer_id(ProducerId(pid)).with_producer_epoch(0).with_group_id(GroupId(sb("g")));
    assert_eq!(c.call(&req, 1).error_code, 0);
    let p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(1).with_committed_leader_epoch(-1);
    let t = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default().with_name(TopicName(sb("t"))).with_partitions(vec![p]);
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(txn_id("tx"))
        .with_group_id(GroupId(sb("g")))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(0)
        .with_generation_id(-1)
        .with_member_id(sb(""))
        .with_topics(vec![t]);
    assert_eq!(c.call(&req, 3).topics[0].partitions[0].error_code, 0);
    let t = offset_fetch_request::OffsetFetchRequestTopic::default().with_name(TopicName(sb("t"))).with_partition_indexes(vec![0]);
    let req = OffsetFetchRequest::default().with_group_id(GroupId(sb("g"))).with_topics(Some(vec![t])).with_require_stable(true);
    assert_eq!(c.call(&req, 7).topics[0].partitions[0].error_code, UNSTABLE_OFFSET_COMMIT);

    // The admin tools see it.
    let described = c.call(&DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id("tx"), txn_id("nope")]), 0);
    let tx = &described.transaction_states[0];
    assert_eq!((tx.error_code, tx.transaction_state.as_str(), tx.producer_id.0), (0, "Ongoing", pid));
    assert_eq!(tx.topics[0].partitions, vec![0]);
    assert_eq!(described.transaction_states[1].error_code, TRANSACTIONAL_ID_NOT_FOUND);
    let listed = c.call(&ListTransactionsRequest::default().with_state_filters(vec![sb("Ongoing"), sb("Bogus")]), 1);
    assert_eq!(listed.transaction_states.len(), 1);
    assert_eq!(listed.unknown_state_filters, vec![sb("Bogus")]);

    // A new producer of the id fences this one: kafkajs's versions hear INVALID_PRODUCER_EPOCH,
    // newer ones PRODUCER_FENCED; an unknown id is an unknown mapping.
    let second = init(&mut c, "tx", 4);
    assert!(second.producer_epoch > 0);
    assert_eq!(end(&mut c, "tx", pid, 0, true, 1), INVALID_PRODUCER_EPOCH);
    assert_eq!(end(&mut c, "tx", pid, 0, true, 3), PRODUCER_FENCED);
    assert_eq!(produce(&mut c, "tx", pid, 0, 1, "zombie"), INVALID_PRODUCER_EPOCH);
    assert_eq!(end(&mut c, "unknown", pid, 0, true, 1), INVALID_PRODUCER_ID_MAPPING);
    // The fenced transaction was aborted: the stable offset moved past it, and it is listed.
    assert_eq!(latest(&mut c, 1), 2);
    let rc = fetch(&mut c, 1);
    let aborted = rc.aborted_transactions.unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id.0, aborted[0].first_offset), (pid, 0));
    let req = OffsetFetchRequest::default().with_group_id(GroupId(sb("g"))).with_topics(None).with_require_stable(true);
    let resp = c.call(&req, 7);
    assert!(resp.topics.is_empty(), "the aborted transaction's offsets were dropped");
}
