//! Garbage of 1 to 1024 bytes appended to a `.log` or an `.index` (a write torn by a
//! crash, or junk from a bad disk) leaves every record intact, and appends continue.

mod common;

use std::io::Write;

use common::*;

fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn check(ext: &str, clean: bool) {
    for len in [1usize, 2, 7, 8, 11, 12, 13, 60, 61, 62, 100, 512, 1000, 1024] {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("p");
        {
            let mut log = open_log(&part, small_segments(), true).unwrap();
            append_n(&mut log, 0, 300, 50, 7);
            if clean {
                log.close(0).unwrap();
            }
        }
        let target = files_with_ext(&part, ext).pop().unwrap();
        std::fs::OpenOptions::new().append(true).open(&target).unwrap().write_all(&garbage(len, len as u64)).unwrap();

        let mut log = open_log(&part, small_segments(), clean).unwrap();
        assert_eq!(log.next_offset(), 300, "{ext} +{len} bytes");
        let all = read_all(&mut log);
        assert_eq!(all.len(), 300);
        for (i, (offset, v)) in all.iter().enumerate() {
            assert_eq!(*offset, i as i64);
            assert_eq!(v, &value(i, 50));
        }
        // New appends land after the intact records and read back.
        append_n(&mut log, 300, 20, 50, 5);
        log.close(0).unwrap();
        drop(log);
        let mut log = open_log(&part, small_segments(), true).unwrap();
        let all = read_all(&mut log);
        assert_eq!(all.len(), 320, "{ext} +{len} bytes after more appends");
        assert_eq!(all[319].1, value(319, 50));
    }
}

#[test]
fn garbage_after_the_log_is_cut_off() {
    check("log", true);
    check("log", false);
}

#[test]
fn garbage_after_the_index_is_ignored() {
    check("index", true);
    check("index", false);
    check("timeindex", true);
}
