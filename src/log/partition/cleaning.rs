//! What a partition tells its cleaner, and the swap of cleaned segments under its lock.

use crate::error::Result;
use crate::log::cleaner::checkpoint::Checkpoint;
use crate::log::cleaner::pass::{Plan, SegmentRef};
use crate::log::cleaner::swap;
use crate::log::segment::Segment;

use super::PartitionLog;

/// How dirty a compacted log is (Kafka's LogToClean).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dirt {
    /// Cleanable bytes over clean plus cleanable bytes.
    pub ratio: f64,
    pub cleanable_bytes: u64,
    /// A dirty record is older than `max.compaction.lag.ms`, or a tombstone kept in the
    /// clean section has reached its delete horizon.
    pub overdue: bool,
}

impl Dirt {
    /// Whether the cleaner should take this log now.
    pub fn is_due(&self, min_ratio: f64) -> bool {
        self.overdue || (self.cleanable_bytes > 0 && self.ratio > min_ratio)
    }
}

impl PartitionLog {
    /// The first dirty offset, within the log.
    fn first_dirty(&self) -> i64 {
        self.checkpoint.first_dirty.clamp(self.log_start_offset, self.next_offset())
    }

    /// The cleanable section's end (a segment base) and the index of the segment holding
    /// the first dirty offset.
    fn cleanable_section(&mut self, now_ms: i64) -> Result<(usize, i64)> {
        let first_dirty = self.first_dirty();
        let n = self.segments.len();
        let active_base = self.segments[n - 1].base_offset();
        let holding = self.segments.partition_point(|s| s.base_offset() <= first_dirty).saturating_sub(1);
        let lag = self.config.cleanup.min_compaction_lag_ms;
        // Nothing at or past the last stable offset: every transaction cleaned is decided.
        let stable = self.last_stable_offset()?;
        let holding_stable = self.segments.partition_point(|s| s.base_offset() <= stable).saturating_sub(1);
        let mut end = active_base.min(self.segments[holding_stable].base_offset());
        if lag > 0 {
            for s in &mut self.segments[holding..n - 1] {
                if s.max_timestamp()? > now_ms.saturating_sub(lag) {
                    end = s.base_offset();
                    break;
                }
            }
        }
        Ok((holding, end))
    }

    /// How dirty the log is, for a compacted topic with a sealed segment; None otherwise.
    pub fn dirt(&mut self, now_ms: i64) -> Result<Option<Dirt>> {
        if !self.config.cleanup.compact || self.segments.len() < 2 {
            return Ok(None);
        }
        let (holding, end) = self.cleanable_section(now_ms)?;
        let clean: u64 = self.segments[..holding].iter().map(Segment::size).sum();
        let max_lag = self.config.cleanup.max_compaction_lag_ms;
        let mut cleanable = 0u64;
        let mut overdue = false;
        for s in &mut self.segments[holding..] {
            if s.base_offset() >= end {
                break;
            }
            cleanable += s.size();
            if max_lag < i64::MAX && s.first_batch_timestamp()?.is_some_and(|t| t < now_ms.saturating_sub(max_lag)) {
                overdue = true;
            }
        }
        if cleanable == 0 {
            overdue = false;
        }
        overdue |= now_ms >= self.checkpoint.next_horizon;
        let total = clean + cleanable;
        let ratio = if total == 0 { 0.0 } else { cleanable as f64 / total as f64 };
        Ok(Some(Dirt { ratio, cleanable_bytes: cleanable, overdue }))
    }

