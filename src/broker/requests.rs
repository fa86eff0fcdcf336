//! The broker's request operations, front-end neutral: the wire listener and the napi
//! binding both translate into these (protocol types and JS values stay at the edges).
//! Long-polling fetches, offsets by sentinel or time, metadata with auto-creation, and
//! produce of batches as a client sent them.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select_all, FutureExt};

use super::{now_ms, with_partition, Broker, Isolation, NewTopic, Partition, ReadResult, Topic, TopicId};
use crate::error::{Error, Result};
use crate::log::validate::RecordRules;
use crate::log::{AppendResult, EncodedBatches};

/// One partition of a fetch: where to read from and at most how much.
#[derive(Clone, Debug)]
pub struct FetchPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub max_bytes: usize,
}

/// What a fetch read from one partition.
pub struct FetchedPartition {
    pub result: Result<ReadResult>,
}

/// An offset found by ListOffsets, with the timestamp of its record (-1 when it is a
/// watermark rather than a record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListedOffset {
    pub offset: i64,
    pub timestamp: i64,
}

/// A topic as Metadata reports it.
pub struct TopicMetadata {
    pub name: String,
    pub result: Result<(TopicId, i32)>,
}

/// ListOffsets' sentinels.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

impl Broker {
    /// Kafka's Fetch: reads every partition (up to `max_bytes` in all, but always the
    /// first batch found, however large, so a big batch cannot stall a reader), and if
    /// fewer than `min_bytes` came back, waits for an append to any of the partitions or
    /// for `max_wait`, then reads again. It registers for the partitions' append
    /// notifications before each read, so an append in between is never missed.
    pub async fn fetch(&self, parts: &[FetchPartition], max_wait: Duration, min_bytes: usize, max_bytes: usize, isolation: Isolation) -> Vec<FetchedPartition> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let handles: Vec<Option<Arc<Partition>>> = parts.iter().map(|p| self.partition(&p.topic, p.partition).ok()).collect();
        loop {
            let mut waits: Vec<_> = handles.iter().flatten().map(|p| Box::pin(p.appended.notified())).collect();
            for w in &mut waits {
                w.as_mut().enable();
            }
            let mut total = 0usize;
            let mut failed = false;
            let results: Vec<FetchedPartition> = parts
                .iter()
                .map(|p| {
                    let budget = max_bytes.saturating_sub(total);
                    let result = if budget == 0 && total > 0 {
                        self.read_isolated(&p.topic, p.partition, p.offset, 0, isolation).map(|mut r| {
                            r.bytes.clear();
                            r
                        })
                    } else {
                        // At least one batch for the first partition that has data.
                        let limit = if total == 0 { p.max_bytes.min(max_bytes).max(1) } else { p.max_bytes.min(budget) };
                        self.read_isolated(&p.topic, p.partition, p.offset, limit, isolation).map(|mut r| {
                            if total > 0 && r.bytes.len() > budget {
                                r.bytes.clear();
                            }
                            r
                        })
                    };
                    match &result {
                        Ok(r) => total += r.bytes.len(),
                        Err(_) => failed = true,
                    }
                    FetchedPartition { result }
                })
                .collect();
            let now = tokio::time::Instant::now();
            if total >= min_bytes.max(1) || failed || now >= deadline || waits.is_empty() || self.check_open().is_err() {
                return results;
            }
            let appended = select_all(waits.iter_mut().map(|w| w.as_mut())).map(|_| ());
            if tokio::time::timeout_at(deadline, appended).await.is_err() {
                // One last read at the deadline (nothing arrived, or exactly then).
                let results = parts
                    .iter()
                    .map(|p| FetchedPartition { result: self.read_isolated(&p.topic, p.partition, p.offset, p.max_bytes.min(max_bytes).max(1), isolation) })
                    .collect();
                return results;
            }
        }
    }

    /// Kafka's ListOffsets for one partition: `timestamp` is a time in ms, or one of the
    /// sentinels LATEST (the high watermark, or the last stable offset read committed), EARLIEST (the log start) and MAX_TIMESTAMP
    /// (the record with the largest timestamp). A time later than every record gives
    /// offset -1.
    pub fn list_offset(&self, topic: &str, partition: i32, timestamp: i64, isolation: Isolation) -> Result<ListedOffset> {
        let part = self.partition(topic, partition)?;
        let mut log = part.log();
        let stable = match isolation {
            Isolation::ReadCommitted => log.last_stable_offset().map_err(|e| with_partition(e, topic, partition))?,
            Isolation::ReadUncommitted => log.next_offset(),
        };
        let found = match timestamp {
            LATEST => return Ok(ListedOffset { offset: stable, timestamp: -1 }),
            EARLIEST => return Ok(ListedOffset { offset: log.log_start_offset(), timestamp: -1 }),
            MAX_TIMESTAMP => log.max_timestamp_record(),
            t if t < 0 => {
                return Err(Error::InvalidRecord(format!("ListOffsets timestamp {t} is neither a time nor -1, -2 or -3")))
            }
            t => log.offset_for_timestamp(t),
        };
        // Read committed, an offset at or past the last stable offset is not yet visible.
        let found = found.map_err(|e| with_partition(e, topic, partition))?.filter(|(offset, _)| *offset < stable);
        Ok(found.map_or(ListedOffset { offset: -1, timestamp: -1 }, |(offset, timestamp)| ListedOffset { offset, timestamp }))
    }

    /// Kafka's Metadata for the given topics (None: every topic). Unknown topics are
    /// created with the broker's defaults when the request allows it and the broker's
    /// `autoCreateTopics` does; invalid names are never created.
    pub fn metadata(&self, topics: Option<&[String]>, allow_auto_create: bool) -> Result<Vec<TopicMetadata>> {
        let names = match topics {
            Some(t) => t.to_vec(),
            None => self.topic_names()?,
        };
        let missing: Vec<NewTopic> = names
            .iter()
            .filter(|n| self.topic(n).is_err() && super::config::check_creatable(n).is_ok())
            .map(|n| NewTopic { name: n.clone(), partitions: -1, replication_factor: -1, ..NewTopic::default() })
            .collect();
        if !missing.is_empty() && allow_auto_create && self.config.auto_create_topics {
            for (spec, r) in missing.iter().zip(self.create_topics(&missing, false)) {
                match r {
                    Ok(()) => tracing::info!(topic = %spec.name, "auto-created topic"),
                    Err(Error::TopicAlreadyExists(_)) => {}
                    Err(e) => tracing::warn!(topic = %spec.name, error = %e, "auto-creating a topic failed"),
                }
            }
        }
        Ok(names
            .into_iter()
            .map(|name| {
                let result = match super::config::validate_topic_name(&name) {
                    Err(e) => Err(e),
                    Ok(()) => self.topic(&name).map(|t| (t.id, t.partition_count())),
                };
                TopicMetadata { name, result }
            })
            .collect())
    }

    /// Each partition's size on disk (its segments' bytes), by topic: every partition, or
    /// those `wanted` names that exist.
    pub fn partition_sizes(&self, wanted: Option<&[(String, Vec<i32>)]>) -> Result<Vec<(String, Vec<(i32, u64)>)>> {
        self.check_open()?;
        let topics: Vec<(Arc<Topic>, Option<Vec<i32>>)> = match wanted {
            None => super::read(&self.topics).values().map(|t| (Arc::clone(t), None)).collect(),
            Some(list) => list.iter().filter_map(|(name, ps)| self.topic(name).ok().map(|t| (t, Some(ps.clone())))).collect(),
        };
        let mut out = Vec::with_capacity(topics.len());
        for (topic, only) in topics {
            let sizes: Vec<(i32, u64)> = topic
                .partitions()
                .iter()
                .filter(|p| only.as_ref().is_none_or(|ps| ps.contains(&p.id)))
                .map(|p| (p.id, p.log().size_bytes()))
                .collect();
            if !sizes.is_empty() {
                out.push((topic.name.clone(), sizes));
            }
        }
        Ok(out)
    }

    /// Takes a client's batches for a partition of a topic (Kafka's produce validation):
    /// their format, the topic's `max.message.bytes`, each record's key when the topic is
    /// compacted, and each record's timestamp against its `message.timestamp.*` configs at
    /// the broker's clock now.
    pub fn client_batches(&self, topic: &str, partition: i32, bytes: Vec<u8>) -> Result<EncodedBatches> {
        let t = self.topic(topic)?;
        let config = super::topic_configs::resolve(&self.config.log, &super::read(&t.overrides))?;
        EncodedBatches::from_client_checked(bytes, config.max_message_bytes, &RecordRules::of(&config, topic, partition, now_ms()))
    }

    /// The topic with this id (Kafka 3.x+ requests name topics by UUID).
    pub fn topic_by_id(&self, id: &TopicId) -> Result<Arc<Topic>> {
        self.check_open()?;
        super::read(&self.topics)
            .values()
            .find(|t| t.id == *id)
            .cloned()
            .ok_or_else(|| Error::UnknownTopicOrPartition { topic: format!("with id {}", super::id_to_hex(id)), partition: None })
    }

    /// Kafka's Produce: batches as clients sent them, per partition, stored byte for byte
    /// (offsets stamped). Appenders in this process that did not make the appends hear of
    /// them through the append listener.
    /// With `implicit_add`, a transactional batch's partition is added to its transaction
    /// first (samsa's own producer); otherwise it must have been (AddPartitionsToTxn).
    pub fn produce_batches(&self, appends: Vec<(String, i32, Result<EncodedBatches>)>, implicit_add: bool) -> Vec<Result<AppendResult>> {
        let now = now_ms();
        let mut appended = Vec::new();
        let results = appends
            .into_iter()
            .map(|(topic, partition, batches)| {
                let r = batches.and_then(|mut b| {
                    self.check_writable()?;
                    let p = self.partition(&topic, partition)?;
                    match b.producer().filter(|s| s.transactional) {
                        // A transactional batch goes in only while its partition is in the
                        // producer's open transaction, checked under the transaction's lock.
                        Some(s) => self.with_transaction(s.producer_id, s.epoch, &[(topic.clone(), partition)], implicit_add, || self.append_to(&p, &mut b, now))?,
                        None => self.append_to(&p, &mut b, now),
                    }
                });
                let r = r.map_err(|e| with_partition(e, &topic, partition));
                if r.as_ref().is_ok_and(|r| !r.duplicate) {
                    appended.push((topic, partition));
                }
                r
            })
            .collect();
        if !appended.is_empty() {
            if let Some(listener) = super::read(&self.append_listener).as_ref() {
                listener(&appended);
            }
        }
        results
    }

    /// Called with the partitions each batch of appends made through `produce_batches`
    /// landed on (the in-process consumers wait in JavaScript and must hear of them).
    pub fn set_append_listener(&self, listener: Option<AppendListener>) {
        *super::write(&self.append_listener) = listener;
    }
}

pub type AppendListener = Box<dyn Fn(&[(String, i32)]) + Send + Sync>;
