//! Kafka's transactions in the core, as an application's producer and a read-committed
//! reader see them: markers, the last stable offset, aborted records skipped, fencing by a
//! new producer of the same id, the timeout, offsets committed with the transaction, and a
//! transaction that was ending when the broker stopped finished at the next open.

use samsa::broker::{Broker, BrokerConfig, Isolation, PartitionAppend};
use samsa::group::Committed;
use samsa::log::batch::{self, BatchHeader};
use samsa::log::{Compression, ProducerStamp, Record};

fn rec(v: &'static str) -> Record<'static> {
    Record { timestamp: 1, key: None, value: Some(v.as_bytes()), headers: &[] }
}

fn txn_stamp(pid: i64, epoch: i16, seq: i32) -> ProducerStamp {
    ProducerStamp { producer_id: pid, epoch, base_sequence: seq, transactional: true }
}

fn send(b: &Broker, partition: i32, stamp: ProducerStamp, values: &[&'static str]) -> samsa::Result<i64> {
    let append = PartitionAppend { topic: "t", partition, records: values.iter().map(|v| rec(v)).collect(), producer: Some(stamp) };
    Ok(b.append_all(&[append], Compression::None)?.remove(0)?.base_offset)
}

/// The values a read-committed reader sees from offset 0, skipping markers and aborted
/// transactions as Kafka's clients do, and the offset it stops at.
fn read_committed(b: &Broker, partition: i32) -> (Vec<String>, i64) {
    let mut out = Vec::new();
    let mut next = 0;
    let mut scratch = Vec::new();
    loop {
        let r = b.read_isolated("t", partition, next, 1 << 20, Isolation::ReadCommitted).unwrap();
        if r.bytes.is_empty() {
            return (out, r.last_stable_offset.max(next));
        }
        let mut aborted_pids: Vec<i64> = Vec::new();
        let mut pending = r.aborted.clone();
        let mut pos = 0;
        while pos < r.bytes.len() {
            let h = BatchHeader::parse(&r.bytes[pos..]).unwrap();
            while pending.first().is_some_and(|a| a.first_offset <= h.last_offset()) {
                aborted_pids.push(pending.remove(0).producer_id);
            }
            let batch = &r.bytes[pos..pos + h.total_size()];
            if h.is_control() {
                aborted_pids.retain(|p| *p != h.producer_id);
            } else if !(h.is_transactional() && aborted_pids.contains(&h.producer_id)) {
                batch::for_each_record(batch, &mut scratch, |rv| {
                    if rv.offset >= next {
                        out.push(String::from_utf8(rv.value.unwrap().to_vec()).unwrap());
                    }
                })
                .unwrap();
            }
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
}

fn open(dir: &std::path::Path) -> std::sync::Arc<Broker> {
    Broker::open(dir, BrokerConfig::default()).unwrap()
}

#[test]
fn commit_shows_records_and_offsets_abort_hides_them() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    b.create_topic("t", 2, -1, &[], false).unwrap();
    let (pid, epoch) = b.init_transactional_producer("tx", 60_000, None).unwrap();
    assert_eq!(epoch, 0);

    send(&b, 0, txn_stamp(pid, epoch, 0), &["a1", "a2"]).unwrap();
    send(&b, 1, txn_stamp(pid, epoch, 0), &["b1"]).unwrap();
    // Open: nothing is stable yet, read uncommitted sees it all.
    assert_eq!(read_committed(&b, 0).0, Vec::<String>::new());
    assert_eq!(b.list_offset("t", 0, samsa::broker::LATEST, Isolation::ReadCommitted).unwrap().offset, 0);
    assert_eq!(b.list_offset("t", 0, samsa::broker::LATEST, Isolation::ReadUncommitted).unwrap().offset, 2);
    b.add_offsets_to_txn("tx", pid, epoch, "g").unwrap();
    let c = Committed { offset: 7, metadata: None, leader_epoch: None };
    b.txn_offset_commit("tx", "g", pid, epoch, &[("t".into(), 0, c)]).unwrap();
    assert!(b.has_pending_txn_offset("g", "t", 0));
    assert_eq!(b.groups.committed("g", "t", 0), None, "offsets wait for the commit");
    b.end_txn("tx", pid, epoch, true).unwrap();
    assert_eq!(read_committed(&b, 0), (vec!["a1".to_string(), "a2".to_string()], 3));
    assert_eq!(read_committed(&b, 1).0, vec!["b1".to_string()]);
    assert_eq!(b.groups.committed("g", "t", 0).map(|c| c.offset), Some(7));
    assert!(!b.has_pending_txn_offset("g", "t", 0));
    // A commit repeated after a lost answer succeeds again.
    b.end_txn("tx", pid, epoch, true).unwrap();

    // An aborted transaction, then a committed one: only the second is seen.
    send(&b, 0, txn_stamp(pid, epoch, 2), &["x1"]).unwrap();
    b.add_offsets_to_txn("tx", pid, epoch, "g").unwrap();
    b.txn_offset_commit("tx", "g", pid, epoch, &[("t".into(), 0, Committed { offset: 99, metadata: None, leader_epoch: None })]).unwrap();
    b.end_txn("tx", pid, epoch, false).unwrap();
    send(&b, 0, txn_stamp(pid, epoch, 3), &["y1"]).unwrap();
    b.end_txn("tx", pid, epoch, true).unwrap();
    assert_eq!(read_committed(&b, 0).0, vec!["a1", "a2", "y1"]);
    assert_eq!(b.groups.committed("g", "t", 0).map(|c| c.offset), Some(7), "aborted offsets are dropped");
    // Ending a transaction that is not open is refused.
    assert_eq!(b.end_txn("tx", pid, epoch, false).unwrap_err().kind(), "INVALID_TXN_STATE");
}

#[test]
fn a_new_producer_of_the_id_fences_the_old_and_aborts_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    b.create_topic("t", 1, -1, &[], false).unwrap();
    let (pid, old) = b.init_transactional_producer("tx", 60_000, None).unwrap();
    send(&b, 0, txn_stamp(pid, old, 0), &["zombie"]).unwrap();
    let (pid2, new) = b.init_transactional_producer("tx", 60_000, None).unwrap();
    assert_eq!(pid2, pid);
    assert!(new > old);
    // The zombie's next send and its commit fail; the stable offset moved past its records.
    assert_eq!(send(&b, 0, txn_stamp(pid, old, 1), &["late"]).unwrap_err().kind(), "INVALID_PRODUCER_EPOCH");
    assert_eq!(b.end_txn("tx", pid, old, true).unwrap_err().kind(), "PRODUCER_FENCED");
    send(&b, 0, txn_stamp(pid, new, 0), &["fresh"]).unwrap();
    b.end_txn("tx", pid, new, true).unwrap();
    assert_eq!(read_committed(&b, 0).0, vec!["fresh"]);
}

#[test]
fn a_transaction_left_open_is_aborted_after_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    b.create_topic("t", 1, -1, &[], false).unwrap();
    let (pid, epoch) = b.init_transactional_producer("tx", 1_000, None).unwrap();
    send(&b, 0, txn_stamp(pid, epoch, 0), &["left"]).unwrap();
    assert_eq!(b.abort_timed_out_transactions(samsa::broker::now_ms()), 0);
    assert_eq!(b.abort_timed_out_transactions(samsa::broker::now_ms() + 2_000), 1);
    assert_eq!(read_committed(&b, 0), (vec![], 2));
    assert_eq!(b.end_txn("tx", pid, epoch, true).unwrap_err().kind(), "PRODUCER_FENCED");
}

#[test]
fn state_survives_a_restart_and_an_open_transaction_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let (pid, epoch);
    {
        let b = open(dir.path());
        b.create_topic("t", 1, -1, &[], false).unwrap();
        (pid, epoch) = b.init_transactional_producer("tx", 60_000, None).unwrap();
        send(&b, 0, txn_stamp(pid, epoch, 0), &["c1"]).unwrap();
        b.end_txn("tx", pid, epoch, true).unwrap();
        send(&b, 0, txn_stamp(pid, epoch, 1), &["open"]).unwrap();
        // Dropped without close: an unclean stop.
    }
    let b = open(dir.path());
    assert_eq!(read_committed(&b, 0), (vec!["c1".to_string()], 2), "the open transaction still holds the stable offset");
    send(&b, 0, txn_stamp(pid, epoch, 2), &["more"]).unwrap();
    b.end_txn("tx", pid, epoch, false).unwrap();
    assert_eq!(read_committed(&b, 0).0, vec!["c1"]);
    let described = b.describe_transaction("tx").unwrap();
    assert_eq!(described.state.name(), "CompleteAbort");
    b.close().unwrap();
    let b = open(dir.path());
    assert_eq!(read_committed(&b, 0).0, vec!["c1"]);
}

