//! A partition's cleaner checkpoint, `cleaner-checkpoint`: where the next pass starts
//! mapping keys (Kafka's cleaner-offset-checkpoint, kept per partition here), below
//! which segments may have gaps because the cleaner rewrote them, and when the first
//! tombstone kept in the clean section may go.

use std::path::Path;

use crate::error::Result;

const FILE: &str = "cleaner-checkpoint";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The first offset no pass has deduplicated yet (Kafka's first dirty offset).
    pub first_dirty: i64,
    /// Segments whose base offset is below this may have been rewritten. It is written
    /// before a rewritten segment is swapped in, so a segment with gaps is never read as
    /// damaged, even after a crash in the middle of a swap.
    pub gaps_below: i64,
    /// The earliest delete horizon of a batch whose tombstones the last pass kept
    /// (i64::MAX: none). Once it has passed, a pass is due even with nothing dirty: Kafka
    /// waits for new dirt, samsa removes tombstones when their time is over.
    pub next_horizon: i64,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint { first_dirty: 0, gaps_below: 0, next_horizon: i64::MAX }
    }
}

impl Checkpoint {
    /// The checkpoint of the partition in `dir`; none yet is all zeros. A file that cannot
    /// be parsed allows gaps everywhere: reading a rewritten segment as damaged would be
    /// worse than a laxer check of the others.
    pub fn read(dir: &Path) -> Checkpoint {
        match std::fs::read_to_string(dir.join(FILE)) {
            Ok(text) => {
                let mut numbers = text.split_whitespace().map(str::parse::<i64>);
                match (numbers.next(), numbers.next(), numbers.next()) {
                    (Some(Ok(first_dirty)), Some(Ok(gaps_below)), Some(Ok(next_horizon))) => {
                        Checkpoint { first_dirty, gaps_below, next_horizon }
                    }
                    _ => {
                        tracing::warn!(dir = %dir.display(), "the cleaner checkpoint is unreadable: cleaning starts over");
                        Checkpoint { first_dirty: 0, gaps_below: i64::MAX, next_horizon: 0 }
                    }
                }
            }
            Err(_) => Checkpoint::default(),
        }
    }

    /// Writes it durably (fsync of the file and the directory).
    pub fn write(&self, dir: &Path) -> Result<()> {
        crate::fsutil::write_atomic(&dir.join(FILE), format!("{} {} {}\n", self.first_dirty, self.gaps_below, self.next_horizon).as_bytes())
    }
}
