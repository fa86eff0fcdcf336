//! Compaction's promises beyond the model test: an idempotent producer's sequence
//! survives cleaning and a restart, and a crash at any point of a swap leaves the log as
//! it was before the pass or as it is after it.

mod common;

use std::path::Path;
use std::sync::Mutex;

use common::open_log;
use samsa::log::batch::{self, EncodedBatches, ProducerStamp};
use samsa::log::cleaner::{self, Settings};
use samsa::log::segment::file_name;
use samsa::log::{Compression, LogConfig, PartitionLog, Record};

const NOW: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    let mut c = LogConfig::default();
    c.segment_bytes = 1024;
    c.retention_ms = -1;
    c.cleanup.compact = true;
    c.cleanup.delete = false;
    c
}

fn settings() -> Settings {
    Settings { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: 0.0 }
}

fn send(log: &mut PartitionLog, keys: &[&str], value: &str, producer: Option<ProducerStamp>) -> samsa::Result<(i64, i64, bool)> {
    let records: Vec<Record<'_>> =
        keys.iter().map(|k| Record { timestamp: NOW, key: Some(k.as_bytes()), value: Some(value.as_bytes()), headers: &[] }).collect();
    let mut enc = EncodedBatches::default();
    enc.encode(&records, Compression::None, 1 << 20, producer)?;
    let r = log.append_encoded(&mut enc, NOW)?;
    Ok((r.base_offset, r.last_offset, r.duplicate))
}

