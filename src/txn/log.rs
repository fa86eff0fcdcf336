//! `transactions.log`: the coordinator's state, durable. An append-only file of JSON
//! lines, each a transactional id's whole state after a transition (the last line of an
//! id wins), rewritten with only the current states once most lines are superseded. A
//! torn final line (a crash mid-write) is dropped; a bad line before it is a loud error.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::TxnMetadata;
use crate::durability::Durability;
use crate::error::{Error, Result};
use crate::fsutil;

pub(super) const FILE: &str = "transactions.log";

pub struct TxnLog {
    path: PathBuf,
    file: File,
    lines: usize,
    fsync: bool,
    durability: Arc<Durability>,
    /// The current state of every id, for rewriting the file.
    current: HashMap<String, TxnMetadata>,
}

impl TxnLog {
    /// Opens (or creates) the file in `dir` and returns every id's last state.
    pub fn open(dir: &Path, fsync: bool, durability: Arc<Durability>) -> Result<(Self, HashMap<String, TxnMetadata>)> {
        let path = dir.join(FILE);
        let (current, lines, valid_len) = read(&path)?;
        let file = fsutil::private_file()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io_at("opening", &path, e))?;
        file.set_len(valid_len).map_err(|e| Error::io_at("truncating", &path, e))?;
        let loaded = current.clone();
        Ok((TxnLog { path, file, lines, fsync, durability, current }, loaded))
    }

    /// Appends `meta` as its id's state: written to the OS, and fsynced when the broker fsyncs.
    pub fn write(&mut self, meta: &TxnMetadata) -> Result<()> {
        self.durability.check()?;
        let mut out = serde_json::to_vec(meta).map_err(|e| Error::io("encoding transaction state", std::io::Error::other(e)))?;
        out.push(b'\n');
        let before = self.file.metadata().map(|m| m.len()).ok();
        if let Err(e) = self.file.write_all(&out) {
            // Leave no partial line behind for the next write to run into.
            if let Some(len) = before {
                let _ = self.file.set_len(len);
            }
            return Err(Error::io_at("writing", &self.path, e));
        }
        if self.fsync {
            self.durability.sync_data(&self.file, &self.path)?;
        }
        self.current.insert(meta.id.clone(), meta.clone());
        self.lines += 1;
        if self.lines > 10_000 && self.lines > 8 * self.current.len() {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Rewrites the file with only the current states (atomically, by rename).
    fn rewrite(&mut self) -> Result<()> {
        let mut out = Vec::new();
        for meta in self.current.values() {
            serde_json::to_writer(&mut out, meta).map_err(|e| Error::io("encoding transaction state", std::io::Error::other(e)))?;
            out.push(b'\n');
        }
        self.file = self.durability.rewrite_appendable(&self.path, &out, self.fsync)?;
        self.lines = self.current.len();
        Ok(())
    }

    pub fn flush(&self) -> Result<()> {
        self.durability.sync_data(&self.file, &self.path)
    }
}

/// Every id's last state in the file at `path` (none if it does not exist), the number of
/// lines read, and the length of the valid lines (a torn final line is left out).
pub fn read(path: &Path) -> Result<(HashMap<String, TxnMetadata>, usize, u64)> {
    let mut current: HashMap<String, TxnMetadata> = HashMap::new();
    let mut lines = 0;
    let mut valid_len = 0u64;
    if let Ok(f) = File::open(path) {
        let total = f.metadata().map_err(|e| Error::io_at("reading", path, e))?.len();
        let mut reader = BufReader::new(f);
        let mut buf = String::new();
        loop {
            buf.clear();
            let n = reader.read_line(&mut buf).map_err(|e| Error::io_at("reading", path, e))?;
            if n == 0 {
                break;
            }
            match serde_json::from_str::<TxnMetadata>(buf.trim_end()) {
                Ok(meta) if buf.ends_with('\n') => {
                    current.insert(meta.id.clone(), meta);
                    lines += 1;
                    valid_len += n as u64;
                }
                _ if valid_len + n as u64 >= total => {
                    tracing::warn!(path = %path.display(), "dropping a torn final line of transaction state");
                    break;
                }
                _ => return Err(Error::corrupt_file(path, valid_len, "a transaction-state line is not valid")),
            }
        }
    }
    Ok((current, lines, valid_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::TxnState;

    #[test]
    fn the_last_line_of_each_id_wins_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let d = Arc::new(Durability::default());
        let (mut log, loaded) = TxnLog::open(dir.path(), false, Arc::clone(&d)).unwrap();
        assert!(loaded.is_empty());
        let mut a = TxnMetadata::new("a", 1, 60_000, 10);
        log.write(&a).unwrap();
        a.begin(20);
        a.partitions.insert(("t".into(), 0));
        log.write(&a).unwrap();
        log.write(&TxnMetadata::new("b", 2, 60_000, 30)).unwrap();
        drop(log);
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join(FILE)).unwrap();
        f.write_all(b"{\"id\":\"a\",\"produ").unwrap();
        let (_, loaded) = TxnLog::open(dir.path(), false, d).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded["a"].state, TxnState::Ongoing);
        assert_eq!(loaded["a"], a);
    }
}
