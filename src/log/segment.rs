//! One segment of a partition: `<base offset, 20 digits>.log` with its `.index` and
//! `.timeindex`. Appends go to the end of the active segment; older segments are
//! read-only until retention deletes them whole.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::batch::{self, BatchHeader, BatchInfo, Invalid, HEADER_LEN, LOG_OVERHEAD};
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
    /// Verify the batches after the last index entry (every open does at least this).
    Tail,
    /// Verify every batch and rebuild the indexes (the active segment after an unclean stop).
    Full,
}

pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: Arc<File>,
    size: u64,
    next_offset: i64,
    /// Largest record timestamp in the segment (i64::MIN when empty).
    max_timestamp: i64,
    /// Timestamp of the first batch, which `segment.ms` measures the segment's age from.
    first_timestamp: Option<i64>,
    index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_index: u64,
    config: SegmentConfig,
}

impl Segment {
    pub fn create(dir: &Path, base_offset: i64, config: SegmentConfig) -> Result<Self> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(|e| Error::io_at("creating segment", &log_path, e))?;
        Self::with_file(dir, base_offset, log_path, log, config)
    }

    fn with_file(
        dir: &Path,
        base_offset: i64,
        log_path: PathBuf,
        log: File,
        config: SegmentConfig,
    ) -> Result<Self> {
        let size = log
            .metadata()
            .map_err(|e| Error::io_at("reading segment metadata", &log_path, e))?
            .len();
        let index = OffsetIndex::open(
            &dir.join(file_name(base_offset, "index")),
            config.max_index_bytes / OffsetIndex::ENTRY,
            size,
        )?;
        let time_index = TimeIndex::open(
            &dir.join(file_name(base_offset, "timeindex")),
            config.max_index_bytes / TimeIndex::ENTRY,
            if size > 0 { Some(u32::MAX) } else { None },
        )?;
        Ok(Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            size,
            next_offset: base_offset,
            max_timestamp: i64::MIN,
            first_timestamp: None,
            index,
            time_index,
            bytes_since_index: 0,
            config,
        })
    }

    /// Opens an existing segment and verifies it as `recovery` says. In the active
    /// segment a torn final write is cut off; damage followed by valid data, or any damage
    /// in an older segment (which was complete when it rolled), is an error, never
    /// silently dropped.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        recovery: Recovery,
        active: bool,
    ) -> Result<Self> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(|e| Error::io_at("opening segment", &log_path, e))?;
        let mut seg = Self::with_file(dir, base_offset, log_path, log, config)?;
        seg.recover(recovery, active)?;
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

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn first_timestamp(&self) -> Option<i64> {
        self.first_timestamp
    }

    /// A handle for fsync without holding the partition's lock.
    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.log)
    }

    pub fn path(&self) -> &Path {
        &self.log_path
    }

    /// Whether `bytes` more would overflow this segment's limits (file positions are u32
    /// in the index, and the indexes have a size cap).
    pub fn would_overflow(&self, bytes: usize, segment_bytes: u64) -> bool {
        !self.is_empty()
            && (self.size + bytes as u64 > segment_bytes
                || self.size + bytes as u64 > u32::MAX as u64
                || self.index.is_full()
                || self.time_index.is_full())
    }

    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset) as u32
    }

    /// Appends encoded batches (`infos` describes each, in order). On error the segment is
    /// as it was: a partial write is cut off.
    pub fn append(&mut self, bytes: &[u8], infos: &[BatchInfo]) -> Result<()> {
        let start = self.size;
        if let Err(e) = self.log.write_all_at(bytes, start) {
            let _ = self.log.set_len(start);
            return Err(Error::io_at("appending to", &self.log_path, e));
        }
        let (index_len, time_len) = (self.index.len(), self.time_index.len());
        let saved = (self.next_offset, self.max_timestamp, self.first_timestamp, self.bytes_since_index);
        let mut position = start;
        for info in infos {
            if let Err(e) = self.track(info, position) {
                // Only an index could not grow: undo the whole append.
                let _ = self.log.set_len(start);
                self.index.truncate(index_len);
                self.time_index.truncate(time_len);
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
        self.max_timestamp = self.max_timestamp.max(info.max_timestamp);
        if self.bytes_since_index >= self.config.index_interval_bytes && position > 0 {
            let rel = self.relative(info.base_offset);
            self.index.append(rel, position as u32)?;
            if self.time_index.last().is_none_or(|(ts, _)| self.max_timestamp > ts) {
                self.time_index.append(self.max_timestamp, rel)?;
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += info.size as u64;
        self.next_offset = info.last_offset + 1;
        Ok(())
    }

    /// Reads the header of the batch at `position`, if a whole header is there.
    fn header_at(&self, position: u64) -> Result<Option<BatchHeader>> {
        if position + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let mut h = [0u8; HEADER_LEN];
        self.log
            .read_exact_at(&mut h, position)
            .map_err(|e| Error::io_at("reading", &self.log_path, e))?;
        Ok(BatchHeader::parse(&h))
    }

    /// The file position of the batch that holds `offset`, or of the first batch after it.
    fn position_of(&self, offset: i64) -> Result<Option<u64>> {
        let (_, pos) = self.index.lookup(self.relative(offset.max(self.base_offset)));
        let mut position = pos as u64;
        while let Some(h) = self.header_at(position)? {
            if h.last_offset() >= offset {
                return Ok(Some(position));
            }
            position += h.total_size() as u64;
        }
        Ok(None)
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (but always at least
    /// one batch, as Kafka does, so a large batch cannot stall a reader).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>> {
        let Some(start) = self.position_of(offset)? else {
            return Ok(Vec::new());
        };
        let mut end = start;
        while let Some(h) = self.header_at(end)? {
            let next = end + h.total_size() as u64;
            if next > self.size || (end > start && (next - start) as usize > max_bytes) {
                break;
            }
            end = next;
        }
        let mut out = vec![0u8; (end - start) as usize];
        self.log
            .read_exact_at(&mut out, start)
            .map_err(|e| Error::io_at("reading", &self.log_path, e))?;
        Ok(out)
    }

    /// The first offset whose record timestamp is >= `timestamp`, if this segment has one.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<i64>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let from = self
            .time_index
            .start_for(timestamp)
            .map_or(self.base_offset, |rel| self.base_offset + rel as i64);
        let Some(mut position) = self.position_of(from)? else {
            return Ok(None);
        };
        let mut scratch = Vec::new();
        while let Some(h) = self.header_at(position)? {
            if h.max_timestamp >= timestamp {
                let mut bytes = vec![0u8; h.total_size()];
                self.log
                    .read_exact_at(&mut bytes, position)
                    .map_err(|e| Error::io_at("reading", &self.log_path, e))?;
                let mut found = None;
                batch::for_each_record(&bytes, &mut scratch, |r| {
                    if found.is_none() && r.timestamp >= timestamp {
                        found = Some(r.offset);
                    }
                })?;
                if found.is_some() {
                    return Ok(found);
                }
            }
            position += h.total_size() as u64;
        }
        Ok(None)
    }

    /// Verifies the segment on open and cuts a torn tail. See [`Recovery`].
    fn recover(&mut self, recovery: Recovery, active: bool) -> Result<()> {
        // Drop index entries that do not point at a valid batch with the offset they claim.
        while let Some((rel, pos)) = self.index.last() {
            if self.batch_is_valid_at(pos as u64, self.base_offset + rel as i64)? {
                break;
            }
            self.index.truncate(self.index.len() - 1);
        }
        let (start_position, start_offset) = match (recovery, self.index.last()) {
            (Recovery::Tail, Some((rel, pos))) => (pos as u64, self.base_offset + rel as i64),
            _ => {
                self.index.truncate(0);
                self.time_index.truncate(0);
                (0, self.base_offset)
            }
        };
        // Time entries past the scan start are rebuilt by the scan.
        let keep_time = (0..self.time_index.len())
            .take_while(|&i| self.base_offset + (self.time_index.entry(i).1 as i64) <= start_offset)
            .count();
        self.time_index.truncate(keep_time);
        self.max_timestamp = self.time_index.last().map_or(i64::MIN, |(ts, _)| ts);
        self.next_offset = start_offset;
        // The batch at the scan start is already indexed; later ones are indexed as appended.
        self.bytes_since_index = 0;
        let file_len = self.size;
        self.size = start_position;
        let file = Arc::clone(&self.log);
        let mut reader = BufReader::with_capacity(1 << 20, &*file);
        reader
            .seek(SeekFrom::Start(start_position))
            .map_err(|e| Error::io_at("reading", &self.log_path, e))?;
        let mut position = start_position;
        let mut buf = Vec::new();
        while position < file_len {
            let remaining = (file_len - position) as usize;
            match read_batch(&mut reader, &mut buf, remaining) {
                Ok(h) if h.base_offset == self.next_offset => {
                    let info = BatchInfo::from(&h);
                    if position == start_position && start_position > 0 {
                        // Indexed already: account for it without a second entry.
                        self.max_timestamp = self.max_timestamp.max(info.max_timestamp);
                        self.next_offset = info.last_offset + 1;
                        self.bytes_since_index = info.size as u64;
                    } else {
                        self.track(&info, position)?;
                    }
                    position += info.size as u64;
                }
                Ok(h) => {
                    return Err(Error::Corrupt {
                        path: self.log_path.clone(),
                        position,
                        detail: format!("batch has base offset {} where {} was expected", h.base_offset, self.next_offset),
                    })
                }
                Err(reason) => {
                    if !active {
                        return Err(Error::Corrupt {
                            path: self.log_path.clone(),
                            position,
                            detail: format!("{reason} in a closed segment"),
                        });
                    }
                    if let Some(at) = self.next_valid_batch(position + 1, file_len)? {
                        return Err(Error::Corrupt {
                            path: self.log_path.clone(),
                            position,
                            detail: format!("{reason}, yet a valid batch follows at byte {at}"),
                        });
                    }
                    tracing::warn!(
                        path = %self.log_path.display(),
                        position,
                        cut = file_len - position,
                        "truncating an incomplete write at the end of the log"
                    );
                    break;
                }
            }
        }
        drop(reader);
        self.size = position;
        if position < file_len {
            self.log
                .set_len(position)
                .map_err(|e| Error::io_at("truncating torn write in", &self.log_path, e))?;
        }
        if self.size > 0 && self.first_timestamp.is_none() {
            self.first_timestamp = self.header_at(0)?.map(|h| h.max_timestamp);
        }
        Ok(())
    }

    fn batch_is_valid_at(&self, position: u64, expected_base: i64) -> Result<bool> {
        match self.header_at(position)? {
            Some(h) if h.base_offset == expected_base && h.length >= 0 => {
                self.batch_is_valid_within(position, &h, self.size)
            }
            _ => Ok(false),
        }
    }

    /// Looks for any valid batch starting in `[from, end)`, to tell damage in the middle
    /// of the log (an error) from a torn final write (cut off). Reads in windows so a
    /// large segment is not loaded whole.
    fn next_valid_batch(&self, from: u64, end: u64) -> Result<Option<u64>> {
        const WINDOW: u64 = 1 << 20;
        let mut window = Vec::new();
        let mut at = from;
        while at + (HEADER_LEN as u64) <= end {
            let len = (WINDOW + HEADER_LEN as u64).min(end - at) as usize;
            window.resize(len, 0);
            self.log
                .read_exact_at(&mut window, at)
                .map_err(|e| Error::io_at("reading", &self.log_path, e))?;
            for i in 0..len.saturating_sub(HEADER_LEN - 1).min(WINDOW as usize) {
                // Cheap filters first: the magic byte, a plausible offset and length.
                let Some(h) = BatchHeader::parse(&window[i..]) else { continue };
                let candidate = at + i as u64;
                if h.magic != 2
                    || h.base_offset < self.next_offset
                    || h.length < (HEADER_LEN - LOG_OVERHEAD) as i32
                    || candidate + h.total_size() as u64 > end
                {
                    continue;
                }
                if self.batch_is_valid_within(candidate, &h, end)? {
                    return Ok(Some(candidate));
                }
            }
            at += WINDOW;
        }
        Ok(None)
    }

    fn batch_is_valid_within(&self, position: u64, h: &BatchHeader, end: u64) -> Result<bool> {
        if position + h.total_size() as u64 > end {
            return Ok(false);
        }
        let mut bytes = vec![0u8; h.total_size()];
        self.log
            .read_exact_at(&mut bytes, position)
            .map_err(|e| Error::io_at("reading", &self.log_path, e))?;
        Ok(batch::verify(&bytes).is_ok())
    }

    /// Makes the index files match the log on disk (on close and roll).
    pub fn seal(&mut self) -> Result<()> {
        self.index.trim()?;
        self.time_index.trim()?;
        self.index.flush()?;
        self.time_index.flush()
    }

    pub fn flush(&self) -> Result<()> {
        self.log
            .sync_data()
            .map_err(|e| Error::io_at("fsync", &self.log_path, e))
    }

    /// Removes the segment's files (retention; topic deletion removes the directory).
    pub fn delete(self) -> Result<()> {
        let Segment { log_path, log, index, time_index, .. } = self;
        drop(log);
        index.delete()?;
        time_index.delete()?;
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
