//! Sparse, memory-mapped indexes of a segment, one entry about every
//! `index.interval.bytes` of log.
//!
//! - [`OffsetIndex`]: 8-byte entries (offset relative to the segment base u32, file
//!   position u32), so a read jumps close to its offset and scans a few KiB at most.
//! - [`TimeIndex`]: 12-byte entries (max timestamp so far i64, relative offset u32), for
//!   lookups by timestamp.
//!
//! Both are big-endian as in Kafka. An index is only a hint: the log is the truth, and on
//! open an index keeps only the prefix of entries that is plausible (strictly increasing
//! and inside the log); the segment then checks the last entry against the log itself.
//! Files grow in whole pages ahead of their entries; the zeros past the last entry end
//! the plausible prefix, so nothing needs trimming.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use crate::error::{Error, Result};

/// A file of fixed-size entries, mapped into memory. It holds no file descriptor: the
/// file is opened to map it (and to grow it) and closed again at once, so only the
/// segment's log counts against the process's descriptor limit. The file grows in chunks
/// whose blocks are allocated before they are mapped, so a full disk is an error from the
/// append, never a SIGBUS from writing to a page the filesystem cannot back. A file that
/// does not exist yet is created by the first entry.
struct IndexFile {
    path: PathBuf,
    map: Option<MmapMut>,
    entry_size: usize,
    entries: usize,
    /// Entries the mapped file can hold now.
    capacity: usize,
    /// Entries the file may grow to; a segment whose index is full rolls.
    max_capacity: usize,
}

/// Growth step of an index file: one 4 KiB page at first, doubling after.
const MIN_GROWTH_BYTES: usize = 4096;

impl IndexFile {
    /// Maps what is on disk (nothing if the file does not exist). Returns the number of
    /// whole entries on disk, for the caller to validate.
    fn open(path: &Path, entry_size: usize, max_capacity: usize) -> Result<(Self, usize)> {
        let mut index = IndexFile {
            path: path.to_path_buf(),
            map: None,
            entry_size,
            entries: 0,
            capacity: 0,
            max_capacity: max_capacity.max(1),
        };
        let on_disk = match std::fs::metadata(path) {
            Ok(m) => m.len() as usize / entry_size,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((index, 0)),
            Err(e) => return Err(Error::io_at("reading index metadata", path, e)),
        };
        index.remap(on_disk)?;
        Ok((index, on_disk))
    }

    /// Sets the file to `capacity` entries (allocating any new blocks) and maps it.
    fn remap(&mut self, capacity: usize) -> Result<()> {
        self.map = None;
        let file = crate::fsutil::private_file()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| Error::io_at("opening index", &self.path, e))?;
        let len = (capacity * self.entry_size) as u64;
        let current = file
            .metadata()
            .map_err(|e| Error::io_at("reading index metadata", &self.path, e))?
            .len();
        if len > current {
            allocate(&file, current, len - current).map_err(|e| Error::io_at("growing index", &self.path, e))?;
        } else if len < current {
            file.set_len(len).map_err(|e| Error::io_at("trimming index", &self.path, e))?;
        }
        self.capacity = capacity;
        if capacity > 0 {
            // SAFETY: the file is private to this segment and this process holds the data
            // directory lock, so nothing else truncates it while it is mapped; its blocks
            // were allocated above, so writes to the map cannot fault on a full disk.
            let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| Error::io_at("mapping index", &self.path, e))?;
            self.map = Some(map);
        }
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.entries >= self.max_capacity
    }

    /// Appends an entry, growing the file when needed. A full index is not an error here:
    /// the segment checks `is_full` and rolls before appending.
    fn push(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(bytes.len(), self.entry_size);
        if self.entries >= self.max_capacity {
            return Ok(());
        }
        if self.entries >= self.capacity {
            let grown = (self.capacity * 2).max(MIN_GROWTH_BYTES / self.entry_size);
            self.remap(grown.min(self.max_capacity))?;
        }
        if let Some(m) = &mut self.map {
            let at = self.entries * self.entry_size;
            m[at..at + self.entry_size].copy_from_slice(bytes);
            self.entries += 1;
        }
        Ok(())
    }

    fn entry(&self, i: usize) -> &[u8] {
        match &self.map {
            Some(m) => &m[i * self.entry_size..(i + 1) * self.entry_size],
            None => &[],
        }
    }

    /// The last entry `i` for which `le(entry i)` holds, given that `le` is true on a
    /// prefix of the entries (binary search).
    fn last_where(&self, le: impl Fn(&[u8]) -> bool) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if le(self.entry(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    fn delete(self) -> Result<()> {
        drop(self.map);
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io_at("deleting index", &self.path, e)),
        }
    }
}

