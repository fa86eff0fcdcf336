//! What Kafka's produce validation asks of each record (LogValidator.validateRecord): on a
//! topic whose `cleanup.policy` has `compact`, a key (the cleaner keeps the last record of
//! each key, and a record without one could never be cleaned); under CreateTime, a
//! timestamp within the topic's window. Both doors check the same way: the wire as a
//! client's batches are read (compressed ones as a stream), the in-process producer before
//! it encodes.

use crate::error::{Error, RecordError, Result};
use crate::log::batch::MAX_RECORD_ERRORS;
use crate::log::{LogConfig, TimestampPolicy};

/// The rules one partition's records are checked against.
#[derive(Clone, Copy, Debug)]
pub struct RecordRules<'a> {
    /// The topic's `message.timestamp.*` configs, applied at the broker's clock `now`.
    pub timestamps: TimestampPolicy,
    pub now: i64,
    /// Every record needs a key: the topic is compacted.
    pub keys_required: bool,
    /// The partition, which a refusal names as Kafka does (`topic-partition`).
    pub topic: &'a str,
    pub partition: i32,
}

impl<'a> RecordRules<'a> {
    /// A topic's rules (its resolved configs) for one of its partitions, at `now`.
    pub fn of(config: &LogConfig, topic: &'a str, partition: i32, now: i64) -> Self {
        RecordRules { timestamps: config.timestamps, now, keys_required: config.cleanup.compact, topic, partition }
    }

    /// Rules every well-formed record passes (format checks only).
    pub fn none() -> RecordRules<'static> {
        let any_time = TimestampPolicy { before_max_ms: i64::MAX, after_max_ms: i64::MAX, ..TimestampPolicy::default() };
        RecordRules { timestamps: any_time, now: 0, keys_required: false, topic: "", partition: -1 }
    }
}

/// The records of one partition's batches refused so far, as they are checked one by one.
#[derive(Debug, Default)]
pub struct Refusals {
    records: Vec<RecordError>,
    /// Some record was refused for its timestamp: the partition's error is then
    /// INVALID_TIMESTAMP, whatever else was refused (Kafka's processRecordErrors).
    any_timestamp: bool,
}

impl Refusals {
    /// Checks the record at `batch_index` of its batch (`offset`: its offset as sent): a
    /// missing key first, as Kafka checks, then its timestamp. The first
    /// [`MAX_RECORD_ERRORS`] refusals are listed; later ones still decide the error.
    pub fn check(&mut self, rules: &RecordRules<'_>, batch_index: i32, offset: i64, timestamp: i64, has_key: bool) {
        let listed = self.records.len() < MAX_RECORD_ERRORS;
        if rules.keys_required && !has_key {
            if listed {
                let message = format!("Compacted topic cannot accept message without key in topic partition {}-{}", rules.topic, rules.partition);
                self.records.push(RecordError { batch_index, message });
            }
        } else if listed || !self.any_timestamp {
            if let Some(message) = rules.timestamps.check(timestamp, offset, rules.now) {
                self.any_timestamp = true;
                if listed {
                    self.records.push(RecordError { batch_index, message });
                }
            }
        }
    }

    /// Ok if nothing was refused; otherwise the whole partition fails, every refused
    /// record listed (KIP-467).
    pub fn into_result(self) -> Result<()> {
        if self.records.is_empty() {
            Ok(())
        } else if self.any_timestamp {
            Err(Error::InvalidTimestamp { message: None, records: self.records })
        } else {
            Err(Error::InvalidRecords(self.records))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::TimestampType;

    fn rules(keys_required: bool) -> RecordRules<'static> {
        let timestamps = TimestampPolicy { kind: TimestampType::CreateTime, before_max_ms: 1000, after_max_ms: 1000 };
        RecordRules { timestamps, now: 10_000, keys_required, topic: "table", partition: 3 }
    }

    #[test]
    fn a_compacted_topic_refuses_records_without_a_key_as_kafka_does() {
        let mut r = Refusals::default();
        for (i, has_key) in [true, false, true, false].into_iter().enumerate() {
            r.check(&rules(true), i as i32, i as i64, 10_000, has_key);
        }
        match r.into_result() {
            Err(e @ Error::InvalidRecords(_)) => {
                assert_eq!((e.code(), e.kind()), (87, "INVALID_RECORD"));
                let Error::InvalidRecords(records) = &e else { unreachable!() };
                assert_eq!(records.iter().map(|r| r.batch_index).collect::<Vec<_>>(), [1, 3]);
                assert_eq!(records[0].message, "Compacted topic cannot accept message without key in topic partition table-3");
                assert!(e.to_string().starts_with("One or more records have been rejected due to 2 record errors in total"), "{e}");
            }
            other => panic!("refused: {other:?}"),
        }
        let mut r = Refusals::default();
        r.check(&rules(false), 0, 0, 10_000, false);
        assert!(r.into_result().is_ok(), "keys are optional on a topic that is not compacted");
    }

    #[test]
    fn a_timestamp_refused_anywhere_makes_the_partition_invalid_timestamp() {
        let mut r = Refusals::default();
        r.check(&rules(true), 0, 0, 10_000, false);
        r.check(&rules(true), 1, 1, 50_000, true);
        // A record without a key is refused for that alone, whatever its timestamp.
        r.check(&rules(true), 2, 2, 50_000, false);
        match r.into_result() {
            Err(Error::InvalidTimestamp { records, .. }) => {
                assert_eq!(records.iter().map(|r| r.batch_index).collect::<Vec<_>>(), [0, 1, 2]);
                assert!(records[2].message.starts_with("Compacted topic"));
            }
            other => panic!("refused: {other:?}"),
        }
    }

    #[test]
    fn past_the_listed_refusals_a_timestamp_still_decides_the_error() {
        let mut r = Refusals::default();
        for i in 0..MAX_RECORD_ERRORS as i32 {
            r.check(&rules(true), i, i64::from(i), 10_000, false);
        }
        r.check(&rules(true), MAX_RECORD_ERRORS as i32, 0, 50_000, true);
        match r.into_result() {
            Err(Error::InvalidTimestamp { records, .. }) => assert_eq!(records.len(), MAX_RECORD_ERRORS),
            other => panic!("refused: {other:?}"),
        }
    }
}
