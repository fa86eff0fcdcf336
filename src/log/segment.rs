//! One segment of a partition: `<base offset, 20 digits>.log` with its `.index` and
//! `.timeindex`. Appends go to the end of the active segment; older (sealed) segments are
//! read-only until retention deletes them whole.
//!
//! A segment holds no file descriptor of its own: its log goes through the broker's
//! [`FileCache`], and its indexes are mapped without keeping their files open. A sealed
//! segment opened after a clean stop is not even read until it is used: its indexes are
//! mapped and its newest timestamp worked out on first use.
//!
//! Damage (bytes that fail their CRC or break the batch framing) is recorded per segment
//! as a range of file positions and offsets. A read that reaches it fails with a
//! `Corrupt` error naming the file and offset; reads after it go on, since the segment
//! knows where valid batches start again.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::batch::{self, BatchHeader, BatchInfo, Invalid, HEADER_LEN, LOG_OVERHEAD};
use crate::log::files::{CachedFile, FileCache};
use crate::log::index::{OffsetIndex, TimeIndex};

/// Limits that shape a segment's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentConfig {
    /// Bytes of log between index entries (Kafka's `index.interval.bytes`).
    pub index_interval_bytes: u64,
    /// Size limit of each index file (Kafka's `segment.index.bytes`).
    pub max_index_bytes: usize,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig { index_interval_bytes: 4096, max_index_bytes: 10 * 1024 * 1024 }
    }
}

/// How much of a segment to check when it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Verify the batches after the last index entry.
    Tail,
    /// Verify every batch and rebuild the indexes (the active segment after an unclean stop).
    Full,
}

/// Bytes of a segment that do not hold valid batches, and the offsets they make unreadable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// First byte of the damage.
    pub position: u64,
    /// The byte after it, where valid batches start again (or the end of the segment).
    pub end: u64,
    pub first_offset: i64,
    /// The last offset made unreadable; below `first_offset` when the damage is bytes
    /// between batches that hide no record.
    pub last_offset: i64,
    pub detail: String,
}

impl Damage {
    pub fn hides(&self, offset: i64) -> bool {
        self.first_offset <= offset && offset <= self.last_offset
    }
}

pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// What the bytes at a position of a log file are.
#[derive(Debug)]
pub enum Scan {
    /// A valid batch with the expected base offset.
    Valid(BatchHeader),
    /// Damage whose extent is known (valid batches, or the end of the file, follow).
    Damaged(Damage),
    /// Nothing valid from here to the end: a torn final write, or junk after the last batch.
    Unframed(String),
}

