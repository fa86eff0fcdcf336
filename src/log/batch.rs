//! Kafka's RecordBatch v2 (magic 2), the format the log stores on disk byte for byte.
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records...
//! ```
//! The CRC-32C covers everything from `attributes` to the end of the batch. Integers are
//! big-endian; record fields are zigzag varints.

use std::io::Read;

use super::codec::{self, Capped};
pub use super::codec::Compression;
use super::timestamps::TimestampType;
use super::validate::{RecordRules, Refusals};
use crate::error::{Error, Result};

/// The most bad records one produce lists (Kafka lists all): a compressed batch of
/// millions of tiny records must not cost a message each.
pub const MAX_RECORD_ERRORS: usize = 10_000;

pub const MAGIC: i8 = 2;
/// Bytes before `batchLength` ends: baseOffset and batchLength.
pub const LOG_OVERHEAD: usize = 12;
pub const HEADER_LEN: usize = 61;
pub const CRC_OFFSET: usize = 17;
pub const ATTRIBUTES_OFFSET: usize = 21;
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
const COMPRESSION_MASK: i16 = 0x07;
/// Attributes bit 3: the batch's timestamps are the broker's LogAppendTime (its max
/// timestamp), not the producer's.
pub const LOG_APPEND_TIME_FLAG: i16 = 0x08;
/// Attributes bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
/// Attributes bit 5: a control batch (a transaction marker), which holds no user record.
pub const CONTROL_FLAG: i16 = 0x20;

#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// A record to append, borrowing its bytes from the caller.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header<'a>],
}

/// A decoded record, borrowing from the batch (or its decompressed records).
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub attributes: i8,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The raw header section: a count, then key/value pairs (see [`HeaderIter`]).
    pub headers: HeaderIter<'a>,
}

/// The idempotent producer's fields of a batch: who wrote it and its place in that
/// producer's sequence for the partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerStamp {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    /// The batch is part of the producer's open transaction (attributes bit 4).
    pub transactional: bool,
}

impl ProducerStamp {
    /// An idempotent producer's stamp, outside any transaction.
    pub fn idempotent(producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        ProducerStamp { producer_id, epoch, base_sequence, transactional: false }
    }

    /// The sequence `n` records after `seq`: sequences wrap from i32::MAX to 0, as Kafka's do.
    pub fn add(seq: i32, n: i64) -> i32 {
        ((seq as i64 + n) % (i32::MAX as i64 + 1)) as i32
    }

    /// The stamp of the batch that starts `n` records later in the same run.
    pub fn advanced(self, n: i64) -> Self {
        ProducerStamp { base_sequence: Self::add(self.base_sequence, n), ..self }
    }
}

/// The fixed-size header of a batch, as read from disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the length field.
    pub length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < HEADER_LEN {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(b, 0),
            length: be_i32(b, 8),
            magic: b[16] as i8,
            crc: be_i32(b, CRC_OFFSET) as u32,
            attributes: i16::from_be_bytes([b[21], b[22]]),
            last_offset_delta: be_i32(b, 23),
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, 35),
            producer_id: be_i64(b, 43),
            producer_epoch: i16::from_be_bytes([b[51], b[52]]),
            base_sequence: be_i32(b, 53),
            record_count: be_i32(b, 57),
        })
    }

    /// Whole batch size on disk, including the offset and length fields.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_FLAG != 0
    }

    /// The producer fields, for a batch an idempotent producer wrote (producer id >= 0).
    pub fn producer(&self) -> Option<ProducerStamp> {
        (self.producer_id >= 0).then_some(ProducerStamp {
            producer_id: self.producer_id,
            epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            transactional: self.is_transactional(),
        })
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }
}

/// What the log needs to know about a batch it has just written or scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size: usize,
    pub producer: Option<ProducerStamp>,
    /// A transaction marker (control batch), not records.
    pub control: bool,
}

