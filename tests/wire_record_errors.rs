//! Records as Kafka 4 validates them, through both doors: a batch with records too far
//! ahead (or behind) of the `message.timestamp.*` window is refused whole,
//! INVALID_TIMESTAMP with each bad record listed (KIP-467 record_errors, Produce v8+); a
//! batch with a record without a key on a compacted topic is refused whole, INVALID_RECORD
//! with each such record listed; a LogAppendTime topic stamps each batch with the broker's
//! clock.

mod common;

use common::wire::{sb, serve, Client};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use samsa::broker::{now_ms, BrokerConfig, PartitionAppend};
use samsa::log::batch::{encode_batch, for_each_record, verify, Compression, Record};

const HOUR: i64 = 3_600_000;

fn batch(timestamps: &[i64]) -> Vec<u8> {
    let records: Vec<Record<'_>> = timestamps.iter().map(|&t| Record { timestamp: t, key: None, value: Some(b"v"), headers: &[] }).collect();
    let mut out = Vec::new();
    encode_batch(&mut out, 0, &records, Compression::None, None).unwrap();
    out
}

fn produce(c: &mut Client, topic: &str, records: Vec<u8>, version: i16) -> produce_response::PartitionProduceResponse {
    let data = TopicProduceData::default()
        .with_name(TopicName(sb(topic)))
        .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(bytes::Bytes::from(records)))]);
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(5000).with_topic_data(vec![data]);
    c.call(&req, version).responses.remove(0).partition_responses.remove(0)
}

#[test]
fn records_out_of_the_window_fail_their_batch_with_record_errors() {
    let s = serve(BrokerConfig::default());
    s.broker.create_topic("t", 1, 1, &[], false).unwrap();
    let mut c = Client::connect(&s.listener);
    let now = now_ms();
    // Kafka 4's default window: any age, at most an hour ahead.
    let p = produce(&mut c, "t", batch(&[now, now + 2 * HOUR, now - 1000 * HOUR, now + 3 * HOUR]), 9);
    assert_eq!(p.error_code, 32, "INVALID_TIMESTAMP");
    assert_eq!(p.error_message.as_deref(), Some("One or more records have been rejected due to invalid timestamp"));
    let bad: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(bad, [1, 3]);
    assert!(p.record_errors[0].batch_index_error_message.as_ref().unwrap().contains("with offset 1 is out of range"));
    assert_eq!((p.base_offset, p.log_start_offset), (-1, 0));
    assert_eq!(s.broker.offsets("t").unwrap()[0].high, 0, "nothing of the batch was stored");
    // Before v8 the code alone.
    assert_eq!(produce(&mut c, "t", batch(&[now + 2 * HOUR]), 7).error_code, 32);
    assert_eq!(produce(&mut c, "t", batch(&[now, now - 1000 * HOUR]), 9).error_code, 0);

    // A tighter window set on the topic; the in-process door refuses the same records.
    let tight = [("message.timestamp.before.max.ms".to_string(), "60000".to_string())];
    s.broker.create_topic("tight", 1, 1, &tight, false).unwrap();
    assert_eq!(produce(&mut c, "tight", batch(&[now - 120_000]), 9).record_errors.len(), 1);
    let records = [Record { timestamp: now, key: None, value: Some(b"ok"), headers: &[] }, Record { timestamp: now - 120_000, key: None, value: Some(b"old"), headers: &[] }];
    let append = PartitionAppend { topic: "tight", partition: 0, records: records.to_vec(), producer: None };
    let results = s.broker.append_all(&[append], Compression::None).unwrap();
    match &results[0] {
        Err(samsa::Error::InvalidTimestamp { records, .. }) => assert_eq!(records.iter().map(|r| r.batch_index).collect::<Vec<_>>(), [1]),
        other => panic!("refused in process too: {:?}", other.as_ref().map(|r| r.base_offset)),
    }
    assert_eq!(s.broker.offsets("tight").unwrap()[0].high, 0);
}

#[test]
fn a_log_append_time_topic_stamps_batches_with_the_broker_clock() {
    let s = serve(BrokerConfig::default());
    let lat = [("message.timestamp.type".to_string(), "LogAppendTime".to_string())];
    s.broker.create_topic("stamped", 1, 1, &lat, false).unwrap();
    s.broker.create_topic("created", 1, 1, &[], false).unwrap();
    let mut c = Client::connect(&s.listener);
    let before = now_ms();
    // Any timestamp is taken: the broker's replaces it.
    let p = produce(&mut c, "stamped", batch(&[1000, before + 10 * HOUR]), 9);
    assert_eq!(p.error_code, 0);
    assert!(p.log_append_time_ms >= before && p.log_append_time_ms <= now_ms(), "{}", p.log_append_time_ms);
    let stored = s.broker.read("stamped", 0, 0, 1 << 20).unwrap().bytes;
    let h = verify(&stored).expect("the CRC matches the stamped batch");
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, p.log_append_time_ms);
    let mut seen = Vec::new();
    for_each_record(&stored, &mut Vec::new(), |r| seen.push(r.timestamp)).unwrap();
    assert_eq!(seen, [p.log_append_time_ms; 2]);

    // In process too.
    let records = [Record { timestamp: 5, key: None, value: Some(b"x"), headers: &[] }];
    let r = s.broker.append_all(&[PartitionAppend { topic: "stamped", partition: 0, records: records.to_vec(), producer: None }], Compression::None).unwrap();
    assert!(r[0].as_ref().unwrap().log_append_time_ms >= before);

    // A CreateTime topic refuses a batch that claims LogAppendTime.
    let p = produce(&mut c, "created", stored[..h.total_size()].to_vec(), 9);
    assert_eq!(p.error_code, 32);
    assert!(p.record_errors.is_empty());
    // And answers -1 for the append time.
    assert_eq!(produce(&mut c, "created", batch(&[before]), 9).log_append_time_ms, -1);
}

