//! Small durable file operations shared by the broker, the log and the groups.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, true)
}

/// Like [`write_atomic`]; without `durable` nothing is fsynced, so the replacement
/// survives a process crash but not necessarily a power loss.
pub fn replace(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io_at("creating", &tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io_at("writing", &tmp, e))?;
    if durable {
        f.sync_all().map_err(|e| Error::io_at("fsync", &tmp, e))?;
    }
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io_at("renaming", &tmp, e))?;
    if let (true, Some(parent)) = (durable, path.parent()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Makes a directory's entries (created, renamed or deleted files) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_at("fsync directory", dir, e))
}

/// Flushes every dirty page of the filesystem holding `dir` in one call (Linux's
/// `syncfs`): one system call where an fsync per file would cost one each, which is what
/// a clean close of thousands of partitions needs.
pub fn sync_filesystem(dir: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir).map_err(|e| Error::io_at("opening", dir, e))?;
    // SAFETY: plain syscall on a descriptor owned by `d` for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(Error::io_at("syncfs", dir, std::io::Error::last_os_error()));
    }
    Ok(())
}
