//! Helpers shared by the scenario tests.
#![allow(dead_code)]

pub mod wire;

use std::path::{Path, PathBuf};

use samsa::log::batch::{self, Record};
use samsa::log::{Compression, LogConfig, OpenOptions, PartitionLog};

/// A record of the form the tests write: key `k<i>`, value `value-<i>` padded to `len`.
pub fn value(i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.resize(len.max(v.len()), b'x');
    v
}

pub fn append_n(log: &mut PartitionLog, from: usize, n: usize, value_len: usize, per_batch: usize) {
    let keys: Vec<Vec<u8>> = (from..from + n).map(|i| format!("k{i}").into_bytes()).collect();
    let values: Vec<Vec<u8>> = (from..from + n).map(|i| value(i, value_len)).collect();
    for chunk in (0..n).collect::<Vec<_>>().chunks(per_batch) {
        let records: Vec<Record<'_>> = chunk
            .iter()
            .map(|&i| Record { timestamp: 1_000 + (from + i) as i64, key: Some(&keys[i]), value: Some(&values[i]), headers: &[] })
            .collect();
        log.append(&records, Compression::None, 0).expect("append");
    }
}

/// Every (offset, value) in the log from its start, read through the public read path.
pub fn read_all(log: &mut PartitionLog) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    let mut scratch = Vec::new();
    while next < log.next_offset() {
        let bytes = log.read(next, 64 * 1024).expect("read");
        assert!(!bytes.is_empty(), "read at {next} returned nothing before the end");
        let mut pos = 0;
        while pos < bytes.len() {
            let h = batch::verify(&bytes[pos..]).expect("valid batch");
            batch::for_each_record(&bytes[pos..pos + h.total_size()], &mut scratch, |r| {
                if r.offset >= next {
                    out.push((r.offset, r.value.unwrap_or_default().to_vec()));
                }
            })
            .expect("decode");
            pos += h.total_size();
        }
        next = out.last().map_or(next, |(o, _)| o + 1);
    }
    out
}

pub fn small_segments() -> LogConfig {
    let mut c = LogConfig::default();
    c.segment_bytes = 8 * 1024;
    c.segment.index_interval_bytes = 512;
    c
}

pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Opens a partition on its own (its own file cache), as the broker would after a clean
/// or an unclean stop.
pub fn open_log(path: &Path, config: LogConfig, clean: bool) -> samsa::Result<PartitionLog> {
    PartitionLog::open(path, config, OpenOptions::standalone(clean))
}