impl From<&BatchHeader> for BatchInfo {
    fn from(h: &BatchHeader) -> Self {
        BatchInfo {
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
            size: h.total_size(),
            producer: h.producer(),
            control: h.is_control(),
        }
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

// ---------------------------------------------------------------- varints

pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn varlong_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    let bits = 64 - (z | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

pub(crate) fn get_varlong(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut z: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        z |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    Some(((z >> 1) as i64) ^ -((z & 1) as i64))
}

pub(crate) fn get_bytes<'a>(b: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = get_varlong(b, pos)?;
    if len < 0 {
        return Some(None);
    }
    let end = pos.checked_add(len as usize)?;
    let s = b.get(*pos..end)?;
    *pos = end;
    Some(Some(s))
}

fn opt_len(b: Option<&[u8]>) -> i64 {
    b.map_or(-1, |b| b.len() as i64)
}

// ---------------------------------------------------------------- encoding

/// Size of a record's body (everything after its own length varint).
fn record_body_len(r: &Record<'_>, offset_delta: i64, timestamp_delta: i64) -> usize {
    let mut n = 1 + varlong_len(timestamp_delta) + varlong_len(offset_delta);
    for field in [r.key, r.value] {
        n += varlong_len(opt_len(field)) + field.map_or(0, <[u8]>::len);
    }
    n += varlong_len(r.headers.len() as i64);
    for h in r.headers {
        n += varlong_len(h.key.len() as i64) + h.key.len();
        n += varlong_len(opt_len(h.value)) + h.value.map_or(0, <[u8]>::len);
    }
    n
}

/// The size a record adds to a batch, given its position in the batch. Used to split a
/// large append into batches under `max.message.bytes` before anything is written.
pub fn record_size_in_batch(r: &Record<'_>, offset_delta: i64, timestamp_delta: i64) -> usize {
    let body = record_body_len(r, offset_delta, timestamp_delta);
    varlong_len(body as i64) + body
}

/// An upper bound of the size a record adds to a batch, from its lengths alone (every
/// varint at its widest). Splitting by it keeps batches under the limit without encoding
/// twice; only a record near the limit needs [`single_record_batch_size`].
pub fn record_size_bound(r: &Record<'_>) -> usize {
    let mut n = 5 + 1 + 10 + 5 + 5 + 5 + 5;
    n += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
    for h in r.headers {
        n += 10 + h.key.len() + h.value.map_or(0, <[u8]>::len);
    }
    n
}

/// The size of a batch holding this single record (the smallest batch it can be in).
pub fn single_record_batch_size(r: &Record<'_>) -> usize {
    HEADER_LEN + record_size_in_batch(r, 0, 0)
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    put_varlong(out, opt_len(b));
    if let Some(b) = b {
        out.extend_from_slice(b);
    }
}

fn put_record(out: &mut Vec<u8>, r: &Record<'_>, offset_delta: i64, timestamp_delta: i64) {
    let body = record_body_len(r, offset_delta, timestamp_delta);
    out.reserve(body + 5);
    put_varlong(out, body as i64);
    out.push(0); // record attributes: unused in v2
    put_varlong(out, timestamp_delta);
    put_varlong(out, offset_delta);
    put_bytes(out, r.key);
    put_bytes(out, r.value);
    put_varlong(out, r.headers.len() as i64);
    for h in r.headers {
        put_bytes(out, Some(h.key));
        put_bytes(out, h.value);
    }
}

/// Appends `records` (at least one) to `out` as batches of at most `max_bytes` each, so
/// a send of many small messages always fits, and gives each batch's [`BatchInfo`] to
/// `each`; a record too large for a batch of its own fails the whole run before anything
/// is written. With a producer, each batch carries its place in that producer's sequence.
/// After any other failure (compression) `out` may hold part of the run.
pub fn encode_batches(
    out: &mut Vec<u8>,
    records: &[Record<'_>],
    compression: Compression,
    max_bytes: usize,
    producer: Option<ProducerStamp>,
    mut each: impl FnMut(BatchInfo),
) -> Result<()> {
    if records.is_empty() {
        return Err(Error::InvalidRecord("an append needs at least one record".into()));
    }
    for r in records {
        // The exact size is only worked out for records the cheap bound cannot clear.
        if HEADER_LEN + record_size_bound(r) > max_bytes {
            let size = single_record_batch_size(r);
            if size > max_bytes {
                return Err(Error::MessageTooLarge { size, max: max_bytes });
            }
        }
    }
    let mut start = 0;
    while start < records.len() {
        // Take records while the batch stays under the limit (always at least one).
        let mut size = HEADER_LEN;
        let mut end = start;
        while end < records.len() {
            let add = record_size_bound(&records[end]);
            if end > start && size + add > max_bytes {
                break;
            }
            size += add;
            end += 1;
        }
        let stamp = producer.map(|p| p.advanced(start as i64));
        each(encode_batch(out, start as i64, &records[start..end], compression, stamp)?);
        start = end;
    }
    Ok(())
}

/// Appends one batch holding `records` (at least one) to `out`, with offsets from
/// `base_offset`. Timestamps are CreateTime, as the producer gave them.
pub fn encode_batch(
    out: &mut Vec<u8>,
    base_offset: i64,
    records: &[Record<'_>],
    compression: Compression,
    producer: Option<ProducerStamp>,
) -> Result<BatchInfo> {
    let first = records
        .first()
        .ok_or_else(|| Error::InvalidRecord("a batch needs at least one record".into()))?;
    let start = out.len();
    let base_timestamp = first.timestamp;
    let mut max_timestamp = i64::MIN;
    out.resize(start + HEADER_LEN, 0);
    let records_start = out.len();
    for (i, r) in records.iter().enumerate() {
        max_timestamp = max_timestamp.max(r.timestamp);
        put_record(out, r, i as i64, r.timestamp.wrapping_sub(base_timestamp));
    }
    if compression != Compression::None {
        let plain = out.split_off(records_start);
        codec::compress(compression, &plain, out)?;
    }
    let total = out.len() - start;
    let h = &mut out[start..start + HEADER_LEN];
    h[0..8].copy_from_slice(&base_offset.to_be_bytes());
    h[8..12].copy_from_slice(&((total - LOG_OVERHEAD) as i32).to_be_bytes());
    h[12..16].copy_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch: one broker, epoch 0
    h[16] = MAGIC as u8;
    let transactional = if producer.is_some_and(|p| p.transactional) { TRANSACTIONAL_FLAG } else { 0 };
    let attributes: i16 = compression.id() | transactional;
    h[21..23].copy_from_slice(&attributes.to_be_bytes());
    h[23..27].copy_from_slice(&((records.len() - 1) as i32).to_be_bytes());
    h[27..35].copy_from_slice(&base_timestamp.to_be_bytes());
    h[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    let p = producer.unwrap_or(ProducerStamp { producer_id: -1, epoch: -1, base_sequence: -1, transactional: false });
    h[43..51].copy_from_slice(&p.producer_id.to_be_bytes());
    h[51..53].copy_from_slice(&p.epoch.to_be_bytes());
    h[53..57].copy_from_slice(&p.base_sequence.to_be_bytes());
    h[57..61].copy_from_slice(&(records.len() as i32).to_be_bytes());
    let crc = crc32c::crc32c(&out[start + ATTRIBUTES_OFFSET..]);
    out[start + CRC_OFFSET..start + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(BatchInfo {
        base_offset,
        last_offset: base_offset + records.len() as i64 - 1,
        max_timestamp,
        size: total,
        producer,
        control: false,
    })
}

/// Records encoded as batches, ready to append. Offsets are relative to the first record
/// until the log stamps the real ones ([`EncodedBatches::rebase`]) as it writes them, so
/// encoding (and compressing) happens before the partition is locked.
#[derive(Default)]
pub struct EncodedBatches {
    pub bytes: Vec<u8>,
    pub infos: Vec<BatchInfo>,
}

impl EncodedBatches {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.infos.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// Records in all the batches (offsets they take).
    pub fn record_count(&self) -> i64 {
        match (self.infos.first(), self.infos.last()) {
            (Some(first), Some(last)) => last.last_offset - first.base_offset + 1,
            _ => 0,
        }
    }

    /// The producer of the run (every batch of one run has the same producer).
    pub fn producer(&self) -> Option<ProducerStamp> {
        self.infos.first().and_then(|i| i.producer)
    }

    pub fn max_timestamp(&self) -> i64 {
        self.infos.iter().map(|i| i.max_timestamp).max().unwrap_or(i64::MIN)
    }

    /// Gives the batches consecutive offsets from `base`. The CRC does not cover them.
    pub fn rebase(&mut self, base: i64) {
        let mut pos = 0;
        let mut next = base;
        for info in &mut self.infos {
            let count = info.last_offset - info.base_offset;
            set_base_offset(&mut self.bytes[pos..pos + info.size], next);
            info.base_offset = next;
            info.last_offset = next + count;
            next = info.last_offset + 1;
            pos += info.size;
        }
    }

    /// Encodes `records` (at least one) as batches of at most `max_bytes` each (see
    /// [`encode_batches`]), in place of what was here.
    pub fn encode(
        &mut self,
        records: &[Record<'_>],
        compression: Compression,
        max_bytes: usize,
        producer: Option<ProducerStamp>,
    ) -> Result<()> {
        self.clear();
        let infos = &mut self.infos;
        encode_batches(&mut self.bytes, records, compression, max_bytes, producer, |info| infos.push(info))
    }

    /// Takes batches as a client sent them (Kafka's produce request): each must be a whole,
    /// valid RecordBatch v2 whose CRC matches, none a control batch, all of one producer with
    /// consecutive sequences, each record whole. A compressed batch is checked as a stream
    /// and refused once it expands past [`decompressed_cap`] of `max_bytes`. They are
    /// stored byte for byte, compressed or not; only their base offsets change when they
    /// are written. Keys and timestamps are not checked (see
    /// [`EncodedBatches::from_client_checked`]).
    pub fn from_client(bytes: Vec<u8>, max_bytes: usize) -> Result<Self> {
        Self::from_client_checked(bytes, max_bytes, &RecordRules::none())
    }

    /// [`EncodedBatches::from_client`], with each record checked against a topic's rules
    /// (its key on a compacted topic, its timestamp), as Kafka's validation does: any bad
    /// record fails the whole request for the partition, listing each bad record (the
    /// first [`MAX_RECORD_ERRORS`]).
    pub fn from_client_checked(bytes: Vec<u8>, max_bytes: usize, rules: &RecordRules<'_>) -> Result<Self> {
        let mut infos = Vec::new();
        let cap = decompressed_cap(max_bytes);
        let mut pos = 0;
        let mut relative = 0i64;
        let mut refusals = Refusals::default();
        while pos < bytes.len() {
            let h = verify(&bytes[pos..]).map_err(|e| match e {
                Invalid::Truncated => Error::CorruptRequest("a record batch in the request is incomplete".into()),
                Invalid::Bad(why) => Error::CorruptRequest(format!("a record batch in the request is invalid: {why}")),
            })?;
            if h.total_size() > max_bytes {
                return Err(Error::MessageTooLarge { size: h.total_size(), max: max_bytes });
            }
            if h.is_control() {
                // Markers are the coordinator's to write: a client's would end a transaction.
                return Err(Error::InvalidRecord("a produced record batch may not be a control batch (attribute bit 5)".into()));
            }
            if h.is_transactional() && h.producer_id < 0 {
                return Err(Error::InvalidRecord("a transactional record batch needs a producer id".into()));
            }
            if h.attributes & crate::log::cleaner::filter::DELETE_HORIZON_FLAG != 0 {
                // Only the cleaner sets a delete horizon: a client's would cut a tombstone's
                // delete.retention.ms short.
                return Err(Error::InvalidRecord("a produced record batch may not carry a delete horizon (attribute bit 6)".into()));
            }
            if h.record_count != h.last_offset_delta + 1 {
                return Err(Error::InvalidRecord(format!(
                    "a record batch claims {} records but its offset delta is {}",
                    h.record_count, h.last_offset_delta
                )));
            }
            if h.is_log_append_time() && rules.timestamps.kind == TimestampType::CreateTime {
                return Err(Error::InvalidTimestamp {
                    message: Some("Invalid timestamp type in a record batch: the topic's message.timestamp.type is CreateTime; a producer must not set LogAppendTime".into()),
                    records: Vec::new(),
                });
            }
            // Every record must decode (after decompression) with its offset in sequence,
            // as Kafka's validation requires: a batch whose CRC is right but whose records
            // are not would be stored and then break every reader of the partition.
            let mut expected = h.base_offset;
            let mut decoded = 0i64;
            check_client_records(&h, &bytes[pos..pos + h.total_size()], cap, |offset, timestamp, has_key| {
                if offset == expected {
                    expected += 1;
                }
                refusals.check(rules, decoded as i32, offset, timestamp, has_key);
                decoded += 1;
            })?;
            if decoded != i64::from(h.record_count) || expected != h.base_offset + decoded {
                return Err(Error::InvalidRecord(format!(
                    "a record batch's records do not match its header ({decoded} decoded of {}, offsets not in sequence)",
                    h.record_count
                )));
            }
            let mut info = BatchInfo::from(&h);
            if let Some(first) = infos.first().and_then(|i: &BatchInfo| i.producer) {
                let expected = first.advanced(relative);
                if info.producer != Some(expected) {
                    return Err(Error::InvalidRecord("the batches of one partition must come from one producer in sequence".into()));
                }
            } else if !infos.is_empty() && info.producer.is_some() {
                return Err(Error::InvalidRecord("the batches of one partition must come from one producer in sequence".into()));
            }
            info.last_offset = relative + (info.last_offset - info.base_offset);
            info.base_offset = relative;
            relative = info.last_offset + 1;
            pos += info.size;
            infos.push(info);
        }
        if infos.is_empty() {
            return Err(Error::InvalidRecord("a produce request for a partition carried no record batch".into()));
        }
        refusals.into_result()?;
        Ok(EncodedBatches { bytes, infos })
    }
}

/// Rewrites the base offset of an encoded batch. The CRC does not cover it.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

// ---------------------------------------------------------------- decoding

/// Why a batch failed verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Fewer bytes than the header or the declared length: a write cut short.
    Truncated,
    /// The bytes are all there but are not a valid batch.
    Bad(&'static str),
}

/// Checks a whole batch (`bytes` starts at its base offset and may run past its end):
/// length, magic, CRC. Returns its header.
pub fn verify(bytes: &[u8]) -> std::result::Result<BatchHeader, Invalid> {
    let h = BatchHeader::parse(bytes).ok_or(Invalid::Truncated)?;
    if h.length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(Invalid::Bad("batch length below the header size"));
    }
    if h.magic != MAGIC {
        return Err(Invalid::Bad("magic byte is not 2"));
    }
    if h.last_offset_delta < 0 || h.record_count < 0 {
        return Err(Invalid::Bad("negative record count"));
    }
    let total = h.total_size();
    if bytes.len() < total {
        return Err(Invalid::Truncated);
    }
    if crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..total]) != h.crc {
        return Err(Invalid::Bad("CRC-32C mismatch"));
    }
    Ok(h)
}

/// Iterates the headers of one record.
#[derive(Clone, Copy, Debug)]
pub struct HeaderIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    remaining: i64,
}

impl<'a> HeaderIter<'a> {
    pub fn len(&self) -> usize {
        self.remaining.max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.remaining <= 0
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;
    fn next(&mut self) -> Option<Header<'a>> {
        if self.remaining <= 0 {
            return None;
        }
        self.remaining -= 1;
        let key = get_bytes(self.bytes, &mut self.pos)?.unwrap_or(&[]);
        let value = get_bytes(self.bytes, &mut self.pos)?;
        Some(Header { key, value })
    }
}

fn bad(detail: &str) -> Error {
    Error::InvalidRecord(format!("malformed record batch: {detail}"))
}

/// The most any stored batch is expanded to when read. Batches are refused at the door
/// well below it ([`decompressed_cap`]); this bounds what a batch stored by an older
/// version may cost a reader.
pub const MAX_DECOMPRESSED: usize = 1 << 30;

/// The most the records of one compressed batch may expand to, for a topic whose
/// `max.message.bytes` is `max_message_bytes`: 64 times it (64 MiB at the default of
/// 1 MiB), at most [`MAX_DECOMPRESSED`], never below the limit itself.
///
/// Why 64: real records compress 2 to 20 times (JSON with gzip or zstd at the top), so a
/// batch within max.message.bytes that expands beyond 64 times it is an attack or a
/// mistake; and every consumer of the partition (kafkajs, librdkafka, samsa's own fetch)
/// expands a batch whole in memory, so the cap is what one stored batch may cost each
/// of them.
pub fn decompressed_cap(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_mul(64).min(MAX_DECOMPRESSED).max(max_message_bytes)
}

/// One record's fields; `body` is the record after its length varint. Returns the record
/// and where its headers end (the record's end, for a well-formed one).
fn parse_record<'a>(h: &BatchHeader, body: &'a [u8]) -> Result<(RecordView<'a>, usize)> {
    let attributes = *body.first().ok_or_else(|| bad("record attributes"))? as i8;
    let mut pos = 1;
    let ts_delta = get_varlong(body, &mut pos).ok_or_else(|| bad("timestamp delta"))?;
    let offset_delta = get_varlong(body, &mut pos).ok_or_else(|| bad("offset delta"))?;
    let key = get_bytes(body, &mut pos).ok_or_else(|| bad("key"))?;
    let value = get_bytes(body, &mut pos).ok_or_else(|| bad("value"))?;
    let count = get_varlong(body, &mut pos).ok_or_else(|| bad("header count"))?;
    let headers = HeaderIter { bytes: body, pos, remaining: count };
    // Walk the headers: each must be whole.
    let mut skip = headers;
    let mut whole = 0;
    while skip.next().is_some() {
        whole += 1;
    }
    if whole < count {
        return Err(bad("headers"));
    }
    // A LogAppendTime batch gives every record the time the broker stamped on it.
    let timestamp = if h.is_log_append_time() { h.max_timestamp } else { h.base_timestamp.wrapping_add(ts_delta) };
    let record = RecordView {
        offset: h.base_offset + offset_delta,
        timestamp,
        attributes,
        key,
        value,
        headers,
    };
    Ok((record, skip.pos))
}

/// Calls `f` for every record of a verified batch, expanding a compressed one whole into
/// `scratch` (at most [`MAX_DECOMPRESSED`] bytes).
pub fn for_each_record<'s>(
    batch: &'s [u8],
    scratch: &'s mut Vec<u8>,
    mut f: impl FnMut(RecordView<'_>),
) -> Result<()> {
    let h = BatchHeader::parse(batch).ok_or_else(|| bad("short header"))?;
    let end = h.total_size().min(batch.len());
    let records: &[u8] = match h.compression() {
        0 => &batch[HEADER_LEN..end],
        c => {
            codec::decompress(c, &batch[HEADER_LEN..end], scratch, MAX_DECOMPRESSED).map_err(|e| match e {
                Error::RecordsTooLarge { max } => Error::InvalidRecord(format!(
                    "a stored record batch at offset {} expands to more than {max} bytes, more than samsa reads of one batch",
                    h.base_offset
                )),
                other => other,
            })?;
            scratch
        }
    };
    let mut pos = 0;
    for _ in 0..h.record_count {
        f(parse_record(&h, next_record(records, &mut pos)?)?.0);
    }
    Ok(())
}

/// The body of the record at `pos` in an uncompressed records section (after its length
/// varint), moving `pos` past it.
fn next_record<'a>(records: &'a [u8], pos: &mut usize) -> Result<&'a [u8]> {
    let len = get_varlong(records, pos).ok_or_else(|| bad("record length"))?;
    let start = *pos;
    let end = start
        .checked_add(usize::try_from(len).map_err(|_| bad("negative record length"))?)
        .filter(|e| *e <= records.len())
        .ok_or_else(|| bad("record runs past the batch"))?;
    *pos = end;
    Ok(&records[start..end])
}

