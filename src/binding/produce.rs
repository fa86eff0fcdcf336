//! Decodes one send, packed by `lib/send-queue/` into one Buffer and one Int32Array so
//! it crosses the boundary in a single call.
//!
//! `meta`, per message: topic index, partition, key length, value length, header count,
//! then per header: key length, value length. A length of -1 is null. `data` holds, per
//! message in order: key, value, then each header's key and value. `timestamps` has one
//! entry per message, or none (then every message gets the time of the call).
//!
//! An idempotent producer passes its id and epoch, and `sequences`: triples of topic
//! index, partition, base sequence for every partition of the send; a transactional one
//! its transactional id too.
//!
//! The result has one row of `RESULT_FIELDS` numbers per topic-partition: topic index,
//! partition, base offset, log start offset, the index of its error in `errors` (-1 when
//! it was stored), and the time a LogAppendTime topic stamped on it (-1 for CreateTime).

use napi_derive::napi;

use crate::broker::{now_ms, Broker, PartitionAppend};
use crate::log::{Compression, Header, ProducerStamp, Record};

use super::error::{error_js, invalid_arg, ErrorJs, IntoJs};

#[napi(object)]
pub struct ProduceResult {
    pub rows: Vec<f64>,
    /// Errors of the partitions that failed, which `lib/errors.js` turns into kafkajs
    /// errors.
    pub errors: Vec<ErrorJs>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: i32) -> napi::Result<Option<&'a [u8]>> {
        if len < 0 {
            return Ok(None);
        }
        let end = self.pos + len as usize;
        let s = self.data.get(self.pos..end).ok_or_else(|| invalid_arg("message data is shorter than its lengths"))?;
        self.pos = end;
        Ok(Some(s))
    }
}

/// Decodes a send and hands `f` its records grouped by topic-partition (in order of first
/// appearance), each with the index of its topic in `topics`.
pub fn with_groups<R>(
    topics: &[String],
    data: &[u8],
    meta: &[i32],
    timestamps: &[f64],
    producer: Option<(i64, i16)>,
    sequences: &[i32],
    transactional: bool,
    f: impl FnOnce(&[usize], &[PartitionAppend<'_>]) -> napi::Result<R>,
) -> napi::Result<R> {
    let field = |i: usize| meta.get(i).copied().ok_or_else(|| invalid_arg("message metadata is truncated"));

    // First pass: every header, so records can borrow slices of one vector.
    let mut headers: Vec<Header<'_>> = Vec::new();
    let mut cursor = Cursor { data, pos: 0 };
    let mut i = 0;
    let mut count = 0;
    while i < meta.len() {
        let (key_len, value_len, n) = (field(i + 2)?, field(i + 3)?, field(i + 4)?);
        cursor.take(key_len)?;
        cursor.take(value_len)?;
        for h in 0..n.max(0) as usize {
            let key = cursor.take(field(i + 5 + 2 * h)?.max(0))?.unwrap_or(&[]);
            let value = cursor.take(field(i + 6 + 2 * h)?)?;
            headers.push(Header { key, value });
        }
        i += 5 + 2 * n.max(0) as usize;
        count += 1;
    }
    if !timestamps.is_empty() && timestamps.len() != count {
        return Err(invalid_arg("one timestamp per message is needed"));
    }
    let now = now_ms();

    // Second pass: records, grouped by topic-partition in order of first appearance.
    let mut groups: Vec<(usize, PartitionAppend<'_>)> = Vec::new();
    let mut cursor = Cursor { data, pos: 0 };
    let (mut i, mut h, mut m) = (0, 0, 0);
    while i < meta.len() {
        let (topic, partition, key_len, value_len, n) =
            (field(i)?, field(i + 1)?, field(i + 2)?, field(i + 3)?, field(i + 4)?.max(0) as usize);
        let topic = usize::try_from(topic)
            .ok()
            .filter(|t| *t < topics.len())
            .ok_or_else(|| invalid_arg("message names a topic index that was not passed"))?;
        let key = cursor.take(key_len)?;
        let value = cursor.take(value_len)?;
        for k in 0..n {
            cursor.take(field(i + 5 + 2 * k)?.max(0))?;
            cursor.take(field(i + 6 + 2 * k)?)?;
        }
        let timestamp = timestamps.get(m).map_or(now, |t| *t as i64);
        let record = Record { timestamp, key, value, headers: &headers[h..h + n] };
        let slot = match groups.iter().position(|(t, g)| *t == topic && g.partition == partition) {
            Some(slot) => slot,
            None => {
                let stamp = match producer {
                    None => None,
                    Some((producer_id, epoch)) => {
                        let seq = sequences
                            .chunks_exact(3)
                            .find(|t| t[0] as usize == topic && t[1] == partition)
                            .map(|t| t[2])
                            .ok_or_else(|| invalid_arg("an idempotent send needs a sequence for every partition"))?;
                        Some(ProducerStamp { producer_id, epoch, base_sequence: seq, transactional })
                    }
                };
                let g = PartitionAppend { topic: topics[topic].as_str(), partition, records: Vec::new(), producer: stamp };
                groups.push((topic, g));
                groups.len() - 1
            }
        };
        groups[slot].1.records.push(record);
        h += n;
        i += 5 + 2 * n;
        m += 1;
    }
    let (indexes, groups): (Vec<usize>, Vec<PartitionAppend<'_>>) = groups.into_iter().unzip();
    f(&indexes, &groups)
}

/// Appends a send to the local broker.
#[allow(clippy::too_many_arguments)]
pub fn produce(
    broker: &Broker,
    topics: &[String],
    data: &[u8],
    meta: &[i32],
    timestamps: &[f64],
    compression: i32,
    producer: Option<(i64, i16)>,
    sequences: &[i32],
    transactional: bool,
) -> napi::Result<ProduceResult> {
    let compression = Compression::from_id(compression).js()?;
    with_groups(topics, data, meta, timestamps, producer, sequences, transactional, |indexes, groups| {
        let results = broker.append_all(groups, compression).js()?;
        Ok(result_rows(indexes, groups.iter().map(|g| g.partition), results.into_iter().map(|r| r.map(|r| (r.base_offset, r.log_start_offset, r.log_append_time_ms)))))
    })
}

/// The result rows of a send, from each topic-partition's outcome.
pub fn result_rows(
    indexes: &[usize],
    partitions: impl Iterator<Item = i32>,
    outcomes: impl Iterator<Item = crate::Result<(i64, i64, i64)>>,
) -> ProduceResult {
    let mut rows = Vec::with_capacity(indexes.len() * 6);
    let mut errors = Vec::new();
    for ((partition, r), topic_index) in partitions.zip(outcomes).zip(indexes) {
        let (base, low, error, appended_at) = match r {
            Ok((base, low, appended_at)) => (base as f64, low as f64, -1.0, appended_at as f64),
            Err(e) => {
                errors.push(error_js(&e));
                (-1.0, -1.0, (errors.len() - 1) as f64, -1.0)
            }
        };
        rows.extend_from_slice(&[*topic_index as f64, partition as f64, base, low, error, appended_at]);
    }
    ProduceResult { rows, errors }
}
