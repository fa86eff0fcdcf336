//! A process that does not own a data directory reaches it through its owner's Unix
//! socket (src/wire/local.rs, src/remote): topics, idempotent produce, fetch-ahead,
//! offsets, and a KIP-848 member sharing a group with one in the owner's process, all
//! against a real broker over a real socket. When the owner goes, calls fail with a
//! retriable connection error.

use std::time::{Duration, Instant};

use samsa::broker::{Broker, BrokerConfig, NewTopic};
use samsa::group::{JoinRequest, Strategy};
use samsa::log::{Compression, EncodedBatches, ProducerStamp, Record};
use samsa::remote::{RemoteBroker, RemoteMember};

fn batch(values: &[&str], producer: Option<ProducerStamp>) -> bytes::Bytes {
    let records: Vec<Record<'_>> = values.iter().map(|v| Record { timestamp: 1, key: None, value: Some(v.as_bytes()), headers: &[] }).collect();
    let mut e = EncodedBatches::default();
    e.encode(&records, Compression::None, 1 << 20, producer).unwrap();
    bytes::Bytes::from(e.bytes)
}

/// Polls the fetcher until it hands over records for `offset` (or the deadline passes).
fn fetch_until(remote: &RemoteBroker, topic: &str, partition: i32, offset: i64) -> samsa::remote::Fetched {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(f) = remote.inner().fetch(1, topic, partition, offset, 1 << 20, false).unwrap() {
            return f;
        }
        assert!(Instant::now() < deadline, "nothing fetched for {topic}-{partition} at {offset}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_second_process_works_through_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    let (listener, socket) = samsa::wire::local::serve(owner.clone()).unwrap();
    assert_eq!(socket, dir.path().join("samsa.sock"));

    let remote = RemoteBroker::connect(dir.path(), samsa::remote::DEFAULT_REQUEST_TIMEOUT).unwrap();
    let inner = remote.inner().clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // Topics made remotely are the owner's; the remote side learns their partition counts.
    let created = rt
        .block_on(remote.run({
            let i = inner.clone();
            async move { i.create_topics(vec![NewTopic { name: "rides".into(), partitions: 2, replication_factor: -1, ..NewTopic::default() }], false).await }
        }))
        .unwrap();
    assert!(created[0].is_ok());
    assert_eq!(owner.topic("rides").unwrap().partition_count(), 2);
    assert_eq!(inner.partition_count("rides"), Some(2));

    // An idempotent produce: sent twice (a resend after a lost answer), stored once.
    let (pid, epoch) = rt.block_on(remote.run({
        let i = inner.clone();
        async move { i.init_producer_id().await }
    }))
    .unwrap();
    let stamp = ProducerStamp::idempotent(pid, epoch, 0);
    for _ in 0..2 {
        let i = inner.clone();
        let bytes = batch(&["a", "b", "c"], Some(stamp));
        let parts = vec![("rides".to_string(), 1, 0..bytes.len())];
        let out = rt.block_on(remote.run(async move { i.produce(parts, &bytes).await })).unwrap();
        assert_eq!(out[0].as_ref().unwrap().0, 0, "both answers carry the first offsets");
    }
    assert_eq!(owner.offsets("rides").unwrap()[1].high, 3);

    // Fetch-ahead: the first ask starts a fetch; the records come whole.
    let f = fetch_until(&remote, "rides", 1, 0);
    assert_eq!((f.offset, f.high_watermark), (0, 3));
    assert!(!f.bytes.is_empty());

    // A member here and one in the owner's process share a group.
    let local = owner
        .groups
        .join(
            JoinRequest {
                group_id: "g".into(),
                client_id: "local".into(),
                client_host: "/127.0.0.1".into(),
                topics: vec!["rides".into()],
                session_timeout_ms: 30_000,
                rebalance_timeout_ms: 30_000,
                strategy: Strategy::parse("RoundRobinAssigner").unwrap(),
            },
            &owner.topic_counts(),
        )
        .unwrap();
    let member: std::sync::Arc<RemoteMember> =
        rt.block_on(remote.run({
            let i = inner.clone();
            async move { RemoteMember::join(i, "g".into(), "remote-test".into(), samsa::group::Strategy::Range, vec!["rides".into()], 30_000, 30_000, 20).await }
        }))
        .unwrap();
    // The local member gives up one partition; the remote one ends up owning it, and the
    // two never own the same partition.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = owner.groups.poll("g", &local.member_id, None).unwrap();
        if !a.revoking.is_empty() {
            owner.groups.release("g", &local.member_id, &a.revoking).unwrap();
        }
        let remote_owned = member.lock().owned.clone();
        let local_owned: std::collections::BTreeSet<_> = a.assigned.iter().cloned().collect();
        assert!(remote_owned.intersection(&local_owned).next().is_none(), "a partition owned twice: {remote_owned:?} {local_owned:?}");
        if remote_owned.len() == 1 && local_owned.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the group never split: remote {remote_owned:?}, local {local_owned:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The remote member commits at its epoch; the owner has the offset.
    let tp = member.lock().owned.iter().next().cloned().unwrap();
    let m = member.clone();
    rt.block_on(remote.run(async move { m.commit(vec![(tp.0, tp.1, 1, None)]).await })).unwrap();
    let committed = rt.block_on(remote.run({
        let i = inner.clone();
        async move { i.committed("g").await }
    }))
    .unwrap();
    assert_eq!(committed["rides"].len(), 1);
    let m = member.clone();
    rt.block_on(remote.run(async move { m.leave().await })).unwrap();

    // The owner goes: the next call is a retriable connection error, not a hang.
    samsa::wire::local::withdraw(dir.path(), listener, &socket);
    let err = rt
        .block_on(remote.run({
            let i = inner.clone();
            async move { i.list_groups().await }
        }))
        .unwrap_err();
    assert_eq!(err.kind(), "CONNECTION_ERROR");
    assert!(err.retriable());
    drop(remote);
    owner.close().unwrap();
}
