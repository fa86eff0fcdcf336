//! A partition: an ordered list of segments with contiguous offsets from the log start.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::batch::{Compression, EncodedBatches, Record};
use crate::log::cleaner::checkpoint::Checkpoint;
use crate::log::files::FileCache;
use crate::log::control::{self, Marker};
use crate::log::producers::{AbortedTxn, ProducerStates, SequenceCheck};
use crate::log::segment::{Damage, Recovery, Segment, SegmentConfig};
use crate::log::timestamps::{stamp_log_append_time, TimestampPolicy, TimestampType};

mod cleaning;
pub use cleaning::Dirt;

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
    /// `message.timestamp.type` and the window of accepted CreateTime timestamps.
    pub timestamps: TimestampPolicy,
    /// `cleanup.policy` and the compaction configs.
    pub cleanup: CleanupPolicy,
}

/// Kafka's `cleanup.policy` and the topic configs that steer compaction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CleanupPolicy {
    /// `delete` is in the policy: retention deletes old segments.
    pub delete: bool,
    /// `compact` is in the policy: the cleaner keeps the last record of each key.
    pub compact: bool,
    /// `min.cleanable.dirty.ratio`: clean once this share of the cleanable bytes is dirty.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty record older than this is cleaned whatever the ratio.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long a tombstone stays once it has been cleaned.
    pub delete_retention_ms: i64,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 3600 * 1000,
        }
    }
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
            timestamps: TimestampPolicy::default(),
            cleanup: CleanupPolicy::default(),
        }
    }
}

/// Where an append landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_start_offset: i64,
    /// An idempotent producer sent this run before: nothing was written, and the offsets
    /// are those of the first time.
    pub duplicate: bool,
    /// The time the broker stamped on the batches (LogAppendTime topics), else -1.
    pub log_append_time_ms: i64,
}

/// How a partition is opened.
#[derive(Clone)]
pub struct OpenOptions {
    /// The last stop was clean: only the active segment's tail is checked.
    pub clean: bool,
    /// Files written since the last fsync are tracked for the broker's syncer.
    pub track_unsynced: bool,
    pub files: Arc<FileCache>,
}

impl OpenOptions {
    /// Options for a partition used on its own (tests, tools): a private file cache.
    pub fn standalone(clean: bool) -> Self {
        OpenOptions { clean, track_unsynced: true, files: FileCache::new(64) }
    }
}

const LOG_START_FILE: &str = "log-start-offset";
/// Present once the partition has had a transactional batch: until then its last stable
/// offset is its high watermark and a read-committed read needs no producer state.
const TRANSACTIONAL_FILE: &str = "transactional";

/// What a read-committed read returns besides the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Isolated {
    pub last_stable_offset: i64,
    /// Aborted transactions with records in the bytes read, by first offset.
    pub aborted: Vec<AbortedTxn>,
}
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Sorted by base offset; the last one is the active segment. Empty until the first
    /// append: a partition nobody writes to holds no segment files.
    segments: Vec<Segment>,
    log_start_offset: i64,
    files: Arc<FileCache>,
    /// The idempotent producers' state, rebuilt when an idempotent producer first writes.
    producers: Option<ProducerStates>,
    /// Segments written since the last fsync, by base offset (when the broker fsyncs).
    unsynced: Vec<i64>,
    active_dirty: bool,
    track_unsynced: bool,
    /// Reused encoding buffers, so an append allocates nothing in the steady state.
    scratch: EncodedBatches,
    /// Where the cleaner is (compacted topics; zeros for the others).
    checkpoint: Checkpoint,
    /// The partition has had transactional batches (see [`TRANSACTIONAL_FILE`]).
    transactional: bool,
}

