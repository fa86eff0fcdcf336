//! What the cleaner keeps of one batch: Kafka's per-record rule, and a batch rebuilt
//! around the records that stay.
//!
//! A record stays if the key map has no later offset for its key, or it lies past what
//! the map covers. A record without a key goes (the topic may have been `delete` when it
//! was written). A tombstone (null value) stays until its batch's delete horizon has
//! passed: the first pass that keeps a tombstone sets the horizon to the pass's time plus
//! `delete.retention.ms` (KIP-534: attribute bit 6, with the horizon in the base
//! timestamp and the records' timestamp deltas taken from it, so their timestamps do not
//! change), and a later pass removes it.
//!
//! A rebuilt batch keeps its base offset, last offset delta, producer id, epoch and base
//! sequence, so offsets and the producer's sequence survive cleaning. The last batch of
//! an idempotent producer stays even if no record of it does (as a header with no
//! records), so its sequence is known after a restart.

use crate::error::{Error, Result};
use crate::log::batch::{self, get_bytes, get_varlong, put_varlong, BatchHeader, ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_LEN, LOG_OVERHEAD};
use crate::log::codec;

use super::key_map::KeyMap;

/// Attribute bit 6: the base timestamp is the batch's delete horizon.
pub const DELETE_HORIZON_FLAG: i16 = 0x40;

/// What a pass decides with.
pub struct Rules<'a> {
    pub map: &'a KeyMap,
    /// Records at or past this offset are beyond the map: kept as they are.
    pub map_end: i64,
    pub now_ms: i64,
    /// The horizon a batch gets when a tombstone in it is first kept.
    pub new_horizon_ms: i64,
}

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Unchanged: copy its bytes.
    Same,
    /// Nothing of it stays.
    Gone,
    /// Rebuilt into the output buffer.
    Rebuilt,
}

#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// The earliest delete horizon of a batch that kept a tombstone (i64::MAX: none).
    pub earliest_horizon: i64,
}

impl Default for Counts {
    fn default() -> Self {
        Counts { records_removed: 0, tombstones_removed: 0, earliest_horizon: i64::MAX }
    }
}

/// One record of a batch, as the cleaner needs it.
pub struct Parsed<'a> {
    /// The record's body after its length varint.
    body: &'a [u8],
    /// Where its timestamp delta ends in `body`, and the delta.
    ts_end: usize,
    ts_delta: i64,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub tombstone: bool,
    /// The key's hash, for keyed records the map may know (0 otherwise).
    pub hash: u128,
}

/// The records of a verified batch, expanded into `scratch` if compressed, each keyed
/// record below `hash_below` hashed and its map slot fetched into the cache ahead of the
/// lookups (the map is larger than the cache: a lookup is a miss, and overlapping them
/// matters more than anything else in a pass).
pub fn parse<'a>(batch: &'a [u8], scratch: &'a mut Vec<u8>, map: &KeyMap, hash_below: i64, out: &mut Vec<Parsed<'a>>) -> Result<BatchHeader> {
    let h = BatchHeader::parse(batch).ok_or_else(|| malformed(-1, "short header"))?;
    let end = h.total_size().min(batch.len());
    let records: &'a [u8] = match h.compression() {
        0 => &batch[HEADER_LEN..end],
        c => {
            codec::decompress(c, &batch[HEADER_LEN..end], scratch, batch::MAX_DECOMPRESSED)?;
            scratch
        }
    };
    out.clear();
    let mut pos = 0;
    for _ in 0..h.record_count {
        let len = get_varlong(records, &mut pos).filter(|l| *l >= 0).ok_or_else(|| malformed(h.base_offset, "record length"))?;
        let body = records.get(pos..pos + len as usize).ok_or_else(|| malformed(h.base_offset, "record runs past the batch"))?;
        pos += len as usize;
        let mut at = 1;
        let ts_delta = get_varlong(body, &mut at).ok_or_else(|| malformed(h.base_offset, "timestamp delta"))?;
        let ts_end = at;
        let offset_delta = get_varlong(body, &mut at).ok_or_else(|| malformed(h.base_offset, "offset delta"))?;
        let key = get_bytes(body, &mut at).ok_or_else(|| malformed(h.base_offset, "key"))?;
        let value = get_bytes(body, &mut at).ok_or_else(|| malformed(h.base_offset, "value"))?;
        let offset = h.base_offset + offset_delta;
        let hash = match key {
            Some(k) if offset < hash_below => {
                let hash = KeyMap::hash(k);
                map.prefetch(hash);
                hash
            }
            _ => 0,
        };
        out.push(Parsed { body, ts_end, ts_delta, offset, key, tombstone: value.is_none(), hash });
    }
    Ok(h)
}

