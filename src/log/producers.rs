//! The idempotent producers' state of one partition, as Kafka keeps it: per producer id,
//! its epoch and the sequence ranges of its last five batches, so a batch sent again
//! after a lost answer is acknowledged with its first offsets instead of written twice,
//! and a batch out of sequence is refused.
//!
//! The state is rebuilt from the batches' own headers (they carry producer id, epoch and
//! base sequence), starting from a snapshot the partition writes when it closes cleanly
//! and when a segment rolls, so only the batches after the newest snapshot are read.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::log::batch::{BatchInfo, ProducerStamp};

/// Batches remembered per producer (Kafka's `max.in.flight.requests.per.connection` cap).
const REMEMBERED_BATCHES: usize = 5;
/// A producer not seen for this long is forgotten (Kafka's `producer.id.expiration.ms`).
const EXPIRATION_MS: i64 = 24 * 3600 * 1000;
const SNAPSHOT_EXT: &str = "snapshot";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Producer {
    epoch: i16,
    last_timestamp: i64,
    batches: VecDeque<BatchMeta>,
}

/// What the state says of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Write it.
    Append,
    /// Already written at these offsets: acknowledge, write nothing.
    Duplicate { base_offset: i64, last_offset: i64 },
}

#[derive(Default, Serialize, Deserialize)]
pub struct ProducerStates {
    producers: HashMap<i64, Producer>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    producers: HashMap<i64, Producer>,
}

