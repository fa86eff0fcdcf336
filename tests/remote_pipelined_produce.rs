//! A process that does not own the data directory has several Produce requests out at
//! once on its connection to the owner (src/remote/conn.rs): each call gets its own
//! answer, and the owner stores them in the order they were made. When the owner stops
//! serving while some are out, they go again, in that order, to the next listener, and
//! each is stored once.

use std::sync::mpsc;
use std::time::Duration;

use samsa::broker::{Broker, BrokerConfig};
use samsa::log::{Compression, EncodedBatches, ProducerStamp, Record};
use samsa::remote::RemoteBroker;

const PER_CALL: usize = 3;

/// The batch of produce number `k`: PER_CALL records, its sequences following on from k-1's.
fn batch(pid: i64, epoch: i16, k: usize) -> bytes::Bytes {
    let values: Vec<String> = (0..PER_CALL).map(|j| format!("{k}-{j}")).collect();
    let records: Vec<Record<'_>> = values.iter().map(|v| Record { timestamp: 1, key: None, value: Some(v.as_bytes()), headers: &[] }).collect();
    let stamp = ProducerStamp::idempotent(pid, epoch, (k * PER_CALL) as i32);
    let mut e = EncodedBatches::default();
    e.encode(&records, Compression::None, 1 << 20, Some(stamp)).unwrap();
    bytes::Bytes::from(e.bytes)
}

/// Starts produces `ks` on the remote side's runtime, in that order (its one thread polls
/// them first in the order spawned, so they are written in that order); their answers
/// (base offset or error kind) come back on the channel with their number.
fn start(remote: &RemoteBroker, pid: i64, epoch: i16, ks: std::ops::Range<usize>, answers: &mpsc::Sender<(usize, Result<i64, String>)>) {
    for k in ks {
        let inner = remote.inner().clone();
        let answers = answers.clone();
        remote.spawn(async move {
            let bytes = batch(pid, epoch, k);
            let parts = vec![("p".to_string(), 0, 0..bytes.len())];
            let answer = match inner.produce(parts, &bytes).await {
                Ok(mut outcomes) => outcomes.remove(0).map(|(base, _, _)| base).map_err(|e| e.kind().to_string()),
                Err(e) => Err(e.kind().to_string()),
            };
            let _ = answers.send((k, answer));
        });
    }
}

fn collect(answers: &mpsc::Receiver<(usize, Result<i64, String>)>, n: usize) -> Vec<(usize, Result<i64, String>)> {
    let mut got: Vec<_> = (0..n).map(|_| answers.recv_timeout(Duration::from_secs(30)).expect("an answer within 30 s")).collect();
    got.sort_by_key(|(k, _)| *k);
    got
}

#[test]
fn produces_out_together_are_each_answered_and_stored_in_the_order_made_across_a_lost_owner() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    owner.create_topic("p", 1, -1, &[], false).unwrap();
    let (listener, socket) = samsa::wire::local::serve(owner.clone()).unwrap();

    let remote = RemoteBroker::connect(dir.path(), samsa::remote::DEFAULT_REQUEST_TIMEOUT).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (pid, epoch) = rt
        .block_on(remote.run({
            let i = remote.inner().clone();
            async move { i.init_producer_id().await }
        }))
        .unwrap();
    let (tx, rx) = mpsc::channel();

    // Sixty produces out at once: each answer is its own, at the offsets of its order.
    start(&remote, pid, epoch, 0..60, &tx);
    for (k, answer) in collect(&rx, 60) {
        assert_eq!(answer, Ok((k * PER_CALL) as i64), "produce {k}");
    }

    // The owner stops serving while more are out, and serves again a moment later: those
    // not stored go again, in order, and none is stored twice or refused.
    start(&remote, pid, epoch, 60..120, &tx);
    samsa::wire::local::withdraw(dir.path(), listener, &socket);
    std::thread::sleep(Duration::from_millis(200));
    let (listener, _) = samsa::wire::local::serve(owner.clone()).unwrap();
    for (k, answer) in collect(&rx, 60) {
        assert_eq!(answer, Ok((k * PER_CALL) as i64), "produce {k}");
    }
    assert_eq!(owner.offsets("p").unwrap()[0].high, (120 * PER_CALL) as i64);
    let mut stored = Vec::new();
    let mut next = 0;
    let mut scratch = Vec::new();
    while next < (120 * PER_CALL) as i64 {
        let bytes = owner.read("p", 0, next, 1 << 20).unwrap().bytes;
        let mut pos = 0;
        while pos < bytes.len() {
            let h = samsa::log::batch::verify(&bytes[pos..]).unwrap();
            samsa::log::batch::for_each_record(&bytes[pos..pos + h.total_size()], &mut scratch, |r| {
                if r.offset >= next {
                    stored.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
                }
            })
            .unwrap();
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    let expected: Vec<String> = (0..120).flat_map(|k| (0..PER_CALL).map(move |j| format!("{k}-{j}"))).collect();
    assert_eq!(stored, expected);

    samsa::wire::local::withdraw(dir.path(), listener, &socket);
    drop(remote);
    owner.close().unwrap();
}