/// (offset, key, value) of every record from the start, reading across gaps.
fn read_all(log: &mut PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    let mut scratch = Vec::new();
    while next < log.next_offset() {
        let bytes = log.read(next, 4096).unwrap();
        assert!(!bytes.is_empty(), "nothing at {next}");
        let mut pos = 0;
        while pos < bytes.len() {
            let h = batch::verify(&bytes[pos..]).unwrap();
            batch::for_each_record(&bytes[pos..pos + h.total_size()], &mut scratch, |r| {
                if r.offset >= next {
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    out.push((r.offset, text(r.key.unwrap_or_default()), r.value.map(text)));
                }
            })
            .unwrap();
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    out
}

fn clean(log: &Mutex<PartitionLog>) -> cleaner::Report {
    cleaner::clean(log, NOW, &settings(), &|| false).unwrap().expect("something to clean")
}

#[test]
fn an_idempotent_producers_sequence_survives_cleaning_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p");
    let log = Mutex::new(open_log(&path, config(), true).unwrap());
    let stamp = |seq| Some(ProducerStamp::idempotent(7, 0, seq));
    {
        let mut l = log.lock().unwrap();
        assert_eq!(send(&mut l, &["a", "b"], "first", stamp(0)).unwrap(), (0, 1, false));
        assert_eq!(send(&mut l, &["c", "d"], "second", stamp(2)).unwrap(), (2, 3, false));
        // Every key the producer wrote is written again by someone else.
        send(&mut l, &["a", "b", "c", "d"], "newer", None).unwrap();
        l.roll(NOW).unwrap();
    }
    let report = clean(&log);
    assert_eq!(report.records_removed, 4);
    let mut l = log.into_inner().unwrap();
    assert_eq!(read_all(&mut l).iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
    drop(l);
    // An unclean restart without the producers' snapshots: the state comes from the log.
    for entry in std::fs::read_dir(&path).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let mut l = open_log(&path, config(), false).unwrap();
    assert_eq!(send(&mut l, &["c", "d"], "second", stamp(2)).unwrap(), (2, 3, true), "a resend of the last batch is a duplicate");
    let e = send(&mut l, &["e"], "skip", stamp(5)).unwrap_err();
    assert!(e.to_string().contains("sequence"), "{e}");
    let (base, _, duplicate) = send(&mut l, &["e"], "next", stamp(4)).unwrap();
    assert!(!duplicate && base == 8);
}

/// A partition with three sealed segments full of superseded keys, and a copy of it.
fn dirty_partition(root: &Path) -> (std::path::PathBuf, Vec<(i64, String, Option<String>)>) {
    let path = root.join("p");
    let mut l = open_log(&path, config(), true).unwrap();
    for round in 0..12 {
        send(&mut l, &["k1", "k2", "k3", "k4"], &format!("value {round:04} {}", "x".repeat(40)), None).unwrap();
    }
    send(&mut l, &["k2"], "", None).unwrap();
    l.roll(NOW).unwrap();
    send(&mut l, &["k5"], "active", None).unwrap();
    assert!(l.segment_count() >= 4, "{} segments", l.segment_count());
    let before = read_all(&mut l);
    l.close(NOW).unwrap();
    (path, before)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_crash_at_any_step_of_a_swap_reads_as_before_or_after() {
    let root = tempfile::tempdir().unwrap();
    let (path, before) = dirty_partition(root.path());
    let pristine = root.path().join("pristine");
    copy_dir(&path, &pristine);
    // One group: every sealed segment becomes one.
    let mut one_group = config();
    one_group.segment_bytes = 1 << 20;
    let log = Mutex::new(open_log(&path, one_group, true).unwrap());
    let next = *log.lock().unwrap().segment_bases().last().unwrap();
    clean(&log);
    let mut cleaned_log = log.into_inner().unwrap();
    let after = read_all(&mut cleaned_log);
    assert!(after.len() < before.len(), "cleaning removed something");
    cleaned_log.close(NOW).unwrap();
    drop(cleaned_log);

    let old_bases: Vec<i64> = samsa::log::segment::segment_bases(&pristine).unwrap().into_iter().filter(|b| *b < next).collect();
    let stage = |name: &str| {
        let d = root.path().join(name);
        copy_dir(&pristine, &d);
        d
    };
    let put_new = |into: &Path| {
        std::fs::create_dir_all(into).unwrap();
        for ext in ["log", "index", "timeindex"] {
            let f = path.join(file_name(0, ext));
            if f.exists() {
                std::fs::copy(&f, into.join(file_name(0, ext))).unwrap();
            }
        }
    };
    let swap_name = format!("swap-{:020}-{:020}", 0, next);
    // What the checkpoint says once a swap is committed: gaps allowed below its end.
    let committed_checkpoint = |d: &Path| std::fs::write(d.join("cleaner-checkpoint"), format!("0 {next} {}\n", i64::MAX)).unwrap();
    let reads = |d: &Path, clean: bool| {
        let mut l = open_log(d, config(), clean).unwrap();
        let got = read_all(&mut l);
        assert!(!d.join("cleaning").exists() && !d.join(&swap_name).exists(), "recovery leaves no work directory");
        assert!(!samsa::log::verify::verify_partition(d, "t", 0).unwrap().is_damaged());
        got
    };

    // 1. Crashed while writing: cleaning/ holds a whole or partial new segment.
    let d = stage("writing");
    put_new(&d.join("cleaning"));
    assert_eq!(reads(&d, false), before);

    // 2. Committed (swap directory in place), nothing else done yet.
    let d = stage("committed");
    committed_checkpoint(&d);
    put_new(&d.join(&swap_name));
    assert_eq!(reads(&d, false), after);

    // 3. Old segments after the first deleted, the new time index moved in.
    let d = stage("half-moved");
    committed_checkpoint(&d);
    put_new(&d.join(&swap_name));
    for b in old_bases.iter().skip(1) {
        for ext in ["log", "index", "timeindex"] {
            let _ = std::fs::remove_file(d.join(file_name(*b, ext)));
        }
    }
    std::fs::rename(d.join(&swap_name).join(file_name(0, "timeindex")), d.join(file_name(0, "timeindex"))).unwrap();
    assert_eq!(reads(&d, false), after);

    // 4. Everything moved, only the empty swap directory left.
    let d = stage("moved");
    put_new(&d);
    for b in old_bases.iter().skip(1) {
        for ext in ["log", "index", "timeindex"] {
            let _ = std::fs::remove_file(d.join(file_name(*b, ext)));
        }
    }
    std::fs::copy(path.join("cleaner-checkpoint"), d.join("cleaner-checkpoint")).unwrap();
    std::fs::create_dir_all(d.join(&swap_name)).unwrap();
    assert_eq!(reads(&d, true), after);
}

#[test]
fn compaction_lags_and_the_dirty_ratio_decide_what_is_cleaned_and_when() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.segment_bytes = 1 << 20;
    c.cleanup.min_compaction_lag_ms = 60_000;
    c.cleanup.min_cleanable_dirty_ratio = 0.9;
    let log = Mutex::new(open_log(&dir.path().join("p"), c, true).unwrap());
    let at = |l: &mut PartitionLog, ts: i64, keys: &[&str]| {
        let records: Vec<Record<'_>> =
            keys.iter().map(|k| Record { timestamp: ts, key: Some(k.as_bytes()), value: Some(b"v".as_slice()), headers: &[] }).collect();
        l.append(&records, Compression::None, ts).unwrap();
    };
    {
        let mut l = log.lock().unwrap();
        // An old segment, then a young one, then the active segment.
        for _ in 0..20 {
            at(&mut l, NOW - 120_000, &["a", "b", "c"]);
        }
        l.roll(NOW - 120_000).unwrap();
        for _ in 0..20 {
            at(&mut l, NOW - 1_000, &["a", "b", "c"]);
        }
        l.roll(NOW).unwrap();
        at(&mut l, NOW, &["d"]);
    }
    let young_base = log.lock().unwrap().segment_bases()[1];
    // min.compaction.lag.ms: the young segment is not cleanable, so its records stay.
    let dirt = log.lock().unwrap().dirt(NOW).unwrap().unwrap();
    assert!(dirt.cleanable_bytes > 0 && dirt.ratio > 0.99 && dirt.is_due(0.9));
    let report = clean(&log);
    assert_eq!(report.end_offset, young_base, "the pass stops where the young segment starts");
    let read = read_all(&mut log.lock().unwrap());
    assert_eq!(read.iter().filter(|r| r.0 < young_base).count(), 3, "the old segment keeps each key once");
    assert_eq!(read.iter().filter(|r| r.0 >= young_base).count(), 61, "the young segment and the active one are untouched");
    // A minute later the young segment is cleanable, but below the ratio it waits...
    {
        let mut l = log.lock().unwrap();
        let mut c = *l.config();
        c.cleanup.min_compaction_lag_ms = 0;
        c.cleanup.max_compaction_lag_ms = 10_000;
        l.set_config(c);
    }
    let later = NOW + 60_000;
    let dirt = log.lock().unwrap().dirt(later).unwrap().unwrap();
    assert!(dirt.ratio < 0.99, "{dirt:?}");
    // ... unless a dirty record is older than max.compaction.lag.ms.
    assert!(dirt.overdue && dirt.is_due(0.99), "{dirt:?}");
    let mut l = log.into_inner().unwrap();
    let mut c = *l.config();
    c.cleanup.max_compaction_lag_ms = i64::MAX;
    l.set_config(c);
    assert!(!l.dirt(later).unwrap().unwrap().is_due(0.99), "neither overdue nor dirty enough");
}

#[test]
fn a_repaired_cleaned_partition_keeps_what_precedes_the_cut() {
    let root = tempfile::tempdir().unwrap();
    let (path, _) = dirty_partition(root.path());
    let mut one_group = config();
    one_group.segment_bytes = 1 << 20;
    let log = Mutex::new(open_log(&path, one_group, true).unwrap());
    clean(&log);
    let mut l = log.into_inner().unwrap();
    let after = read_all(&mut l);
    l.close(NOW).unwrap();
    drop(l);
    // One byte of the cleaned segment's last batch is damaged, and verify --repair cuts it:
    // the cleaned segment is then the newest one.
    let seg0 = path.join(file_name(0, "log"));
    let mut bytes = std::fs::read(&seg0).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 0xff;
    std::fs::write(&seg0, &bytes).unwrap();
    let report = samsa::log::verify::verify_partition(&path, "t", 0).unwrap();
    let (cut, _) = samsa::log::verify::repair_partition(&report).unwrap().expect("damage to repair");
    assert!(samsa::log::cleaner::checkpoint::Checkpoint::read(&path).first_dirty <= cut, "the cleaner maps from the cut again");
    let mut l = open_log(&path, config(), false).unwrap();
    assert!(l.damage().is_empty(), "{:?}", l.damage());
    let kept: Vec<_> = after.into_iter().filter(|r| r.0 < cut).collect();
    assert!(!kept.is_empty());
    assert_eq!(read_all(&mut l), kept, "everything before the cut reads back");
    assert!(l.next_offset() >= cut, "offsets are not reused");
}

#[test]
fn an_emptied_batch_goes_once_its_producer_has_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = Mutex::new(open_log(&dir.path().join("p"), config(), true).unwrap());
    let stamp = |seq| Some(ProducerStamp::idempotent(7, 0, seq));
    {
        let mut l = log.lock().unwrap();
        send(&mut l, &["a"], "by the idempotent producer", stamp(0)).unwrap();
        send(&mut l, &["a"], "newer", None).unwrap();
        l.roll(NOW).unwrap();
    }
    clean(&log);
    {
        let mut l = log.lock().unwrap();
        send(&mut l, &["b"], "the producer again", stamp(1)).unwrap();
        send(&mut l, &["c"], "filler", None).unwrap();
        l.roll(NOW).unwrap();
    }
    cleaner::clean(&log, NOW + 1, &settings(), &|| false).unwrap();
    let mut l = log.into_inner().unwrap();
    let mut batches = Vec::new();
    let mut next = 0;
    while next < l.next_offset() {
        let bytes = l.read(next, 1 << 20).unwrap();
        let mut pos = 0;
        while pos < bytes.len() {
            let h = batch::verify(&bytes[pos..]).unwrap();
            batches.push((h.base_offset, h.record_count));
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    assert_eq!(batches, vec![(1, 1), (2, 1), (3, 1)], "the producer's emptied batch at 0 is gone, its new one stays");
}
