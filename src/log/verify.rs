//! A full check of a partition's files, read-only: every batch's CRC and offsets, the
//! continuity between segments, and every index entry against the log. Transaction
//! markers are counted, and transactions with records but no marker yet are listed (the
//! coordinator ends them, unless its state was lost: a hanging transaction). Damage is
//! reported, not fixed; [`repair_partition`] cuts a partition at its first damage, only
//! when asked, and says which offsets that gives up.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::log::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use crate::log::producers::ProducerStates;
use crate::log::segment::{examine, file_name, follows, segment_bases, Damage, Scan};

#[derive(Clone, Debug)]
pub struct SegmentReport {
    pub path: PathBuf,
    pub base_offset: i64,
    /// The offset after the last record found.
    pub end_offset: i64,
    pub batches: u64,
    pub bytes: u64,
    pub damage: Vec<Damage>,
    /// Index entries that do not match the log (harmless to the data: indexes are hints,
    /// rebuilt by a repair).
    pub index_problems: Vec<String>,
    /// Bytes after the last valid batch of the newest segment: a write torn by a crash,
    /// cut off when the broker next opens the directory. Not damage.
    pub torn_tail: Option<(u64, String)>,
}

#[derive(Clone, Debug)]
pub struct PartitionReport {
    pub topic: String,
    pub partition: i32,
    pub dir: PathBuf,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub segments: Vec<SegmentReport>,
    /// Transaction markers (control batches) found.
    pub markers: u64,
    /// Transactions with records and no marker yet: (producer id, epoch, first offset).
    pub open_transactions: Vec<(i64, i16, i64)>,
}

impl PartitionReport {
    pub fn damage(&self) -> impl Iterator<Item = (&SegmentReport, &Damage)> {
        self.segments.iter().flat_map(|s| s.damage.iter().map(move |d| (s, d)))
    }

    pub fn is_damaged(&self) -> bool {
        self.damage().next().is_some()
    }

    pub fn index_problems(&self) -> usize {
        self.segments.iter().map(|s| s.index_problems.len()).sum()
    }
}

