//! Random appends, reads, rolls, retention-free reopens (clean and unclean) and
//! DeleteRecords against a plain `Vec` model of the partition.

mod common;

use common::open_log;

use proptest::prelude::*;
use samsa::log::{Compression, Header, LogConfig, PartitionLog, Record};

#[derive(Clone, Debug)]
enum Op {
    /// Values of these lengths, in one append; gzip or not.
    Append(Vec<usize>, bool),
    /// Read from model index `i % (len + 1)`.
    Read(usize),
    Roll,
    Reopen { clean: bool },
    /// Delete records before model index `i % (len + 1)`.
    DeleteBefore(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec(0usize..600, 1..40), any::<bool>()).prop_map(|(v, gz)| Op::Append(v, gz)),
        3 => any::<usize>().prop_map(Op::Read),
        1 => Just(Op::Roll),
        2 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => any::<usize>().prop_map(Op::DeleteBefore),
    ]
}

fn config() -> LogConfig {
    let mut c = LogConfig::default();
    c.segment_bytes = 4096;
    c.segment.index_interval_bytes = 256;
    c.max_message_bytes = 2048;
    c
}

/// Every record of the log from `from`, as (offset, timestamp, key, value, header count).
fn records_from(log: &mut PartitionLog, from: i64) -> Vec<(i64, i64, Vec<u8>, Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut next = from;
    let mut scratch = Vec::new();
    while next < log.next_offset() {
        let bytes = log.read(next, 1024).expect("read");
        let mut pos = 0;
        while pos < bytes.len() {
            let h = samsa::log::batch::verify(&bytes[pos..]).expect("valid");
            samsa::log::batch::for_each_record(&bytes[pos..pos + h.total_size()], &mut scratch, |r| {
                if r.offset >= next {
                    out.push((r.offset, r.timestamp, r.key.unwrap_or_default().to_vec(), r.value.unwrap_or_default().to_vec(), r.headers.len()));
                }
            })
            .expect("decode");
            pos += h.total_size();
        }
        next = out.last().map_or(i64::MAX, |r| r.0 + 1);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_a_vec(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let mut log = open_log(&path, config(), true).unwrap();
        // The model: every record ever appended, and the log start.
        let mut model: Vec<(i64, Vec<u8>, Vec<u8>, usize)> = Vec::new();
        let mut start = 0usize;
        for op in ops {
            match op {
                Op::Append(lens, gzip) => {
                    let base = model.len();
                    let vals: Vec<(Vec<u8>, Vec<u8>)> = lens
                        .iter()
                        .enumerate()
                        .map(|(j, &len)| (format!("k{}", base + j).into_bytes(), common::value(base + j, len)))
                        .collect();
                    let header = [Header { key: b"h", value: Some(b"v") }];
                    let records: Vec<Record<'_>> = vals
                        .iter()
                        .enumerate()
                        .map(|(j, (k, v))| Record {
                            timestamp: 10_000 + (base + j) as i64,
                            key: Some(k),
                            value: Some(v),
                            headers: if j % 3 == 0 { &header } else { &[] },
                        })
                        .collect();
                    let compression = if gzip { Compression::Gzip } else { Compression::None };
                    let r = log.append(&records, compression, 0).unwrap();
                    prop_assert_eq!(r.base_offset, base as i64);
                    prop_assert_eq!(r.last_offset, (base + lens.len() - 1) as i64);
                    for (j, (k, v)) in vals.into_iter().enumerate() {
                        model.push((10_000 + (base + j) as i64, k, v, usize::from(j % 3 == 0)));
                    }
                }
                Op::Read(i) => {
                    let at = start + i % (model.len() - start + 1);
                    let got = records_from(&mut log, at as i64);
                    prop_assert_eq!(got.len(), model.len() - at);
                    for (g, (o, m)) in got.iter().zip(model.iter().enumerate().skip(at)) {
                        prop_assert_eq!(g.0, o as i64);
                        prop_assert_eq!(g.1, m.0);
                        prop_assert_eq!(&g.2, &m.1);
                        prop_assert_eq!(&g.3, &m.2);
                        prop_assert_eq!(g.4, m.3);
                    }
                }
                Op::Roll => log.roll(0).unwrap(),
                Op::Reopen { clean } => {
                    if clean {
                        log.close(0).unwrap();
                    }
                    drop(log);
                    log = open_log(&path, config(), clean).unwrap();
                }
                Op::DeleteBefore(i) => {
                    let at = start + i % (model.len() - start + 1);
                    prop_assert_eq!(log.delete_records_before(at as i64, 0).unwrap(), at as i64);
                    start = at;
                }
            }
            prop_assert_eq!(log.next_offset(), model.len() as i64);
            prop_assert_eq!(log.log_start_offset(), start as i64);
        }
        let all = records_from(&mut log, start as i64);
        prop_assert_eq!(all.len(), model.len() - start);
    }
}
