//! Record timestamps as a topic's `message.timestamp.*` configs rule them: with CreateTime
//! the producer's timestamps are kept but must lie within a window around the broker's
//! clock; with LogAppendTime the broker stamps each batch with the time it appends it.

use crate::log::batch::{ATTRIBUTES_OFFSET, CRC_OFFSET, LOG_APPEND_TIME_FLAG, MAX_TIMESTAMP_OFFSET};
use crate::log::EncodedBatches;

/// Kafka's `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// A topic's rules for record timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampPolicy {
    pub kind: TimestampType,
    /// `message.timestamp.before.max.ms`: how far behind the broker's clock a CreateTime
    /// timestamp may be.
    pub before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far ahead of it.
    pub after_max_ms: i64,
}

impl Default for TimestampPolicy {
    /// Kafka 4's defaults: any age, at most an hour ahead (KIP-937).
    fn default() -> Self {
        TimestampPolicy { kind: TimestampType::CreateTime, before_max_ms: i64::MAX, after_max_ms: 3_600_000 }
    }
}

impl TimestampPolicy {
    /// Why a record with timestamp `ts` at `offset` in its batch is refused at `now`, or
    /// None. Timestamps of -1 (none given) and every timestamp under LogAppendTime pass.
    pub fn check(&self, ts: i64, offset: i64, now: i64) -> Option<String> {
        if self.kind == TimestampType::LogAppendTime || ts == -1 {
            return None;
        }
        let too_old = now.saturating_sub(ts) > self.before_max_ms;
        let too_new = ts.saturating_sub(now) > self.after_max_ms;
        (too_old || too_new).then(|| {
            format!(
                "Timestamp {ts} of message with offset {offset} is out of range. The timestamp should be within [{}, {}]",
                now.saturating_sub(self.before_max_ms),
                now.saturating_add(self.after_max_ms)
            )
        })
    }
}

/// Stamps every batch with `now` as its LogAppendTime, as Kafka's broker does: the
/// attributes' timestamp-type bit is set and the max timestamp becomes `now` (readers then
/// give every record of the batch that time), and the CRC is computed again.
pub fn stamp_log_append_time(enc: &mut EncodedBatches, now: i64) {
    let mut pos = 0;
    for info in &mut enc.infos {
        let batch = &mut enc.bytes[pos..pos + info.size];
        let attributes = i16::from_be_bytes([batch[ATTRIBUTES_OFFSET], batch[ATTRIBUTES_OFFSET + 1]]) | LOG_APPEND_TIME_FLAG;
        batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
        batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now.to_be_bytes());
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        info.max_timestamp = now;
        pos += info.size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{for_each_record, verify, Compression, Record};

    #[test]
    fn the_window_is_kafkas() {
        let p = TimestampPolicy { kind: TimestampType::CreateTime, before_max_ms: 1000, after_max_ms: 500 };
        assert!(p.check(10_000, 0, 10_000).is_none());
        assert!(p.check(9_000, 0, 10_000).is_none());
        assert!(p.check(8_999, 0, 10_000).is_some());
        assert!(p.check(10_500, 0, 10_000).is_none());
        assert!(p.check(10_501, 3, 10_000).unwrap().contains("offset 3"));
        assert!(p.check(-1, 0, 10_000).is_none());
        assert!(TimestampPolicy::default().check(i64::MIN + 1, 0, 10_000).is_none(), "no age limit by default");
        let lat = TimestampPolicy { kind: TimestampType::LogAppendTime, ..p };
        assert!(lat.check(0, 0, 10_000).is_none());
    }

    #[test]
    fn log_append_time_stamps_the_batch_and_its_records() {
        let records = [
            Record { timestamp: 5, key: None, value: Some(b"a"), headers: &[] },
            Record { timestamp: 7, key: None, value: Some(b"b"), headers: &[] },
        ];
        let mut enc = EncodedBatches::default();
        enc.encode(&records, Compression::None, 1 << 20, None).unwrap();
        stamp_log_append_time(&mut enc, 1_700_000_000_000);
        let h = verify(&enc.bytes).expect("the CRC still matches");
        assert_eq!(h.max_timestamp, 1_700_000_000_000);
        assert_eq!(enc.infos[0].max_timestamp, 1_700_000_000_000);
        let mut seen = Vec::new();
        for_each_record(&enc.bytes, &mut Vec::new(), |r| seen.push(r.timestamp)).unwrap();
        assert_eq!(seen, [1_700_000_000_000, 1_700_000_000_000]);
    }
}