fn read_all_entries(path: &Path, entry: usize) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Ok(b[..b.len() / entry * entry].to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io_at("reading", path, e)),
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Scans one segment whole. `newest`: it is the partition's active segment, whose
/// unframed tail is a torn write rather than damage.
pub fn scan_segment(dir: &Path, base_offset: i64, newest: bool, gaps: bool, txns: &mut Transactions) -> Result<SegmentReport> {
    let path = dir.join(file_name(base_offset, "log"));
    let file = File::open(&path).map_err(|e| Error::io_at("opening", &path, e))?;
    let len = file.metadata().map_err(|e| Error::io_at("reading", &path, e))?.len();
    let mut report = SegmentReport {
        path: path.clone(),
        base_offset,
        end_offset: base_offset,
        batches: 0,
        bytes: len,
        damage: Vec::new(),
        index_problems: Vec::new(),
        torn_tail: None,
    };

    // Index entries, checked as the scan passes the positions they name.
    let offsets = read_all_entries(&dir.join(file_name(base_offset, "index")), 8)?;
    let offsets: Vec<(u32, u32)> = offsets
        .chunks(8)
        .map(|e| (be_u32(&e[..4]), be_u32(&e[4..])))
        .take_while(|&(rel, pos)| pos != 0 || rel != 0)
        .collect();
    let times = read_all_entries(&dir.join(file_name(base_offset, "timeindex")), 12)?;
    let times: Vec<(i64, u32)> = times
        .chunks(12)
        .map(|e| (i64::from_be_bytes(e[..8].try_into().unwrap_or([0; 8])), be_u32(&e[8..])))
        .take_while(|&(ts, rel)| ts != 0 || rel != 0)
        .collect();
    let mut next_index = 0;
    let mut batch_ends: Vec<(i64, i64)> = Vec::new(); // (last offset, max timestamp so far), sparse

    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let mut position = 0u64;
    let mut expected = base_offset;
    let mut max_ts = i64::MIN;
    let mut buf = Vec::new();
    let mut reader_at = 0u64;
    while position < len {
        if reader_at != position {
            use std::io::Seek;
            reader.seek(std::io::SeekFrom::Start(position)).map_err(|e| Error::io_at("reading", &path, e))?;
            reader_at = position;
        }
        let whole = read_whole(&mut reader, &mut buf, (len - position) as usize);
        reader_at += buf.len() as u64;
        let scan = match whole {
            Some(h) if follows(h.base_offset, expected, gaps) && batch::verify(&buf).is_ok() => Scan::Valid(h),
            _ => examine(&file, &path, position, expected, len, gaps)?,
        };
        match scan {
            Scan::Valid(h) => {
                while next_index < offsets.len() && (offsets[next_index].1 as u64) <= position {
                    let (rel, pos) = offsets[next_index];
                    if pos as u64 != position || base_offset + rel as i64 != h.base_offset {
                        report.index_problems.push(format!(
                            "offset index entry {next_index} (offset {}, byte {pos}) does not point at the start of that batch",
                            base_offset + rel as i64
                        ));
                    }
                    next_index += 1;
                }
                max_ts = max_ts.max(h.max_timestamp);
                batch_ends.push((h.last_offset(), max_ts));
                txns.note(&h);
                report.batches += 1;
                expected = h.last_offset() + 1;
                position += h.total_size() as u64;
            }
            Scan::Damaged(d) => {
                position = d.end;
                if d.last_offset >= d.first_offset {
                    expected = d.last_offset + 1;
                }
                report.damage.push(d);
            }
            Scan::Unframed(why) if newest => {
                report.torn_tail = Some((position, why));
                break;
            }
            Scan::Unframed(why) => {
                report.damage.push(Damage { position, end: len, first_offset: expected, last_offset: i64::MAX - 1, detail: why });
                break;
            }
        }
    }
    for (i, (rel, pos)) in offsets.iter().enumerate().skip(next_index) {
        report.index_problems.push(format!(
            "offset index entry {i} (offset {}, byte {pos}) points past the last batch",
            base_offset + *rel as i64
        ));
    }
    let mut last: Option<(i64, u32)> = None;
    for (i, &(ts, rel)) in times.iter().enumerate() {
        let offset = base_offset + rel as i64;
        if last.is_some_and(|(lt, lr)| ts < lt || rel <= lr) {
            report.index_problems.push(format!("time index entry {i} goes backwards"));
        } else if offset >= expected {
            report.index_problems.push(format!("time index entry {i} names offset {offset}, past the last record"));
        } else {
            let at = batch_ends.partition_point(|(l, _)| *l < offset);
            if batch_ends.get(at).is_some_and(|&(_, so_far)| ts > so_far) {
                report.index_problems.push(format!(
                    "time index entry {i} claims timestamp {ts} at offset {offset}, newer than any record up to it"
                ));
            }
        }
        last = Some((ts, rel));
    }
    report.end_offset = expected;
    Ok(report)
}

fn read_whole(reader: &mut impl Read, buf: &mut Vec<u8>, remaining: usize) -> Option<BatchHeader> {
    buf.clear();
    if remaining < HEADER_LEN {
        return None;
    }
    buf.resize(LOG_OVERHEAD, 0);
    reader.read_exact(buf).ok()?;
    let length = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if length < (HEADER_LEN - LOG_OVERHEAD) as i32 || LOG_OVERHEAD + length as usize > remaining {
        return None;
    }
    buf.resize(LOG_OVERHEAD + length as usize, 0);
    reader.read_exact(&mut buf[LOG_OVERHEAD..]).ok()?;
    BatchHeader::parse(buf)
}

