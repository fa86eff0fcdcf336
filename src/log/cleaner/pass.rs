//! One cleaning pass over one partition.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::log::batch::{self, BatchHeader, BatchInfo, HEADER_LEN, LOG_OVERHEAD};
use crate::log::files::FileCache;
use crate::log::partition::{LogConfig, PartitionLog};
use crate::log::segment::Segment;

use super::filter::{self, Counts, Outcome, Rules};
use super::key_map::KeyMap;
use super::swap;
use super::throttle::Throttle;
use super::transactions::{TxnBatch, TxnWalk};
use crate::log::AbortedTxn;

/// The broker's cleaner settings a pass needs.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The most the key map may take (Kafka's `log.cleaner.dedupe.buffer.size`).
    pub dedupe_buffer_bytes: usize,
    /// Reads and writes per second (0: unthrottled).
    pub io_max_bytes_per_second: f64,
}

/// A segment as the pass sees it: sealed segments do not change while it reads them; a
/// swap checks that they are still there as they were.
#[derive(Clone, Debug)]
pub struct SegmentRef {
    pub base: i64,
    /// The next segment's base (the log's next offset for the active segment).
    pub next: i64,
    pub size: u64,
    pub path: PathBuf,
}

/// What a pass works on, taken under the partition's lock.
pub struct Plan {
    pub dir: PathBuf,
    pub config: LogConfig,
    pub files: Arc<FileCache>,
    /// Every segment, the active one last.
    pub segments: Vec<SegmentRef>,
    pub first_dirty: i64,
    /// A segment base: nothing from here on is cleaned.
    pub first_uncleanable: i64,
    /// The log's next offset when the pass was planned.
    pub high_watermark: i64,
    /// The aborted transactions below the first uncleanable offset.
    pub aborted: Vec<AbortedTxn>,
}

/// What a pass did.
#[derive(Clone, Debug)]
pub struct Report {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// Distinct keys mapped, and the map's memory.
    pub keys: usize,
    pub map_bytes: usize,
    pub segments_rewritten: usize,
    /// The first dirty offset of the next pass.
    pub end_offset: i64,
    /// The log changed under the pass (retention, deletion): what was swapped stays.
    pub aborted: bool,
    /// The earliest delete horizon of the tombstones kept (i64::MAX: none).
    pub earliest_horizon: i64,
    /// Time spent mapping keys, and in all.
    pub map_seconds: f64,
    pub seconds: f64,
}

/// Producers whose last batch is older than this are forgotten (Kafka's
/// `producer.id.expiration.ms`); the cleaner keeps the last batch of the others.
const PRODUCER_EXPIRATION_MS: i64 = 24 * 3600 * 1000;
/// Cleaned batches are written in chunks of about this size.
const WRITE_CHUNK: usize = 1 << 20;

fn lock(log: &Mutex<PartitionLog>) -> MutexGuard<'_, PartitionLog> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

