//! Fetching ahead for a process's consumers. A consumer asks for a partition at an offset
//! without waiting (the JS thread never blocks on the owner): what was fetched ahead is
//! handed over at once, and otherwise the partition is marked wanted and the fetcher, one
//! long-polling Fetch for every wanted partition, tells JS when records arrive.
//!
//! Partitions with records waiting are fetched on one connection without waiting, quiet
//! ones long-polled on another, so a quiet partition never holds up a busy one.
//!
//! Memory stays bounded: at most two results ahead per partition, and nothing fetched
//! ahead while more than [`MAX_BUFFERED`] bytes wait; a partition nobody asked for in
//! [`FORGET_AFTER`] is dropped (a revoked or paused one).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{fetch_request, BrokerId, FetchRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;

use super::Inner;
use crate::error::{Error, Result};
use crate::log::batch::BatchHeader;

const AHEAD: usize = 2;
const MAX_BUFFERED: usize = 64 << 20;
const FORGET_AFTER: Duration = Duration::from_secs(30);
/// How long a lost owner goes unreported to the consumers while the fetch is tried again:
/// when an owner exits, another process takes the directory over well within it, and the
/// consumers read on as if nothing happened.
const OUTAGE_GRACE: Duration = Duration::from_secs(1);
/// How long the owner holds a fetch with nothing new: a partition asked for meanwhile
/// waits at most this long for its first request.
const MAX_WAIT_MS: i32 = 100;

/// Records fetched for a partition from `offset`: whole batches, as the owner stores them.
pub struct Fetched {
    pub offset: i64,
    pub bytes: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub last_stable_offset: i64,
    /// Read committed: the aborted transactions among the batches, as (producer id, first
    /// offset), as the owner listed them.
    pub aborted: Vec<(i64, i64)>,
}

enum Item {
    Records { fetched: Fetched, next: i64 },
    Failed { offset: i64, error: Error },
}

impl Item {
    fn offset(&self) -> i64 {
        match self {
            Item::Records { fetched, .. } => fetched.offset,
            Item::Failed { offset, .. } => *offset,
        }
    }
}

struct Want {
    /// Where the consumer reads next (the first item's offset when there is one).
    offset: i64,
    max_bytes: i32,
    asked: Instant,
    ready: VecDeque<Item>,
    /// The last fetch found records: the next is likely to at once (the hot lane fetches
    /// it without waiting; the others are long-polled on a lane of their own, so a quiet
    /// partition never holds up a busy one).
    hot: bool,
    in_flight: bool,
    /// The reader reads committed (kafkajs's default): fetched at isolation level 1.
    committed: bool,
}

/// The two fetch loops: partitions with records waiting, and quiet ones.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Hot,
    Quiet,
}

impl Want {
    /// Where the next fetch for this partition starts, if one may go out now.
    fn next_fetch(&self) -> Option<i64> {
        if self.ready.len() >= AHEAD || self.in_flight {
            return None;
        }
        match self.ready.back() {
            None => Some(self.offset),
            Some(Item::Records { next, .. }) => Some(*next),
            Some(Item::Failed { .. }) => None,
        }
    }
}

type Key = (u32, String, i32);

/// One partition of a fetch: whose, which, from where, how much.
pub struct Asked {
    key: Key,
    offset: i64,
    max_bytes: i32,
    committed: bool,
}

#[derive(Default)]
pub struct Fetcher {
    /// By (reader, topic, partition): each consumer of the process reads on its own.
    wants: Mutex<HashMap<Key, Want>>,
    pub wake_hot: Notify,
    pub wake_quiet: Notify,
}

fn bytes_of(i: &Item) -> usize {
    match i {
        Item::Records { fetched, .. } => fetched.bytes.len(),
        Item::Failed { .. } => 0,
    }
}

impl Fetcher {
    pub fn take(&self, reader: u32, topic: &str, partition: i32, offset: i64, max_bytes: i32, committed: bool) -> Result<Option<Fetched>> {
        let mut wants = self.wants.lock().unwrap_or_else(|e| e.into_inner());
        let key = (reader, topic.to_string(), partition);
        let now = Instant::now();
        let want = wants
            .entry(key)
            .or_insert_with(|| Want { offset, max_bytes, asked: now, ready: VecDeque::new(), hot: true, in_flight: false, committed });
        want.asked = now;
        want.max_bytes = max_bytes;
        if want.committed != committed {
            // What was fetched ahead was read at the other isolation level.
            want.committed = committed;
            want.ready.clear();
        }
        if want.ready.front().is_some_and(|i| i.offset() != offset) {
            // A seek (or a reset): what was fetched ahead is for somewhere else.
            want.ready.clear();
        }
        let taken = want.ready.pop_front();
        let out = match taken {
            Some(Item::Records { fetched, next }) => {
                want.offset = next;
                Ok(Some(fetched))
            }
            Some(Item::Failed { error, .. }) => {
                want.offset = offset;
                Err(error)
            }
            None => {
                want.offset = offset;
                Ok(None)
            }
        };
        let hot = want.hot;
        drop(wants);
        if hot {
            self.wake_hot.notify_one();
        } else {
            self.wake_quiet.notify_one();
        }
        out
    }

