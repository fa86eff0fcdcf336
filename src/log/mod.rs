//! The log: partitions made of segments of Kafka RecordBatch v2 batches.

pub mod batch;
pub mod index;
pub mod partition;
pub mod segment;

pub use batch::{Compression, Header, Record, RecordView};
pub use partition::{AppendResult, LogConfig, PartitionLog};
pub use segment::SegmentConfig;
