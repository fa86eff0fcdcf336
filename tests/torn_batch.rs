//! A batch cut in half by a crash is truncated; damage followed by valid batches, or in
//! an older segment, is a loud error rather than silent loss.

mod common;

use std::os::unix::fs::FileExt;

use common::*;
use samsa::log::{LogConfig, PartitionLog};

#[test]
fn a_half_written_final_batch_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    let before;
    {
        let mut log = PartitionLog::open(&part, LogConfig::default(), true).unwrap();
        append_n(&mut log, 0, 100, 40, 10);
        before = std::fs::metadata(files_with_ext(&part, "log")[0].clone()).unwrap().len();
        append_n(&mut log, 100, 10, 40, 10);
    }
    let seg = files_with_ext(&part, "log")[0].clone();
    let full = std::fs::metadata(&seg).unwrap().len();
    // Cut the last batch in half.
    let cut = before + (full - before) / 2;
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(cut).unwrap();

    let mut log = PartitionLog::open(&part, LogConfig::default(), false).unwrap();
    assert_eq!(log.next_offset(), 100);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), before);
    assert_eq!(read_all(&log).len(), 100);
    append_n(&mut log, 100, 10, 40, 10);
    assert_eq!(read_all(&log).len(), 110);
}

#[test]
fn damage_followed_by_valid_batches_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    {
        let mut log = PartitionLog::open(&part, LogConfig::default(), true).unwrap();
        append_n(&mut log, 0, 100, 40, 10);
    }
    let seg = files_with_ext(&part, "log")[0].clone();
    // Flip a byte inside the second batch's records.
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&seg).unwrap();
    let mut b = [0u8; 1];
    let size = std::fs::metadata(&seg).unwrap().len();
    let at = size / 10 + 80;
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0xff], at).unwrap();
    drop(f);
    let err = PartitionLog::open(&part, LogConfig::default(), false).err().expect("corruption must be reported");
    assert_eq!(err.code(), 2, "{err}");
    assert!(err.to_string().contains("valid batch follows"), "{err}");
    // The data is still on disk, untouched, for an operator to inspect.
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), size);
}

#[test]
fn damage_in_an_older_segment_is_an_error_even_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    {
        let mut log = PartitionLog::open(&part, small_segments(), true).unwrap();
        append_n(&mut log, 0, 400, 60, 4);
        assert!(log.segment_count() > 2);
        log.close().unwrap();
    }
    let first = files_with_ext(&part, "log")[0].clone();
    let size = std::fs::metadata(&first).unwrap().len();
    // Damage the last batch of the first (closed) segment.
    let f = std::fs::OpenOptions::new().write(true).open(&first).unwrap();
    f.write_all_at(&[0xAB; 4], size - 5).unwrap();
    drop(f);
    let err = PartitionLog::open(&part, small_segments(), true).err().expect("corruption must be reported");
    assert_eq!(err.code(), 2, "{err}");
}
