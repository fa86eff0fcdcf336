//! Compaction against a plain model: random sends (tombstones among them), rolls,
//! cleanings, clock steps and reopens (clean and unclean). Reading the log from the start
//! must give records the model holds at those offsets, offsets increasing, the latest
//! record of every key (a tombstone only until its retention is over), and, once
//! everything is sealed and cleaned twice past the retention, each key at most once.

mod common;

use std::sync::Mutex;

use common::open_log;
use proptest::prelude::*;
use samsa::log::batch::{self, BatchHeader};
use samsa::log::cleaner::{self, Settings};
use samsa::log::{Compression, LogConfig, PartitionLog, Record};

const RETENTION_MS: i64 = 1_000;

#[derive(Clone, Debug)]
enum Op {
    /// (key, value length or None for a tombstone) in one append; gzip or not.
    Send(Vec<(u8, Option<usize>)>, bool),
    Roll,
    Clean,
    Tick(i64),
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let record = (0u8..12, prop::option::weighted(0.85, 0usize..300));
    prop_oneof![
        8 => (prop::collection::vec(record, 1..20), any::<bool>()).prop_map(|(r, gz)| Op::Send(r, gz)),
        2 => Just(Op::Roll),
        3 => Just(Op::Clean),
        2 => (0i64..1_500).prop_map(Op::Tick),
        2 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

fn config() -> LogConfig {
    let mut c = LogConfig::default();
    c.segment_bytes = 2048;
    c.segment.index_interval_bytes = 256;
    c.max_message_bytes = 4096;
    c.retention_ms = -1;
    c.cleanup.compact = true;
    c.cleanup.delete = false;
    c.cleanup.delete_retention_ms = RETENTION_MS;
    c
}

struct ModelRecord {
    key: u8,
    value: Option<Vec<u8>>,
    appended_ms: i64,
}

/// Every record from the start, as (offset, key, value), reading across gaps as a
/// consumer does: the next fetch starts after the last batch's last offset.
fn read_all(log: &mut PartitionLog) -> Vec<(i64, Vec<u8>, Option<Vec<u8>>)> {
    let mut out: Vec<(i64, Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut next = log.log_start_offset();
    let mut scratch = Vec::new();
    while next < log.next_offset() {
        let bytes = log.read(next, 700).expect("read");
        assert!(!bytes.is_empty(), "a read at {next} below the end {} gave nothing", log.next_offset());
        let mut pos = 0;
        while pos < bytes.len() {
            let h: BatchHeader = batch::verify(&bytes[pos..]).expect("valid");
            batch::for_each_record(&bytes[pos..pos + h.total_size()], &mut scratch, |r| {
                if r.offset >= next {
                    out.push((r.offset, r.key.unwrap_or_default().to_vec(), r.value.map(<[u8]>::to_vec)));
                }
            })
            .expect("decode");
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    out
}

fn check(log: &mut PartitionLog, model: &[ModelRecord], now: i64) {
    let read = read_all(log);
    let mut last = -1;
    for (offset, key, value) in &read {
        assert!(*offset > last, "offsets go {last} then {offset}");
        last = *offset;
        let m = &model[*offset as usize];
        assert_eq!((key.as_slice(), value), (&[m.key][..], &m.value), "record at {offset} differs from the model's");
    }
    // The latest record of every key is there (a tombstone until its retention is over).
    for key in 0u8..12 {
        let Some(latest) = model.iter().rposition(|r| r.key == key) else { continue };
        let present = read.iter().any(|(o, _, _)| *o == latest as i64);
        let r = &model[latest];
        if r.value.is_some() || now - r.appended_ms < RETENTION_MS {
            assert!(present, "key {key}: its latest record at {latest} is gone");
        }
    }
}

fn clean(log: &Mutex<PartitionLog>, now: i64) {
    let settings = Settings { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: 0.0 };
    cleaner::clean(log, now, &settings, &|| false).expect("clean");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn compacted_log_matches_the_model(ops in prop::collection::vec(op(), 1..50)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = Mutex::new(open_log(&path, config(), true).unwrap());
        let mut model: Vec<ModelRecord> = Vec::new();
        let mut now = 1_000_000i64;
        for op in ops {
            match op {
                Op::Send(records, gzip) => {
                    let values: Vec<(Vec<u8>, Option<Vec<u8>>)> = records
                        .iter()
                        .enumerate()
                        .map(|(i, (k, len))| (vec![*k], len.map(|n| vec![(model.len() + i) as u8; n])))
                        .collect();
                    let recs: Vec<Record<'_>> = values
                        .iter()
                        .map(|(k, v)| Record { timestamp: now, key: Some(k), value: v.as_deref(), headers: &[] })
                        .collect();
                    let codec = if gzip { Compression::Gzip } else { Compression::None };
                    let r = log.lock().unwrap().append(&recs, codec, now).unwrap();
                    prop_assert_eq!(r.base_offset, model.len() as i64);
                    for (k, v) in values {
                        model.push(ModelRecord { key: k[0], value: v, appended_ms: now });
                    }
                }
                Op::Roll => log.lock().unwrap().roll(now).unwrap(),
                Op::Clean => clean(&log, now),
                Op::Tick(ms) => now += ms,
                Op::Reopen { clean } => {
                    let mut old = log.lock().unwrap();
                    if clean {
                        old.close(now).unwrap();
                    }
                    *old = open_log(&path, config(), clean).unwrap();
                }
            }
            check(&mut log.lock().unwrap(), &model, now);
        }
        // Everything sealed, cleaned, and cleaned again once the tombstones' time is over.
        log.lock().unwrap().roll(now).unwrap();
        clean(&log, now);
        now += RETENTION_MS + 1;
        clean(&log, now);
        let mut l = log.lock().unwrap();
        check(&mut l, &model, now);
        let read = read_all(&mut l);
        for key in 0u8..12 {
            let of_key: Vec<_> = read.iter().filter(|(_, k, _)| k[0] == key).collect();
            prop_assert!(of_key.len() <= 1, "key {} appears {} times after a full cleaning", key, of_key.len());
            prop_assert!(of_key.iter().all(|(_, _, v)| v.is_some()), "a tombstone of key {} outlived its retention", key);
        }
        // Nothing else changed: the end of the log, and verify finds no damage.
        prop_assert_eq!(l.next_offset(), model.len() as i64);
        let report = samsa::log::verify::verify_partition(&path, "t", 0).unwrap();
        prop_assert!(!report.is_damaged(), "verify: {:?}", report.damage().collect::<Vec<_>>());
    }
}