/// Checks every segment of the partition in `dir`.
pub fn verify_partition(dir: &Path, topic: &str, partition: i32) -> Result<PartitionReport> {
    let bases = segment_bases(dir)?;
    let log_start = match std::fs::read_to_string(dir.join("log-start-offset")) {
        Ok(s) => s.trim().parse().unwrap_or(0),
        Err(_) => 0,
    };
    let gaps_below = crate::log::cleaner::checkpoint::Checkpoint::read(dir).gaps_below;
    let mut segments: Vec<SegmentReport> = Vec::with_capacity(bases.len());
    let mut txns = Transactions::default();
    for (i, &base) in bases.iter().enumerate() {
        let newest = i + 1 == bases.len();
        let gaps = !newest && base < gaps_below;
        let mut report = scan_segment(dir, base, newest, gaps, &mut txns)?;
        if let Some(&next) = bases.get(i + 1) {
            for d in &mut report.damage {
                if d.last_offset >= next {
                    d.last_offset = next - 1;
                }
            }
            if !gaps && report.end_offset < next && report.damage.iter().all(|d| d.last_offset < next - 1) {
                report.damage.push(Damage {
                    position: report.bytes,
                    end: report.bytes,
                    first_offset: report.end_offset,
                    last_offset: next - 1,
                    detail: format!("offsets {} to {} are missing before the next segment", report.end_offset, next - 1),
                });
            }
        }
        segments.push(report);
    }
    let high = segments.last().map_or(log_start, |s| s.end_offset);
    Ok(PartitionReport {
        topic: topic.to_string(),
        partition,
        dir: dir.to_path_buf(),
        log_start_offset: log_start.max(bases.first().copied().unwrap_or(0)),
        high_watermark: high,
        segments,
        markers: txns.markers,
        open_transactions: txns.open.into_iter().map(|(pid, (epoch, first))| (pid, epoch, first)).collect(),
    })
}

/// The transactions a scan walks through, in offset order.
#[derive(Default)]
pub struct Transactions {
    markers: u64,
    /// By producer id, the epoch and first offset of its transaction with no marker yet.
    open: std::collections::BTreeMap<i64, (i16, i64)>,
}

impl Transactions {
    fn note(&mut self, h: &BatchHeader) {
        if h.is_control() {
            self.markers += 1;
            self.open.remove(&h.producer_id);
        } else if h.is_transactional() {
            self.open.entry(h.producer_id).or_insert((h.producer_epoch, h.base_offset));
        }
    }
}

/// Cuts the partition at its first damaged batch: that segment is truncated there, later
/// segments are deleted, and the indexes of the cut segment are rebuilt when the broker
/// next opens it. Returns the offsets given up (first, last), or None if nothing was
/// damaged. Only for a data directory no broker has open.
pub fn repair_partition(report: &PartitionReport) -> Result<Option<(i64, i64)>> {
    let Some((seg, d)) = report.damage().next() else { return Ok(None) };
    let (cut_base, cut_at, first) = (seg.base_offset, d.position, d.first_offset);
    let dir = &report.dir;
    let path = dir.join(file_name(cut_base, "log"));
    let file = std::fs::OpenOptions::new().write(true).open(&path).map_err(|e| Error::io_at("opening", &path, e))?;
    file.set_len(cut_at).map_err(|e| Error::io_at("truncating", &path, e))?;
    file.sync_all().map_err(|e| Error::io_at("fsync", &path, e))?;
    drop(file);
    let remove = |p: PathBuf| match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io_at("deleting", &p, e)),
    };
    for ext in ["index", "timeindex"] {
        remove(dir.join(file_name(cut_base, ext)))?;
    }
    for later in report.segments.iter().filter(|s| s.base_offset > cut_base) {
        for ext in ["log", "index", "timeindex"] {
            remove(dir.join(file_name(later.base_offset, ext)))?;
        }
    }
    ProducerStates::discard_after(dir, first);
    // What the cleaner deduplicated up to may be cut: it maps from the cut again.
    let mut checkpoint = crate::log::cleaner::checkpoint::Checkpoint::read(dir);
    if checkpoint.first_dirty > first {
        checkpoint.first_dirty = first;
        checkpoint.write(dir)?;
    }
    crate::fsutil::sync_dir(dir)?;
    // Read back what was cut, to say so exactly.
    let _ = File::open(&path).and_then(|f| f.read_at(&mut [0u8; 0], 0));
    Ok(Some((first, report.high_watermark.max(first + 1) - 1)))
}