/// Cleans the partition once, if it has anything cleanable, with `now_ms` as the time.
/// None when there was nothing to clean. `stop` ends the pass between chunks when it
/// says so. The caller makes sure no other pass runs on the partition meanwhile.
pub fn clean(log: &Mutex<PartitionLog>, now_ms: i64, settings: &Settings, stop: &dyn Fn() -> bool) -> Result<Option<Report>> {
    let Some(plan) = lock(log).plan_cleaning(now_ms)? else { return Ok(None) };
    let started = Instant::now();
    let mut report = Report {
        bytes_read: 0,
        bytes_written: 0,
        records_removed: 0,
        tombstones_removed: 0,
        keys: 0,
        map_bytes: 0,
        segments_rewritten: 0,
        end_offset: 0,
        aborted: false,
        earliest_horizon: i64::MAX,
        map_seconds: 0.0,
        seconds: 0.0,
    };
    let mut throttle = Throttle::new(settings.io_max_bytes_per_second, stop);
    let mut map = KeyMap::new(settings.dedupe_buffer_bytes);
    let map_end = build_map(&plan, &mut map, &mut throttle, &mut report)?;
    report.map_seconds = started.elapsed().as_secs_f64();
    report.keys = map.len();
    report.map_bytes = map.memory_bytes();
    if map_end <= plan.first_dirty && plan.first_dirty < plan.first_uncleanable {
        return Err(Error::InvalidConfig(format!(
            "the cleaner's key map ({} bytes) cannot hold the keys of one batch at offset {} of {}: raise cleanerDedupeBufferSize",
            settings.dedupe_buffer_bytes,
            plan.first_dirty,
            plan.dir.display()
        )));
    }
    let keep = last_batches_of_producers(&plan, now_ms, &throttle)?;
    // A record goes because of a later one of its key: that one must be on disk before
    // anything is removed, whether or not the broker fsyncs appends.
    sync_mapped(&plan, map_end, &throttle)?;
    let rules = Rules {
        map: &map,
        map_end,
        now_ms,
        new_horizon_ms: now_ms.saturating_add(plan.config.cleanup.delete_retention_ms),
    };
    let rewrite: Vec<&SegmentRef> = plan.segments[..plan.segments.len() - 1].iter().filter(|s| s.base < map_end).collect();
    // One walk over every group: a marker stays while the pass reads data of its
    // transaction, wherever that lies.
    let mut txns = TxnWalk::new(&plan.aborted, rewrite.first().map_or(0, |s| s.base));
    for group in groups(&rewrite, plan.config.segment_bytes) {
        match clean_group(log, &plan, &group, &rules, &keep, &mut txns, &mut throttle, &mut report) {
            Ok(true) => report.segments_rewritten += group.len(),
            Ok(false) => {
                report.aborted = true;
                break;
            }
            Err(e) => {
                let _ = swap::discard(&plan.dir);
                return Err(e);
            }
        }
    }
    if !report.aborted {
        PartitionLog::cleaned_through(log, map_end, report.earliest_horizon)?;
    }
    report.end_offset = map_end;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(Some(report))
}

/// Reads whole, verified batches of a segment file in order, each straight into one
/// buffer (batches are large enough that a buffered reader's extra copy costs more than
/// the two reads a batch takes).
struct Batches {
    file: File,
    path: PathBuf,
    position: u64,
    remaining: u64,
    buf: Vec<u8>,
}

impl Batches {
    fn open(s: &SegmentRef) -> Result<Self> {
        let file = File::open(&s.path).map_err(|e| Error::io_at("opening", &s.path, e))?;
        Ok(Batches { file, path: s.path.clone(), position: 0, remaining: s.size, buf: Vec::new() })
    }

    fn read_at(&mut self, from: usize, to: usize) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .read_exact_at(&mut self.buf[from..to], self.position + from as u64)
            .map_err(|e| Error::io_at("reading", &self.path, e))
    }

    fn next(&mut self) -> Result<Option<(BatchHeader, &[u8])>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let path = self.path.clone();
        let damaged = |what: &str| Error::Corrupt {
            path: path.clone(),
            position: 0,
            offset: None,
            partition: None,
            detail: format!("the cleaner stops at a damaged batch: {what}"),
        };
        if self.remaining < HEADER_LEN as u64 {
            return Err(damaged("bytes after the last batch"));
        }
        self.buf.resize(LOG_OVERHEAD, 0);
        self.read_at(0, LOG_OVERHEAD)?;
        let length = i32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]);
        let total = LOG_OVERHEAD as u64 + length.max(0) as u64;
        if length < (HEADER_LEN - LOG_OVERHEAD) as i32 || total > self.remaining {
            return Err(damaged("a batch length that does not fit"));
        }
        self.buf.resize(total as usize, 0);
        self.read_at(LOG_OVERHEAD, total as usize)?;
        self.position += total;
        self.remaining -= total;
        let h = batch::verify(&self.buf).map_err(|_| damaged("a batch that fails its check"))?;
        Ok(Some((h, &self.buf)))
    }
}

