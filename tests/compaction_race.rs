//! A cleaning pass must not outlive its topic: deleting the topic stops the pass and waits
//! for it, so a topic created again under the same name is never written by it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use samsa::broker::{Broker, BrokerConfig, PartitionAppend};
use samsa::log::batch;
use samsa::log::{Compression, Record};

fn configs() -> Vec<(String, String)> {
    vec![
        ("cleanup.policy".into(), "compact".into()),
        ("segment.bytes".into(), "16384".into()),
        // The cleaner thread never picks it: only the pass the test starts runs.
        ("min.cleanable.dirty.ratio".into(), "1.0".into()),
    ]
}

/// 400 records of one size, one per batch: key `aaaaa` at the offsets in `a_at`, a key
/// of its own elsewhere.
fn produce(b: &Broker, tag: &str, a_at: &[usize]) {
    for i in 0..400 {
        let key = if a_at.contains(&i) { "aaaaa".to_string() } else { format!("{}{i:04}", &tag[..1]) };
        let value = format!("{tag}-{i:04}-{}", "x".repeat(100));
        let rec = Record { timestamp: samsa::clock::now_ms(), key: Some(key.as_bytes()), value: Some(value.as_bytes()), headers: &[] };
        let a = PartitionAppend { topic: "t", partition: 0, records: vec![rec], producer: None };
        b.append_all(&[a], Compression::None).unwrap().remove(0).unwrap();
    }
}

/// The latest value's tag and index per key, read from the start across gaps.
fn latest(b: &Broker) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let high = b.offsets("t").unwrap()[0].high;
    let mut next = 0;
    let mut scratch = Vec::new();
    while next < high {
        let r = b.read("t", 0, next, 1 << 20).unwrap();
        assert!(!r.bytes.is_empty(), "nothing at {next}");
        let mut pos = 0;
        while pos < r.bytes.len() {
            let h = batch::verify(&r.bytes[pos..]).unwrap();
            batch::for_each_record(&r.bytes[pos..pos + h.total_size()], &mut scratch, |rec| {
                if rec.offset >= next {
                    let v = String::from_utf8_lossy(rec.value.unwrap_or_default()).into_owned();
                    out.insert(String::from_utf8_lossy(rec.key.unwrap_or_default()).into_owned(), v[..8].to_string());
                }
            })
            .unwrap();
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    out
}

#[test]
fn deleting_a_topic_stops_its_cleaning_before_it_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::default();
    // Slow enough that the pass is still mapping keys when the topic goes.
    config.cleaner.io_max_bytes_per_second = 20_000.0;
    let b: Arc<Broker> = Broker::open(dir.path(), config.clone()).unwrap();
    b.create_topic("t", 1, -1, &configs(), false).unwrap();
    produce(&b, "old", &[0, 80]);
    let pass = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || b.clean_partition("t", 0, samsa::clock::now_ms() + 1000).map(|r| r.is_some()))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.is_cleaning("t", 0) {
        assert!(Instant::now() < deadline, "the pass never started");
        std::thread::yield_now();
    }
    let started = Instant::now();
    b.delete_topic("t").unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "the pass stops within a chunk, not at its end");
    assert!(pass.join().unwrap().is_err(), "the pass was stopped");
    b.create_topic("t", 1, -1, &configs(), false).unwrap();
    produce(&b, "new", &[10]);
    let before = latest(&b);
    assert_eq!(before.get("aaaaa").map(String::as_str), Some("new-0010"));
    b.close().unwrap();
    drop(b);
    let b = Broker::open(dir.path(), config).unwrap();
    assert_eq!(latest(&b), before, "the topic created again is as written");
    assert!(!dir.path().join("topics/t/0/cleaner-checkpoint").exists(), "no checkpoint of the old topic");
}
