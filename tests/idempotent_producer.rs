//! Kafka's idempotent producer in the core: a batch sent again is acknowledged with its
//! first offsets and not written twice, sequences must follow on, an older epoch is
//! fenced, and all of it survives a clean or an unclean restart.

use samsa::broker::{Broker, BrokerConfig, PartitionAppend};
use samsa::log::{Compression, ProducerStamp, Record};

fn records(values: &[&'static str]) -> Vec<Record<'static>> {
    values.iter().map(|v| Record { timestamp: 1, key: None, value: Some(v.as_bytes()), headers: &[] }).collect()
}

fn send(b: &Broker, stamp: ProducerStamp, values: &[&'static str]) -> samsa::Result<(i64, bool)> {
    let append = PartitionAppend { topic: "t", partition: 0, records: records(values), producer: Some(stamp) };
    let mut results = b.append_all(&[append], Compression::None)?;
    let r = results.remove(0)?;
    Ok((r.base_offset, r.duplicate))
}

fn high(b: &Broker) -> i64 {
    b.offsets("t").unwrap()[0].high
}

#[test]
fn duplicates_are_acknowledged_not_written_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let b = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    b.create_topic("t", 1, -1, &[], false).unwrap();
    let (pid, epoch) = b.init_producer_id().unwrap();
    let (other, _) = b.init_producer_id().unwrap();
    assert_ne!(pid, other, "every producer gets its own id");
    let at = |seq| ProducerStamp::idempotent(pid, epoch, seq);

    assert_eq!(send(&b, at(0), &["a", "b"]).unwrap(), (0, false));
    assert_eq!(send(&b, at(2), &["c"]).unwrap(), (2, false));
    // The same batch again (a retry after a lost answer): its first offsets, nothing new.
    assert_eq!(send(&b, at(0), &["a", "b"]).unwrap(), (0, true));
    assert_eq!(high(&b), 3);
    // A gap in the sequence is refused.
    let err = send(&b, at(7), &["x"]).unwrap_err();
    assert_eq!(err.kind(), "OUT_OF_ORDER_SEQUENCE_NUMBER");
    assert_eq!(err.code(), 45);

    // A clean restart keeps the state (snapshot)...
    b.close().unwrap();
    drop(b);
    let b = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    assert_eq!(send(&b, at(2), &["c"]).unwrap(), (2, true));
    assert_eq!(send(&b, at(3), &["d"]).unwrap(), (3, false));
    // ...and so does an unclean one (rebuilt from the batches' headers).
    drop(b);
    let b = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    assert!(!b.opened_clean());
    assert_eq!(send(&b, at(3), &["d"]).unwrap(), (3, true));
    assert_eq!(high(&b), 4);
    // A newer epoch of the same producer starts again at 0 and fences the older one.
    let newer = ProducerStamp::idempotent(pid, epoch + 1, 0);
    assert_eq!(send(&b, newer, &["e"]).unwrap(), (4, false));
    assert_eq!(send(&b, at(4), &["f"]).unwrap_err().kind(), "INVALID_PRODUCER_EPOCH");
    b.close().unwrap();
}

#[test]
fn producer_ids_are_not_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    let (first, _) = b.init_producer_id().unwrap();
    drop(b);
    let b = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    let (second, _) = b.init_producer_id().unwrap();
    assert!(second > first);
    b.close().unwrap();
}

#[test]
fn a_duplicate_is_recognised_after_the_segment_rolled() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::default();
    config.log.segment_bytes = 200;
    let b = Broker::open(dir.path(), config.clone()).unwrap();
    b.create_topic("t", 1, -1, &[], false).unwrap();
    let (pid, epoch) = b.init_producer_id().unwrap();
    let at = |seq| ProducerStamp::idempotent(pid, epoch, seq);
    for i in 0..10 {
        assert_eq!(send(&b, at(i), &["0123456789012345678901234567890123456789"]).unwrap(), (i as i64, false));
    }
    drop(b); // unclean
    let b = Broker::open(dir.path(), config).unwrap();
    assert_eq!(send(&b, at(9), &["0123456789012345678901234567890123456789"]).unwrap(), (9, true));
    assert_eq!(send(&b, at(10), &["x"]).unwrap(), (10, false));
    b.close().unwrap();
}