/// Reserves the blocks of `[offset, offset + len)` so later writes through the map cannot
/// fail; ENOSPC comes back here as an error instead. Where the filesystem cannot
/// preallocate, the range is written with zeros, which allocates it just as surely
/// (a sparse `set_len` would leave pages a full disk cannot back).
fn allocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    // SAFETY: plain syscall on a file descriptor this function borrows.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset as libc::off_t, len as libc::off_t) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => {
            let zeros = vec![0u8; len.min(1 << 20) as usize];
            let mut at = offset;
            while at < offset + len {
                let n = (offset + len - at).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], at)?;
                at += n as u64;
            }
            Ok(())
        }
        err => Err(std::io::Error::from_raw_os_error(err)),
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Maps offsets (relative to the segment's base) to byte positions in its `.log`.
pub struct OffsetIndex {
    inner: IndexFile,
}

impl OffsetIndex {
    pub const ENTRY: usize = 8;

    /// Opens the index and keeps the longest plausible prefix of its entries: relative
    /// offsets and positions strictly increasing, positions inside `log_len`.
    pub fn open(path: &Path, capacity: usize, log_len: u64) -> Result<Self> {
        let (mut inner, on_disk) = IndexFile::open(path, Self::ENTRY, capacity)?;
        let mut last: Option<(u32, u32)> = None;
        let mut kept = 0;
        for i in 0..on_disk {
            let e = inner.entry(i);
            let (rel, pos) = (u32_at(e, 0), u32_at(e, 4));
            let increasing = last.is_none_or(|(lr, lp)| rel > lr && pos > lp);
            if pos == 0 || !increasing || pos as u64 >= log_len {
                break;
            }
            last = Some((rel, pos));
            kept += 1;
        }
        inner.entries = kept;
        Ok(OffsetIndex { inner })
    }

    pub fn len(&self) -> usize {
        self.inner.entries
    }

    pub fn is_empty(&self) -> bool {
        self.inner.entries == 0
    }

    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    pub fn entry(&self, i: usize) -> (u32, u32) {
        let e = self.inner.entry(i);
        (u32_at(e, 0), u32_at(e, 4))
    }

    pub fn last(&self) -> Option<(u32, u32)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    pub fn append(&mut self, relative_offset: u32, position: u32) -> Result<()> {
        let mut b = [0u8; Self::ENTRY];
        b[..4].copy_from_slice(&relative_offset.to_be_bytes());
        b[4..].copy_from_slice(&position.to_be_bytes());
        self.inner.push(&b)
    }

    /// The entry with the largest relative offset <= `relative_offset`, or the segment
    /// start (0, 0).
    pub fn lookup(&self, relative_offset: u32) -> (u32, u32) {
        self.inner
            .last_where(|e| u32_at(e, 0) <= relative_offset)
            .map_or((0, 0), |i| self.entry(i))
    }

    /// Forgets entries from `keep` on (the file is rewritten by later appends).
    pub fn truncate(&mut self, keep: usize) {
        self.inner.entries = keep.min(self.inner.entries);
    }

    pub fn delete(self) -> Result<()> {
        self.inner.delete()
    }
}

/// Maps timestamps to relative offsets: each entry is the largest timestamp seen up to
/// and including the batch at that offset.
pub struct TimeIndex {
    inner: IndexFile,
}

impl TimeIndex {
    pub const ENTRY: usize = 12;

    /// Keeps the longest prefix with non-decreasing timestamps and strictly increasing
    /// offsets below `max_relative_offset`.
    pub fn open(path: &Path, capacity: usize, max_relative_offset: Option<u32>) -> Result<Self> {
        let (mut inner, on_disk) = IndexFile::open(path, Self::ENTRY, capacity)?;
        let mut last: Option<(i64, u32)> = None;
        let mut kept = 0;
        for i in 0..on_disk {
            let e = inner.entry(i);
            let (ts, rel) = (i64_at(e, 0), u32_at(e, 8));
            let increasing = last.is_none_or(|(lt, lr)| ts >= lt && rel > lr);
            let inside = max_relative_offset.is_some_and(|m| rel <= m);
            if (ts == 0 && rel == 0) || !increasing || !inside {
                break;
            }
            last = Some((ts, rel));
            kept += 1;
        }
        inner.entries = kept;
        Ok(TimeIndex { inner })
    }

    pub fn len(&self) -> usize {
        self.inner.entries
    }

    pub fn is_empty(&self) -> bool {
        self.inner.entries == 0
    }

    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    pub fn entry(&self, i: usize) -> (i64, u32) {
        let e = self.inner.entry(i);
        (i64_at(e, 0), u32_at(e, 8))
    }

    pub fn last(&self) -> Option<(i64, u32)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    pub fn append(&mut self, timestamp: i64, relative_offset: u32) -> Result<()> {
        let mut b = [0u8; Self::ENTRY];
        b[..8].copy_from_slice(&timestamp.to_be_bytes());
        b[8..].copy_from_slice(&relative_offset.to_be_bytes());
        self.inner.push(&b)
    }

    /// The relative offset of the last entry whose timestamp is below `timestamp`: every
    /// record before it is older, so a search for `timestamp` can start there.
    pub fn start_for(&self, timestamp: i64) -> Option<u32> {
        self.inner
            .last_where(|e| i64_at(e, 0) < timestamp)
            .map(|i| self.entry(i).1)
    }

    pub fn truncate(&mut self, keep: usize) {
        self.inner.entries = keep.min(self.inner.entries);
    }

    pub fn delete(self) -> Result<()> {
        self.inner.delete()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_finds_the_floor_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut idx = OffsetIndex::open(&path, 100, 1 << 20).unwrap();
        assert_eq!(idx.lookup(5), (0, 0));
        for i in 1..=50u32 {
            idx.append(i * 10, i * 4096).unwrap();
        }
        assert_eq!(idx.lookup(0), (0, 0));
        assert_eq!(idx.lookup(9), (0, 0));
        assert_eq!(idx.lookup(10), (10, 4096));
        assert_eq!(idx.lookup(255), (250, 25 * 4096));
        assert_eq!(idx.lookup(u32::MAX), (500, 50 * 4096));
    }

    #[test]
    fn reopen_keeps_the_entries_before_the_preallocated_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        {
            let mut idx = OffsetIndex::open(&path, 1000, 1 << 20).unwrap();
            for i in 1..=3u32 {
                idx.append(i, i * 100).unwrap();
            }
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        let idx = OffsetIndex::open(&path, 1000, 1 << 20).unwrap();
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.last(), Some((3, 300)));
        // Entries pointing past the log are dropped.
        let idx = OffsetIndex::open(&path, 1000, 250).unwrap();
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn time_index_start_is_before_the_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut idx = TimeIndex::open(&path, 100, Some(0)).unwrap();
        idx.append(1000, 10).unwrap();
        idx.append(2000, 20).unwrap();
        idx.append(3000, 30).unwrap();
        assert_eq!(idx.start_for(500), None);
        assert_eq!(idx.start_for(1000), None);
        assert_eq!(idx.start_for(1001), Some(10));
        assert_eq!(idx.start_for(3000), Some(20));
        assert_eq!(idx.start_for(9999), Some(30));
    }

    #[test]
    fn a_full_index_refuses_more() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = OffsetIndex::open(&dir.path().join("0.index"), 2, 1 << 20).unwrap();
        idx.append(1, 1).unwrap();
        idx.append(2, 2).unwrap();
        assert!(idx.is_full());
        idx.append(3, 3).unwrap();
        assert_eq!(idx.len(), 2);
    }
}
