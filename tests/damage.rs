//! Damage is a property of one partition: the partition opens, reads stop at the damaged
//! offsets with an error naming the file and offset, reads past the damage go on, and
//! nothing acknowledged is cut off except a torn final write after an unclean stop.

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;

use common::*;
use samsa::log::verify::{repair_partition, verify_partition};
use samsa::log::{LogConfig, PartitionLog};

fn flip(path: &Path, at: u64) {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], at).unwrap();
}

/// Positions of every batch in a segment file.
fn batch_positions(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 12 <= bytes.len() {
        out.push(pos as u64);
        pos += 12 + i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
    }
    out
}

/// 100 records in batches of 10 (offsets 10k..10k+9 in batch k).
fn ten_batches(part: &Path, clean_close: bool) -> std::path::PathBuf {
    let mut log = open_log(part, LogConfig::default(), true).unwrap();
    append_n(&mut log, 0, 100, 40, 10);
    if clean_close {
        log.close(0).unwrap();
    }
    files_with_ext(part, "log")[0].clone()
}

fn corrupt_offset(log: &mut PartitionLog, offset: i64) -> samsa::Error {
    let err = log.read(offset, 1 << 20).expect_err("damage must be reported");
    assert_eq!(err.kind(), "CORRUPT_MESSAGE", "{err}");
    assert!(!err.retriable());
    err
}

#[test]
fn a_damaged_batch_with_valid_batches_after_it_is_kept_and_reported_on_read() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("p");
        let seg = ten_batches(&part, clean);
        let size = std::fs::metadata(&seg).unwrap().len();
        let second = batch_positions(&seg)[1];
        flip(&seg, second + 80);

        let mut log = open_log(&part, LogConfig::default(), clean).unwrap();
        assert_eq!(log.next_offset(), 100, "clean={clean}");
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), size, "nothing is cut");
        // Reads before the damage work and stop short of it.
        let first = log.read(0, 1 << 20).unwrap();
        assert!(!first.is_empty());
        let err = corrupt_offset(&mut log, 10);
        let text = err.to_string();
        assert!(text.contains("00000000000000000000.log") && text.contains("offset 10"), "{text}");
        corrupt_offset(&mut log, 15);
        // Past the damage, everything reads.
        assert!(!log.read(20, 1 << 20).unwrap().is_empty());
        // Appends go on after it.
        append_n(&mut log, 100, 10, 40, 10);
        assert_eq!(log.next_offset(), 110);
        assert_eq!(log.damage().len(), 1);
    }
}

#[test]
fn after_a_clean_stop_a_damaged_last_batch_is_damage_not_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    let seg = ten_batches(&part, true);
    let size = std::fs::metadata(&seg).unwrap().len();
    let last = *batch_positions(&seg).last().unwrap();
    flip(&seg, last + 70);

    let mut log = open_log(&part, LogConfig::default(), true).unwrap();
    assert_eq!(log.next_offset(), 100, "the acknowledged records are still counted");
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), size);
    corrupt_offset(&mut log, 95);
    assert!(!log.read(80, 1 << 20).unwrap().is_empty());
    append_n(&mut log, 100, 5, 40, 5);
    assert!(!log.read(100, 1 << 20).unwrap().is_empty());
}

#[test]
fn after_an_unclean_stop_a_damaged_last_batch_is_cut_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    let seg = ten_batches(&part, false);
    let last = *batch_positions(&seg).last().unwrap();
    flip(&seg, last + 70);
    let log = open_log(&part, LogConfig::default(), false).unwrap();
    assert_eq!(log.next_offset(), 90);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), last);
}

#[test]
fn a_damaged_length_field_is_walked_around() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    let seg = ten_batches(&part, true);
    let third = batch_positions(&seg)[3];
    // The length field of batch 3 (offsets 30..39): the framing breaks there.
    flip(&seg, third + 10);
    let mut log = open_log(&part, LogConfig::default(), true).unwrap();
    assert_eq!(log.next_offset(), 100);
    assert_eq!(read_from(&mut log, 0, 30), 30);
    corrupt_offset(&mut log, 30);
    corrupt_offset(&mut log, 39);
    assert_eq!(read_from(&mut log, 40, 100), 60);
}

/// Records read from `from` until the end (or damage), counted.
fn read_from(log: &mut PartitionLog, from: i64, end: i64) -> usize {
    let mut next = from;
    let mut count = 0;
    let mut scratch = Vec::new();
    while next < end {
        let Ok(bytes) = log.read(next, 1 << 20) else { break };
        if bytes.is_empty() {
            break;
        }
        let mut pos = 0;
        while pos < bytes.len() {
            let h = samsa::log::batch::verify(&bytes[pos..]).unwrap();
            samsa::log::batch::for_each_record(&bytes[pos..pos + h.total_size()], &mut scratch, |r| {
                if r.offset >= next {
                    count += 1;
                }
            })
            .unwrap();
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    count
}

#[test]
fn damage_in_a_sealed_segment_stops_only_the_damaged_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    {
        let mut log = open_log(&part, small_segments(), true).unwrap();
        append_n(&mut log, 0, 400, 60, 4);
        assert!(log.segment_count() > 2);
        log.close(0).unwrap();
    }
    let first = files_with_ext(&part, "log")[0].clone();
    let size = std::fs::metadata(&first).unwrap().len();
    // Damage the last batch of the first (sealed) segment.
    std::fs::OpenOptions::new().write(true).open(&first).unwrap().write_all_at(&[0xAB; 4], size - 5).unwrap();
    for clean in [true, false] {
        let mut log = open_log(&part, small_segments(), clean).unwrap();
        assert_eq!(log.next_offset(), 400);
        let positions = batch_positions(&first);
        let damaged_first = (positions.len() as i64 - 1) * 4;
        assert_eq!(read_from(&mut log, 0, 400), damaged_first as usize);
        corrupt_offset(&mut log, damaged_first);
        assert_eq!(read_from(&mut log, damaged_first + 4, 400), 400 - damaged_first as usize - 4);
    }
}

#[test]
fn verify_reports_damage_and_repair_cuts_at_the_first_damaged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    {
        let mut log = open_log(&part, small_segments(), true).unwrap();
        append_n(&mut log, 0, 400, 60, 4);
        log.close(0).unwrap();
    }
    let report = verify_partition(&part, "t", 0).unwrap();
    assert!(!report.is_damaged());
    assert_eq!(report.index_problems(), 0, "{:?}", report.segments.iter().map(|s| &s.index_problems).collect::<Vec<_>>());
    assert_eq!(report.high_watermark, 400);

    let second = files_with_ext(&part, "log")[1].clone();
    let base: i64 = second.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    flip(&second, batch_positions(&second)[2] + 70);
    let report = verify_partition(&part, "t", 0).unwrap();
    let damage: Vec<_> = report.damage().collect();
    assert_eq!(damage.len(), 1);
    assert_eq!(damage[0].1.first_offset, base + 8);
    assert_eq!(repair_partition(&report).unwrap(), Some((base + 8, 399)));
    let mut log = open_log(&part, small_segments(), true).unwrap();
    assert_eq!(log.next_offset(), base + 8);
    assert_eq!(read_all(&mut log).len() as i64, base + 8);
    assert!(!verify_partition(&part, "t", 0).unwrap().is_damaged());
}
