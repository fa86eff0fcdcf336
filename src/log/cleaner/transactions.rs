//! What a cleaning pass does with transactions, as Kafka's cleaner does
//! (docs/internals/kafka-transactions.md, section 8): the batches of aborted transactions
//! contribute no key and go; a marker stays while the pass reads data of its transaction,
//! and once none is left it is treated as a tombstone: it gets a delete horizon, and a
//! later pass removes it. Markers never enter the key map (their record's key is not a
//! user's key). Nothing at or past the last stable offset is cleaned, so every
//! transaction a pass sees is decided.

use std::collections::HashSet;

use crate::log::batch::BatchHeader;
use crate::log::AbortedTxn;

/// What a batch is to the pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnBatch {
    /// Records under the key rule (not transactional, or of a committed transaction).
    Data,
    /// Records of an aborted transaction: they go.
    Aborted,
    /// A marker; `data_seen`: the pass read data of its transaction.
    Marker { data_seen: bool },
}

/// Walks a log's batches in offset order and says what each is, from the partition's
/// aborted transactions (Kafka's consumer walks a fetch the same way).
pub struct TxnWalk<'a> {
    aborted: Vec<&'a AbortedTxn>,
    next: usize,
    aborting: HashSet<i64>,
    data_seen: HashSet<i64>,
}

impl<'a> TxnWalk<'a> {
    /// A walk from offset `start` on: aborted transactions whose marker lies before it are
    /// over by then.
    pub fn new(aborted: &'a [AbortedTxn], start: i64) -> Self {
        let mut list: Vec<&AbortedTxn> = aborted.iter().filter(|a| a.last_offset >= start).collect();
        list.sort_by_key(|a| a.first_offset);
        TxnWalk { aborted: list, next: 0, aborting: HashSet::new(), data_seen: HashSet::new() }
    }

    /// What the next batch (in offset order) is.
    pub fn classify(&mut self, h: &BatchHeader) -> TxnBatch {
        while let Some(a) = self.aborted.get(self.next).filter(|a| a.first_offset <= h.last_offset()) {
            self.aborting.insert(a.producer_id);
            self.next += 1;
        }
        let pid = h.producer_id;
        if h.is_control() {
            self.aborting.remove(&pid);
            return TxnBatch::Marker { data_seen: self.data_seen.remove(&pid) };
        }
        if !h.is_transactional() {
            return TxnBatch::Data;
        }
        self.data_seen.insert(pid);
        if self.aborting.contains(&pid) {
            TxnBatch::Aborted
        } else {
            TxnBatch::Data
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base: i64, pid: i64, transactional: bool, control: bool) -> BatchHeader {
        let attributes = if transactional { 0x10 } else { 0 } | if control { 0x20 } else { 0 };
        BatchHeader {
            base_offset: base,
            length: 49,
            magic: 2,
            crc: 0,
            attributes,
            last_offset_delta: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            record_count: 1,
        }
    }

    #[test]
    fn aborted_data_goes_and_markers_know_whether_their_data_was_read() {
        let aborted = [AbortedTxn { producer_id: 7, first_offset: 1, last_offset: 3 }];
        let mut w = TxnWalk::new(&aborted, 0);
        assert_eq!(w.classify(&header(0, 5, true, false)), TxnBatch::Data);
        assert_eq!(w.classify(&header(1, 7, true, false)), TxnBatch::Aborted);
        assert_eq!(w.classify(&header(2, 5, true, true)), TxnBatch::Marker { data_seen: true });
        assert_eq!(w.classify(&header(3, 7, true, true)), TxnBatch::Marker { data_seen: true });
        // The same producer's next transaction is not aborted; a marker with no data read
        // before it (its data went in an earlier pass) may go.
        assert_eq!(w.classify(&header(4, 7, true, false)), TxnBatch::Data);
        assert_eq!(w.classify(&header(5, 9, true, true)), TxnBatch::Marker { data_seen: false });
        assert_eq!(w.classify(&header(6, 1, false, false)), TxnBatch::Data);
    }

    #[test]
    fn a_walk_starting_after_an_abort_marker_does_not_treat_the_producer_as_aborting() {
        let aborted = [AbortedTxn { producer_id: 7, first_offset: 1, last_offset: 3 }];
        let mut w = TxnWalk::new(&aborted, 10);
        assert_eq!(w.classify(&header(10, 7, true, false)), TxnBatch::Data);
    }
}