#[test]
fn control_batches_from_clients_are_refused_and_transactional_ones_need_the_partition_added() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    b.create_topic("t", 1, -1, &[], false).unwrap();
    let mut marker = Vec::new();
    samsa::log::control::encode_marker(&mut marker, 1, 0, samsa::log::control::Marker::Commit, 0, 1).unwrap();
    assert_eq!(b.client_batches("t", 0, marker).err().unwrap().kind(), "INVALID_RECORD");
    let (pid, epoch) = b.init_transactional_producer("tx", 60_000, None).unwrap();
    let mut bytes = Vec::new();
    batch::encode_batch(&mut bytes, 0, &[rec("v")], Compression::None, Some(txn_stamp(pid, epoch, 0))).unwrap();
    let enc = b.client_batches("t", 0, bytes.clone()).unwrap();
    let r = b.produce_batches(vec![("t".into(), 0, Ok(enc))], false).remove(0);
    assert_eq!(r.unwrap_err().kind(), "INVALID_TXN_STATE");
    b.add_partitions_to_txn("tx", pid, epoch, &[("t".into(), 0)]).unwrap();
    let enc = b.client_batches("t", 0, bytes).unwrap();
    assert!(b.produce_batches(vec![("t".into(), 0, Ok(enc))], false).remove(0).is_ok());
}
