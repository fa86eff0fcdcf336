//! Segments roll by size and age; retention deletes whole closed segments by time and by
//! size; DeleteRecords moves the log start.

mod common;

use common::*;

#[test]
fn retention_by_size_deletes_the_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = small_segments();
    c.retention_bytes = 20 * 1024;
    c.retention_ms = -1;
    let mut log = open_log(&dir.path().join("p"), c, true).unwrap();
    append_n(&mut log, 0, 2000, 60, 10);
    let before = log.segment_count();
    let deleted = log.apply_retention(0).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.segment_count(), before - deleted);
    assert!(log.size_bytes() <= 20 * 1024 + 8 * 1024, "size {}", log.size_bytes());
    assert_eq!(log.log_start_offset(), log.segment_bases()[0]);
    // What is left reads back from the new start.
    let all = read_all(&mut log);
    assert_eq!(all.last().unwrap().0, 1999);
    assert_eq!(all[0].0, log.log_start_offset());
}

#[test]
fn retention_by_time_deletes_expired_segments_and_rolls_an_expired_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = small_segments();
    c.retention_ms = 1000;
    let mut log = open_log(&dir.path().join("p"), c, true).unwrap();
    append_n(&mut log, 0, 600, 60, 10); // timestamps 1000..1600
    assert_eq!(log.apply_retention(1500).unwrap(), 0, "nothing is older than 1000 ms yet");
    let deleted = log.apply_retention(1_000_000).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 600);
    assert_eq!(log.next_offset(), 600);
    append_n(&mut log, 600, 5, 60, 5);
    assert_eq!(read_all(&mut log).len(), 5);
}

#[test]
fn segments_roll_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = small_segments();
    c.segment_ms = 10;
    let mut log = open_log(&dir.path().join("p"), c, true).unwrap();
    // As Kafka measures segment.ms: the new records' timestamps against the first one's.
    let at = |timestamp| [samsa::log::Record { timestamp, key: None, value: Some(b"a"), headers: &[] }];
    log.append(&at(100), samsa::log::Compression::None, 0).unwrap();
    log.append(&at(105), samsa::log::Compression::None, 0).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&at(111), samsa::log::Compression::None, 0).unwrap();
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn delete_records_moves_the_start_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    {
        let mut log = open_log(&part, small_segments(), true).unwrap();
        append_n(&mut log, 0, 1000, 60, 10);
        assert_eq!(log.delete_records_before(700, 0).unwrap(), 700);
        assert!(log.segment_bases()[0] <= 700);
        assert!(log.read(699, 100).is_err(), "below the log start is out of range");
        assert!(log.delete_records_before(5000, 0).is_err());
        log.close(0).unwrap();
    }
    let mut log = open_log(&part, small_segments(), true).unwrap();
    assert_eq!(log.log_start_offset(), 700);
    let all = read_all(&mut log);
    assert_eq!(all.first().unwrap().0, 700);
    assert_eq!(all.len(), 300);
}