impl PartitionLog {
    /// Opens the partition in `dir` (creating it if needed). After an unclean stop the
    /// active segment is verified whole and the sealed ones at their tails; after a clean
    /// one, only the active segment's tail is checked and sealed segments are not read
    /// until used. Damage found is recorded, not fatal: reads that reach it fail.
    pub fn open(dir: &Path, config: LogConfig, options: OpenOptions) -> Result<Self> {
        crate::fsutil::create_private_dir(dir, true).map_err(|e| Error::io_at("creating", dir, e))?;
        crate::log::cleaner::swap::recover(dir)?;
        let checkpoint = Checkpoint::read(dir);
        let bases = crate::log::segment::segment_bases(dir)?;
        let mut log_start_offset = read_log_start(dir)?;
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
        let files = &options.files;
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied();
            let gaps = base < checkpoint.gaps_below;
            let seg = match next_base {
                None => {
                    let recovery = if options.clean { Recovery::Tail } else { Recovery::Full };
                    Segment::open(dir, base, config.segment, recovery, options.clean, true, files, gaps)?
                }
                Some(next) if options.clean => Segment::open_sealed(dir, base, next, config.segment, files, gaps)?,
                Some(next) => {
                    let mut seg = Segment::open(dir, base, config.segment, Recovery::Tail, false, false, files, gaps)?;
                    seg.expect_end(next);
                    seg
                }
            };
            segments.push(seg);
        }
        if let Some(first) = segments.first() {
            log_start_offset = log_start_offset.max(first.base_offset());
        }
        let transactional = dir.join(TRANSACTIONAL_FILE).exists();
        Ok(PartitionLog {
            transactional,
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            files: Arc::clone(files),
            producers: None,
            unsynced: Vec::new(),
            active_dirty: false,
            track_unsynced: options.track_unsynced,
            scratch: EncodedBatches::default(),
            checkpoint,
        })
    }

    /// Creates a new, empty partition in `dir`: one mkdir and nothing to read, which is
    /// most of the cost of creating thousands of partitions at once. A directory that is
    /// already there (left by an earlier attempt) is opened as it is instead.
    pub fn create(dir: &Path, config: LogConfig, options: OpenOptions) -> Result<Self> {
        match crate::fsutil::create_private_dir(dir, false) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Self::open(dir, config, options),
            Err(e) => return Err(Error::io_at("creating", dir, e)),
        }
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments: Vec::new(),
            log_start_offset: 0,
            files: Arc::clone(&options.files),
            producers: None,
            unsynced: Vec::new(),
            active_dirty: false,
            track_unsynced: options.track_unsynced,
            scratch: EncodedBatches::default(),
            checkpoint: Checkpoint::default(),
            transactional: false,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
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
        self.segments.last().map_or(self.log_start_offset, Segment::next_offset)
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

    /// Every piece of damage found so far, with the file it is in.
    pub fn damage(&self) -> Vec<(PathBuf, Damage)> {
        self.segments
            .iter()
            .flat_map(|s| s.damage().iter().map(|d| (s.path().to_path_buf(), d.clone())))
            .collect()
    }

    /// Encodes and appends `records` (one send to this partition), split into batches
    /// under `max.message.bytes`. `now_ms` drives `segment.ms`.
    pub fn append(&mut self, records: &[Record<'_>], compression: Compression, now_ms: i64) -> Result<AppendResult> {
        let mut enc = std::mem::take(&mut self.scratch);
        let result = enc
            .encode(records, compression, self.config.max_message_bytes, None)
            .and_then(|()| self.append_encoded(&mut enc, now_ms));
        // Keep the buffer for the next append, but not a huge one from a rare big append.
        if enc.bytes.capacity() <= 4 << 20 {
            self.scratch = enc;
        }
        result
    }

    /// Appends batches encoded beforehand (outside this partition's lock) in one write,
    /// stamping their offsets. An idempotent producer's run is checked against its
    /// sequence first: a duplicate is acknowledged with its first offsets and not written.
    pub fn append_encoded(&mut self, enc: &mut EncodedBatches, now_ms: i64) -> Result<AppendResult> {
        if enc.is_empty() {
            return Err(Error::InvalidRecord("an append needs at least one record".into()));
        }
        if let Some(stamp) = enc.producer() {
            if let SequenceCheck::Duplicate { base_offset, last_offset } = self.producers()?.check(stamp, enc.record_count())? {
                let log_start_offset = self.log_start_offset;
                return Ok(AppendResult { base_offset, last_offset, log_start_offset, duplicate: true, log_append_time_ms: -1 });
            }
        }
        let log_append_time_ms = if self.config.timestamps.kind == TimestampType::LogAppendTime {
            stamp_log_append_time(enc, now_ms);
            now_ms
        } else {
            -1
        };
        if self.should_roll(enc.bytes.len(), enc.max_timestamp())? {
            self.roll(now_ms)?;
        }
        if self.segments.is_empty() {
            let seg = Segment::create(&self.dir, self.log_start_offset, self.config.segment, &self.files)?;
            self.segments.push(seg);
        }
        if !self.transactional && enc.producer().is_some_and(|p| p.transactional) {
            self.mark_transactional()?;
        }
        let base_offset = self.next_offset();
        enc.rebase(base_offset);
        self.active_mut().append(&enc.bytes, &enc.infos)?;
        self.active_dirty = true;
        if let Some(producers) = &mut self.producers {
            for info in &enc.infos {
                producers.record(info, now_ms);
            }
        }
        let last_offset = self.next_offset() - 1;
        Ok(AppendResult { base_offset, last_offset, log_start_offset: self.log_start_offset, duplicate: false, log_append_time_ms })
    }

    /// Appends the marker that ends `producer_id`'s transaction (Kafka's WriteTxnMarkers for
    /// one partition), returning its offset. Written whether or not the producer sent
    /// anything here, as Kafka's coordinator writes one to every partition added.
    pub fn append_marker(&mut self, producer_id: i64, epoch: i16, marker: Marker, now_ms: i64) -> Result<i64> {
        self.producers()?;
        if !self.transactional {
            self.mark_transactional()?;
        }
        let mut enc = EncodedBatches::default();
        let info = control::encode_marker(&mut enc.bytes, producer_id, epoch, marker, 0, now_ms)?;
        enc.infos.push(info);
        if self.should_roll(enc.bytes.len(), now_ms)? {
            self.roll(now_ms)?;
        }
        if self.segments.is_empty() {
            let seg = Segment::create(&self.dir, self.log_start_offset, self.config.segment, &self.files)?;
            self.segments.push(seg);
        }
        let offset = self.next_offset();
        enc.rebase(offset);
        self.active_mut().append(&enc.bytes, &enc.infos)?;
        self.active_dirty = true;
        if let Some(producers) = &mut self.producers {
            producers.record_marker(producer_id, epoch, marker, offset, now_ms);
        }
        Ok(offset)
    }

    /// Whether `producer_id` has a transaction open here (its marker is yet to be written).
    pub fn has_open_transaction(&mut self, producer_id: i64) -> Result<bool> {
        if !self.transactional {
            return Ok(false);
        }
        Ok(self.producers()?.has_open_transaction(producer_id))
    }

    /// Kafka's last stable offset: the first offset of the oldest open transaction, or the
    /// high watermark when none is open.
    pub fn last_stable_offset(&mut self) -> Result<i64> {
        let next = self.next_offset();
        if !self.transactional {
            return Ok(next);
        }
        // An open transaction whose first records retention or DeleteRecords removed holds
        // the stable offset at the log start, as Kafka clamps it.
        let start = self.log_start_offset;
        Ok(self.producers()?.last_stable_offset(next).max(start))
    }

    /// [`PartitionLog::read`] for a read-committed reader: the batches below the last stable
    /// offset, with the aborted transactions that have records among them.
    pub fn read_committed(&mut self, offset: i64, max_bytes: usize) -> Result<(Vec<u8>, Isolated)> {
        let lso = self.last_stable_offset()?;
        if offset >= lso {
            if offset < self.log_start_offset || offset > self.next_offset() {
                return Err(Error::OffsetOutOfRange { topic: String::new(), partition: -1, offset });
            }
            return Ok((Vec::new(), Isolated { last_stable_offset: lso, aborted: Vec::new() }));
        }
        let mut bytes = self.read(offset, max_bytes)?;
        let mut pos = 0;
        let mut end_offset = offset;
        while let Some(h) = crate::log::batch::BatchHeader::parse(&bytes[pos..]) {
            if h.base_offset >= lso {
                break;
            }
            end_offset = h.last_offset() + 1;
            pos += h.total_size();
            if pos >= bytes.len() {
                break;
            }
        }
        bytes.truncate(pos);
        let aborted = match &self.producers {
            Some(p) if self.transactional && !bytes.is_empty() => p.aborted_between(offset, end_offset),
            _ => Vec::new(),
        };
        Ok((bytes, Isolated { last_stable_offset: lso, aborted }))
    }

    fn mark_transactional(&mut self) -> Result<()> {
        crate::fsutil::write_atomic(&self.dir.join(TRANSACTIONAL_FILE), b"")?;
        self.transactional = true;
        Ok(())
    }

    /// The producers' state, rebuilt on first use from the newest snapshot and the
    /// batches after it.
    fn producers(&mut self) -> Result<&mut ProducerStates> {
        let state = match self.producers.take() {
            Some(state) => state,
            None => self.rebuild_producers()?,
        };
        Ok(self.producers.insert(state))
    }

    fn rebuild_producers(&mut self) -> Result<ProducerStates> {
        {
            let (mut state, from) = ProducerStates::load(&self.dir, self.next_offset());
            let now = crate::clock::now_ms();
            let mut offset = from.max(self.log_start_offset);
            while offset < self.next_offset() {
                let bytes = match self.read(offset, 1 << 20) {
                    Ok(b) => b,
                    Err(Error::Corrupt { offset: Some(at), .. }) => {
                        // What damage hides cannot be replayed; go on after it.
                        offset = self.damaged_range_end(at).unwrap_or(at) + 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if bytes.is_empty() {
                    break;
                }
                let mut pos = 0;
                while let Some(h) = crate::log::batch::BatchHeader::parse(&bytes[pos..]) {
                    if h.is_control() {
                        if let Some(marker) = control::marker_of(&bytes[pos..]) {
                            state.record_marker(h.producer_id, h.producer_epoch, marker, h.base_offset, now);
                        }
                    }
                    state.record(&crate::log::batch::BatchInfo::from(&h), now);
                    offset = h.last_offset() + 1;
                    pos += h.total_size();
                    if pos >= bytes.len() {
                        break;
                    }
                }
            }
            Ok(state)
        }
    }

    fn damaged_range_end(&self, offset: i64) -> Option<i64> {
        self.segments.iter().flat_map(Segment::damage).find(|d| d.hides(offset)).map(|d| d.last_offset)
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Whether to roll before appending `bytes` whose newest timestamp is `timestamp`: the
    /// active segment is full, or (as Kafka's `segment.ms` is measured) the new records are
    /// that much newer than its first.
    fn should_roll(&mut self, bytes: usize, timestamp: i64) -> Result<bool> {
        // A compacted log rolls by max.compaction.lag.ms too, as Kafka's does: records in
        // the active segment cannot be cleaned.
        let cleanup = &self.config.cleanup;
        let segment_ms = if cleanup.compact { self.config.segment_ms.min(cleanup.max_compaction_lag_ms) } else { self.config.segment_ms };
        let segment_bytes = self.config.segment_bytes;
        let Some(active) = self.segments.last() else { return Ok(false) };
        if active.is_empty() {
            return Ok(false);
        }
        let aged = active.first_timestamp().is_some_and(|first| first >= 0 && timestamp.saturating_sub(first) >= segment_ms);
        Ok(aged || active.would_overflow(bytes, segment_bytes))
    }

    /// Seals the active segment and starts a new one at the next offset. An empty active
    /// segment already starts there, so rolling it does nothing.
    pub fn roll(&mut self, now_ms: i64) -> Result<()> {
        let Some(active) = self.segments.last() else { return Ok(()) };
        if active.is_empty() {
            return Ok(());
        }
        let next = self.next_offset();
        let seg = Segment::create(&self.dir, next, self.config.segment, &self.files)?;
        let active = self.active_mut();
        active.seal()?;
        let base = active.base_offset();
        if self.active_dirty && self.track_unsynced {
            self.unsynced.push(base);
        }
        self.active_dirty = false;
        self.segments.push(seg);
        if self.transactional {
            // A transactional partition always snapshots at a roll: a rebuild from an older
            // snapshot could meet a transaction whose marker the cleaner has since removed.
            self.producers()?;
        }
        let log_start = self.log_start_offset;
        if let Some(p) = &mut self.producers {
            // Later rebuilds start here instead of at the log start.
            p.forget_aborted_before(log_start);
            p.save(&self.dir, next, now_ms, false)?;
        }
        Ok(())
    }

    /// Whole batches starting at the one that holds `offset`, up to about `max_bytes`,
    /// each verified. Empty at the end of the log; a `Corrupt` error where damage hides
    /// `offset`. The bytes are copied out: callers own them.
    pub fn read(&mut self, offset: i64, max_bytes: usize) -> Result<Vec<u8>> {
        let next = self.next_offset();
        if offset < self.log_start_offset || offset > next {
            return Err(Error::OffsetOutOfRange { topic: String::new(), partition: -1, offset });
        }
        let first = self.segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        let mut out: Vec<u8> = Vec::new();
        let mut from = offset;
        for seg in &mut self.segments[first..] {
            if seg.next_offset() <= from {
                continue;
            }
            let bytes = seg.read(from, max_bytes.saturating_sub(out.len()))?;
            if bytes.is_empty() {
                continue;
            }
            if out.is_empty() {
                out = bytes;
            } else {
                out.extend_from_slice(&bytes);
            }
            // Batches the cleaner emptied hold no record: a reader given only those (kafkajs
            // is one) may never move past them, so the read goes on into the next segment.
            match last_batch_if_all_empty(&out) {
                Some(last) => from = last + 1,
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// The first record whose timestamp is >= `timestamp` (Kafka's ListOffsets by time),
    /// as (offset, its timestamp), or None if every record is older.
    pub fn offset_for_timestamp(&mut self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let start = self.log_start_offset;
        for seg in &mut self.segments {
            if seg.next_offset() <= start {
                continue;
            }
            if let Some((offset, ts)) = seg.offset_for_timestamp(timestamp)? {
                return Ok(Some((offset.max(start), ts)));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (Kafka's ListOffsets with -3), as (offset,
    /// timestamp), or None for an empty log.
    pub fn max_timestamp_record(&mut self) -> Result<Option<(i64, i64)>> {
        let mut newest = i64::MIN;
        let mut at = None;
        for (i, seg) in self.segments.iter_mut().enumerate() {
            let ts = seg.max_timestamp()?;
            if !seg.is_empty() && ts > newest {
                (newest, at) = (ts, Some(i));
            }
        }
        match at {
            Some(i) => self.segments[i].offset_for_timestamp(newest),
            None => Ok(None),
        }
    }

    /// Moves the log start to `offset` (Kafka's DeleteRecords; -1 means the high
    /// watermark) and deletes segments wholly before it. Returns the new log start.
    pub fn delete_records_before(&mut self, offset: i64, now_ms: i64) -> Result<i64> {
        let next = self.next_offset();
        let offset = if offset == -1 { next } else { offset };
        if offset < 0 || offset > next {
            return Err(Error::OffsetOutOfRange { topic: String::new(), partition: -1, offset });
        }
        if offset > self.log_start_offset {
            // Delete first: it frees space on a full disk, and if the checkpoint write
            // then fails, reopening still starts at the first remaining segment.
            self.log_start_offset = offset;
            self.delete_segments_below_start(now_ms)?;
            write_log_start(&self.dir, offset)?;
        }
        Ok(self.log_start_offset)
    }

    fn delete_segments_below_start(&mut self, now_ms: i64) -> Result<()> {
        while self.segments.len() > 1 && self.segments[1].base_offset() <= self.log_start_offset {
            self.delete_oldest()?;
        }
        if self.segments.len() == 1 && self.next_offset() <= self.log_start_offset && !self.segments[0].is_empty() {
            // Everything is deleted: start an empty segment at the log start.
            self.roll(now_ms)?;
            self.delete_oldest()?;
        }
        Ok(())
    }

    /// Deletes whole segments past `retention.ms` or `retention.bytes`. The active segment
    /// is rolled first if all of it has expired by time. Returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize> {
        let mut deleted = 0;
        if self.segments.is_empty() || !self.config.cleanup.delete {
            return Ok(0);
        }
        if self.config.retention_ms >= 0 {
            let cutoff = now_ms.saturating_sub(self.config.retention_ms);
            let mut all_expired = true;
            for s in &mut self.segments {
                if !s.is_empty() && s.max_timestamp()? >= cutoff {
                    all_expired = false;
                    break;
                }
            }
            if all_expired && self.segments.last().is_some_and(|s| !s.is_empty()) {
                self.roll(now_ms)?;
            }
            while self.segments.len() > 1 && self.segments[0].max_timestamp()? < cutoff {
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
        let base = seg.base_offset();
        self.unsynced.retain(|b| *b != base);
        seg.delete()?;
        tracing::debug!(segment = %path.display(), "retention deleted a segment");
        Ok(())
    }

    /// Files that need an fsync for everything appended so far to be durable. The caller
    /// syncs them without holding this partition's lock. On error the files stay listed.
    pub fn take_unsynced(&mut self) -> Result<Vec<(Arc<File>, PathBuf)>> {
        let mut files = Vec::with_capacity(self.unsynced.len() + 1);
        for base in &self.unsynced {
            if let Some(seg) = self.segments.iter().find(|s| s.base_offset() == *base) {
                files.push((seg.file()?, seg.path().to_path_buf()));
            }
        }
        if self.active_dirty {
            if let Some(active) = self.segments.last() {
                files.push((active.file()?, active.path().to_path_buf()));
            }
        }
        self.unsynced.clear();
        self.active_dirty = false;
        Ok(files)
    }

    /// Writes what a clean stop needs besides the data (the producers' state). The
    /// broker then flushes the whole filesystem once rather than each file.
    pub fn close(&mut self, now_ms: i64) -> Result<()> {
        let next = self.next_offset();
        if let Some(p) = &mut self.producers {
            p.save(&self.dir, next, now_ms, false)?;
        }
        self.unsynced.clear();
        self.active_dirty = false;
        Ok(())
    }

    /// Fsyncs every file of the partition (a standalone log's clean close).
    pub fn sync_all(&mut self) -> Result<()> {
        for seg in &self.segments {
            seg.file()?.sync_data().map_err(|e| Error::io_at("fsync", seg.path(), e))?;
        }
        Ok(())
    }
}

/// The last offset of the last batch in `bytes` (whole batches) if no batch holds a record.
fn last_batch_if_all_empty(bytes: &[u8]) -> Option<i64> {
    let mut pos = 0;
    let mut last = None;
    while let Some(h) = crate::log::batch::BatchHeader::parse(&bytes[pos..]) {
        if h.record_count > 0 {
            return None;
        }
        last = Some(h.last_offset());
        pos += h.total_size();
        if pos >= bytes.len() {
            break;
        }
    }
    last
}

fn read_log_start(dir: &Path) -> Result<i64> {
    let path = dir.join(LOG_START_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().parse::<i64>().map_err(|_| Error::corrupt_file(&path, 0, "log start offset is not a number")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io_at("reading", &path, e)),
    }
}

fn write_log_start(dir: &Path, offset: i64) -> Result<()> {
    crate::fsutil::write_atomic(&dir.join(LOG_START_FILE), offset.to_string().as_bytes())
}
