//! Reopening after a clean close, and after a stop without one, gives back exactly what
//! was appended, with offsets continuing where they stopped.

mod common;

use common::*;

#[test]
fn reopen_keeps_every_record_and_offsets_continue() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("p");
        {
            let mut log = open_log(&part, small_segments(), true).unwrap();
            append_n(&mut log, 0, 500, 30, 9);
            if clean {
                log.close(0).unwrap();
            }
        }
        let mut log = open_log(&part, small_segments(), clean).unwrap();
        assert_eq!(log.next_offset(), 500);
        assert!(log.segment_count() > 1, "small segments should have rolled");
        append_n(&mut log, 500, 10, 30, 10);
        let all = read_all(&mut log);
        assert_eq!(all.len(), 510);
        assert!(all.iter().enumerate().all(|(i, (o, v))| *o == i as i64 && *v == value(i, 30)));
        // Reads from the middle of a batch start at the asked offset's batch.
        let bytes = log.read(250, 1).unwrap();
        assert!(!bytes.is_empty());
    }
}

#[test]
fn timestamps_find_the_first_offset_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(&dir.path().join("p"), small_segments(), true).unwrap();
    append_n(&mut log, 0, 300, 30, 3); // record i has timestamp 1000 + i
    // (offset, the timestamp of its record)
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1000)));
    assert_eq!(log.offset_for_timestamp(1000).unwrap(), Some((0, 1000)));
    assert_eq!(log.offset_for_timestamp(1001).unwrap(), Some((1, 1001)));
    assert_eq!(log.offset_for_timestamp(1250).unwrap(), Some((250, 1250)));
    assert_eq!(log.offset_for_timestamp(1299).unwrap(), Some((299, 1299)));
    assert_eq!(log.offset_for_timestamp(1300).unwrap(), None);
    assert_eq!(log.max_timestamp_record().unwrap(), Some((299, 1299)));
}
