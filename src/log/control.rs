//! Transaction markers: the control batches a transaction's end writes to each of its
//! partitions, stored as Kafka stores them so every client recognises and skips them.
//!
//! A marker is a batch with attributes bits 4 and 5 set (transactional, control), the
//! producer's id and epoch, base sequence -1, and one record whose key is
//! `version i16 = 0, type i16` (0 abort, 1 commit) and whose value is
//! `version i16 = 0, coordinator epoch i32`.

use super::batch::{self, BatchHeader, BatchInfo, ProducerStamp, Record, ATTRIBUTES_OFFSET, CONTROL_FLAG, CRC_OFFSET, TRANSACTIONAL_FLAG};
use super::codec::Compression;
use crate::error::Result;

const ABORT: i16 = 0;
const COMMIT: i16 = 1;

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Abort,
    Commit,
}

impl Marker {
    pub fn of(commit: bool) -> Self {
        if commit {
            Marker::Commit
        } else {
            Marker::Abort
        }
    }

    pub fn is_commit(self) -> bool {
        self == Marker::Commit
    }
}

/// Appends the marker ending `producer_id`'s transaction at `epoch` to `out`, at offset 0
/// (the log stamps the real one), timestamped `timestamp`.
pub fn encode_marker(out: &mut Vec<u8>, producer_id: i64, epoch: i16, marker: Marker, coordinator_epoch: i32, timestamp: i64) -> Result<BatchInfo> {
    let kind = if marker.is_commit() { COMMIT } else { ABORT };
    let mut key = [0u8; 4];
    key[2..4].copy_from_slice(&kind.to_be_bytes());
    let mut value = [0u8; 6];
    value[2..6].copy_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record { timestamp, key: Some(&key), value: Some(&value), headers: &[] };
    let start = out.len();
    let stamp = ProducerStamp { producer_id, epoch, base_sequence: -1, transactional: true };
    let mut info = batch::encode_batch(out, 0, &[record], Compression::None, Some(stamp))?;
    let attributes = TRANSACTIONAL_FLAG | CONTROL_FLAG;
    out[start + ATTRIBUTES_OFFSET..start + ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&out[start + ATTRIBUTES_OFFSET..]);
    out[start + CRC_OFFSET..start + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    info.control = true;
    Ok(info)
}

/// The marker a control batch holds (`batch` starts at its header), or None when it is
/// not a control batch or its record is not a marker this version knows.
pub fn marker_of(batch: &[u8]) -> Option<Marker> {
    let h = BatchHeader::parse(batch)?;
    if !h.is_control() || h.compression() != 0 || h.record_count < 1 {
        return None;
    }
    let mut scratch = Vec::new();
    let mut found = None;
    batch::for_each_record(&batch[..h.total_size().min(batch.len())], &mut scratch, |r| {
        if found.is_none() {
            found = r.key.filter(|k| k.len() >= 4).map(|k| i16::from_be_bytes([k[2], k[3]]));
        }
    })
    .ok()?;
    match found? {
        ABORT => Some(Marker::Abort),
        COMMIT => Some(Marker::Commit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_a_valid_78_byte_control_batch_that_reads_back() {
        for marker in [Marker::Abort, Marker::Commit] {
            let mut out = Vec::new();
            let info = encode_marker(&mut out, 42, 3, marker, 0, 1_700_000_000_000).unwrap();
            assert_eq!(out.len(), 78);
            assert!(info.control);
            let h = batch::verify(&out).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.record_count), (42, 3, -1, 1));
            assert_eq!(marker_of(&out), Some(marker));
        }
    }

    #[test]
    fn a_data_batch_is_not_a_marker() {
        let mut out = Vec::new();
        let r = Record { timestamp: 1, key: Some(b"k"), value: Some(b"v"), headers: &[] };
        batch::encode_batch(&mut out, 0, &[r], Compression::None, Some(ProducerStamp { producer_id: 1, epoch: 0, base_sequence: 0, transactional: true })).unwrap();
        let h = batch::verify(&out).unwrap();
        assert!(h.is_transactional() && !h.is_control());
        assert_eq!(marker_of(&out), None);
    }
}
