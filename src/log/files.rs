//! A bounded cache of open segment files.
//!
//! An embedded broker cannot ask every application to raise `ulimit -n`, so segments do
//! not hold descriptors for their lifetime: each `.log` file is opened when it is used and
//! closed again when it has not been used for a while, least recently used first, so the
//! process never holds more than `budget` of them (index files hold none: they are mapped
//! and their descriptors closed at once). A file evicted while a read, write or fsync
//! still holds it stays open until that call ends; fsync is per inode, so syncing through
//! a newly opened descriptor covers writes made through an evicted one.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub struct FileCache {
    budget: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tick: u64,
    next_id: u64,
    /// id -> (file, tick of its last use)
    open: HashMap<u64, (Arc<File>, u64)>,
    /// tick of last use -> id, oldest first
    lru: BTreeMap<u64, u64>,
}

impl FileCache {
    /// A cache that keeps at most `budget` files open (at least 1).
    pub fn new(budget: usize) -> Arc<Self> {
        Arc::new(FileCache { budget: budget.max(1), state: Mutex::new(State::default()) })
    }

    /// The budget an embedded broker can afford by default: half of the process's soft
    /// descriptor limit (the application needs the rest), between 16 and 8192.
    pub fn default_budget() -> usize {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the struct it is given.
        let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 { lim.rlim_cur } else { 1024 };
        let soft = usize::try_from(soft).unwrap_or(usize::MAX);
        (soft / 2).clamp(16, 8192)
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    /// How many files the cache holds open now.
    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(self: &Arc<Self>, path: PathBuf, file: Option<File>) -> CachedFile {
        let mut s = self.lock();
        s.next_id += 1;
        let id = s.next_id;
        if let Some(f) = file {
            Self::insert(&mut s, id, Arc::new(f), self.budget);
        }
        CachedFile { id, path, cache: Arc::clone(self) }
    }

    fn insert(s: &mut State, id: u64, file: Arc<File>, budget: usize) {
        s.tick += 1;
        let tick = s.tick;
        s.open.insert(id, (file, tick));
        s.lru.insert(tick, id);
        while s.open.len() > budget {
            let Some((_, victim)) = s.lru.pop_first() else { break };
            s.open.remove(&victim);
        }
    }

    fn get(&self, id: u64, path: &Path) -> io::Result<Arc<File>> {
        {
            let mut s = self.lock();
            s.tick += 1;
            let tick = s.tick;
            if let Some((file, used)) = s.open.get_mut(&id) {
                let (file, old) = (Arc::clone(file), std::mem::replace(used, tick));
                s.lru.remove(&old);
                s.lru.insert(tick, id);
                return Ok(file);
            }
        }
        // Opened outside the lock: other partitions' files stay reachable meanwhile.
        let file = Arc::new(OpenOptions::new().read(true).write(true).open(path)?);
        let mut s = self.lock();
        if let Some((existing, _)) = s.open.get(&id) {
            return Ok(Arc::clone(existing));
        }
        Self::insert(&mut s, id, Arc::clone(&file), self.budget);
        Ok(file)
    }

    fn forget(&self, id: u64) {
        let mut s = self.lock();
        if let Some((_, tick)) = s.open.remove(&id) {
            s.lru.remove(&tick);
        }
    }
}

/// A file reached through the cache: opened on use, closed when evicted or dropped.
pub struct CachedFile {
    id: u64,
    path: PathBuf,
    cache: Arc<FileCache>,
}

impl CachedFile {
    /// Creates a new file (it must not exist) and keeps it open in the cache.
    pub fn create(cache: &Arc<FileCache>, path: &Path) -> io::Result<Self> {
        let file = crate::fsutil::private_file().read(true).write(true).create_new(true).open(path)?;
        Ok(cache.register(path.to_path_buf(), Some(file)))
    }

    /// An existing file, opened when first used.
    pub fn existing(cache: &Arc<FileCache>, path: &Path) -> Self {
        cache.register(path.to_path_buf(), None)
    }

    pub fn get(&self) -> io::Result<Arc<File>> {
        self.cache.get(self.id, &self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the descriptor now (the file is about to be deleted).
    pub fn close(&self) {
        self.cache.forget(self.id);
    }
}

impl Drop for CachedFile {
    fn drop(&mut self) {
        self.cache.forget(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_the_budget_and_reopens_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(3);
        let files: Vec<CachedFile> = (0..10)
            .map(|i| CachedFile::create(&cache, &dir.path().join(format!("{i}.log"))).unwrap())
            .collect();
        assert_eq!(cache.open_count(), 3);
        use std::os::unix::fs::FileExt;
        for (i, f) in files.iter().enumerate() {
            f.get().unwrap().write_all_at(&[i as u8], 0).unwrap();
            assert!(cache.open_count() <= 3);
        }
        for (i, f) in files.iter().enumerate() {
            let mut b = [0u8; 1];
            f.get().unwrap().read_exact_at(&mut b, 0).unwrap();
            assert_eq!(b[0], i as u8);
        }
        drop(files);
        assert_eq!(cache.open_count(), 0);
    }

    #[test]
    fn the_most_recently_used_file_stays_open() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(2);
        let a = CachedFile::create(&cache, &dir.path().join("a")).unwrap();
        let b = CachedFile::create(&cache, &dir.path().join("b")).unwrap();
        let a1 = a.get().unwrap();
        let _c = CachedFile::create(&cache, &dir.path().join("c")).unwrap();
        // b was the least recently used: a is still the same open file.
        assert!(Arc::ptr_eq(&a1, &a.get().unwrap()));
        drop(b);
    }
}