    /// The partitions of `lane` to fetch now, marked in flight. A partition two readers
    /// want at different offsets is asked for twice in one request: the owner answers
    /// every entry, in order.
    fn wanted(&self, lane: Lane) -> Vec<Asked> {
        let mut wants = self.wants.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        wants.retain(|_, w| w.in_flight || now.duration_since(w.asked) < FORGET_AFTER);
        let buffered: usize = wants.values().flat_map(|w| w.ready.iter()).map(bytes_of).sum();
        let mut out: Vec<Asked> = Vec::new();
        for ((reader, t, p), w) in wants.iter_mut() {
            if w.hot != (lane == Lane::Hot) {
                continue;
            }
            let Some(next) = w.next_fetch() else { continue };
            // Beyond the bound, only partitions with nothing ready are fetched.
            if buffered < MAX_BUFFERED || w.ready.is_empty() {
                w.in_flight = true;
                out.push(Asked { key: (*reader, t.clone(), *p), offset: next, max_bytes: w.max_bytes, committed: w.committed });
            }
        }
        out
    }

    /// Files what a fetch of (topic, partition) from `offset` brought (None: nothing yet),
    /// unless the consumer moved elsewhere meanwhile. Returns whether an item was kept.
    fn deliver(&self, key: &Key, offset: i64, item: Option<Item>) -> bool {
        let mut wants = self.wants.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = wants.get_mut(key) else { return false };
        w.in_flight = false;
        let was_hot = w.hot;
        // Records up to the high watermark (the last stable offset, read committed): caught
        // up, the next fetch would find nothing yet, so it is long-polled straight away (no
        // empty fetch in between).
        let committed = w.committed;
        w.hot = matches!(&item, Some(Item::Records { fetched, next }) if *next < if committed { fetched.last_stable_offset } else { fetched.high_watermark });
        let kept = match item {
            Some(item) if w.next_fetch() == Some(offset) => {
                w.ready.push_back(item);
                true
            }
            _ => false,
        };
        // Moving lanes: the other lane's loop looks at it now.
        if w.hot != was_hot {
            drop(wants);
            if was_hot {
                self.wake_quiet.notify_one();
            } else {
                self.wake_hot.notify_one();
            }
        }
        kept
    }

    /// What a fetch that failed asked for is asked for again by the next, with nothing
    /// delivered meanwhile.
    fn ask_again(&self, requested: &[Asked]) {
        let mut wants = self.wants.lock().unwrap_or_else(|e| e.into_inner());
        for a in requested {
            if let Some(w) = wants.get_mut(&a.key) {
                w.in_flight = false;
            }
        }
    }

    fn fail_all(&self, requested: &[Asked], error: &Error) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        for a in requested {
            let e = match error {
                Error::RequestTimeout(why) => Error::RequestTimeout(why.clone()),
                other => Error::Connection(other.to_string()),
            };
            if self.deliver(&a.key, a.offset, Some(Item::Failed { offset: a.offset, error: e })) {
                out.push((a.key.1.clone(), a.key.2));
            }
        }
        out
    }
}