/// Checks every record of a client's batch as Kafka's validation does, calling `f` with
/// each one's offset, timestamp and whether it has a key: whole, with nothing after its
/// headers and no negative length or header count. A compressed batch is checked as a
/// stream, its keys, values and headers skipped rather than kept, so it costs the codec's
/// own buffers however large its records are; it is refused once it expands past `cap`
/// bytes, and nothing is ever allocated for what it merely claims. It is expanded under a
/// permit of the process's [`super::expansions`] gate, so only a few are at once.
fn check_client_records(h: &BatchHeader, batch: &[u8], cap: usize, mut f: impl FnMut(i64, i64, bool)) -> Result<()> {
    let data = &batch[HEADER_LEN..h.total_size().min(batch.len())];
    if h.compression() == 0 {
        let mut pos = 0;
        for _ in 0..h.record_count {
            let body = next_record(data, &mut pos)?;
            let (record, end) = parse_record(h, body)?;
            if end != body.len() || record.headers.remaining < 0 {
                return Err(bad("a record's length does not match its fields"));
            }
            f(record.offset, record.timestamp, record.key.is_some());
        }
        if pos != data.len() {
            return Err(bad("bytes after the batch's last record"));
        }
        return Ok(());
    }
    let codec = h.compression();
    // One of the few expansions the process runs at once ([`super::expansions`]). Declared
    // before the stream, so it is given back after the codec's buffers are freed.
    let _permit = super::expansions::hold();
    let mut stream = std::io::BufReader::with_capacity(16 * 1024, Capped::new(codec::reader(codec, data, cap)?, cap));
    for _ in 0..h.record_count {
        let checked = check_streamed_record(&mut stream);
        let StreamedRecord { timestamp_delta, offset_delta, has_key } = match checked {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(e),
            Err(io) => return Err(stream.get_ref().error(codec, io)),
        };
        let timestamp = if h.is_log_append_time() { h.max_timestamp } else { h.base_timestamp.wrapping_add(timestamp_delta) };
        f(h.base_offset + offset_delta, timestamp, has_key);
    }
    match stream.read(&mut [0u8; 1]) {
        Ok(0) => Ok(()),
        Ok(_) => Err(bad("bytes after the batch's last record")),
        Err(io) => Err(stream.get_ref().error(codec, io)),
    }
}

