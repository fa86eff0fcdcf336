//! Kafka's transactions (KIP-98), the coordinator's side: each transactional id's producer
//! id and epoch, the state of its transaction, the partitions and groups in it and the
//! offsets it will commit. The broker drives the transitions (`src/broker/transactions.rs`)
//! and writes the markers; this module holds the state and keeps it durable.

mod log;
mod state;

pub use log::TxnLog;
pub use state::{PendingOffset, TxnMetadata, TxnState};

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::durability::Durability;
use crate::error::Result;

/// Kafka's `transaction.max.timeout.ms` default: the longest timeout a producer may ask for.
pub const MAX_TIMEOUT_MS: i32 = 15 * 60 * 1000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every transactional id's last state recorded in data directory `dir`, read only (for
/// `samsa verify` of a closed directory).
pub fn states_in(dir: &Path) -> Result<HashMap<String, TxnMetadata>> {
    log::read(&dir.join(log::FILE)).map(|(states, _, _)| states)
}

/// One transactional id's state behind its own lock: a transaction's checks, appends and
/// markers happen under it, so a produce can never land after its transaction's marker.
pub type TxnEntry = Arc<Mutex<TxnMetadata>>;

/// Every transactional id the broker knows, and the file that keeps them.
pub struct Transactions {
    entries: Mutex<HashMap<String, TxnEntry>>,
    /// Producer id to transactional id, for produce requests (which name only the former).
    by_producer: Mutex<HashMap<i64, String>>,
    log: Mutex<TxnLog>,
}

impl Transactions {
    pub fn open(dir: &Path, fsync: bool, durability: Arc<Durability>) -> Result<Self> {
        let (log, loaded) = TxnLog::open(dir, fsync, durability)?;
        let by_producer = loaded.values().map(|m| (m.producer_id, m.id.clone())).collect();
        let entries = loaded.into_iter().map(|(id, m)| (id, Arc::new(Mutex::new(m)))).collect();
        Ok(Transactions { entries: Mutex::new(entries), by_producer: Mutex::new(by_producer), log: Mutex::new(log) })
    }

    /// The entry for `id`, if the id is known.
    pub fn get(&self, id: &str) -> Option<TxnEntry> {
        lock(&self.entries).get(id).cloned()
    }

    /// The entry for `id`, made with `new` if the id is new.
    pub fn get_or_insert(&self, id: &str, new: impl FnOnce() -> Result<TxnMetadata>) -> Result<TxnEntry> {
        let mut entries = lock(&self.entries);
        if let Some(e) = entries.get(id) {
            return Ok(Arc::clone(e));
        }
        let meta = new()?;
        lock(&self.by_producer).insert(meta.producer_id, id.to_string());
        let entry = Arc::new(Mutex::new(meta));
        entries.insert(id.to_string(), Arc::clone(&entry));
        Ok(entry)
    }

    /// The entry whose transactional id holds `producer_id` now.
    pub fn by_producer(&self, producer_id: i64) -> Option<TxnEntry> {
        let id = lock(&self.by_producer).get(&producer_id).cloned()?;
        self.get(&id)
    }

    /// Notes that `meta`'s id now holds its producer id (a new one after the epoch ran out).
    pub fn remap_producer(&self, old_producer_id: i64, meta: &TxnMetadata) {
        let mut map = lock(&self.by_producer);
        map.remove(&old_producer_id);
        map.insert(meta.producer_id, meta.id.clone());
    }

    /// Every entry (for timeouts, recovery and ListTransactions).
    pub fn all(&self) -> Vec<TxnEntry> {
        lock(&self.entries).values().cloned().collect()
    }

    /// Writes `meta` as its id's current state (durably, as the broker's fsync setting says).
    pub fn persist(&self, meta: &TxnMetadata) -> Result<()> {
        lock(&self.log).write(meta)
    }

    /// Whether a transaction holds offsets for `group`'s `topic`-`partition` not yet
    /// committed (OffsetFetch with RequireStable answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.all().iter().any(|e| {
            let m = lock(e);
            m.state.is_open() && m.pending_offsets.iter().any(|o| o.group == group && o.topic == topic && o.partition == partition)
        })
    }

    pub fn flush(&self) -> Result<()> {
        lock(&self.log).flush()
    }
}
