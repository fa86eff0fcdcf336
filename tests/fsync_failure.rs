//! A failed fsync is not forgotten: the broker refuses every later write until it is
//! reopened, writes no clean-shutdown marker, and the next open recovers.

use samsa::broker::{Broker, BrokerConfig, PartitionAppend};
use samsa::log::{Compression, Record};

fn append(b: &Broker, value: &'static str) -> samsa::Result<i64> {
    let records = vec![Record { timestamp: 1, key: None, value: Some(value.as_bytes()), headers: &[] }];
    let r = b.append_all(&[PartitionAppend { topic: "t", partition: 0, records, producer: None }], Compression::None)?;
    r.into_iter().next().expect("one result").map(|r| r.base_offset)
}

fn wait_sync(b: &Broker) -> samsa::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(b.sync())
        .expect("the syncer answers")
}

#[test]
fn after_a_failed_fsync_writes_are_refused_and_the_stop_is_unclean() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig { fsync: true, ..BrokerConfig::default() };
    let b = Broker::open(dir.path(), config.clone()).unwrap();
    b.create_topic("t", 1, -1, &[], false).unwrap();
    append(&b, "synced").unwrap();
    wait_sync(&b).unwrap();

    append(&b, "maybe lost").unwrap();
    b.inject_fsync_failures(1);
    let err = wait_sync(&b).unwrap_err();
    assert_eq!(err.kind(), "KAFKA_STORAGE_ERROR");
    assert!(err.to_string().contains("fsync"), "{err}");
    // The failure is not forgotten: the next round does not report success...
    let err = wait_sync(&b).unwrap_err();
    assert_eq!(err.kind(), "KAFKA_STORAGE_ERROR");
    // ...and every write is refused until the broker is reopened.
    let err = append(&b, "refused").unwrap_err();
    assert_eq!(err.kind(), "KAFKA_STORAGE_ERROR");
    assert!(!err.retriable());
    assert!(err.to_string().contains("reopen"), "{err}");
    assert!(b.create_topic("u", 1, -1, &[], false).is_err());
    // Closing reports it and leaves no clean-shutdown marker.
    assert!(b.close().is_err());
    assert!(!dir.path().join(".clean-shutdown").exists());
    drop(b);

    let b = Broker::open(dir.path(), config).unwrap();
    assert!(!b.opened_clean(), "the next open recovers");
    assert_eq!(b.offsets("t").unwrap()[0].high, 2);
    assert_eq!(append(&b, "after").unwrap(), 2);
    wait_sync(&b).unwrap();
    b.close().unwrap();
}
