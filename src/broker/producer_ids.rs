//! Idempotent producer ids, unique for the life of the data directory. Ids are handed
//! out from blocks whose end is recorded durably before the first id of the block is
//! used (as Kafka's controller allocates them), so a restart never reuses one and the
//! file is written once per block rather than once per producer.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::fsutil;

const FILE: &str = "producer-ids";
const BLOCK: i64 = 1000;

pub struct ProducerIds {
    path: PathBuf,
    /// (next id to hand out, end of the block recorded on disk)
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE);
        let next = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<i64>().map_err(|_| Error::corrupt_file(&path, 0, "producer id block is not a number"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(Error::io_at("reading", &path, e)),
        };
        Ok(ProducerIds { path, state: Mutex::new((next, next)) })
    }

    pub fn next(&self) -> Result<i64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 >= s.1 {
            let end = s.0 + BLOCK;
            fsutil::write_atomic(&self.path, end.to_string().as_bytes())?;
            s.1 = end;
        }
        s.0 += 1;
        Ok(s.0 - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let a = ProducerIds::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..3).map(|_| a.next().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(a);
        let b = ProducerIds::open(dir.path()).unwrap();
        assert!(b.next().unwrap() >= BLOCK);
    }
}
