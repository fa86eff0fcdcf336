//! A partition: an ordered list of segments with contiguous offsets from the log start.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::batch::{self, BatchInfo, Compression, Record, HEADER_LEN};
use crate::log::segment::{Recovery, Segment, SegmentConfig};

/// A partition's limits, Kafka's topic configs by another name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would pass this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first record is this old.
    pub segment_ms: i64,
    /// `retention.ms`: delete closed segments whose newest record is older (-1: keep).
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest closed segments past this size (-1: keep).
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest batch the log accepts.
    pub max_message_bytes: usize,
    pub segment: SegmentConfig,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1024 * 1024,
            segment: SegmentConfig::default(),
        }
    }
}

/// Where an append landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_start_offset: i64,
}

const LOG_START_FILE: &str = "log-start-offset";

pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Sorted by base offset; the last one is the active segment. Never empty.
    segments: Vec<Segment>,
    log_start_offset: i64,
    /// Reused encoding buffer, so an append allocates nothing in the steady state.
    scratch: Vec<u8>,
    infos: Vec<BatchInfo>,
    /// Files written since the last fsync (segments rolled, and the active one).
    unsynced: Vec<Arc<File>>,
    active_dirty: bool,
}

impl PartitionLog {
    /// Opens the partition in `dir` (creating it if needed). `clean` says whether the last
    /// stop was clean: if not, the active segment is verified whole and its indexes rebuilt.
    pub fn open(dir: &Path, config: LogConfig, clean: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io_at("creating", dir, e))?;
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
        let mut log_start_offset = read_log_start(dir)?;
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            let active = i + 1 == bases.len();
            let recovery = if active && !clean { Recovery::Full } else { Recovery::Tail };
            let mut seg = Segment::open(dir, base, config.segment, recovery, active)?;
            if !active {
                seg.seal()?;
            }
            if let Some(prev) = segments.last() {
                let prev: &Segment = prev;
                if prev.next_offset() != base {
                    return Err(Error::Corrupt {
                        path: seg.path().to_path_buf(),
                        position: 0,
                        detail: format!(
                            "offsets {} to {} are missing between segments",
                            prev.next_offset(),
                            base - 1
                        ),
                    });
                }
            }
            segments.push(seg);
        }
        if segments.is_empty() {
            segments.push(Segment::create(dir, log_start_offset.max(0), config.segment)?);
        }
        let first_base = segments[0].base_offset();
        log_start_offset = log_start_offset.max(first_base);
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            scratch: Vec::new(),
            infos: Vec::new(),
            unsynced: Vec::new(),
            active_dirty: false,
        })
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies new limits; they take effect from the next append or retention pass.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// The high watermark: the offset the next record gets.
    pub fn next_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub fn segment_bases(&self) -> Vec<i64> {
        self.segments.iter().map(Segment::base_offset).collect()
    }

    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Checks an append against `max.message.bytes` before anything is written: a record
    /// that cannot fit in a batch on its own is refused, and the whole append with it.
    pub fn check_sizes(&self, records: &[Record<'_>]) -> Result<()> {
        if records.is_empty() {
            return Err(Error::InvalidRecord("an append needs at least one record".into()));
        }
        let max = self.config.max_message_bytes;
        for r in records {
            // The exact size is only worked out for records the cheap bound cannot clear.
            if HEADER_LEN + batch::record_size_bound(r) > max {
                let size = batch::single_record_batch_size(r);
                if size > max {
                    return Err(Error::MessageTooLarge { size, max });
                }
            }
        }
        Ok(())
    }

    /// Appends `records` as one or more batches (split so each stays under
    /// `max.message.bytes`) in one write. `now_ms` drives `segment.ms`.
    pub fn append(&mut self, records: &[Record<'_>], compression: Compression, now_ms: i64) -> Result<AppendResult> {
        self.check_sizes(records)?;
        let mut buf = std::mem::take(&mut self.scratch);
        let mut infos = std::mem::take(&mut self.infos);
        buf.clear();
        infos.clear();
        let result = self.encode_and_write(records, compression, now_ms, &mut buf, &mut infos);
        // Keep the buffers for the next append, but not a huge one from a rare big append.
        if buf.capacity() <= 4 << 20 {
            self.scratch = buf;
        }
        self.infos = infos;
        result
    }

    fn encode_and_write(
        &mut self,
        records: &[Record<'_>],
        compression: Compression,
        now_ms: i64,
        buf: &mut Vec<u8>,
        infos: &mut Vec<BatchInfo>,
    ) -> Result<AppendResult> {
        let max = self.config.max_message_bytes;
        let base_offset = self.next_offset();
        let mut next = base_offset;
        let mut start = 0;
        while start < records.len() {
            // Take records while the batch stays under the limit (always at least one:
            // check_sizes made sure each fits alone).
            let mut size = HEADER_LEN;
            let mut end = start;
            while end < records.len() {
                let add = batch::record_size_bound(&records[end]);
                if end > start && size + add > max {
                    break;
                }
                size += add;
                end += 1;
            }
            let info = batch::encode_batch(buf, next, &records[start..end], compression)?;
            next = info.last_offset + 1;
            infos.push(info);
            start = end;
        }
        if self.should_roll(buf.len(), now_ms) {
            self.roll()?;
        }
        self.active_mut().append(buf, infos)?;
        self.active_dirty = true;
        Ok(AppendResult { base_offset, last_offset: next - 1, log_start_offset: self.log_start_offset })
    }

    fn should_roll(&self, bytes: usize, now_ms: i64) -> bool {
        let active = self.active();
        if active.is_empty() {
            return false;
        }
        let aged = active
            .first_timestamp()
            .is_some_and(|first| now_ms.saturating_sub(first) >= self.config.segment_ms);
        aged || active.would_overflow(bytes, self.config.segment_bytes)
    }

    /// Closes the active segment and starts a new one at the next offset. An empty
    /// active segment already starts there, so rolling it does nothing.
    pub fn roll(&mut self) -> Result<()> {
        if self.active().is_empty() {
            return Ok(());
        }
        let next = self.next_offset();
        let seg = Segment::create(&self.dir, next, self.config.segment)?;
        let active = self.active_mut();
        active.seal()?;
        let file = active.file();
        if self.active_dirty {
            self.unsynced.push(file);
        }
        self.active_dirty = false;
        self.segments.push(seg);
        Ok(())
    }

    /// Whole batches starting at the one that holds `offset`, up to about `max_bytes`.
    /// Empty at the end of the log. The bytes are copied out: callers own them.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>> {
        let next = self.next_offset();
        if offset < self.log_start_offset || offset > next {
            return Err(Error::OffsetOutOfRange { topic: String::new(), partition: -1, offset });
        }
        let first = self.segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        for seg in &self.segments[first..] {
            if seg.next_offset() <= offset {
                continue;
            }
            let bytes = seg.read(offset, max_bytes)?;
            if !bytes.is_empty() {
                return Ok(bytes);
            }
        }
        Ok(Vec::new())
    }

    /// The first offset whose timestamp is >= `timestamp` (Kafka's ListOffsets by time),
    /// or None if every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<i64>> {
        for seg in &self.segments {
            if seg.next_offset() <= self.log_start_offset {
                continue;
            }
            if let Some(offset) = seg.offset_for_timestamp(timestamp)? {
                return Ok(Some(offset.max(self.log_start_offset)));
            }
        }
        Ok(None)
    }

    /// Moves the log start to `offset` (Kafka's DeleteRecords; -1 means the high
    /// watermark) and deletes segments wholly before it. Returns the new log start.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let next = self.next_offset();
        let offset = if offset == -1 { next } else { offset };
        if offset < 0 || offset > next {
            return Err(Error::OffsetOutOfRange { topic: String::new(), partition: -1, offset });
        }
        if offset > self.log_start_offset {
            // Delete first: it frees space on a full disk, and if the checkpoint write
            // then fails, reopening still starts at the first remaining segment.
            self.log_start_offset = offset;
            self.delete_segments_below_start()?;
            write_log_start(&self.dir, offset)?;
        }
        Ok(self.log_start_offset)
    }

    fn delete_segments_below_start(&mut self) -> Result<()> {
        while self.segments.len() > 1 && self.segments[1].base_offset() <= self.log_start_offset {
            let seg = self.segments.remove(0);
            seg.delete()?;
        }
        if self.segments.len() == 1 && self.active().next_offset() <= self.log_start_offset && !self.active().is_empty() {
            // Everything is deleted: start an empty segment at the log start.
            self.roll()?;
            let seg = self.segments.remove(0);
            self.unsynced.clear();
            seg.delete()?;
        }
        Ok(())
    }

    /// Deletes whole segments past `retention.ms` or `retention.bytes`. The active segment
    /// is rolled first if all of it has expired by time. Returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize> {
        let mut deleted = 0;
        if self.config.retention_ms >= 0 {
            let cutoff = now_ms.saturating_sub(self.config.retention_ms);
            let active = self.active();
            if !active.is_empty() && active.max_timestamp() < cutoff && self.segments.iter().all(|s| s.is_empty() || s.max_timestamp() < cutoff) {
                self.roll()?;
            }
            while self.segments.len() > 1 && self.segments[0].max_timestamp() < cutoff {
                self.delete_oldest()?;
                deleted += 1;
            }
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
            while self.segments.len() > 1 && excess - self.segments[0].size() as i64 >= 0 {
                excess -= self.segments[0].size() as i64;
                self.delete_oldest()?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn delete_oldest(&mut self) -> Result<()> {
        let seg = self.segments.remove(0);
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset());
        let path = seg.path().to_path_buf();
        self.unsynced.retain(|f| !Arc::ptr_eq(f, &seg.file()));
        seg.delete()?;
        tracing::debug!(segment = %path.display(), "retention deleted a segment");
        Ok(())
    }

    /// Files that need an fsync for everything appended so far to be durable. The caller
    /// syncs them without holding this partition's lock.
    pub fn take_unsynced(&mut self) -> Vec<Arc<File>> {
        let mut files = std::mem::take(&mut self.unsynced);
        if self.active_dirty {
            files.push(self.active().file());
            self.active_dirty = false;
        }
        files
    }

    /// Flushes everything and trims the active segment's indexes (a clean close).
    pub fn close(&mut self) -> Result<()> {
        for f in self.take_unsynced() {
            f.sync_data().map_err(|e| Error::io_at("fsync", &self.dir, e))?;
        }
        self.active_mut().seal()
    }
}

fn read_log_start(dir: &Path) -> Result<i64> {
    let path = dir.join(LOG_START_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().parse::<i64>().map_err(|_| Error::Corrupt {
            path,
            position: 0,
            detail: "log start offset is not a number".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io_at("reading", &path, e)),
    }
}

fn write_log_start(dir: &Path, offset: i64) -> Result<()> {
    crate::broker::fsutil::write_atomic(&dir.join(LOG_START_FILE), offset.to_string().as_bytes())
}