    /// What a cleaning pass needs, if the log has anything cleanable (whatever its ratio).
    pub fn plan_cleaning(&mut self, now_ms: i64) -> Result<Option<Plan>> {
        if !self.config.cleanup.compact || self.segments.len() < 2 {
            return Ok(None);
        }
        let (holding, end) = self.cleanable_section(now_ms)?;
        let dirty = self.segments[holding].base_offset() < end;
        if !dirty && now_ms < self.checkpoint.next_horizon {
            return Ok(None);
        }
        let log_start = self.log_start_offset;
        let aborted = if self.transactional { self.producers()?.aborted_between(log_start, end) } else { Vec::new() };
        let n = self.segments.len();
        let segments = (0..n)
            .map(|i| {
                let s = &self.segments[i];
                let next = self.segments.get(i + 1).map_or(self.next_offset(), Segment::base_offset);
                SegmentRef { base: s.base_offset(), next, size: s.size(), path: s.path().to_path_buf() }
            })
            .collect();
        Ok(Some(Plan {
            dir: self.dir.clone(),
            config: self.config,
            files: std::sync::Arc::clone(&self.files),
            segments,
            // With nothing dirty (a pass for tombstones whose horizon passed), the clean
            // section ends where the dirty one would start.
            first_dirty: if dirty { self.first_dirty() } else { self.first_dirty().min(end) },
            first_uncleanable: end,
            high_watermark: self.next_offset(),
            aborted,
        }))
    }

    /// Changes the cleaner checkpoint durably, its fsyncs outside the partition's lock so
    /// appends and reads do not wait on them. Only the cleaner thread changes it.
    pub fn update_checkpoint(log: &std::sync::Mutex<PartitionLog>, change: impl FnOnce(&mut Checkpoint)) -> Result<()> {
        let lock = || log.lock().unwrap_or_else(|p| p.into_inner());
        let (old, dir) = {
            let guard = lock();
            (guard.checkpoint, guard.dir.clone())
        };
        let mut c = old;
        change(&mut c);
        if c != old {
            c.write(&dir)?;
            lock().checkpoint = c;
        }
        Ok(())
    }

    /// Marks the segments below `next` as ones that may have gaps, durably, before a pass
    /// swaps a rewritten segment in there, so a crash right after the swap never reads it
    /// as damaged.
    pub fn allow_gaps_below(log: &std::sync::Mutex<PartitionLog>, next: i64) -> Result<()> {
        Self::update_checkpoint(log, |c| c.gaps_below = c.gaps_below.max(next))
    }

    /// A pass deduplicated everything below `end`, keeping tombstones until
    /// `earliest_horizon` at the soonest: the next starts there.
    pub fn cleaned_through(log: &std::sync::Mutex<PartitionLog>, end: i64, earliest_horizon: i64) -> Result<()> {
        Self::update_checkpoint(log, |c| {
            c.first_dirty = c.first_dirty.max(end);
            c.next_horizon = earliest_horizon;
        })
    }

    /// Puts the segment a pass wrote in `cleaning/` in place of the sealed segments in
    /// `[base, next)`, if they are still `expected` (base offset and size each), after
    /// [`PartitionLog::allow_gaps_below`]. False if the log changed meanwhile: nothing is
    /// swapped. The caller fsyncs the directory once it has let the partition go.
    pub fn swap_cleaned(&mut self, base: i64, next: i64, expected: &[(i64, u64)]) -> Result<bool> {
        let n = self.segments.len();
        let active_base = self.segments.last().map_or(i64::MIN, Segment::base_offset);
        let current: Vec<(i64, u64)> = self.segments[..n.saturating_sub(1)]
            .iter()
            .filter(|s| s.base_offset() >= base && s.base_offset() < next)
            .map(|s| (s.base_offset(), s.size()))
            .collect();
        if current != expected || next > active_base || self.checkpoint.gaps_below < next {
            return Ok(false);
        }
        let Some(at) = self.segments.iter().position(|s| s.base_offset() == base) else { return Ok(false) };
        let old: Vec<Segment> = self.segments.drain(at..at + expected.len()).collect();
        self.unsynced.retain(|b| *b < base || *b >= next);
        // Closed before their files are replaced: no descriptor or mapping outlives them.
        drop(old);
        let committed = swap::commit(&self.dir, base, next);
        // Whatever happened, the segments are what the directory now holds.
        let bases: Vec<i64> = crate::log::segment::segment_bases(&self.dir)?.into_iter().filter(|&b| b >= base && b < next).collect();
        for (i, &b) in bases.iter().enumerate() {
            let seg_next = bases.get(i + 1).copied().unwrap_or(next);
            let seg = Segment::open_sealed(&self.dir, b, seg_next, self.config.segment, &self.files, true)?;
            self.segments.insert(at + i, seg);
        }
        committed.map(|()| true)
    }
}