impl ProducerStates {
    /// Checks a run of `records` records from `stamp`'s producer against what the partition
    /// has seen, by Kafka's rules: an unknown producer may start anywhere (its state may
    /// have expired); an older epoch is fenced; a newer epoch starts at sequence 0; within
    /// an epoch, sequences follow on from the last batch, and a repeat of one of the last
    /// five batches is a duplicate.
    pub fn check(&self, stamp: ProducerStamp, records: i64) -> Result<SequenceCheck> {
        let Some(p) = self.producers.get(&stamp.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        let pid = stamp.producer_id;
        if stamp.epoch < p.epoch {
            return Err(Error::InvalidProducerEpoch(format!(
                "producer {pid} has epoch {} but the partition has seen epoch {}: this producer was fenced by a newer one",
                stamp.epoch, p.epoch
            )));
        }
        if stamp.epoch > p.epoch {
            if stamp.base_sequence != 0 {
                return Err(Error::OutOfOrderSequence(format!(
                    "producer {pid} starts epoch {} at sequence {} instead of 0",
                    stamp.epoch, stamp.base_sequence
                )));
            }
            return Ok(SequenceCheck::Append);
        }
        let last_seq = ProducerStamp::add(stamp.base_sequence, records - 1);
        let first = p.batches.iter().find(|b| b.first_seq == stamp.base_sequence);
        let last = p.batches.iter().find(|b| b.last_seq == last_seq);
        if let (Some(first), Some(last)) = (first, last) {
            if first.first_offset <= last.last_offset {
                return Ok(SequenceCheck::Duplicate { base_offset: first.first_offset, last_offset: last.last_offset });
            }
        }
        let expected = p.batches.back().map_or(0, |b| ProducerStamp::add(b.last_seq, 1));
        if stamp.base_sequence != expected {
            return Err(Error::OutOfOrderSequence(format!(
                "producer {pid} (epoch {}) sent sequence {} where {expected} was expected",
                stamp.epoch, stamp.base_sequence
            )));
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch that was written (or found on disk while rebuilding) at `now_ms`
    /// by the broker's clock: expiry counts from when the broker last saw the producer,
    /// not from the timestamps its records carry.
    pub fn record(&mut self, info: &BatchInfo, now_ms: i64) {
        let Some(stamp) = info.producer else { return };
        let p = self.producers.entry(stamp.producer_id).or_default();
        if stamp.epoch != p.epoch {
            p.epoch = stamp.epoch;
            p.batches.clear();
        }
        p.last_timestamp = p.last_timestamp.max(now_ms);
        p.batches.push_back(BatchMeta {
            first_seq: stamp.base_sequence,
            last_seq: ProducerStamp::add(stamp.base_sequence, info.last_offset - info.base_offset),
            first_offset: info.base_offset,
            last_offset: info.last_offset,
        });
        while p.batches.len() > REMEMBERED_BATCHES {
            p.batches.pop_front();
        }
    }

    /// Loads the newest snapshot in `dir` taken at or before `max_offset`, returning the
    /// state and the offset from which batches must be replayed. Without a usable
    /// snapshot the state starts empty at offset 0.
    pub fn load(dir: &Path, max_offset: i64) -> (Self, i64) {
        let mut snapshots = list_snapshots(dir);
        snapshots.retain(|(o, _)| *o <= max_offset);
        while let Some((offset, path)) = snapshots.pop() {
            match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok()) {
                Some(s) => return (ProducerStates { producers: s.producers }, offset),
                None => tracing::warn!(path = %path.display(), "ignoring an unreadable producer-state snapshot"),
            }
        }
        (ProducerStates::default(), 0)
    }

    /// Writes the state as of `offset` (every batch before it is included), forgetting
    /// producers idle for longer than the expiration, and removes older snapshots but one.
    pub fn save(&mut self, dir: &Path, offset: i64, now_ms: i64, durable: bool) -> Result<()> {
        self.producers.retain(|_, p| now_ms - p.last_timestamp < EXPIRATION_MS);
        let bytes = serde_json::to_vec(&Snapshot { producers: self.producers.clone() })
            .map_err(|e| Error::io("encoding producer state", std::io::Error::other(e)))?;
        crate::fsutil::replace(&snapshot_path(dir, offset), &bytes, durable)?;
        let snapshots = list_snapshots(dir);
        for (o, path) in snapshots.iter().take(snapshots.len().saturating_sub(2)) {
            if *o < offset {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }

    /// Drops snapshots taken after `offset` (the log was cut back to it).
    pub fn discard_after(dir: &Path, offset: i64) {
        for (o, path) in list_snapshots(dir) {
            if o > offset {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_EXT}"))
}

/// Snapshots in `dir`, oldest first.
fn list_snapshots(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".snapshot")?;
            (stem.len() == 20).then(|| stem.parse::<i64>().ok()).flatten().map(|o| (o, e.path()))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: i64, epoch: i16, seq: i32, base: i64, n: i64) -> BatchInfo {
        BatchInfo {
            base_offset: base,
            last_offset: base + n - 1,
            max_timestamp: 1,
            size: 100,
            producer: Some(ProducerStamp { producer_id: pid, epoch, base_sequence: seq }),
        }
    }

    fn stamp(pid: i64, epoch: i16, seq: i32) -> ProducerStamp {
        ProducerStamp { producer_id: pid, epoch, base_sequence: seq }
    }

    #[test]
    fn sequences_follow_on_and_repeats_are_duplicates() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(stamp(7, 0, 0), 3).unwrap(), SequenceCheck::Append);
        s.record(&info(7, 0, 0, 10, 3), 1);
        assert_eq!(s.check(stamp(7, 0, 0), 3).unwrap(), SequenceCheck::Duplicate { base_offset: 10, last_offset: 12 });
        assert_eq!(s.check(stamp(7, 0, 5), 1).unwrap_err().kind(), "OUT_OF_ORDER_SEQUENCE_NUMBER");
        assert_eq!(s.check(stamp(7, 0, 3), 2).unwrap(), SequenceCheck::Append);
        s.record(&info(7, 0, 3, 20, 2), 1);
        for i in 0..5 {
            s.record(&info(7, 0, 5 + i, 30 + i as i64, 1), 1);
        }
        // The first batches are no longer remembered: their repeat is out of order.
        assert_eq!(s.check(stamp(7, 0, 0), 3).unwrap_err().kind(), "OUT_OF_ORDER_SEQUENCE_NUMBER");
        assert!(matches!(s.check(stamp(7, 0, 9), 1).unwrap(), SequenceCheck::Duplicate { base_offset: 34, .. }));
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut s = ProducerStates::default();
        s.record(&info(1, 3, 0, 0, 1), 1);
        assert_eq!(s.check(stamp(1, 2, 1), 1).unwrap_err().kind(), "INVALID_PRODUCER_EPOCH");
        assert_eq!(s.check(stamp(1, 4, 1), 1).unwrap_err().kind(), "OUT_OF_ORDER_SEQUENCE_NUMBER");
        assert_eq!(s.check(stamp(1, 4, 0), 1).unwrap(), SequenceCheck::Append);
        // An unknown producer may start anywhere.
        assert_eq!(s.check(stamp(2, 0, 42), 1).unwrap(), SequenceCheck::Append);
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut s = ProducerStates::default();
        s.record(&info(1, 0, i32::MAX - 1, 0, 2), 1);
        assert_eq!(s.check(stamp(1, 0, 0), 1).unwrap(), SequenceCheck::Append);
        assert_eq!(ProducerStamp::add(i32::MAX, 1), 0);
    }

    #[test]
    fn snapshots_round_trip_and_the_newest_usable_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStates::default();
        s.record(&info(9, 1, 0, 0, 4), 1);
        s.save(dir.path(), 4, 2, false).unwrap();
        s.record(&info(9, 1, 4, 4, 1), 1);
        s.save(dir.path(), 5, 2, false).unwrap();
        let (loaded, from) = ProducerStates::load(dir.path(), 4);
        assert_eq!(from, 4);
        assert_eq!(loaded.check(stamp(9, 1, 4), 1).unwrap(), SequenceCheck::Append);
        let (loaded, from) = ProducerStates::load(dir.path(), 100);
        assert_eq!(from, 5);
        assert!(matches!(loaded.check(stamp(9, 1, 4), 1).unwrap(), SequenceCheck::Duplicate { .. }));
        std::fs::write(dir.path().join(format!("{:020}.snapshot", 5)), b"{torn").unwrap();
        assert_eq!(ProducerStates::load(dir.path(), 100).1, 4);
    }
}