/// Maps the keys of the dirty section to their latest offsets, until the map is full.
/// Returns the end of what was mapped: records from there on are kept as they are.
fn build_map(plan: &Plan, map: &mut KeyMap, throttle: &mut Throttle<'_>, report: &mut Report) -> Result<i64> {
    let mut end = plan.first_dirty;
    let mut scratch = Vec::new();
    let mapped: Vec<&SegmentRef> = plan.segments.iter().filter(|s| s.next > plan.first_dirty && s.base < plan.first_uncleanable).collect();
    let mut txns = TxnWalk::new(&plan.aborted, mapped.first().map_or(0, |s| s.base));
    for s in mapped {
        let mut batches = Batches::open(s)?;
        while let Some((h, bytes)) = batches.next()? {
            throttle.spend(bytes.len())?;
            report.bytes_read += bytes.len() as u64;
            // Markers and aborted records contribute no key: an aborted write must never
            // hide an older committed value.
            let data = txns.classify(&h) == TxnBatch::Data;
            if h.last_offset() < plan.first_dirty {
                continue;
            }
            if !data {
                end = h.last_offset() + 1;
                continue;
            }
            let mut records = Vec::with_capacity(h.record_count.clamp(0, 1 << 16) as usize);
            filter::parse(bytes, &mut scratch, map, i64::MAX, &mut records)?;
            let full = records.iter().any(|r| r.key.is_some() && r.offset >= plan.first_dirty && !map.put_hashed(r.hash, r.offset));
            if full {
                return Ok(end.max(h.base_offset));
            }
            end = h.last_offset() + 1;
        }
        // The gap at the end of a rewritten segment is covered too.
        end = end.max(s.next);
    }
    Ok(end)
}

/// The base offset of each idempotent producer's last batch in the log (of producers not
/// yet expired): those batches stay, even emptied, so the producer's sequence survives.
fn last_batches_of_producers(plan: &Plan, now_ms: i64, throttle: &Throttle<'_>) -> Result<std::collections::HashSet<i64>> {
    let mut last: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut head = [0u8; HEADER_LEN];
    for s in &plan.segments {
        throttle.check()?;
        let file = File::open(&s.path).map_err(|e| Error::io_at("opening", &s.path, e))?;
        let mut position = 0u64;
        while position + HEADER_LEN as u64 <= s.size {
            use std::os::unix::fs::FileExt;
            file.read_exact_at(&mut head, position).map_err(|e| Error::io_at("reading", &s.path, e))?;
            let Some(h) = BatchHeader::parse(&head) else { break };
            if h.length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
                break;
            }
            if h.producer_id >= 0 {
                last.insert(h.producer_id, (h.base_offset, h.max_timestamp));
            }
            position += h.total_size() as u64;
        }
    }
    Ok(last
        .into_values()
        .filter(|&(_, ts)| now_ms.saturating_sub(ts) < PRODUCER_EXPIRATION_MS)
        .map(|(base, _)| base)
        .collect())
}

/// Fsyncs the sealed segments the map was built from (cheap when they are synced already).
fn sync_mapped(plan: &Plan, map_end: i64, throttle: &Throttle<'_>) -> Result<()> {
    let last = plan.segments.len() - 1;
    for s in plan.segments[..last].iter().filter(|s| s.next > plan.first_dirty && s.base < map_end) {
        throttle.check()?;
        let file = File::open(&s.path).map_err(|e| Error::io_at("opening", &s.path, e))?;
        file.sync_data().map_err(|e| Error::io_at("fsync", &s.path, e))?;
    }
    Ok(())
}

/// Consecutive segments, each group at most `segment_bytes` before cleaning (at least one
/// segment) and spanning fewer than 2^31 offsets (relative offsets are 32-bit).
fn groups<'a>(segments: &[&'a SegmentRef], segment_bytes: u64) -> Vec<Vec<&'a SegmentRef>> {
    let mut out: Vec<Vec<&SegmentRef>> = Vec::new();
    let mut size = 0u64;
    for s in segments {
        let fits = out.last().is_some_and(|g| {
            size + s.size <= segment_bytes && s.next - g[0].base <= i32::MAX as i64
        });
        if fits {
            size += s.size;
            if let Some(g) = out.last_mut() {
                g.push(s);
            }
        } else {
            size = s.size;
            out.push(vec![s]);
        }
    }
    out
}

