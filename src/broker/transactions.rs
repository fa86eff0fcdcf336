//! The transaction coordinator's requests (KIP-98), for both doors: InitProducerId with a
//! transactional id, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, and the
//! produce of transactional batches; the timeout that aborts a transaction left open; the
//! recovery of a transaction that was ending when the broker stopped.
//!
//! One broker is its own coordinator and partition leader, so EndTxn writes the markers
//! itself, before it answers: the next transaction never meets CONCURRENT_TRANSACTIONS
//! (which kafkajs does not retry for `sendOffsets` and `commit`). Every step of a
//! transaction happens under its id's lock, the append of its batches included, so no
//! batch can land after its transaction's marker and leave a transaction hanging.

use std::collections::BTreeSet;
use std::sync::MutexGuard;

use super::{now_ms, with_partition, Broker};
use crate::error::{Error, Result};
use crate::group::Committed;
use crate::log::control::Marker;
use crate::txn::{PendingOffset, TxnEntry, TxnMetadata, TxnState, MAX_TIMEOUT_MS};

/// How long a transaction that failed to end waits before the tick tries again.
const RETRY_ENDING_MS: i64 = 1_000;

fn lock(entry: &TxnEntry) -> MutexGuard<'_, TxnMetadata> {
    entry.lock().unwrap_or_else(|p| p.into_inner())
}

/// Checks that `producer_id` at `epoch` is the id's current producer (Kafka's checks for
/// AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn).
fn check_producer(meta: &TxnMetadata, producer_id: i64, epoch: i16) -> Result<()> {
    if producer_id != meta.producer_id {
        return Err(Error::InvalidProducerIdMapping(format!(
            "transactional id \"{}\" is held by producer {}, not {producer_id}",
            meta.id, meta.producer_id
        )));
    }
    if epoch != meta.epoch {
        return Err(fenced(meta, epoch));
    }
    Ok(())
}

fn fenced(meta: &TxnMetadata, epoch: i16) -> Error {
    Error::ProducerFenced(format!(
        "There is a newer producer with the same transactionalId which fences the current one: transactional id \"{}\" is at epoch {}, this producer has epoch {epoch}",
        meta.id, meta.epoch
    ))
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::InvalidRequest("a transactional id must be a non-empty string".into()));
    }
    Ok(())
}

/// What a transaction's producer may do given its state: add to it or end it.
fn check_not_ending(meta: &TxnMetadata) -> Result<()> {
    match meta.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort => Err(Error::ConcurrentTransactions(format!(
            "transaction of \"{}\" is ending ({}): try again",
            meta.id,
            meta.state.name()
        ))),
        _ => Ok(()),
    }
}

