//! The broker's fsyncs, and what happens when one fails.
//!
//! After a failed fsync the kernel may already have dropped the dirty pages it could not
//! write, and a later fsync can report success without them (the "fsyncgate" problem).
//! So the first failure poisons the broker, as fjall's store does: every later write is
//! refused with a clear error until the broker is reopened, and no clean-shutdown marker
//! is written, so the next open recovers from what is really on disk.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

#[derive(Default)]
pub struct Durability {
    poisoned: Mutex<Option<String>>,
    /// Test hook: how many of the next fsyncs fail with EIO.
    injected_failures: AtomicU32,
}

impl Durability {
    /// Fails with `Poisoned` once an fsync has failed.
    pub fn check(&self) -> Result<()> {
        match &*self.poisoned.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(why) => Err(Error::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn poison(&self, why: String) -> Error {
        let mut p = self.poisoned.lock().unwrap_or_else(|p| p.into_inner());
        if p.is_none() {
            tracing::error!("an fsync failed; refusing writes until the broker is reopened: {why}");
            *p = Some(why.clone());
        }
        Error::Poisoned(p.clone().unwrap_or(why))
    }

    fn injected(&self) -> bool {
        self.injected_failures
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// fdatasync, poisoning the broker on failure.
    pub fn sync_data(&self, file: &File, path: &Path) -> Result<()> {
        let result = if self.injected() { Err(std::io::Error::from_raw_os_error(libc::EIO)) } else { file.sync_data() };
        result.map_err(|e| self.poison(format!("fsync {}: {e}", path.display())))
    }

    /// Replaces `path` with `bytes` durably (see [`crate::fsutil::replace_synced`]). A
    /// failed write or fsync of the new content (a full disk, which some filesystems
    /// report at fsync) fails this call alone: the temporary file is thrown away and the
    /// old content stays, nothing acknowledged depending on it. Only a failed fsync of the
    /// directory, once the new file has replaced the old, poisons the broker.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let sync = |f: &std::fs::File, tmp: &Path| {
            let result = if self.injected() { Err(std::io::Error::from_raw_os_error(libc::EIO)) } else { f.sync_data() };
            result.map_err(|e| Error::io_at("fsync", tmp, e))
        };
        crate::fsutil::replace_synced(path, bytes, sync, |dir| self.run(|| crate::fsutil::sync_dir(dir)))
    }

    /// Replaces the append-only file at `path` with `bytes` (durably when `fsync`) and
    /// opens the new one for appending: the rewrite of a log of JSON lines.
    pub fn rewrite_appendable(&self, path: &Path, bytes: &[u8], fsync: bool) -> Result<File> {
        if fsync {
            self.write_atomic(path, bytes)?;
        } else {
            crate::fsutil::replace(path, bytes, false)?;
        }
        std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io_at("opening", path, e))
    }

    /// Any other durable step (a directory fsync, a whole-filesystem sync), poisoning the
    /// broker on failure.
    pub fn run(&self, step: impl FnOnce() -> Result<()>) -> Result<()> {
        let result = if self.injected() {
            Err(Error::io("fsync", std::io::Error::from_raw_os_error(libc::EIO)))
        } else {
            step()
        };
        result.map_err(|e| self.poison(e.to_string()))
    }

    /// Makes the next `n` fsyncs fail with EIO (fault injection for tests).
    #[doc(hidden)]
    pub fn inject_failures(&self, n: u32) {
        self.injected_failures.store(n, Ordering::Release);
    }
}
