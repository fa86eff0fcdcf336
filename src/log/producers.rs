//! The idempotent producers' state of one partition, as Kafka keeps it: per producer id,
//! its epoch and the sequence ranges of its last five batches, so a batch sent again
//! after a lost answer is acknowledged with its first offsets instead of written twice,
//! and a batch out of sequence is refused.
//!
//! With transactions, it also keeps each producer's open transaction (the offset of its
//! first batch here), so the last stable offset is the first offset of the oldest open
//! transaction, and the transactions that ended in an abort marker (Kafka's aborted
//! transaction index), which read-committed fetches list so clients skip their records.
//!
//! The state is rebuilt from the batches' own headers (they carry producer id, epoch and
//! base sequence) and markers, starting from a snapshot the partition writes when it closes
//! cleanly and when a segment rolls, so only the batches after the newest snapshot are read.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::log::batch::{BatchInfo, ProducerStamp};
use crate::log::control::Marker;

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
    /// The offset of the first batch of its open transaction here, if one is open.
    #[serde(default)]
    txn_first_offset: Option<i64>,
}

/// A transaction that ended in an abort marker: its records, from `first_offset` to the
/// marker at `last_offset`, are skipped by read-committed consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// What the state says of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Write it.
    Append,
    /// Already written at these offsets: acknowledge, write nothing.
    Duplicate { base_offset: i64, last_offset: i64 },
}

#[derive(Default)]
pub struct ProducerStates {
    producers: HashMap<i64, Producer>,
    /// Open transactions by the offset of their first batch, to their producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions, in the order of their markers.
    aborted: Vec<AbortedTxn>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    producers: HashMap<i64, Producer>,
    #[serde(default)]
    aborted: Vec<AbortedTxn>,
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
        if stamp.epoch == p.epoch && !stamp.transactional && p.txn_first_offset.is_some() {
            return Err(Error::InvalidTxnState(format!(
                "producer {pid} sent a batch outside its transaction while the transaction is open on this partition"
            )));
        }
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
        if info.control {
            // Markers carry no sequence; `record_marker` takes them.
            return;
        }
        let p = self.producers.entry(stamp.producer_id).or_default();
        if stamp.epoch != p.epoch {
            p.epoch = stamp.epoch;
            p.batches.clear();
        }
        p.last_timestamp = p.last_timestamp.max(now_ms);
        if stamp.transactional && p.txn_first_offset.is_none() {
            p.txn_first_offset = Some(info.base_offset);
            self.ongoing.insert(info.base_offset, stamp.producer_id);
        }
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

    /// Records the marker at `offset` ending `producer_id`'s transaction. A marker at a
    /// newer epoch (the producer was fenced, its transaction aborted for it) moves the
    /// producer to that epoch, whose sequences start again at 0.
    pub fn record_marker(&mut self, producer_id: i64, epoch: i16, marker: Marker, offset: i64, now_ms: i64) {
        let p = self.producers.entry(producer_id).or_default();
        if epoch > p.epoch {
            p.epoch = epoch;
            p.batches.clear();
        }
        p.last_timestamp = p.last_timestamp.max(now_ms);
        if let Some(first) = p.txn_first_offset.take() {
            self.ongoing.remove(&first);
            if !marker.is_commit() {
                self.aborted.push(AbortedTxn { producer_id, first_offset: first, last_offset: offset });
            }
        }
    }

    /// Whether `producer_id` has a transaction open on this partition.
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.producers.get(&producer_id).is_some_and(|p| p.txn_first_offset.is_some())
    }

    /// The last stable offset for a log whose high watermark is `high_watermark`: the first
    /// offset of the oldest open transaction, or the high watermark.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.ongoing.keys().next().map_or(high_watermark, |first| (*first).min(high_watermark))
    }

    /// The aborted transactions with records between `from` and `to` (exclusive), in
    /// order of their first offsets, as a read-committed fetch of that range lists them.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        // In marker order, so by last offset: those ending before `from` are skipped at once.
        let skip = self.aborted.partition_point(|a| a.last_offset < from);
        let mut out: Vec<AbortedTxn> = self.aborted[skip..].iter().filter(|a| a.first_offset < to).copied().collect();
        out.sort_by_key(|a| a.first_offset);
        out
    }

    /// Forgets aborted transactions wholly before `log_start` (their records are gone).
    pub fn forget_aborted_before(&mut self, log_start: i64) {
        self.aborted.retain(|a| a.last_offset >= log_start);
    }

    /// Loads the newest snapshot in `dir` taken at or before `max_offset`, returning the
    /// state and the offset from which batches must be replayed. Without a usable
    /// snapshot the state starts empty at offset 0.
    pub fn load(dir: &Path, max_offset: i64) -> (Self, i64) {
        let mut snapshots = list_snapshots(dir);
        snapshots.retain(|(o, _)| *o <= max_offset);
        while let Some((offset, path)) = snapshots.pop() {
            match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok()) {
                Some(s) => {
                    let ongoing = s.producers.iter().filter_map(|(pid, p)| p.txn_first_offset.map(|o| (o, *pid))).collect();
                    return (ProducerStates { producers: s.producers, ongoing, aborted: s.aborted }, offset);
                }
                None => tracing::warn!(path = %path.display(), "ignoring an unreadable producer-state snapshot"),
            }
        }
        (ProducerStates::default(), 0)
    }

    /// Writes the state as of `offset` (every batch before it is included), forgetting
    /// producers idle for longer than the expiration, and removes older snapshots but one.
    pub fn save(&mut self, dir: &Path, offset: i64, now_ms: i64, durable: bool) -> Result<()> {
        // A producer with an open transaction is kept: its marker is still to come.
        self.producers.retain(|_, p| now_ms - p.last_timestamp < EXPIRATION_MS || p.txn_first_offset.is_some());
        let bytes = serde_json::to_vec(&Snapshot { producers: self.producers.clone(), aborted: self.aborted.clone() })
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
            producer: Some(ProducerStamp::idempotent(pid, epoch, seq)),
            control: false,
        }
    }

    fn stamp(pid: i64, epoch: i16, seq: i32) -> ProducerStamp {
        ProducerStamp::idempotent(pid, epoch, seq)
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
