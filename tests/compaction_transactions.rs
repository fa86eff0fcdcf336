//! The cleaner and transactions, as Kafka's LogCleaner treats them: aborted records go and
//! never hide an older committed value; markers stay while their transaction has data,
//! then get a delete horizon and go after it; an open transaction is never cleaned.

mod common;

use std::sync::Mutex;

use common::open_log;
use samsa::log::batch::{self, EncodedBatches, ProducerStamp};
use samsa::log::cleaner::{self, Settings};
use samsa::log::control::Marker;
use samsa::log::{Compression, LogConfig, PartitionLog, Record};

const NOW: i64 = 1_700_000_000_000;
const DAY: i64 = 24 * 3600 * 1000;

fn config() -> LogConfig {
    let mut c = LogConfig::default();
    c.segment_bytes = 300;
    c.retention_ms = -1;
    c.cleanup.compact = true;
    c.cleanup.delete = false;
    c
}

fn send(log: &mut PartitionLog, key: &str, value: &str, producer: Option<ProducerStamp>) {
    let records = [Record { timestamp: NOW, key: Some(key.as_bytes()), value: Some(value.as_bytes()), headers: &[] }];
    let mut enc = EncodedBatches::default();
    enc.encode(&records, Compression::None, 1 << 20, producer).unwrap();
    log.append_encoded(&mut enc, NOW).unwrap();
}

fn txn(pid: i64, seq: i32) -> Option<ProducerStamp> {
    Some(ProducerStamp { producer_id: pid, epoch: 0, base_sequence: seq, transactional: true })
}

/// Every batch from the start: (base offset, control, producer id, [(key, value)]).
fn batches(log: &mut PartitionLog) -> Vec<(i64, bool, i64, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    let mut scratch = Vec::new();
    while next < log.next_offset() {
        let bytes = log.read(next, 1 << 20).unwrap();
        let mut pos = 0;
        while pos < bytes.len() {
            let h = batch::verify(&bytes[pos..]).unwrap();
            let mut records = Vec::new();
            if !h.is_control() {
                batch::for_each_record(&bytes[pos..pos + h.total_size()], &mut scratch, |r| {
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    records.push((text(r.key.unwrap_or_default()), text(r.value.unwrap_or_default())));
                })
                .unwrap();
            }
            out.push((h.base_offset, h.is_control(), h.producer_id, records));
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    out
}

fn values(log: &mut PartitionLog) -> Vec<(String, String)> {
    batches(log).into_iter().flat_map(|b| b.3).collect()
}

fn clean(log: &Mutex<PartitionLog>, now: i64) -> Option<cleaner::Report> {
    cleaner::clean(log, now, &Settings { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: 0.0 }, &|| false).unwrap()
}

fn filler(log: &mut PartitionLog, n: usize) {
    for i in 0..n {
        send(log, &format!("f{i}"), "x", None);
    }
}

#[test]
fn aborted_records_go_and_never_hide_the_committed_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), config(), true).unwrap();
    send(&mut log, "k", "committed", txn(1, 0));
    log.append_marker(1, 0, Marker::Commit, NOW).unwrap();
    send(&mut log, "k", "aborted", txn(2, 0));
    log.append_marker(2, 0, Marker::Abort, NOW).unwrap();
    filler(&mut log, 10);
    let log = Mutex::new(log);
    clean(&log, NOW).expect("a pass");
    let mut log = log.into_inner().unwrap();
    let all = values(&mut log);
    assert!(all.contains(&("k".into(), "committed".into())), "{all:?}");
    assert!(!all.iter().any(|(_, v)| v == "aborted"), "{all:?}");
    // Both markers stay: the pass read data of their transactions.
    let markers = batches(&mut log).iter().filter(|b| b.1).count();
    assert_eq!(markers, 2);
}

#[test]
fn markers_go_after_their_horizon_once_their_data_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), config(), true).unwrap();
    send(&mut log, "k", "v1", txn(1, 0));
    let first_marker = log.append_marker(1, 0, Marker::Commit, NOW).unwrap();
    send(&mut log, "k", "v2", None);
    // The producer's next transaction: its marker is the producer's last entry, which
    // stays whatever happens (Kafka keeps it so the producer's epoch survives).
    send(&mut log, "j", "w", txn(1, 1));
    let last_marker = log.append_marker(1, 0, Marker::Commit, NOW).unwrap();
    filler(&mut log, 10);
    let log = Mutex::new(log);
    let markers = |log: &Mutex<PartitionLog>| -> Vec<i64> {
        let mut l = log.lock().unwrap();
        batches(&mut l).iter().filter(|b| b.1).map(|b| b.0).collect()
    };
    // First pass: v1 is superseded and goes; its marker stays (the pass read its data).
    clean(&log, NOW).expect("a pass");
    assert!(!values(&mut log.lock().unwrap()).contains(&("k".into(), "v1".into())));
    assert_eq!(markers(&log), vec![first_marker, last_marker]);
    // Another pass finds no data of the first transaction: its marker gets a horizon...
    filler(&mut log.lock().unwrap(), 10);
    clean(&log, NOW + 1).expect("a second pass");
    assert_eq!(markers(&log), vec![first_marker, last_marker]);
    // ...and goes once the horizon (delete.retention.ms, a day) has passed.
    clean(&log, NOW + 2 * DAY).expect("a pass for the horizon");
    assert_eq!(markers(&log), vec![last_marker]);
    assert!(values(&mut log.lock().unwrap()).contains(&("j".into(), "w".into())));
}