/// Writes one group's cleaned segment and swaps it in. False if the log changed meanwhile.
#[allow(clippy::too_many_arguments)]
fn clean_group(
    log: &Mutex<PartitionLog>,
    plan: &Plan,
    group: &[&SegmentRef],
    rules: &Rules<'_>,
    keep: &std::collections::HashSet<i64>,
    txns: &mut TxnWalk<'_>,
    throttle: &mut Throttle<'_>,
    report: &mut Report,
) -> Result<bool> {
    let base = group[0].base;
    let next = group[group.len() - 1].next;
    let cleaning = swap::prepare(&plan.dir)?;
    let mut seg = Segment::create(&cleaning, base, plan.config.segment, &plan.files)?;
    let mut out = Vec::with_capacity(WRITE_CHUNK + (1 << 16));
    let mut infos: Vec<BatchInfo> = Vec::new();
    let mut scratch = Vec::new();
    let mut counts = Counts { earliest_horizon: report.earliest_horizon, ..Counts::default() };
    for s in group {
        let mut batches = Batches::open(s)?;
        while let Some((h, bytes)) = batches.next()? {
            throttle.spend(bytes.len())?;
            report.bytes_read += bytes.len() as u64;
            let at = out.len();
            // The log's last batch stays, even emptied, so a reader at the end of the
            // cleaned range is told where the log goes on (Kafka's KAFKA-17076).
            let keep_empty = keep.contains(&h.base_offset) || h.last_offset() + 1 == plan.high_watermark;
            let outcome = match txns.classify(&h) {
                TxnBatch::Data => filter::filter(bytes, rules, keep_empty, &mut out, &mut scratch, &mut counts)?,
                TxnBatch::Aborted if keep_empty => {
                    filter::emptied(bytes, &mut out)?;
                    Outcome::Rebuilt
                }
                TxnBatch::Aborted => {
                    counts.records_removed += h.record_count.max(0) as u64;
                    Outcome::Gone
                }
                TxnBatch::Marker { data_seen } if data_seen || keep_empty => Outcome::Same,
                TxnBatch::Marker { .. } => filter::discardable_marker(bytes, rules, &mut out, &mut scratch, &mut counts)?,
            };
            match outcome {
                Outcome::Gone => continue,
                Outcome::Same => out.extend_from_slice(bytes),
                Outcome::Rebuilt => {}
            }
            let written = BatchHeader::parse(&out[at..]).ok_or_else(|| Error::InvalidRecord("the cleaner wrote a short batch".into()))?;
            infos.push(BatchInfo::from(&written));
            if out.len() >= WRITE_CHUNK {
                write(&mut seg, &mut out, &mut infos, throttle, report)?;
            }
        }
    }
    write(&mut seg, &mut out, &mut infos, throttle, report)?;
    seg.seal()?;
    seg.file()?.sync_all().map_err(|e| Error::io_at("fsync", seg.path(), e))?;
    drop(seg);
    // The new files' entries are durable before the commit renames their directory.
    crate::fsutil::sync_dir(&cleaning)?;
    report.records_removed += counts.records_removed;
    report.tombstones_removed += counts.tombstones_removed;
    report.earliest_horizon = counts.earliest_horizon;
    let expected: Vec<(i64, u64)> = group.iter().map(|s| (s.base, s.size)).collect();
    PartitionLog::allow_gaps_below(log, next)?;
    let swapped = lock(log).swap_cleaned(base, next, &expected)?;
    if !swapped {
        swap::discard(&plan.dir)?;
        return Ok(false);
    }
    // Outside the partition's lock: until this fsync lands, a crash finishes the swap on
    // the next open.
    crate::fsutil::sync_dir(&plan.dir)?;
    Ok(true)
}

fn write(seg: &mut Segment, out: &mut Vec<u8>, infos: &mut Vec<BatchInfo>, throttle: &mut Throttle<'_>, report: &mut Report) -> Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    throttle.spend(out.len())?;
    seg.append(out, infos)?;
    report.bytes_written += out.len() as u64;
    out.clear();
    infos.clear();
    Ok(())
}