/// What validation needs of a record read from a stream.
struct StreamedRecord {
    timestamp_delta: i64,
    offset_delta: i64,
    has_key: bool,
}

/// Reads one record from a stream of records, keeping none of its bytes, or says why it
/// is malformed (the outer error: the stream failed).
fn check_streamed_record(stream: &mut impl Read) -> std::io::Result<Result<StreamedRecord>> {
    let len = read_varlong(stream)?;
    let Ok(len) = u64::try_from(len) else { return Ok(Err(bad("negative record length"))) };
    let mut body = stream.take(len);
    let short = || Ok(Err(bad("record runs past the batch")));
    let mut attributes = [0u8; 1];
    if body.read(&mut attributes)? == 0 {
        return short();
    }
    let fields = (|| -> std::io::Result<Option<StreamedRecord>> {
        let timestamp_delta = read_varlong(&mut body)?;
        let offset_delta = read_varlong(&mut body)?;
        // Key and value: a length (-1 for null) and that many bytes.
        let key_len = read_varlong(&mut body)?;
        if key_len >= 0 && !skip(&mut body, key_len as u64)? {
            return Ok(None);
        }
        let value_len = read_varlong(&mut body)?;
        if value_len >= 0 && !skip(&mut body, value_len as u64)? {
            return Ok(None);
        }
        let has_key = key_len >= 0;
        let count = read_varlong(&mut body)?;
        if count < 0 {
            return Ok(None);
        }
        for _ in 0..count {
            let key = read_varlong(&mut body)?;
            if key < 0 || !skip(&mut body, key as u64)? {
                return Ok(None);
            }
            let value = read_varlong(&mut body)?;
            if value >= 0 && !skip(&mut body, value as u64)? {
                return Ok(None);
            }
        }
        Ok(Some(StreamedRecord { timestamp_delta, offset_delta, has_key }))
    })();
    match fields {
        // A record cut short reads as the end of its body.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => short(),
        Err(e) => Err(e),
        Ok(None) => Ok(Err(bad("a record's fields are malformed"))),
        Ok(Some(_)) if body.limit() != 0 => Ok(Err(bad("a record's length does not match its fields"))),
        Ok(Some(record)) => Ok(Ok(record)),
    }
}

