//! Small durable file operations shared by the broker, the log and the groups, and the
//! modes every file and directory of a data directory is made with: the owner's alone
//! (0600 and 0700), as PostgreSQL insists for its data directory, since the log holds
//! every message and its lock decides who serves it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Files of a data directory: read and written by their owner only.
pub const FILE_MODE: u32 = 0o600;
/// Directories of a data directory: entered by their owner only.
pub const DIR_MODE: u32 = 0o700;

/// Options for opening a file that may be created: created with [`FILE_MODE`].
pub fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Creates a directory with [`DIR_MODE`] (its missing parents too, with `all`).
pub fn create_private_dir(path: &Path, all: bool) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(all).mode(DIR_MODE).create(path)
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, true)
}

/// Like [`write_atomic`]; without `durable` nothing is fsynced, so the replacement
/// survives a process crash but not necessarily a power loss.
pub fn replace(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    if durable {
        let sync = |f: &File, tmp: &Path| f.sync_all().map_err(|e| Error::io_at("fsync", tmp, e));
        replace_synced(path, bytes, sync, sync_dir)
    } else {
        replace_synced(path, bytes, |_, _| Ok(()), |_| Ok(()))
    }
}

/// Replaces `path` with `bytes` through a temporary file: `sync_file` runs on it once
/// written, `sync_parent` on the directory once it is renamed into place. A failed write
/// or rename (a full disk) removes the temporary file and leaves `path` as it was.
pub fn replace_synced(
    path: &Path,
    bytes: &[u8],
    sync_file: impl FnOnce(&File, &Path) -> Result<()>,
    sync_parent: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut f = private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| Error::io_at("creating", &tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io_at("writing", &tmp, e))?;
        sync_file(&f, &tmp)
    })();
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io_at("renaming", &tmp, e))) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    match path.parent() {
        Some(parent) => sync_parent(parent),
        None => Ok(()),
    }
}

/// Makes a directory's entries (created, renamed or deleted files) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_at("fsync directory", dir, e))
}

/// The filesystem holding `path`: its total bytes and the bytes an unprivileged writer
/// may still use.
pub fn disk_space(path: &Path) -> Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|e| Error::io_at("statvfs", path, std::io::Error::other(e)))?;
    // SAFETY: statvfs fills the struct it is given; `c` is a NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(Error::io_at("statvfs", path, std::io::Error::last_os_error()));
    }
    let unit = s.f_frsize as u64;
    Ok((s.f_blocks as u64 * unit, s.f_bavail as u64 * unit))
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
