//! Committed offsets, durable: an append-only file of JSON lines, one per committed
//! offset (or group deletion), compacted into a fresh file once it holds mostly
//! superseded lines. A torn final line (a crash mid-write) is dropped; a bad line before
//! the end is a loud error.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::durability::Durability;
use crate::error::{Error, Result};

const FILE: &str = "offsets.log";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub metadata: Option<String>,
    /// The leader epoch the committer read the offset at (OffsetCommit v6+), returned by
    /// OffsetFetch as committed.
    pub leader_epoch: Option<i32>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    g: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(default)]
    p: i32,
    #[serde(default)]
    o: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
    /// The committed leader epoch; lines written before it was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<i32>,
    /// A group deletion: forget every offset of `g`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    del: bool,
}

pub type GroupOffsets = BTreeMap<(String, i32), Committed>;

pub struct OffsetStore {
    path: PathBuf,
    file: File,
    lines: usize,
    fsync: bool,
    durability: Arc<Durability>,
    groups: HashMap<String, GroupOffsets>,
}

impl OffsetStore {
    pub fn open(dir: &Path, fsync: bool, durability: Arc<Durability>) -> Result<Self> {
        crate::fsutil::create_private_dir(dir, true).map_err(|e| Error::io_at("creating", dir, e))?;
        let path = dir.join(FILE);
        let mut groups: HashMap<String, GroupOffsets> = HashMap::new();
        let mut lines = 0;
        let mut valid_len = 0u64;
        if let Ok(f) = File::open(&path) {
            let total = f.metadata().map_err(|e| Error::io_at("reading", &path, e))?.len();
            let mut reader = BufReader::new(f);
            let mut buf = String::new();
            loop {
                buf.clear();
                let n = reader.read_line(&mut buf).map_err(|e| Error::io_at("reading", &path, e))?;
                if n == 0 {
                    break;
                }
                let complete = buf.ends_with('\n');
                match serde_json::from_str::<Line>(buf.trim_end()) {
                    Ok(line) if complete => {
                        apply(&mut groups, line);
                        lines += 1;
                        valid_len += n as u64;
                    }
                    _ if valid_len + n as u64 >= total => {
                        tracing::warn!(path = %path.display(), "dropping a torn final line of committed offsets");
                        break;
                    }
                    _ => {
                        return Err(Error::corrupt_file(&path, valid_len, "a committed-offset line is not valid"))
                    }
                }
            }
        }
        let file = crate::fsutil::private_file()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io_at("opening", &path, e))?;
        file.set_len(valid_len).map_err(|e| Error::io_at("truncating", &path, e))?;
        Ok(OffsetStore { path, file, lines, fsync, durability, groups })
    }

    pub fn group(&self, group: &str) -> Option<&GroupOffsets> {
        self.groups.get(group)
    }

    pub fn groups(&self) -> impl Iterator<Item = &String> {
        self.groups.keys()
    }

    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<&Committed> {
        self.groups.get(group)?.get(&(topic.to_string(), partition))
    }

    /// Records offsets durably (written to the OS; fsynced when the broker fsyncs).
    pub fn commit(&mut self, group: &str, offsets: &[(String, i32, Committed)]) -> Result<()> {
        let mut out = Vec::new();
        for (t, p, c) in offsets {
            let line = Line { g: group.to_string(), t: Some(t.clone()), p: *p, o: c.offset, m: c.metadata.clone(), e: c.leader_epoch, del: false };
            serde_json::to_writer(&mut out, &line).map_err(|e| Error::io("encoding offsets", std::io::Error::other(e)))?;
            out.push(b'\n');
        }
        self.write(&out)?;
        let g = self.groups.entry(group.to_string()).or_default();
        for (t, p, c) in offsets {
            g.insert((t.clone(), *p), c.clone());
        }
        self.lines += offsets.len();
        self.maybe_compact()
    }

    pub fn delete_group(&mut self, group: &str) -> Result<bool> {
        if !self.groups.contains_key(group) {
            return Ok(false);
        }
        let line = Line { g: group.to_string(), t: None, p: 0, o: 0, m: None, e: None, del: true };
        let mut out = serde_json::to_vec(&line).map_err(|e| Error::io("encoding offsets", std::io::Error::other(e)))?;
        out.push(b'\n');
        self.write(&out)?;
        self.groups.remove(group);
        self.lines += 1;
        Ok(true)
    }

    /// Forgets some of a group's offsets (Kafka's OffsetDelete). A deletion line per
    /// offset keeps the log replayable; compaction drops them later.
    pub fn delete_offsets(&mut self, group: &str, partitions: &[(String, i32)]) -> Result<()> {
        let Some(g) = self.groups.get_mut(group) else { return Ok(()) };
        let before = g.len();
        for tp in partitions {
            g.remove(tp);
        }
        if g.len() != before {
            if g.is_empty() {
                self.groups.remove(group);
            }
            self.compact()?;
        }
        Ok(())
    }

    /// Forgets the offsets of a deleted topic in every group.
    pub fn delete_topic(&mut self, topic: &str) -> Result<()> {
        let before: usize = self.groups.values().map(BTreeMap::len).sum();
        for g in self.groups.values_mut() {
            g.retain(|(t, _), _| t != topic);
        }
        if self.groups.values().map(BTreeMap::len).sum::<usize>() != before {
            self.compact()?;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.durability.check()?;
        let before = self.file.metadata().map(|m| m.len()).ok();
        if let Err(e) = self.file.write_all(bytes) {
            // Leave no partial line behind for the next write to run into.
            if let Some(len) = before {
                let _ = self.file.set_len(len);
            }
            return Err(Error::io_at("writing", &self.path, e));
        }
        if self.fsync {
            self.durability.sync_data(&self.file, &self.path)?;
        }
        Ok(())
    }

    fn live(&self) -> usize {
        self.groups.values().map(BTreeMap::len).sum()
    }

    fn maybe_compact(&mut self) -> Result<()> {
        // Rare enough to stay off the latency of most commits: a rewrite per ~10,000
        // commits at least, and only when most lines are superseded.
        if self.lines > 10_000 && self.lines > 8 * self.live() {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with only the live offsets (atomically, by rename).
    pub fn compact(&mut self) -> Result<()> {
        let mut out = Vec::new();
        for (g, offsets) in &self.groups {
            for ((t, p), c) in offsets {
                let line = Line { g: g.clone(), t: Some(t.clone()), p: *p, o: c.offset, m: c.metadata.clone(), e: c.leader_epoch, del: false };
                serde_json::to_writer(&mut out, &line).map_err(|e| Error::io("encoding offsets", std::io::Error::other(e)))?;
                out.push(b'\n');
            }
        }
        self.file = self.durability.rewrite_appendable(&self.path, &out, self.fsync)?;
        self.lines = self.live();
        Ok(())
    }

    pub fn file_lines(&self) -> usize {
        self.lines
    }

    pub fn flush(&self) -> Result<()> {
        self.durability.sync_data(&self.file, &self.path)
    }
}

fn apply(groups: &mut HashMap<String, GroupOffsets>, line: Line) {
    if line.del {
        groups.remove(&line.g);
    } else if let Some(t) = line.t {
        groups.entry(line.g).or_default().insert((t, line.p), Committed { offset: line.o, metadata: line.m, leader_epoch: line.e });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(offset: i64) -> Committed {
        Committed { offset, metadata: None, leader_epoch: None }
    }

    #[test]
    fn commits_survive_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = OffsetStore::open(dir.path(), false, Arc::default()).unwrap();
            s.commit("g", &[("t".into(), 0, c(5)), ("t".into(), 1, c(7))]).unwrap();
            s.commit("g", &[("t".into(), 0, c(9))]).unwrap();
        }
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join(FILE)).unwrap();
        f.write_all(b"{\"g\":\"g\",\"t\":\"t\",\"p\":0,\"o\":12").unwrap();
        let s = OffsetStore::open(dir.path(), false, Arc::default()).unwrap();
        assert_eq!(s.committed("g", "t", 0), Some(&c(9)));
        assert_eq!(s.committed("g", "t", 1), Some(&c(7)));
    }

    #[test]
    fn the_leader_epoch_is_kept_and_old_lines_load_without_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{\"g\":\"g\",\"t\":\"t\",\"p\":0,\"o\":1}\n").unwrap();
        {
            let mut s = OffsetStore::open(dir.path(), false, Arc::default()).unwrap();
            assert_eq!(s.committed("g", "t", 0), Some(&c(1)));
            s.commit("g", &[("t".into(), 1, Committed { leader_epoch: Some(4), ..c(2) })]).unwrap();
        }
        let s = OffsetStore::open(dir.path(), false, Arc::default()).unwrap();
        assert_eq!(s.committed("g", "t", 1).unwrap().leader_epoch, Some(4));
        assert_eq!(s.committed("g", "t", 0).unwrap().leader_epoch, None);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"garbage\n{\"g\":\"g\",\"t\":\"t\",\"p\":0,\"o\":1}\n").unwrap();
        assert_eq!(OffsetStore::open(dir.path(), false, Arc::default()).err().unwrap().code(), 2);
    }

    #[test]
    fn compaction_keeps_the_file_small() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = OffsetStore::open(dir.path(), false, Arc::default()).unwrap();
        for i in 0..25_000 {
            s.commit("g", &[("t".into(), 0, c(i))]).unwrap();
        }
        assert!(s.file_lines() < 10_002, "{}", s.file_lines());
        drop(s);
        let s = OffsetStore::open(dir.path(), false, Arc::default()).unwrap();
        assert_eq!(s.committed("g", "t", 0), Some(&c(24_999)));
    }

    #[test]
    fn deleting_a_group_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = OffsetStore::open(dir.path(), false, Arc::default()).unwrap();
        s.commit("g", &[("t".into(), 0, c(1))]).unwrap();
        assert!(s.delete_group("g").unwrap());
        drop(s);
        let s = OffsetStore::open(dir.path(), false, Arc::default()).unwrap();
        assert!(s.group("g").is_none());
    }
}
