//! A batch cut in half by a crash is truncated (damage that is not a torn write is
//! covered by `damage.rs`).

mod common;

use common::*;
use samsa::log::LogConfig;

#[test]
fn a_half_written_final_batch_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p");
    let before;
    {
        let mut log = open_log(&part, LogConfig::default(), true).unwrap();
        append_n(&mut log, 0, 100, 40, 10);
        before = std::fs::metadata(files_with_ext(&part, "log")[0].clone()).unwrap().len();
        append_n(&mut log, 100, 10, 40, 10);
    }
    let seg = files_with_ext(&part, "log")[0].clone();
    let full = std::fs::metadata(&seg).unwrap().len();
    // Cut the last batch in half.
    let cut = before + (full - before) / 2;
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(cut).unwrap();

    let mut log = open_log(&part, LogConfig::default(), false).unwrap();
    assert_eq!(log.next_offset(), 100);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), before);
    assert_eq!(read_all(&mut log).len(), 100);
    append_n(&mut log, 100, 10, 40, 10);
    assert_eq!(read_all(&mut log).len(), 110);
}
