//! One process owns a data directory: a second open is refused with an error that names
//! the holder, and the lock is released on close.

use samsa::broker::{Broker, BrokerConfig, ConfigResource, ConfigSource, DescribeOptions};

#[test]
fn a_second_open_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    let err = Broker::open(dir.path(), BrokerConfig::default()).err().expect("locked");
    assert_eq!(err.kind(), "DATA_DIR_LOCKED");
    assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
    first.close().unwrap();
    let again = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    assert!(again.opened_clean());
    again.close().unwrap();
}

#[test]
fn topics_and_configs_persist() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
        b.create_topic("rider-updates", 4, 1, &[("retention.ms".into(), "3600000".into())], false).unwrap();
        assert_eq!(b.create_topic("rider-updates", 4, 1, &[], false).unwrap_err().code(), 36);
        assert_eq!(b.create_topic("bad name", 1, 1, &[], false).unwrap_err().code(), 17);
        assert_eq!(b.create_topic("x", 1, 3, &[], false).unwrap_err().code(), 38);
        b.create_partitions("rider-updates", 6, None, false).unwrap();
        b.close().unwrap();
    }
    let b = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    assert_eq!(b.topic_names().unwrap(), vec!["rider-updates".to_string()]);
    assert_eq!(b.topic("rider-updates").unwrap().partition_count(), 6);
    let topic = ConfigResource::Topic("rider-updates".into());
    let retention = b.describe_configs(&topic, &DescribeOptions::default()).unwrap().into_iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::Topic);
    b.delete_topic("rider-updates").unwrap();
    assert!(b.topic_names().unwrap().is_empty());
    b.close().unwrap();
}