impl Broker {
    /// Kafka's InitProducerId with a transactional id: the id's producer id at a new epoch,
    /// which fences every older producer of the id. A transaction the id left open is
    /// aborted first (its markers written at the new epoch); one that was ending is
    /// finished. `expected` is the producer id and epoch a producer resuming after an
    /// error gives (KIP-360); a stale one is fenced.
    pub fn init_transactional_producer(&self, id: &str, timeout_ms: i32, expected: Option<(i64, i16)>) -> Result<(i64, i16)> {
        self.check_writable()?;
        check_id(id)?;
        if timeout_ms <= 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(Error::InvalidTransactionTimeout(format!(
                "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms): {timeout_ms} ms is not within 1..={MAX_TIMEOUT_MS}"
            )));
        }
        let now = now_ms();
        let mut created = false;
        let entry = self.txns.get_or_insert(id, || {
            created = true;
            let mut meta = TxnMetadata::new(id, self.producer_ids.next()?, timeout_ms, now);
            meta.epoch = -1;
            Ok(meta)
        })?;
        let mut meta = lock(&entry);
        if let Some((pid, epoch)) = expected.filter(|(pid, _)| *pid >= 0) {
            // A retry of a bump whose answer was lost gives the epoch it had before: it gets
            // the current one again (KIP-360).
            if !created && pid == meta.producer_id && epoch == meta.last_epoch && meta.state == TxnState::Empty {
                return Ok((meta.producer_id, meta.epoch));
            }
            if created || pid != meta.producer_id || epoch != meta.epoch {
                return Err(fenced(&meta, epoch));
            }
        }
        meta.last_epoch = if expected.is_some_and(|(pid, _)| pid >= 0) { meta.epoch } else { -1 };
        match meta.state {
            TxnState::Ongoing => self.end_locked(&mut meta, false, true)?,
            TxnState::PrepareCommit | TxnState::PrepareAbort => self.finish_prepared(&mut meta)?,
            _ => {}
        }
        if meta.epoch >= i16::MAX - 1 {
            // The epoch ran out: a new producer id starts again at 0 (the old one is fenced
            // by no longer being the id's).
            let old = meta.producer_id;
            meta.producer_id = self.producer_ids.next()?;
            meta.epoch = 0;
            self.txns.remap_producer(old, &meta);
        } else {
            meta.epoch += 1;
        }
        meta.timeout_ms = timeout_ms;
        meta.state = TxnState::Empty;
        meta.updated_ms = now;
        self.txns.persist(&meta)?;
        Ok((meta.producer_id, meta.epoch))
    }

    /// Kafka's AddPartitionsToTxn: adds partitions to the producer's transaction, which
    /// begins if it had not. Unknown partitions fail the request and nothing is added.
    pub fn add_partitions_to_txn(&self, id: &str, producer_id: i64, epoch: i16, partitions: &[(String, i32)]) -> Result<()> {
        self.check_writable()?;
        check_id(id)?;
        let entry = self.txn_entry(id, producer_id)?;
        let mut meta = lock(&entry);
        self.add_partitions_locked(&mut meta, producer_id, epoch, partitions)
    }

    fn add_partitions_locked(&self, meta: &mut TxnMetadata, producer_id: i64, epoch: i16, partitions: &[(String, i32)]) -> Result<()> {
        check_producer(meta, producer_id, epoch)?;
        check_not_ending(meta)?;
        for (topic, partition) in partitions {
            self.partition(topic, *partition)?;
        }
        if meta.state == TxnState::Ongoing && partitions.iter().all(|tp| meta.partitions.contains(tp)) {
            return Ok(());
        }
        let before = meta.clone();
        meta.begin(now_ms());
        meta.partitions.extend(partitions.iter().cloned());
        self.txns.persist(meta).inspect_err(|_| *meta = before)
    }

    /// Kafka's AddOffsetsToTxn: the group's offsets become part of the transaction.
    pub fn add_offsets_to_txn(&self, id: &str, producer_id: i64, epoch: i16, group: &str) -> Result<()> {
        self.check_writable()?;
        check_id(id)?;
        crate::group::validate_group_id(group)?;
        let entry = self.txn_entry(id, producer_id)?;
        let mut meta = lock(&entry);
        check_producer(&meta, producer_id, epoch)?;
        check_not_ending(&meta)?;
        if meta.state == TxnState::Ongoing && meta.groups.contains(group) {
            return Ok(());
        }
        let before = meta.clone();
        meta.begin(now_ms());
        meta.groups.insert(group.to_string());
        self.txns.persist(&meta).inspect_err(|_| *meta = before)
    }

    /// Kafka's TxnOffsetCommit: offsets the group gets when the transaction commits. The
    /// group must have been added (AddOffsetsToTxn); unknown partitions are refused.
    pub fn txn_offset_commit(&self, id: &str, group: &str, producer_id: i64, epoch: i16, offsets: &[(String, i32, Committed)]) -> Result<()> {
        self.check_writable()?;
        check_id(id)?;
        crate::group::validate_group_id(group)?;
        for (topic, partition, _) in offsets {
            self.partition(topic, *partition)?;
        }
        let entry = self.txn_entry(id, producer_id)?;
        let mut meta = lock(&entry);
        check_producer(&meta, producer_id, epoch)?;
        check_not_ending(&meta)?;
        if meta.state != TxnState::Ongoing || !meta.groups.contains(group) {
            return Err(Error::InvalidTxnState(format!(
                "group \"{group}\" is not in the transaction of \"{id}\": call AddOffsetsToTxn (sendOffsets) first"
            )));
        }
        let before = meta.clone();
        for (topic, partition, c) in offsets {
            meta.pending_offsets.retain(|o| !(o.group == group && o.topic == *topic && o.partition == *partition));
            meta.pending_offsets.push(PendingOffset {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
                offset: c.offset,
                metadata: c.metadata.clone(),
                leader_epoch: c.leader_epoch,
            });
        }
        meta.updated_ms = now_ms();
        self.txns.persist(&meta).inspect_err(|_| *meta = before)
    }

    /// Kafka's EndTxn: commits or aborts the producer's transaction, writing a marker to
    /// each partition in it and, on commit, the group offsets it held. A repeat of an end
    /// that completed (an answer lost) succeeds again.
    pub fn end_txn(&self, id: &str, producer_id: i64, epoch: i16, commit: bool) -> Result<()> {
        self.check_writable()?;
        check_id(id)?;
        let entry = self.txn_entry(id, producer_id)?;
        let mut meta = lock(&entry);
        check_producer(&meta, producer_id, epoch)?;
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => self.end_locked(&mut meta, commit, false),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(()),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => self.finish_prepared(&mut meta),
            (state, _) => Err(Error::InvalidTxnState(format!(
                "The producer attempted a transactional operation in an invalid state: transaction of \"{id}\" is {} and cannot be {}",
                state.name(),
                if commit { "committed" } else { "aborted" }
            ))),
        }
    }

    /// Appends a transactional producer's batches through `append`, under its transaction's
    /// lock, once the transaction is checked: the producer is its id's current one and
    /// the partitions are in its open transaction. With `implicit_add` (samsa's own
    /// producer), missing partitions are added first, as KIP-890's transactions v2 do.
    pub fn with_transaction<T>(
        &self,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        implicit_add: bool,
        append: impl FnOnce() -> T,
    ) -> Result<T> {
        let entry = self.txns.by_producer(producer_id).ok_or_else(|| {
            Error::InvalidProducerIdMapping(format!("producer {producer_id} holds no transactional id: call InitProducerId with one first"))
        })?;
        let mut meta = lock(&entry);
        if meta.producer_id != producer_id {
            return Err(Error::InvalidProducerIdMapping(format!("producer {producer_id} no longer holds transactional id \"{}\"", meta.id)));
        }
        if epoch != meta.epoch {
            return Err(Error::InvalidProducerEpoch(fenced(&meta, epoch).to_string()));
        }
        if implicit_add {
            self.add_partitions_locked(&mut meta, producer_id, epoch, partitions)?;
        } else if meta.state != TxnState::Ongoing || !partitions.iter().all(|tp| meta.partitions.contains(tp)) {
            return Err(Error::InvalidTxnState(format!(
                "a transactional batch for a partition not in the transaction of \"{}\": call AddPartitionsToTxn first",
                meta.id
            )));
        }
        Ok(append())
    }

    /// Aborts every transaction open longer than its timeout (Kafka's
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` pass), fencing its
    /// producer: the epoch moves on, so the producer's next request fails. Returns how many.
    pub fn abort_timed_out_transactions(&self, now_ms: i64) -> usize {
        let mut aborted = 0;
        for entry in self.txns.all() {
            let mut meta = lock(&entry);
            if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) && now_ms - meta.updated_ms >= RETRY_ENDING_MS {
                // An end that failed midway (a full disk, say) is finished once it can be,
                // as Kafka's coordinator retries its markers.
                meta.updated_ms = now_ms;
                if let Err(e) = self.finish_prepared(&mut meta) {
                    tracing::warn!(transactional_id = %meta.id, error = %e, "finishing a transaction failed; trying again later");
                }
                continue;
            }
            if !meta.timed_out(now_ms) {
                continue;
            }
            match self.end_locked(&mut meta, false, true) {
                Ok(()) => {
                    tracing::info!(transactional_id = %meta.id, "aborted a transaction open longer than its timeout");
                    aborted += 1;
                }
                Err(e) => tracing::warn!(transactional_id = %meta.id, error = %e, "aborting a timed-out transaction failed"),
            }
        }
        aborted
    }

    /// Finishes the transactions that were ending when the broker stopped (their
    /// `Prepare*` state is on disk): markers where still missing, offsets, `Complete*`.
    /// One that cannot be finished now (a full disk) is left to the maintenance tick.
    pub(super) fn recover_transactions(&self) {
        for entry in self.txns.all() {
            let mut meta = lock(&entry);
            if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                if let Err(e) = self.finish_prepared(&mut meta) {
                    tracing::warn!(transactional_id = %meta.id, error = %e, "finishing a transaction at open failed; trying again later");
                }
            }
        }
    }

    /// The state of transactional ids (Kafka's DescribeTransactions).
    pub fn describe_transaction(&self, id: &str) -> Result<TxnMetadata> {
        check_id(id)?;
        let entry = self.txns.get(id).ok_or_else(|| Error::TransactionalIdNotFound(format!("transactional id \"{id}\" is not known")))?;
        let meta = lock(&entry).clone();
        Ok(meta)
    }

    /// Every transactional id's state (Kafka's ListTransactions, before its filters).
    pub fn transactions(&self) -> Vec<TxnMetadata> {
        self.txns.all().iter().map(|e| lock(e).clone()).collect()
    }

    fn txn_entry(&self, id: &str, producer_id: i64) -> Result<TxnEntry> {
        self.txns.get(id).ok_or_else(|| {
            Error::InvalidProducerIdMapping(format!(
                "transactional id \"{id}\" is not known for producer {producer_id}: call InitProducerId first"
            ))
        })
    }

    /// Ends the open transaction under its lock: `Prepare*` durable, the markers, the
    /// offsets, `Complete*`. With `fence`, the epoch moves on first (a timeout, or a new
    /// producer of the id), and the markers carry the new epoch, fencing the old producer
    /// on every partition.
    fn end_locked(&self, meta: &mut TxnMetadata, commit: bool, fence: bool) -> Result<()> {
        let before = meta.clone();
        if fence {
            meta.epoch = meta.epoch.saturating_add(1);
        }
        meta.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        meta.updated_ms = now_ms();
        if let Err(e) = self.txns.persist(meta) {
            *meta = before;
            return Err(e);
        }
        self.finish_prepared(meta)
    }

    /// Writes what a `Prepare*` transaction still lacks and moves it to `Complete*`. A
    /// marker goes to each partition where the producer's transaction is still open (so a
    /// second pass writes none twice); a deleted partition needs none.
    fn finish_prepared(&self, meta: &mut TxnMetadata) -> Result<()> {
        let commit = meta.state == TxnState::PrepareCommit;
        let marker = Marker::of(commit);
        let now = now_ms();
        let mut written = BTreeSet::new();
        for (topic, partition) in &meta.partitions {
            let Ok(p) = self.partition(topic, *partition) else { continue };
            let mut log = p.log();
            let open = log.has_open_transaction(meta.producer_id).map_err(|e| with_partition(e, topic, *partition))?;
            if open {
                self.durability.check()?;
                log.append_marker(meta.producer_id, meta.epoch, marker, now).map_err(|e| with_partition(e, topic, *partition))?;
                drop(log);
                if self.config.fsync {
                    self.syncer.mark_dirty(&p);
                }
                p.appended.notify_waiters();
                written.insert((topic.clone(), *partition));
            }
        }
        if self.config.fsync {
            // The markers are durable before anything says the transaction ended: a power
            // cut must not leave a committed state with records that have no marker.
            for (topic, partition) in &written {
                let Ok(p) = self.partition(topic, *partition) else { continue };
                let files = p.log().take_unsynced()?;
                for (file, path) in files {
                    self.durability.sync_data(&file, &path)?;
                }
            }
        }
        if commit {
            let mut by_group: std::collections::BTreeMap<&str, Vec<(String, i32, Committed)>> = Default::default();
            for o in &meta.pending_offsets {
                let c = Committed { offset: o.offset, metadata: o.metadata.clone(), leader_epoch: o.leader_epoch };
                by_group.entry(&o.group).or_default().push((o.topic.clone(), o.partition, c));
            }
            for (group, offsets) in by_group {
                let known: Vec<_> = offsets.into_iter().filter(|(t, p, _)| self.has_partition(t, *p)).collect();
                self.groups.commit_from_transaction(group, &known)?;
            }
        }
        if !written.is_empty() {
            if let Some(listener) = super::read(&self.append_listener).as_ref() {
                let appended: Vec<(String, i32)> = written.into_iter().collect();
                listener(&appended);
            }
        }
        meta.complete(commit, now);
        self.txns.persist(meta)
    }
}