/// A lane's loop: one Fetch for every partition of the lane that is wanted, over and over
/// while any is. The hot lane asks the owner not to wait; the quiet lane long-polls.
pub async fn run(inner: Arc<Inner>, lane: Lane) {
    let mut backoff = Duration::from_millis(10);
    // When fetches began to fail for a lost owner, while they do.
    let mut failing_since: Option<Instant> = None;
    let (conn, wake, max_wait) = match lane {
        Lane::Hot => (&inner.fetch, &inner.fetcher.wake_hot, 0),
        Lane::Quiet => (&inner.fetch_quiet, &inner.fetcher.wake_quiet, MAX_WAIT_MS),
    };
    loop {
        if inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let wanted = inner.fetcher.wanted(lane);
        if wanted.is_empty() {
            // Woken by a consumer's ask; the timeout lets forgotten partitions go.
            let _ = tokio::time::timeout(Duration::from_secs(5), wake.notified()).await;
            continue;
        }
        // Readers at each isolation level are fetched apart: it is the request's.
        let (committed, uncommitted): (Vec<Asked>, Vec<Asked>) = wanted.into_iter().partition(|a| a.committed);
        for (wanted, isolation) in [(committed, 1i8), (uncommitted, 0i8)] {
            if wanted.is_empty() {
                continue;
            }
            // The request's entries by topic, and whose each one is, in the same order.
            let mut topics: Vec<fetch_request::FetchTopic> = Vec::new();
            let mut whose: Vec<Vec<(Key, i64)>> = Vec::new();
            for a in &wanted {
                let (_, t, p) = &a.key;
                let fp = fetch_request::FetchPartition::default()
                    .with_partition(*p)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(a.offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(a.max_bytes);
                match topics.iter().position(|x| x.topic.0.as_str() == t.as_str()) {
                    Some(i) => {
                        topics[i].partitions.push(fp);
                        whose[i].push((a.key.clone(), a.offset));
                    }
                    None => {
                        topics.push(fetch_request::FetchTopic::default().with_topic(super::name(t)).with_partitions(vec![fp]));
                        whose.push(vec![(a.key.clone(), a.offset)]);
                    }
                }
            }
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(max_wait)
                .with_min_bytes(1)
                .with_max_bytes(32 << 20)
                .with_isolation_level(isolation)
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(topics)
                .with_rack_id(StrBytes::from_static_str(""));
            let resp = match conn.call(&req, inner.request_timeout + Duration::from_millis(MAX_WAIT_MS as u64)).await {
                Ok(r) => {
                    backoff = Duration::from_millis(10);
                    failing_since = None;
                    r
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if matches!(e, Error::Connection(_)) && since.elapsed() < OUTAGE_GRACE {
                        inner.fetcher.ask_again(&wanted);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_millis(100));
                        continue;
                    }
                    // The consumers hear of it (a retriable connection error or request
                    // timeout) and ask again.
                    let failed = inner.fetcher.fail_all(&wanted, &e);
                    if !failed.is_empty() {
                        let (ts, ps) = failed.into_iter().unzip();
                        inner.notify(ts, ps);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let mut arrived_topics = Vec::new();
            let mut arrived_partitions = Vec::new();
            // The owner answers the entries in the order asked; an answer that does not match
            // its entry is ignored (the entry stays unanswered, and is asked for again).
            let mut requested: Vec<Option<(Key, i64)>> = Vec::new();
            let mut at: Vec<usize> = Vec::new();
            for w in whose {
                at.push(requested.len());
                requested.extend(w.into_iter().map(Some));
            }
            for (ti, t) in resp.responses.into_iter().enumerate() {
                let topic = t.topic.0.to_string();
                for (pi, p) in t.partitions.into_iter().enumerate() {
                    let slot = at.get(ti).map(|start| start + pi).filter(|i| {
                        let end = at.get(ti + 1).copied().unwrap_or(requested.len());
                        *i < end
                    });
                    let Some(entry) = slot.and_then(|i| requested.get_mut(i)) else { continue };
                    if entry.as_ref().is_none_or(|(k, _)| k.1 != topic || k.2 != p.partition_index) {
                        continue;
                    }
                    let Some((key, offset)) = entry.take() else { continue };
                    let item = if p.error_code != 0 {
                        let error = match p.error_code {
                            1 => Error::OffsetOutOfRange { topic: topic.clone(), partition: p.partition_index, offset },
                            code => {
                                let name = crate::error::wire_error_name(code);
                                Error::from_wire(code, format!("fetching \"{topic}\" partition {} at offset {offset}: {name}", p.partition_index))
                            }
                        };
                        Item::Failed { offset, error }
                    } else {
                        let bytes = p.records.unwrap_or_default();
                        let (whole, next) = whole_batches(&bytes);
                        if whole == 0 {
                            inner.fetcher.deliver(&key, offset, None);
                            continue;
                        }
                        Item::Records {
                            fetched: Fetched {
                            offset,
                            bytes: bytes.slice(..whole),
                            high_watermark: p.high_watermark,
                            log_start_offset: p.log_start_offset,
                            last_stable_offset: p.last_stable_offset,
                            aborted: p.aborted_transactions.iter().flatten().map(|a| (a.producer_id.0, a.first_offset)).collect(),
                        },
                            next: next.max(offset),
                        }
                    };
                    if inner.fetcher.deliver(&key, offset, Some(item)) {
                        arrived_topics.push(topic.clone());
                        arrived_partitions.push(p.partition_index);
                    }
                }
            }
            // Partitions the owner did not answer for are free to be asked again.
            for (key, offset) in requested.into_iter().flatten() {
                inner.fetcher.deliver(&key, offset, None);
            }
            if !arrived_topics.is_empty() {
                inner.notify(arrived_topics, arrived_partitions);
            }
        }
    }
}

/// The length of the whole batches at the start of `bytes` and the offset after them.
fn whole_batches(bytes: &[u8]) -> (usize, i64) {
    let mut pos = 0;
    let mut next = -1;
    while let Some(h) = BatchHeader::parse(&bytes[pos..]) {
        let end = pos + h.total_size();
        if end > bytes.len() {
            break;
        }
        next = h.last_offset() + 1;
        pos = end;
    }
    (pos, next)
}