/// The base offsets of the `.log` files in `dir`.
pub fn segment_bases(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io_at("listing", dir, e))? {
        let entry = entry.map_err(|e| Error::io_at("listing", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 {
                if let Ok(base) = stem.parse::<i64>() {
                    bases.push(base);
                }
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Whether a batch with base offset `base` may follow where `expected` is the next offset:
/// only the same offset, or a later one in a segment the cleaner has rewritten (its log
/// has gaps where it removed records).
pub fn follows(base: i64, expected: i64, gaps: bool) -> bool {
    base == expected || (gaps && base > expected)
}

/// Classifies the bytes at `position` of `file` (whose first `end` bytes count), where a
/// batch with base offset `expected` (or later, with `gaps`) should start.
pub fn examine(file: &std::fs::File, path: &Path, position: u64, expected: i64, end: u64, gaps: bool) -> Result<Scan> {
    let read = |buf: &mut [u8], at: u64| file.read_exact_at(buf, at).map_err(|e| Error::io_at("reading", path, e));
    let remaining = end.saturating_sub(position);
    if remaining < HEADER_LEN as u64 {
        return Ok(Scan::Unframed(format!("{remaining} bytes at the end are too short for a batch")));
    }
    let mut head = [0u8; HEADER_LEN];
    read(&mut head, position)?;
    let Some(h) = BatchHeader::parse(&head) else {
        return Ok(Scan::Unframed("no batch header".into()));
    };
    let declared = h.total_size() as u64;
    let framed = h.magic == batch::MAGIC
        && h.length >= (HEADER_LEN - LOG_OVERHEAD) as i32
        && declared <= remaining
        && follows(h.base_offset, expected, gaps)
        && h.last_offset_delta >= 0;
    // A batch whose CRC matches over some plausible extent is whole but for a field the
    // CRC does not cover (base offset, length, magic): its records are where they were.
    let mut crc_extent = None;
    for total in [declared, remaining] {
        if total >= HEADER_LEN as u64 && total <= remaining && crc_extent.is_none() {
            let mut bytes = vec![0u8; total as usize];
            read(&mut bytes, position)?;
            if crc32c::crc32c(&bytes[21..]) == h.crc {
                crc_extent = Some(total);
            }
        }
    }
    if let Some(total) = crc_extent {
        if framed && total == declared {
            return Ok(Scan::Valid(h));
        }
        let last = if h.last_offset_delta >= 0 { expected + h.last_offset_delta as i64 } else { expected };
        return Ok(Scan::Damaged(Damage {
            position,
            end: position + total,
            first_offset: expected,
            last_offset: last,
            detail: "a batch's offset, length or magic field is damaged".into(),
        }));
    }
    if framed {
        return Ok(Scan::Damaged(Damage {
            position,
            end: position + declared,
            first_offset: expected,
            last_offset: h.last_offset(),
            detail: "a batch fails its CRC-32C check".into(),
        }));
    }
    match next_valid_batch(file, path, position + 1, end, expected)? {
        Some((at, base)) => Ok(Scan::Damaged(Damage {
            position,
            end: at,
            first_offset: expected,
            last_offset: base - 1,
            detail: if base > expected {
                "bytes that are not a valid batch".into()
            } else {
                "bytes between two batches that belong to neither".into()
            },
        })),
        None => Ok(Scan::Unframed(if h.magic == batch::MAGIC && declared > remaining {
            format!("batch of {declared} bytes runs past the end of the file")
        } else {
            "bytes that are not a batch, and no valid batch after them".into()
        })),
    }
}

/// The first valid batch starting in `[from, end)` with a base offset of at least
/// `min_base`, as (position, base offset). Reads in windows so a large segment is not
/// loaded whole.
fn next_valid_batch(file: &std::fs::File, path: &Path, from: u64, end: u64, min_base: i64) -> Result<Option<(u64, i64)>> {
    const WINDOW: u64 = 1 << 20;
    let mut window = Vec::new();
    let mut at = from;
    while at + (HEADER_LEN as u64) <= end {
        let len = (WINDOW + HEADER_LEN as u64).min(end - at) as usize;
        window.resize(len, 0);
        file.read_exact_at(&mut window, at).map_err(|e| Error::io_at("reading", path, e))?;
        for i in 0..len.saturating_sub(HEADER_LEN - 1).min(WINDOW as usize) {
            // Cheap filters first: the magic byte, a plausible offset and length.
            if window[i + 16] != batch::MAGIC as u8 {
                continue;
            }
            let Some(h) = BatchHeader::parse(&window[i..]) else { continue };
            let candidate = at + i as u64;
            if h.base_offset < min_base
                || h.length < (HEADER_LEN - LOG_OVERHEAD) as i32
                || candidate + h.total_size() as u64 > end
            {
                continue;
            }
            let mut bytes = vec![0u8; h.total_size()];
            file.read_exact_at(&mut bytes, candidate).map_err(|e| Error::io_at("reading", path, e))?;
            if batch::verify(&bytes).is_ok() {
                return Ok(Some((candidate, h.base_offset)));
            }
        }
        at += WINDOW;
    }
    Ok(None)
}

struct Indexes {
    offset: OffsetIndex,
    time: TimeIndex,
}

pub struct Segment {
    base_offset: i64,
    dir: PathBuf,
    log_path: PathBuf,
    file: CachedFile,
    size: u64,
    next_offset: i64,
    /// Largest record timestamp (i64::MIN when empty); None until a lazily opened sealed
    /// segment is first used.
    max_timestamp: Option<i64>,
    /// Timestamp of the first batch, which `segment.ms` measures the segment's age from.
    first_timestamp: Option<i64>,
    /// None until first used (a sealed segment opened lazily).
    indexes: Option<Indexes>,
    bytes_since_index: u64,
    config: SegmentConfig,
    damage: Vec<Damage>,
    sealed: bool,
    /// The cleaner rewrote this segment: offsets may skip ahead between batches, and it
    /// may end before the next segment's base.
    gaps: bool,
}

impl Segment {
    /// A new, empty active segment.
    pub fn create(dir: &Path, base_offset: i64, config: SegmentConfig, files: &Arc<FileCache>) -> Result<Self> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let file = CachedFile::create(files, &log_path).map_err(|e| Error::io_at("creating segment", &log_path, e))?;
        let mut seg = Segment::new(dir, base_offset, log_path, file, 0, config);
        seg.max_timestamp = Some(i64::MIN);
        seg.load_indexes()?;
        Ok(seg)
    }

    fn new(dir: &Path, base_offset: i64, log_path: PathBuf, file: CachedFile, size: u64, config: SegmentConfig) -> Self {
        Segment {
            base_offset,
            dir: dir.to_path_buf(),
            log_path,
            file,
            size,
            next_offset: base_offset,
            max_timestamp: None,
            first_timestamp: None,
            indexes: None,
            bytes_since_index: 0,
            config,
            damage: Vec::new(),
            sealed: false,
            gaps: false,
        }
    }

    /// A sealed segment known to end before `next_offset` (the next segment's base),
    /// opened without reading it: nothing is read until it is used. `gaps`: the cleaner
    /// rewrote it.
    pub fn open_sealed(
        dir: &Path,
        base_offset: i64,
        next_offset: i64,
        config: SegmentConfig,
        files: &Arc<FileCache>,
        gaps: bool,
    ) -> Result<Self> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let size = std::fs::metadata(&log_path).map_err(|e| Error::io_at("opening segment", &log_path, e))?.len();
        let file = CachedFile::existing(files, &log_path);
        let mut seg = Segment::new(dir, base_offset, log_path, file, size, config);
        seg.next_offset = next_offset;
        seg.sealed = true;
        seg.gaps = gaps;
        Ok(seg)
    }

    /// Opens a segment and verifies it as `recovery` says, recording damage. `clean`:
    /// the last stop was clean, so every byte of the file was acknowledged. `active`: it
    /// is the newest segment. A torn final write (only after an unclean stop), or junk
    /// after the last valid batch, is cut off; damage with valid batches after it, or
    /// whole damaged batches after a clean stop, are kept and recorded, never dropped.
    /// `gaps`: the cleaner rewrote it (the newest segment only after `samsa verify
    /// --repair` cut the ones after it).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        recovery: Recovery,
        clean: bool,
        active: bool,
        files: &Arc<FileCache>,
        gaps: bool,
    ) -> Result<Self> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let size = std::fs::metadata(&log_path).map_err(|e| Error::io_at("opening segment", &log_path, e))?.len();
        let file = CachedFile::existing(files, &log_path);
        let mut seg = Segment::new(dir, base_offset, log_path, file, size, config);
        seg.sealed = !active;
        seg.gaps = gaps;
        seg.load_indexes()?;
        seg.recover(recovery, clean)?;
        Ok(seg)
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The offset the next appended record gets.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    pub fn has_gaps(&self) -> bool {
        self.gaps
    }

    pub fn damage(&self) -> &[Damage] {
        &self.damage
    }

    /// The newest record timestamp (i64::MIN when empty), working it out on first use.
    pub fn max_timestamp(&mut self) -> Result<i64> {
        if self.max_timestamp.is_none() {
            self.load_indexes()?;
        }
        Ok(self.max_timestamp.unwrap_or(i64::MIN))
    }

    pub fn first_timestamp(&self) -> Option<i64> {
        self.first_timestamp
    }

    /// The first batch's newest timestamp (Kafka's measure of a segment's age for
    /// `max.compaction.lag.ms`), read from its header on first use.
    pub fn first_batch_timestamp(&mut self) -> Result<Option<i64>> {
        if self.first_timestamp.is_none() && self.size >= HEADER_LEN as u64 {
            let mut h = [0u8; HEADER_LEN];
            self.file()?.read_exact_at(&mut h, 0).map_err(|e| Error::io_at("reading", &self.log_path, e))?;
            self.first_timestamp = BatchHeader::parse(&h).map(|h| h.max_timestamp);
        }
        Ok(self.first_timestamp)
    }

    pub fn path(&self) -> &Path {
        &self.log_path
    }

    /// The open log file (opened again if the cache closed it).
    pub fn file(&self) -> Result<Arc<std::fs::File>> {
        self.file.get().map_err(|e| Error::io_at("opening segment", &self.log_path, e))
    }

    fn corrupt(&self, d: &Damage, offset: i64) -> Error {
        Error::Corrupt {
            path: self.log_path.clone(),
            position: d.position,
            offset: Some(offset.max(d.first_offset)),
            partition: None,
            detail: if d.last_offset > d.first_offset {
                format!("{} (offsets {} to {} are unreadable)", d.detail, d.first_offset, d.last_offset)
            } else {
                d.detail.clone()
            },
        }
    }

    /// A sealed segment holds every offset up to the next segment's base: reads of offsets
    /// it turns out not to hold report them as damage.
    pub fn expect_end(&mut self, next_base: i64) {
        for d in &mut self.damage {
            if d.end == self.size && d.last_offset >= next_base {
                d.last_offset = next_base - 1;
            }
        }
        self.next_offset = self.next_offset.max(next_base);
    }

    /// The indexes, mapped on first use (for a sealed segment, its newest timestamp is
    /// worked out then too).
    fn idx(&mut self) -> Result<&mut Indexes> {
        let indexes = match self.indexes.take() {
            Some(i) => i,
            None => {
                let offset = OffsetIndex::open(
                    &self.dir.join(file_name(self.base_offset, "index")),
                    self.config.max_index_bytes / OffsetIndex::ENTRY,
                    self.size,
                )?;
                let time = TimeIndex::open(
                    &self.dir.join(file_name(self.base_offset, "timeindex")),
                    self.config.max_index_bytes / TimeIndex::ENTRY,
                    if self.size > 0 { Some(u32::MAX) } else { None },
                )?;
                if self.sealed && self.max_timestamp.is_none() {
                    self.max_timestamp = Some(self.newest_timestamp(&offset, &time)?);
                }
                Indexes { offset, time }
            }
        };
        Ok(self.indexes.insert(indexes))
    }

    fn load_indexes(&mut self) -> Result<()> {
        self.idx().map(|_| ())
    }

    /// A sealed segment's newest timestamp: time entries hold the largest timestamp so
    /// far, and the batches after the last offset entry are few (about
    /// index.interval.bytes), so only those are read.
    fn newest_timestamp(&self, offset: &OffsetIndex, time: &TimeIndex) -> Result<i64> {
        let mut max = time.last().map_or(i64::MIN, |(ts, _)| ts);
        let (_, pos) = offset.last().unwrap_or((0, 0));
        let file = self.file()?;
        let mut position = pos as u64;
        while position + HEADER_LEN as u64 <= self.size {
            let mut h = [0u8; HEADER_LEN];
            file.read_exact_at(&mut h, position).map_err(|e| Error::io_at("reading", &self.log_path, e))?;
            let Some(h) = BatchHeader::parse(&h) else { break };
            if h.length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
                break;
            }
            max = max.max(h.max_timestamp);
            position += h.total_size() as u64;
        }
        Ok(max)
    }

    /// Whether `bytes` more would overflow this segment's limits (file positions are u32
    /// in the index, and the indexes have a size cap).
    pub fn would_overflow(&self, bytes: usize, segment_bytes: u64) -> bool {
        !self.is_empty()
            && (self.size + bytes as u64 > segment_bytes
                || self.size + bytes as u64 > u32::MAX as u64
                || self.indexes.as_ref().is_some_and(|i| i.offset.is_full() || i.time.is_full()))
    }

    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset) as u32
    }

    /// Appends encoded batches (`infos` describes each, in order). On error the segment is
    /// as it was: a partial write is cut off.
    pub fn append(&mut self, bytes: &[u8], infos: &[BatchInfo]) -> Result<()> {
        let start = self.size;
        let file = self.file()?;
        if let Err(e) = file.write_all_at(bytes, start) {
            let _ = file.set_len(start);
            return Err(Error::io_at("appending to", &self.log_path, e));
        }
        let idx = self.idx()?;
        let (index_len, time_len) = (idx.offset.len(), idx.time.len());
        let saved = (self.next_offset, self.max_timestamp, self.first_timestamp, self.bytes_since_index);
        let mut position = start;
        for info in infos {
            if let Err(e) = self.track(info, position) {
                // Only an index could not grow: undo the whole append.
                let _ = file.set_len(start);
                if let Some(idx) = &mut self.indexes {
                    idx.offset.truncate(index_len);
                    idx.time.truncate(time_len);
                }
                (self.next_offset, self.max_timestamp, self.first_timestamp, self.bytes_since_index) = saved;
                return Err(e);
            }
            position += info.size as u64;
        }
        self.size = position;
        Ok(())
    }

    /// Records a batch at `position` in the in-memory state and the sparse indexes.
    fn track(&mut self, info: &BatchInfo, position: u64) -> Result<()> {
        if self.first_timestamp.is_none() {
            self.first_timestamp = Some(info.max_timestamp);
        }
        let max = self.max_timestamp.unwrap_or(i64::MIN).max(info.max_timestamp);
        self.max_timestamp = Some(max);
        if self.bytes_since_index >= self.config.index_interval_bytes && position > 0 {
            let rel = self.relative(info.base_offset);
            let idx = self.idx()?;
            idx.offset.append(rel, position as u32)?;
            if idx.time.last().is_none_or(|(ts, _)| max > ts) {
                idx.time.append(max, rel)?;
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += info.size as u64;
        self.next_offset = info.last_offset + 1;
        Ok(())
    }

    /// The segment stops taking appends: its time index gets a final entry with its newest
    /// timestamp (as Kafka's does), so retention and lookups by time need not scan it.
    pub fn seal(&mut self) -> Result<()> {
        if self.sealed {
            return Ok(());
        }
        self.sealed = true;
        if self.next_offset > self.base_offset {
            let max = self.max_timestamp.unwrap_or(i64::MIN);
            let rel = self.relative(self.next_offset - 1);
            let idx = self.idx()?;
            if idx.time.last().is_none_or(|(ts, r)| max > ts && rel > r) {
                idx.time.append(max, rel)?;
            }
        }
        Ok(())
    }

    fn damage_at_position(&self, position: u64) -> Option<&Damage> {
        self.damage.iter().find(|d| d.position == position)
    }

    fn record_damage(&mut self, d: Damage) -> Damage {
        if let Some(existing) = self.damage_at_position(d.position) {
            return existing.clone();
        }
        tracing::error!(
            path = %self.log_path.display(),
            position = d.position,
            first_offset = d.first_offset,
            last_offset = d.last_offset,
            "damaged data found: {}",
            d.detail
        );
        self.damage.push(d.clone());
        self.damage.sort_by_key(|d| d.position);
        d
    }

    /// Works out what lies at `position` where a batch with `expected` should start, and
    /// records any damage found there.
    fn examine_at(&mut self, position: u64, expected: i64) -> Result<Scan> {
        let file = self.file()?;
        match examine(&file, &self.log_path, position, expected, self.size, self.gaps)? {
            Scan::Damaged(d) => Ok(Scan::Damaged(self.record_damage(d))),
            Scan::Unframed(why) => {
                // Nothing valid up to the end of this segment: whatever offsets it should
                // still hold are lost with it.
                let d = Damage {
                    position,
                    end: self.size,
                    first_offset: expected,
                    last_offset: self.next_offset - 1,
                    detail: why,
                };
                Ok(Scan::Damaged(self.record_damage(d)))
            }
            valid => Ok(valid),
        }
    }

    /// The position of the batch that holds `offset` (or of the first batch after it),
    /// walking batch headers from the nearest index entry, across any damage.
    fn position_of(&mut self, offset: i64) -> Result<Option<u64>> {
        let target = self.relative(offset.max(self.base_offset));
        let (rel, pos) = self.idx()?.offset.lookup(target);
        let mut position = pos as u64;
        let mut expected = self.base_offset + rel as i64;
        let file = self.file()?;
        let mut chunk = Vec::new();
        while position < self.size {
            if let Some(d) = self.damage_at_position(position) {
                if d.hides(offset) {
                    return Err(self.corrupt(d, offset));
                }
                (position, expected) = (d.end, d.last_offset.max(d.first_offset - 1) + 1);
                continue;
            }
            // Read a window of headers at once.
            let len = (64 * 1024).min(self.size - position) as usize;
            chunk.resize(len, 0);
            file.read_exact_at(&mut chunk, position).map_err(|e| Error::io_at("reading", &self.log_path, e))?;
            let mut at = 0usize;
            let broken = loop {
                if at + HEADER_LEN > chunk.len() {
                    // Past this window (or too close to the end of the file for a header).
                    break at == 0;
                }
                let Some(h) = BatchHeader::parse(&chunk[at..]) else { break true };
                let plausible = follows(h.base_offset, expected, self.gaps)
                    && h.magic == batch::MAGIC
                    && h.length >= (HEADER_LEN - LOG_OVERHEAD) as i32
                    && h.last_offset_delta >= 0
                    && position + (at + h.total_size()) as u64 <= self.size;
                if !plausible {
                    break true;
                }
                if h.last_offset() >= offset {
                    return Ok(Some(position + at as u64));
                }
                expected = h.last_offset() + 1;
                at += h.total_size();
            };
            position += at as u64;
            if broken && position < self.size {
                // The framing broke here: find out how far the damage goes (the loop then
                // walks on from its end), or take the batch if it is valid after all.
                if let Scan::Valid(h) = self.examine_at(position, expected)? {
                    if h.last_offset() >= offset {
                        return Ok(Some(position));
                    }
                    expected = h.last_offset() + 1;
                    position += h.total_size() as u64;
                }
            }
        }
        Ok(None)
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (but always at least
    /// one batch, as Kafka does, so a large batch cannot stall a reader). Every batch is
    /// checked (CRC, offsets) before it is returned. Damage at the start of the read is a
    /// `Corrupt` error; damage later ends the read early (the next read reports it).
    pub fn read(&mut self, offset: i64, max_bytes: usize) -> Result<Vec<u8>> {
        self.load_indexes()?;
        if let Some(d) = self.damage.iter().find(|d| d.hides(offset)) {
            return Err(self.corrupt(d, offset));
        }
        let Some(start) = self.position_of(offset)? else {
            return self.ended_early(offset).map(|()| Vec::new());
        };
        let file = self.file()?;
        let available = self.size - start;
        let mut out = vec![0u8; (max_bytes.max(HEADER_LEN) as u64).min(available) as usize];
        file.read_exact_at(&mut out, start).map_err(|e| Error::io_at("reading", &self.log_path, e))?;
        let mut pos = 0usize;
        let mut expected: Option<i64> = None;
        loop {
            if self.damage_at_position(start + pos as u64).is_some() {
                break;
            }
            let Some(h) = BatchHeader::parse(&out[pos..]) else { break };
            let total = h.total_size();
            if pos == 0 && total > out.len() && h.length >= 0 && (total as u64) <= available {
                // The first batch is larger than max_bytes: return it whole.
                out.resize(total, 0);
                file.read_exact_at(&mut out[HEADER_LEN..], start + HEADER_LEN as u64)
                    .map_err(|e| Error::io_at("reading", &self.log_path, e))?;
            }
            let expected_base = expected.unwrap_or(h.base_offset);
            let in_order = follows(h.base_offset, expected_base, self.gaps);
            let valid = pos + total <= out.len() && in_order && batch::verify(&out[pos..pos + total]).is_ok();
            if !valid {
                if pos + total > out.len() && pos > 0 && in_order && (start + (pos + total) as u64) <= self.size {
                    break; // a whole batch that does not fit in this read
                }
                let at = start + pos as u64;
                match self.examine_at(at, expected_base)? {
                    Scan::Damaged(d) if pos == 0 => return Err(self.corrupt(&d, offset)),
                    _ => break,
                }
            }
            expected = Some(h.last_offset() + 1);
            pos += total;
            if pos >= out.len() {
                break;
            }
        }
        out.truncate(pos);
        if out.is_empty() {
            self.ended_early(offset)?;
        }
        Ok(out)
    }

    /// Nothing was found at `offset`: fine at the end of the active segment, damage in a
    /// sealed one, which should hold every offset before the next segment's base.
    fn ended_early(&mut self, offset: i64) -> Result<()> {
        if self.sealed && !self.gaps && offset < self.next_offset {
            let d = Damage {
                position: self.size,
                end: self.size,
                first_offset: offset,
                last_offset: self.next_offset - 1,
                detail: "the segment ends before the offsets it should hold".into(),
            };
            let d = self.record_damage(d);
            return Err(self.corrupt(&d, offset));
        }
        Ok(())
    }

    /// The first record whose timestamp is >= `timestamp`, as (offset, its timestamp), if
    /// this segment has one.
    pub fn offset_for_timestamp(&mut self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        if self.max_timestamp()? < timestamp {
            return Ok(None);
        }
        let from = self
            .idx()?
            .time
            .start_for(timestamp)
            .map_or(self.base_offset, |rel| self.base_offset + rel as i64);
        let mut offset = from;
        let mut scratch = Vec::new();
        while offset < self.next_offset {
            let bytes = match self.read(offset, 1 << 20) {
                Ok(b) => b,
                Err(Error::Corrupt { .. }) => {
                    // Look past the damage: what follows may still answer.
                    let Some(d) = self.damage.iter().find(|d| d.hides(offset)).cloned() else { return Ok(None) };
                    offset = d.last_offset + 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if bytes.is_empty() {
                break;
            }
            let mut pos = 0;
            while pos < bytes.len() {
                let Some(h) = BatchHeader::parse(&bytes[pos..]) else { break };
                let end = pos + h.total_size();
                if h.max_timestamp >= timestamp {
                    let mut found = None;
                    batch::for_each_record(&bytes[pos..end], &mut scratch, |r| {
                        if found.is_none() && r.offset >= from && r.timestamp >= timestamp {
                            found = Some((r.offset, r.timestamp));
                        }
                    })?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                offset = h.last_offset() + 1;
                pos = end;
            }
        }
        Ok(None)
    }

    /// Verifies the segment on open, cuts a torn tail and records damage. See [`Recovery`].
    fn recover(&mut self, recovery: Recovery, clean: bool) -> Result<()> {
        let active = !self.sealed;
        // Drop index entries that do not point at a valid batch with the offset they claim.
        while let Some((rel, pos)) = self.idx()?.offset.last() {
            if self.batch_is_valid_at(pos as u64, self.base_offset + rel as i64)? {
                break;
            }
            let idx = self.idx()?;
            idx.offset.truncate(idx.offset.len() - 1);
        }
        let base = self.base_offset;
        let idx = self.idx()?;
        let (start_position, start_offset) = match (recovery, idx.offset.last()) {
            (Recovery::Tail, Some((rel, pos))) => (pos as u64, base + rel as i64),
            _ => {
                idx.offset.truncate(0);
                idx.time.truncate(0);
                (0, base)
            }
        };
        // Time entries past the scan start are rebuilt by the scan.
        let keep_time = (0..idx.time.len()).take_while(|&i| base + (idx.time.entry(i).1 as i64) <= start_offset).count();
        idx.time.truncate(keep_time);
        self.max_timestamp = Some(idx.time.last().map_or(i64::MIN, |(ts, _)| ts));
        self.next_offset = start_offset;
        // The batch at the scan start is already indexed; later ones are indexed as appended.
        self.bytes_since_index = 0;
        let file_len = self.size;
        let file = self.file()?;
        let mut reader = BufReader::with_capacity(1 << 20, &*file);
        let mut position = start_position;
        let mut seek_to = Some(start_position);
        let mut buf = Vec::new();
        let mut cut = None;
        while position < file_len {
            if let Some(at) = seek_to.take() {
                reader.seek(SeekFrom::Start(at)).map_err(|e| Error::io_at("reading", &self.log_path, e))?;
            }
            let remaining = (file_len - position) as usize;
            let scanned = match read_batch(&mut reader, &mut buf, remaining) {
                Ok(h) if follows(h.base_offset, self.next_offset, self.gaps) => Scan::Valid(h),
                _ => {
                    seek_to = Some(position);
                    examine(&file, &self.log_path, position, self.next_offset, file_len, self.gaps)?
                }
            };
            match scanned {
                Scan::Valid(h) => {
                    let info = BatchInfo::from(&h);
                    if position == start_position && start_position > 0 {
                        // Indexed already: account for it without a second entry.
                        self.max_timestamp = Some(self.max_timestamp.unwrap_or(i64::MIN).max(info.max_timestamp));
                        self.next_offset = info.last_offset + 1;
                        self.bytes_since_index = info.size as u64;
                    } else {
                        self.track(&info, position)?;
                    }
                    position += info.size as u64;
                    if seek_to.is_some() {
                        seek_to = Some(position);
                    }
                }
                Scan::Damaged(d) => {
                    // After an unclean stop, a damaged final batch with nothing valid after
                    // it is a torn write: cut it, as Kafka does.
                    let torn = !clean && active && next_valid_batch(&file, &self.log_path, d.end, file_len, d.first_offset)?.is_none();
                    if torn {
                        cut = Some((position, d.detail));
                        break;
                    }
                    position = d.end;
                    seek_to = Some(position);
                    if d.last_offset >= d.first_offset {
                        self.next_offset = d.last_offset + 1;
                    }
                    self.bytes_since_index = self.config.index_interval_bytes;
                    self.record_damage(d);
                }
                Scan::Unframed(why) if active => {
                    cut = Some((position, why));
                    break;
                }
                Scan::Unframed(why) => {
                    // A sealed segment was whole when it rolled: its end is damage, not a
                    // torn write. How many offsets it hides is settled by `expect_end`.
                    self.record_damage(Damage {
                        position,
                        end: file_len,
                        first_offset: self.next_offset,
                        last_offset: i64::MAX - 1,
                        detail: why,
                    });
                    position = file_len;
                    break;
                }
            }
        }
        drop(reader);
        self.size = position;
        if let Some((at, why)) = cut {
            tracing::warn!(
                path = %self.log_path.display(),
                position = at,
                cut = file_len - at,
                "cutting off bytes after the last valid batch ({why})"
            );
            file.set_len(at).map_err(|e| Error::io_at("truncating torn write in", &self.log_path, e))?;
        }
        if self.size > 0 && self.first_timestamp.is_none() {
            let mut h = [0u8; HEADER_LEN];
            if file.read_exact_at(&mut h, 0).is_ok() {
                self.first_timestamp = BatchHeader::parse(&h).map(|h| h.max_timestamp);
            }
        }
        Ok(())
    }

    fn batch_is_valid_at(&self, position: u64, expected_base: i64) -> Result<bool> {
        let file = self.file()?;
        Ok(matches!(examine(&file, &self.log_path, position, expected_base, self.size, false)?, Scan::Valid(_)))
    }

    /// Cuts the segment at `position`, where a batch starting at `offset` was (repair of
    /// damage). The indexes are rebuilt from what remains.
    pub fn truncate_to(&mut self, position: u64) -> Result<()> {
        let file = self.file()?;
        file.set_len(position).map_err(|e| Error::io_at("truncating", &self.log_path, e))?;
        self.size = position;
        self.damage.retain(|d| d.end <= position);
        self.load_indexes()?;
        self.recover(Recovery::Full, true)
    }

    /// Removes the segment's files (retention; topic deletion removes the directory).
    pub fn delete(self) -> Result<()> {
        let Segment { log_path, file, indexes, dir, base_offset, .. } = self;
        file.close();
        drop(file);
        match indexes {
            Some(i) => {
                i.offset.delete()?;
                i.time.delete()?;
            }
            None => {
                for ext in ["index", "timeindex"] {
                    let p = dir.join(file_name(base_offset, ext));
                    if let Err(e) = std::fs::remove_file(&p) {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            return Err(Error::io_at("deleting", &p, e));
                        }
                    }
                }
            }
        }
        std::fs::remove_file(&log_path).map_err(|e| Error::io_at("deleting", &log_path, e))
    }
}

/// Reads one whole batch at the reader's position into `buf` and verifies it.
fn read_batch(reader: &mut impl Read, buf: &mut Vec<u8>, remaining: usize) -> std::result::Result<BatchHeader, String> {
    if remaining < LOG_OVERHEAD {
        return Err(format!("{remaining} bytes at the end are too short for a batch"));
    }
    buf.resize(LOG_OVERHEAD, 0);
    reader.read_exact(buf).map_err(|e| e.to_string())?;
    let length = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(format!("batch length {length} is below the header size"));
    }
    let total = LOG_OVERHEAD + length as usize;
    if total > remaining {
        return Err(format!("batch of {total} bytes runs past the end of the file"));
    }
    buf.resize(total, 0);
    reader.read_exact(&mut buf[LOG_OVERHEAD..]).map_err(|e| e.to_string())?;
    batch::verify(buf).map_err(|e| match e {
        Invalid::Truncated => "batch is incomplete".to_string(),
        Invalid::Bad(why) => why.to_string(),
    })
}
