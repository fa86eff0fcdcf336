//! Log compaction: the cleaner of topics whose `cleanup.policy` has `compact`, as Kafka's
//! LogCleaner does it (docs/internals/kafka-log-compaction.md).
//!
//! A log is clean below its first dirty offset, dirty from there to its first uncleanable
//! offset (the active segment's base, or the first segment newer than
//! `min.compaction.lag.ms`), and untouched after it. A pass maps each key of the dirty
//! section to its latest offset ([`key_map`]), then rewrites every segment below the end
//! of the map, keeping per key only the record with that offset ([`filter`]), in groups
//! of at most `segment.bytes` each swapped in atomically ([`swap`]). Records keep their
//! offsets: the log has gaps afterwards. The pass reads and writes without holding the
//! partition; it takes it only to plan and for each swap.

pub mod checkpoint;
pub mod filter;
pub mod key_map;
pub mod pass;
pub mod swap;
pub mod transactions;
pub mod throttle;

pub use pass::{clean, Report, Settings};
