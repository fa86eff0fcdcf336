//! Append and read throughput of one partition log, beside the floor: the same encoded
//! bytes written with plain `write` calls. No benchmark framework, so `cargo test` builds
//! nothing extra. Run: `cargo bench --bench log_append`.

use std::io::Write;
use std::time::Instant;

use samsa::log::{batch, Compression, LogConfig, OpenOptions, PartitionLog, Record};

const RECORDS: usize = 1_000_000;
const PER_APPEND: usize = 250;

fn main() {
    let keys: Vec<Vec<u8>> = (0..RECORDS).map(|i| format!("rider-{:010}", i % 100_000).into_bytes()).collect();
    let values: Vec<Vec<u8>> = (0..RECORDS).map(|i| {
        let mut v = vec![b'x'; 100];
        v[..8].copy_from_slice(&(i as u64).to_be_bytes());
        v
    }).collect();
    let records: Vec<Record<'_>> = (0..RECORDS)
        .map(|i| Record { timestamp: 1_700_000_000_000 + i as i64, key: Some(&keys[i]), value: Some(&values[i]), headers: &[] })
        .collect();

    let dir = tempfile::tempdir().expect("tempdir");

    // Floor: encode once, then time only writing the encoded batches.
    let mut encoded = Vec::new();
    let mut chunks = Vec::new();
    for (n, chunk) in records.chunks(PER_APPEND).enumerate() {
        let start = encoded.len();
        batch::encode_batch(&mut encoded, (n * PER_APPEND) as i64, chunk, Compression::None, None).expect("encode");
        chunks.push(start..encoded.len());
    }
    let mut f = std::fs::File::create(dir.path().join("floor.log")).expect("create");
    let t = Instant::now();
    for c in &chunks {
        f.write_all(&encoded[c.clone()]).expect("write");
    }
    let floor = t.elapsed();
    report("floor: write() of pre-encoded batches", RECORDS, floor);

    let t = Instant::now();
    let mut scratch = Vec::new();
    for (n, chunk) in records.chunks(PER_APPEND).enumerate() {
        scratch.clear();
        batch::encode_batch(&mut scratch, (n * PER_APPEND) as i64, chunk, Compression::None, None).expect("encode");
    }
    report("encode only", RECORDS, t.elapsed());

    let mut log = PartitionLog::open(&dir.path().join("p"), LogConfig::default(), OpenOptions::standalone(true)).expect("open");
    let t = Instant::now();
    for chunk in records.chunks(PER_APPEND) {
        log.append(chunk, Compression::None, 0).expect("append");
    }
    let append = t.elapsed();
    report(&format!("PartitionLog::append x {PER_APPEND}"), RECORDS, append);
    println!("append reaches {:.0}% of the floor's rate", floor.as_secs_f64() / append.as_secs_f64() * 100.0);

    let t = Instant::now();
    let mut next = 0i64;
    let mut count = 0usize;
    let mut scratch = Vec::new();
    while next < log.next_offset() {
        let bytes = log.read(next, 1 << 20).expect("read");
        let mut pos = 0;
        while pos < bytes.len() {
            let h = batch::verify(&bytes[pos..]).expect("verify");
            batch::for_each_record(&bytes[pos..pos + h.total_size()], &mut scratch, |r| {
                count += 1;
                next = r.offset + 1;
            })
            .expect("decode");
            pos += h.total_size();
        }
    }
    assert_eq!(count, RECORDS);
    report("read + verify + decode, 1 MiB reads", RECORDS, t.elapsed());
}

fn report(name: &str, n: usize, d: std::time::Duration) {
    let secs = d.as_secs_f64();
    println!("{name:<44} {:>12.0} records/s {:>8.1} ns/record", n as f64 / secs, secs * 1e9 / n as f64);
}