/// Filters `batch` (whole and verified) by `rules`; a rebuilt batch is appended to `out`.
/// `keep_empty`: the batch is the last of an idempotent producer.
pub fn filter(batch: &[u8], rules: &Rules<'_>, keep_empty: bool, out: &mut Vec<u8>, scratch: &mut Vec<u8>, counts: &mut Counts) -> Result<Outcome> {
    let h = BatchHeader::parse(batch).ok_or_else(|| malformed(-1, "short header"))?;
    if h.base_offset >= rules.map_end {
        return Ok(Outcome::Same);
    }
    let mut records = Vec::with_capacity(h.record_count.clamp(0, 1 << 16) as usize);
    parse(batch, scratch, rules.map, rules.map_end, &mut records)?;
    let has_horizon = h.attributes & DELETE_HORIZON_FLAG != 0;
    let mut kept: Vec<&Parsed<'_>> = Vec::with_capacity(records.len());
    let mut stamp = false;
    let mut kept_tombstone = false;
    for r in &records {
        // Past the map, a record stays as it is.
        let mapped = r.offset < rules.map_end;
        let superseded = mapped && (r.key.is_none() || rules.map.get_hashed(r.hash).is_some_and(|latest| latest > r.offset));
        let expired = mapped && r.tombstone && has_horizon && rules.now_ms >= h.base_timestamp;
        let keep = !superseded && !expired;
        // A tombstone kept for the first time gets its batch a horizon.
        stamp |= keep && mapped && r.tombstone && !has_horizon;
        if keep {
            kept_tombstone |= r.offset < rules.map_end && r.key.is_some() && r.tombstone;
            kept.push(r);
        } else {
            counts.records_removed += 1;
            if r.key.is_some() && r.tombstone {
                counts.tombstones_removed += 1;
            }
        }
    }
    if kept_tombstone {
        let horizon = if stamp { rules.new_horizon_ms } else { h.base_timestamp };
        counts.earliest_horizon = counts.earliest_horizon.min(horizon);
    }
    // First: a batch emptied before goes once nothing needs it kept.
    if kept.is_empty() && !keep_empty {
        return Ok(Outcome::Gone);
    }
    if kept.len() == h.record_count as usize && !stamp {
        return Ok(Outcome::Same);
    }
    rebuild(batch, &h, &kept, stamp.then_some(rules.new_horizon_ms), out)?;
    Ok(Outcome::Rebuilt)
}

/// A batch that must stay though none of its records may (an aborted transaction's batch
/// that is its producer's last): rebuilt with no records.
pub fn emptied(batch: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let h = BatchHeader::parse(batch).ok_or_else(|| malformed(-1, "short header"))?;
    rebuild(batch, &h, &[], None, out)
}

/// A transaction marker whose transaction has no data left, treated as a tombstone: the
/// first pass gives it a delete horizon, a pass after the horizon removes it.
pub fn discardable_marker(batch: &[u8], rules: &Rules<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>, counts: &mut Counts) -> Result<Outcome> {
    let h = BatchHeader::parse(batch).ok_or_else(|| malformed(-1, "short header"))?;
    if h.attributes & DELETE_HORIZON_FLAG != 0 {
        if rules.now_ms >= h.base_timestamp {
            return Ok(Outcome::Gone);
        }
        counts.earliest_horizon = counts.earliest_horizon.min(h.base_timestamp);
        return Ok(Outcome::Same);
    }
    let mut records = Vec::with_capacity(1);
    parse(batch, scratch, rules.map, i64::MIN, &mut records)?;
    let kept: Vec<&Parsed<'_>> = records.iter().collect();
    rebuild(batch, &h, &kept, Some(rules.new_horizon_ms), out)?;
    counts.earliest_horizon = counts.earliest_horizon.min(rules.new_horizon_ms);
    Ok(Outcome::Rebuilt)
}

/// Appends `batch` rebuilt around the records `kept` to `out`, with `horizon` as its new
/// delete horizon if given. Offsets, producer fields and compression stay.
fn rebuild(batch: &[u8], h: &BatchHeader, kept: &[&Parsed<'_>], horizon: Option<i64>, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    let (mut attributes, mut base_timestamp) = (h.attributes, h.base_timestamp);
    if let Some(horizon) = horizon {
        attributes |= DELETE_HORIZON_FLAG;
        base_timestamp = horizon;
    }
    if kept.is_empty() {
        // Kafka's empty batch: no records, no compression, no horizon.
        attributes &= !(DELETE_HORIZON_FLAG | 0x07);
        base_timestamp = -1;
    } else {
        let mut plain = Vec::new();
        let mut body = Vec::new();
        for k in kept {
            let records_out = if h.compression() == 0 { &mut *out } else { &mut plain };
            if base_timestamp == h.base_timestamp {
                put_varlong(records_out, k.body.len() as i64);
                records_out.extend_from_slice(k.body);
            } else {
                // The timestamp delta now counts from the horizon.
                body.clear();
                body.push(k.body[0]);
                let timestamp = h.base_timestamp.wrapping_add(k.ts_delta);
                put_varlong(&mut body, timestamp.wrapping_sub(base_timestamp));
                body.extend_from_slice(&k.body[k.ts_end..]);
                put_varlong(records_out, body.len() as i64);
                records_out.extend_from_slice(&body);
            }
        }
        if h.compression() != 0 {
            let codec = codec::Compression::from_id(h.compression() as i32)?;
            codec::compress(codec, &plain, out)?;
        }
    }
    let total = out.len() - start;
    let head = &mut out[start..start + HEADER_LEN];
    head[..ATTRIBUTES_OFFSET].copy_from_slice(&batch[..ATTRIBUTES_OFFSET]);
    head[8..12].copy_from_slice(&((total - LOG_OVERHEAD) as i32).to_be_bytes());
    head[21..23].copy_from_slice(&attributes.to_be_bytes());
    head[23..27].copy_from_slice(&h.last_offset_delta.to_be_bytes());
    head[27..35].copy_from_slice(&base_timestamp.to_be_bytes());
    head[35..57].copy_from_slice(&batch[35..57]);
    if !kept.is_empty() && !h.is_log_append_time() {
        // The newest record left, so a lookup of the log's newest timestamp finds a record.
        let newest = kept.iter().map(|k| h.base_timestamp.wrapping_add(k.ts_delta)).max().unwrap_or(h.max_timestamp);
        head[35..43].copy_from_slice(&newest.to_be_bytes());
    }
    head[57..61].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    let crc = crc32c::crc32c(&out[start + ATTRIBUTES_OFFSET..]);
    out[start + CRC_OFFSET..start + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

fn malformed(offset: i64, what: &str) -> Error {
    Error::InvalidRecord(format!("the cleaner found a malformed stored batch at offset {offset}: {what}"))
}