/// A batch of records with these keys (None: no key) and values (None: a tombstone).
fn keyed_batch(records: &[(Option<&[u8]>, Option<&[u8]>)], codec: Compression) -> Vec<u8> {
    let now = now_ms();
    let records: Vec<Record<'_>> = records.iter().map(|&(key, value)| Record { timestamp: now, key, value, headers: &[] }).collect();
    let mut out = Vec::new();
    encode_batch(&mut out, 0, &records, codec, None).unwrap();
    out
}

#[test]
fn a_compacted_topic_refuses_a_batch_with_a_record_without_a_key() {
    let s = serve(BrokerConfig::default());
    let compact = [("cleanup.policy".to_string(), "compact".to_string())];
    s.broker.create_topic("table", 1, 1, &compact, false).unwrap();
    let mut c = Client::connect(&s.listener);
    let keyless_second: &[(Option<&[u8]>, Option<&[u8]>)] = &[(Some(b"a"), Some(b"1")), (None, Some(b"2")), (Some(b"b"), Some(b"3"))];
    for codec in [Compression::None, Compression::Gzip] {
        let p = produce(&mut c, "table", keyed_batch(keyless_second, codec), 9);
        assert_eq!(p.error_code, 87, "INVALID_RECORD ({codec:?})");
        let message = "Compacted topic cannot accept message without key in topic partition table-0";
        let listed: Vec<(i32, Option<&str>)> = p.record_errors.iter().map(|e| (e.batch_index, e.batch_index_error_message.as_deref())).collect();
        assert_eq!(listed, [(1, Some(message))], "{codec:?}");
        assert_eq!(
            p.error_message.as_deref(),
            Some(format!("One or more records have been rejected due to 1 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=1, message='{message}')]").as_str())
        );
        assert_eq!((p.base_offset, p.log_start_offset), (-1, 0));
        // Before v8 the code alone.
        assert_eq!(produce(&mut c, "table", keyed_batch(keyless_second, codec), 7).error_code, 87);
    }
    assert_eq!(s.broker.offsets("table").unwrap()[0].high, 0, "nothing of the batches was stored");

    // A tombstone has a key: it is taken, compressed or not.
    let p = produce(&mut c, "table", keyed_batch(&[(Some(b"a"), Some(b"1")), (Some(b"a"), None)], Compression::None), 9);
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let p = produce(&mut c, "table", keyed_batch(&[(Some(b"b"), None)], Compression::Gzip), 9);
    assert_eq!((p.error_code, p.base_offset), (0, 2));

    // A record refused for its timestamp makes the partition's error INVALID_TIMESTAMP, as
    // in Kafka, with the keyless record listed too.
    let records = [Record { timestamp: now_ms(), key: None, value: Some(b"x"), headers: &[] }, Record { timestamp: now_ms() + 2 * HOUR, key: Some(b"k"), value: Some(b"y"), headers: &[] }];
    let mut both = Vec::new();
    encode_batch(&mut both, 0, &records, Compression::None, None).unwrap();
    let p = produce(&mut c, "table", both, 9);
    assert_eq!(p.error_code, 32);
    assert_eq!(p.record_errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(), [0, 1]);

    // The in-process door refuses the same records.
    let now = now_ms();
    let records = [Record { timestamp: now, key: Some(b"a"), value: Some(b"1"), headers: &[] }, Record { timestamp: now, key: None, value: Some(b"2"), headers: &[] }];
    let results = s.broker.append_all(&[PartitionAppend { topic: "table", partition: 0, records: records.to_vec(), producer: None }], Compression::None).unwrap();
    match &results[0] {
        Err(e @ samsa::Error::InvalidRecords(records)) => {
            assert_eq!(records.iter().map(|r| r.batch_index).collect::<Vec<_>>(), [1]);
            assert_eq!((e.code(), e.kind()), (87, "INVALID_RECORD"));
        }
        other => panic!("refused in process too: {:?}", other.as_ref().map(|r| r.base_offset)),
    }
    assert_eq!(s.broker.offsets("table").unwrap()[0].high, 3);

    // A topic that is not compacted takes records without keys.
    s.broker.create_topic("plain", 1, 1, &[], false).unwrap();
    assert_eq!(produce(&mut c, "plain", keyed_batch(keyless_second, Compression::Gzip), 9).error_code, 0);
}