/// Reads past `n` bytes of a stream; false if it ended first.
fn skip(r: &mut impl Read, n: u64) -> std::io::Result<bool> {
    Ok(std::io::copy(&mut r.take(n), &mut std::io::sink())? == n)
}

/// A zigzag varint read from a stream.
fn read_varlong(r: &mut impl Read) -> std::io::Result<i64> {
    let mut z: u64 = 0;
    let mut byte = [0u8; 1];
    for shift in (0..64).step_by(7) {
        r.read_exact(&mut byte)?;
        z |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "varint longer than 10 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(headers: &'a [Header<'a>]) -> Vec<Record<'a>> {
        vec![
            Record { timestamp: 1_700_000_000_000, key: Some(b"rider-1"), value: Some(b"{\"lat\":1}"), headers },
            Record { timestamp: 1_699_999_999_000, key: None, value: None, headers: &[] },
            Record { timestamp: 1_700_000_000_500, key: Some(b""), value: Some(&[0u8; 300]), headers: &[] },
        ]
    }

    #[test]
    fn varlong_round_trips_and_sizes() {
        for v in [0i64, 1, -1, 63, 64, -64, -65, 300, i32::MAX as i64, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v), "length of {v}");
            let mut pos = 0;
            assert_eq!(get_varlong(&out, &mut pos), Some(v));
        }
    }

    #[test]
    fn encode_then_decode_gives_back_the_records() {
        let headers = [Header { key: b"trace", value: Some(b"abc") }, Header { key: b"n", value: None }];
        let records = sample(&headers);
        for compression in [Compression::None, Compression::Gzip] {
            let mut out = Vec::new();
            let info = encode_batch(&mut out, 42, &records, compression, None).unwrap();
            assert_eq!(info.base_offset, 42);
            assert_eq!(info.last_offset, 44);
            assert_eq!(info.max_timestamp, 1_700_000_000_500);
            assert_eq!(info.size, out.len());
            let h = verify(&out).unwrap();
            assert_eq!(h.record_count, 3);
            let mut got = Vec::new();
            let mut scratch = Vec::new();
            for_each_record(&out, &mut scratch, |r| {
                let hs: Vec<(Vec<u8>, Option<Vec<u8>>)> =
                    r.headers.map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec))).collect();
                got.push((r.offset, r.timestamp, r.key.map(<[u8]>::to_vec), r.value.map(<[u8]>::to_vec), hs));
            })
            .unwrap();
            assert_eq!(got.len(), 3);
            assert_eq!(got[0].0, 42);
            assert_eq!(got[0].2.as_deref(), Some(&b"rider-1"[..]));
            assert_eq!(got[0].4, vec![(b"trace".to_vec(), Some(b"abc".to_vec())), (b"n".to_vec(), None)]);
            assert_eq!(got[1].1, 1_699_999_999_000);
            assert_eq!(got[1].2, None);
            assert_eq!(got[1].3, None);
            assert_eq!(got[2].0, 44);
            assert_eq!(got[2].2.as_deref(), Some(&b""[..]));
            assert_eq!(got[2].3.as_ref().map(Vec::len), Some(300));
        }
    }

    #[test]
    fn sizes_match_what_is_encoded() {
        let headers = [Header { key: b"k", value: Some(b"v") }];
        let records = sample(&headers);
        let mut out = Vec::new();
        encode_batch(&mut out, 0, &records, Compression::None, None).unwrap();
        let base = records[0].timestamp;
        let expected: usize = HEADER_LEN
            + records
                .iter()
                .enumerate()
                .map(|(i, r)| record_size_in_batch(r, i as i64, r.timestamp - base))
                .sum::<usize>();
        assert_eq!(out.len(), expected);
        let mut one = Vec::new();
        encode_batch(&mut one, 0, &records[..1], Compression::None, None).unwrap();
        assert_eq!(one.len(), single_record_batch_size(&records[0]));
        for (i, r) in records.iter().enumerate() {
            assert!(record_size_bound(r) >= record_size_in_batch(r, i as i64, r.timestamp - base));
        }
    }

    #[test]
    fn any_flipped_bit_fails_the_crc() {
        let records = sample(&[]);
        let mut out = Vec::new();
        encode_batch(&mut out, 0, &records, Compression::None, None).unwrap();
        for i in ATTRIBUTES_OFFSET..out.len() {
            let mut damaged = out.clone();
            damaged[i] ^= 0x10;
            assert!(verify(&damaged).is_err(), "flip at byte {i} went unnoticed");
        }
        assert_eq!(verify(&out[..out.len() - 1]), Err(Invalid::Truncated));
        assert_eq!(verify(&out[..30]), Err(Invalid::Truncated));
    }

    #[test]
    fn rebasing_keeps_the_crc_valid() {
        let mut out = Vec::new();
        encode_batch(&mut out, 0, &sample(&[]), Compression::None, None).unwrap();
        set_base_offset(&mut out, 1000);
        assert_eq!(verify(&out).unwrap().base_offset, 1000);
    }

    #[test]
    fn a_client_batch_expanding_past_the_cap_is_refused_and_one_within_it_taken() {
        let big = vec![0u8; 3 << 20];
        let headers = [Header { key: b"h", value: Some(b"v") }];
        let records = [
            Record { timestamp: 1, key: Some(b"k"), value: Some(&big), headers: &headers },
            Record { timestamp: 2, key: None, value: None, headers: &[] },
        ];
        // Snappy expands at most 22 times: a batch within max.message.bytes never reaches
        // 64 times it (its bombs lie about block lengths, see codec.rs).
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let mut out = Vec::new();
            encode_batch(&mut out, 0, &records, codec, None).unwrap();
            assert!(out.len() < 40 << 10, "{codec:?} made {} bytes", out.len());
            // 64 times 40 KiB is under the 3 MiB the batch expands to; 64 times 64 KiB is over.
            let e = EncodedBatches::from_client(out.clone(), 40 << 10).err().unwrap();
            assert_eq!((e.code(), e.retriable()), (10, false), "{codec:?}: {e}");
            let taken = EncodedBatches::from_client(out, 64 << 10).unwrap();
            assert_eq!(taken.record_count(), 2, "{codec:?}");
        }
    }

    /// A batch of `codec` whose records section is `records` as given (one record claimed).
    fn batch_around(codec: Compression, records: &[u8]) -> Vec<u8> {
        let value = [1u8];
        let mut out = Vec::new();
        encode_batch(&mut out, 0, &[Record { timestamp: 1, key: None, value: Some(&value), headers: &[] }], Compression::None, None).unwrap();
        out.truncate(HEADER_LEN);
        out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&codec.id().to_be_bytes());
        codec::compress(codec, records, &mut out).unwrap();
        let len = (out.len() - LOG_OVERHEAD) as i32;
        out[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        out
    }

    #[test]
    fn a_record_cut_short_padded_or_followed_by_garbage_is_refused() {
        let value = vec![7u8; 100];
        let record = Record { timestamp: 1, key: None, value: Some(&value), headers: &[] };
        let mut whole = Vec::new();
        put_record(&mut whole, &record, 0, 0);
        let body_len = record_body_len(&record, 0, 0);
        let body = &whole[varlong_len(body_len as i64)..];
        let mut padded = Vec::new();
        put_varlong(&mut padded, body_len as i64 + 2);
        padded.extend_from_slice(body);
        padded.extend_from_slice(&[0, 0]);
        let cut = &whole[..whole.len() - 3];
        let followed = [&whole[..], &[0u8; 2][..]].concat();
        for codec in [Compression::None, Compression::Gzip, Compression::Zstd] {
            assert!(EncodedBatches::from_client(batch_around(codec, &whole), 1 << 20).is_ok(), "{codec:?}");
            for (what, records) in [("cut short", cut), ("padded", &padded[..]), ("followed by garbage", &followed[..])] {
                let e = EncodedBatches::from_client(batch_around(codec, records), 1 << 20).err();
                assert_eq!(e.map(|e| e.kind()), Some("INVALID_RECORD"), "{codec:?}: a record {what}");
            }
        }
    }

    #[test]
    fn every_codec_round_trips_and_unknown_ones_are_refused() {
        let headers = [Header { key: b"k", value: Some(b"v") }];
        let big = vec![b'z'; 100_000]; // spans several snappy blocks
        let mut records = sample(&headers);
        records.push(Record { timestamp: 1, key: None, value: Some(&big), headers: &[] });
        for id in 0..=4 {
            let codec = Compression::from_id(id).unwrap();
            assert_eq!(codec.id() as i32, id);
            let mut out = Vec::new();
            encode_batch(&mut out, 7, &records, codec, None).unwrap();
            let h = verify(&out).unwrap();
            assert_eq!(h.compression() as i32, id);
            let mut values = Vec::new();
            let mut scratch = Vec::new();
            for_each_record(&out, &mut scratch, |r| values.push(r.value.map(<[u8]>::to_vec))).unwrap();
            assert_eq!(values.len(), records.len());
            assert_eq!(values[3].as_deref(), Some(&big[..]), "codec {id}");
        }
        let e = Compression::from_id(5).unwrap_err();
        assert_eq!(e.code(), 76);
    }
}
