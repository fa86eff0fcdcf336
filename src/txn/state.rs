//! A transactional id's state, as Kafka's coordinator keeps it in `__transaction_state`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Where a transactional id's transaction is. samsa ends a transaction within the EndTxn
/// request (markers written, offsets committed), so the `Prepare*` states are seen only in
/// the file after a crash mid-way, and finished at the next open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    /// Kafka's name for the state (DescribeTransactions, ListTransactions).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    /// A transaction is in progress or ending: its records are not yet stable.
    pub fn is_open(self) -> bool {
        matches!(self, TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// An offset a transaction will commit for a group when it commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOffset {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_epoch: Option<i32>,
}

/// One transactional id: its producer, its transaction's state and what is in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub id: String,
    pub producer_id: i64,
    pub epoch: i16,
    /// The epoch before the last bump a producer asked for with its own (KIP-360), so a
    /// retry of that request is recognised; -1 otherwise.
    #[serde(default = "no_epoch")]
    pub last_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// Partitions added to the open transaction.
    #[serde(default)]
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups added to the open transaction (AddOffsetsToTxn).
    #[serde(default)]
    pub groups: BTreeSet<String>,
    #[serde(default)]
    pub pending_offsets: Vec<PendingOffset>,
    /// When the open transaction began (its first partition or group was added), ms.
    #[serde(default)]
    pub started_ms: i64,
    pub updated_ms: i64,
}

fn no_epoch() -> i16 {
    -1
}

impl TxnMetadata {
    pub fn new(id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            id: id.to_string(),
            producer_id,
            epoch: 0,
            last_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            pending_offsets: Vec::new(),
            started_ms: -1,
            updated_ms: now_ms,
        }
    }

    /// Moves to Ongoing if the transaction had not begun.
    pub fn begin(&mut self, now_ms: i64) {
        if self.state != TxnState::Ongoing {
            self.state = TxnState::Ongoing;
            self.started_ms = now_ms;
        }
        self.updated_ms = now_ms;
    }

    /// Clears what the ended transaction held.
    pub fn complete(&mut self, commit: bool, now_ms: i64) {
        self.state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        self.partitions.clear();
        self.groups.clear();
        self.pending_offsets.clear();
        self.started_ms = -1;
        self.updated_ms = now_ms;
    }

    /// Whether the open transaction has outlived its timeout at `now_ms`.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing && self.started_ms >= 0 && now_ms - self.started_ms > i64::from(self.timeout_ms)
    }
}
