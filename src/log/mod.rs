//! The log: partitions made of segments of Kafka RecordBatch v2 batches.

pub mod batch;
pub mod cleaner;
pub mod codec;
pub mod control;
pub mod expansions;
pub mod files;
pub mod index;
pub mod partition;
pub mod producers;
pub mod segment;
pub mod timestamps;
pub mod validate;
pub mod verify;

pub use batch::{Compression, EncodedBatches, Header, ProducerStamp, Record, RecordView};
pub use files::FileCache;
pub use partition::{AppendResult, CleanupPolicy, Dirt, Isolated, LogConfig, OpenOptions, PartitionLog};
pub use producers::AbortedTxn;
pub use segment::{Damage, SegmentConfig};
pub use timestamps::{TimestampPolicy, TimestampType};