#[test]
fn an_open_transaction_is_not_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), config(), true).unwrap();
    send(&mut log, "k", "open", txn(1, 0));
    filler(&mut log, 10);
    send(&mut log, "k", "later", None);
    filler(&mut log, 10);
    let log = Mutex::new(log);
    // The last stable offset is the open transaction's first offset: nothing is cleanable.
    assert!(clean(&log, NOW).is_none());
    let mut l = log.lock().unwrap();
    assert_eq!(l.last_stable_offset().unwrap(), 0);
    l.append_marker(1, 0, Marker::Abort, NOW).unwrap();
    filler(&mut l, 5);
    drop(l);
    clean(&log, NOW).expect("a pass once it is decided");
    let mut l = log.into_inner().unwrap();
    let all = values(&mut l);
    assert!(!all.iter().any(|(_, v)| v == "open"));
    assert!(all.contains(&("k".into(), "later".into())));
}

/// A snapshot taken while a transaction was open, and a cleaner that later removed its
/// marker: every roll of a transactional partition snapshots its producer state, so a
/// rebuild after an unclean stop never starts from before the marker.
#[test]
fn a_transaction_whose_marker_the_cleaner_removed_stays_ended_after_unclean_stops() {
    let dir = tempfile::tempdir().unwrap();
    // Session 1: a transaction, segments roll (snapshots say it is open), its marker lands
    // in the active segment, then the process is killed (no close, no later snapshot).
    let mut log = open_log(dir.path(), config(), true).unwrap();
    send(&mut log, "k", "v1", Some(ProducerStamp { producer_id: 1, epoch: 0, base_sequence: 0, transactional: true }));
    for i in 0..10 {
        send(&mut log, &format!("f{i}"), "x", None);
    }
    let marker = log.append_marker(1, 0, Marker::Commit, NOW).unwrap();
    drop(log);
    // Session 2: plain (non-idempotent) sends roll segments; the cleaner then runs its
    // passes and removes the marker once the transaction's data is gone.
    let mut log = open_log(dir.path(), config(), false).unwrap();
    send(&mut log, "k", "v2", None);
    // A tombstone: its delete horizon schedules the later passes.
    let records = [Record { timestamp: NOW, key: Some(b"z"), value: None, headers: &[] }];
    let mut enc = EncodedBatches::default();
    enc.encode(&records, Compression::None, 1 << 20, None).unwrap();
    log.append_encoded(&mut enc, NOW).unwrap();
    for i in 10..20 {
        send(&mut log, &format!("f{i}"), "x", None);
    }
    assert_eq!(log.last_stable_offset().unwrap(), log.next_offset(), "fine while the marker is there");
    let log = Mutex::new(log);
    clean(&log, NOW + 2 * DAY).expect("pass: v1 goes, its marker stays");
    for day in 3..8 {
        clean(&log, NOW + day * DAY + 1);
    }
    let mut log = log.into_inner().unwrap();
    let mut markers = 0;
    let mut next = log.log_start_offset();
    while next < log.next_offset() {
        let bytes = log.read(next, 1 << 20).unwrap();
        let mut pos = 0;
        while pos < bytes.len() {
            let h = samsa::log::batch::verify(&bytes[pos..]).unwrap();
            markers += h.is_control() as usize;
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    assert!(markers <= 1, "marker at {marker}; {markers} markers left");
    drop(log); // killed again
    // Session 3: the rebuild starts from the old snapshot, which has the transaction open,
    // and finds no marker after it.
    let mut log = open_log(dir.path(), config(), false).unwrap();
    let report = samsa::log::verify::verify_partition(dir.path(), "t", 0).unwrap();
    assert_eq!(report.open_transactions, vec![]);
    assert_eq!(log.last_stable_offset().unwrap(), log.next_offset(), "the last stable offset is not stuck");
}
