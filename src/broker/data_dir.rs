//! A data directory as a whole: made private to its owner, locked by one process (and,
//! when it is held, who holds it), and its identity (the cluster id in meta.properties).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil;

const LOCK_FILE: &str = ".lock";
const META_FILE: &str = "meta.properties";
/// Subdirectories that hold data, tightened on open: they may come from a version that
/// made them readable by every user.
const DATA_SUBDIRS: &[&str] = &["topics", "groups"];

/// Creates `dir` (mode 0700, its missing parents too) or checks the one there: a
/// directory other users may write is refused (they could replace its files or take its
/// lock). One they may only read is used as it is: every file in it is the owner's alone,
/// and the subdirectories that hold data are made so here.
pub fn prepare(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fsutil::create_private_dir(dir, true).map_err(|e| failed("creating", dir, dir, e))?;
        }
        Err(e) => return Err(failed("checking", dir, dir, e)),
        Ok(_) => {}
    }
    // Checked whether made here or found: in a shared parent (/tmp) another user may have
    // made it first.
    let meta = std::fs::metadata(dir).map_err(|e| failed("checking", dir, dir, e))?;
    if !meta.is_dir() {
        return Err(Error::InvalidConfig(format!("data directory {} is not a directory", dir.display())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(Error::InvalidConfig(format!(
            "data directory {} has mode {mode:04o}: other users may write it, and so replace its files or take its lock; make it the owner's alone (chmod 700 {})",
            dir.display(),
            dir.display()
        )));
    }
    for sub in DATA_SUBDIRS {
        let path = dir.join(sub);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(fsutil::DIR_MODE))
                    .map_err(|e| failed("making private", dir, &path, e))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fsutil::create_private_dir(&path, false).map_err(|e| failed("creating", dir, &path, e))?;
            }
            Err(e) => return Err(failed("checking", dir, &path, e)),
        }
    }
    Ok(())
}

/// The error for a step on `path` in the data directory `dir` that failed: refused
/// permission is its own error (retrying does not help; it names whose the directory is).
fn failed(action: &str, dir: &Path, path: &Path, e: std::io::Error) -> Error {
    if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) {
        let owner = std::fs::metadata(dir).map(|m| format!("user {}", user_name(m.uid()))).unwrap_or_else(|_| "another user".into());
        return Error::PermissionDenied(format!(
            "permission denied {action} {}: the data directory {} is {owner}'s alone (mode 0700, files 0600); run as that user",
            path.display(),
            dir.display()
        ));
    }
    Error::io_at(action, path, e)
}

/// Takes the data directory's lock (a non-blocking `flock` on its lock file, released when
/// the file is closed, by the process's exit too) and records this process in it. When
/// another process holds it, the error names that process as the kernel knows it.
pub fn lock(dir: &Path) -> Result<File> {
    let mut file = lock_file(dir)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut recorded = String::new();
            let _ = file.read_to_string(&mut recorded);
            let holder = file.metadata().ok().and_then(|m| lock_holder(&m)).or_else(|| {
                let r = recorded.trim();
                (!r.is_empty()).then(|| r.to_string())
            });
            return Err(Error::Locked { path: dir.to_path_buf(), holder });
        }
        Err(TryLockError::Error(e)) => return Err(Error::io_at("locking", &dir.join(LOCK_FILE), e)),
    }
    claim(dir, file)
}

/// Tries the lock once, without waiting: the locked file when the lock was free (the
/// owner exited, or died: the kernel releases a dead process's locks), None while another
/// process holds it. For a process that reaches the directory through its owner and takes
/// over when the owner goes.
pub fn try_take_over(dir: &Path) -> Result<Option<File>> {
    let file = lock_file(dir)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io_at("locking", &dir.join(LOCK_FILE), e)),
    }
}

/// Records this process in the lock file it holds the lock of.
pub fn claim(dir: &Path, mut file: File) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let who = format!("pid {}", std::process::id());
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(who.as_bytes()))
        .map_err(|e| Error::io_at("writing lock file", &path, e))?;
    Ok(file)
}

fn lock_file(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = fsutil::private_file()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| failed("opening", dir, &path, e))?;
    // A lock file from a version that made it readable by every user: private before it
    // is locked, so no one else may open it to take the lock.
    if file.metadata().is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(fsutil::FILE_MODE));
    }
    Ok(file)
}

/// The process holding a `flock` on the file `meta` describes, from the kernel's own
/// table (/proc/locks), as "pid N (command, user U)": whatever the lock file says.
fn lock_holder(meta: &std::fs::Metadata) -> Option<String> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let dev = meta.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let wanted = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    locks.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's line has "->".
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") || fields.contains(&"->") || fields.get(5) != Some(&wanted.as_str()) {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        Some(describe_process(pid))
    })
}

/// "pid N (command, user U)", with what /proc tells of the process.
pub fn describe_process(pid: u32) -> String {
    let proc = format!("/proc/{pid}");
    let command = std::fs::read_to_string(format!("{proc}/comm")).ok().map(|c| c.trim().to_string());
    let user = std::fs::metadata(&proc).ok().map(|m| user_name(m.uid()));
    match (command, user) {
        (Some(c), Some(u)) => format!("pid {pid} ({c}, user {u})"),
        (Some(c), None) => format!("pid {pid} ({c})"),
        _ => format!("pid {pid}"),
    }
}

fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// The data directory's cluster id, kept in meta.properties as Kafka keeps it (a random
/// UUID in URL-safe base64, 22 characters): made when the directory is new, so a wiped
/// directory at the same path is a new cluster. Every door reports this one id.
pub fn cluster_id(dir: &Path) -> Result<String> {
    let path = dir.join(META_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.lines().find_map(|l| l.trim().strip_prefix("cluster.id=").map(|v| v.trim().to_string()));
            match id.filter(|id| !id.is_empty()) {
                Some(id) => return Ok(id),
                // Only a crash while the directory was new leaves a file without an id.
                None => tracing::warn!(path = %path.display(), "meta.properties has no cluster.id: the directory gets a new one"),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io_at("reading", &path, e)),
    }
    let id = base64_url(&random_uuid());
    let text = format!("#samsa data directory\nversion=1\ncluster.id={id}\nnode.id=0\n");
    // Written once: fsynced whatever the broker's setting, so the id outlives a power loss.
    fsutil::write_atomic(&path, text.as_bytes())?;
    Ok(id)
}

/// A version-4 UUID from the kernel's random source (time and a counter without one).
pub fn random_uuid() -> [u8; 16] {
    let mut id = [0u8; 16];
    // SAFETY: getrandom writes at most `len` bytes into the buffer it is given.
    let n = unsafe { libc::getrandom(id.as_mut_ptr().cast(), id.len(), 0) };
    if n != id.len() as isize {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        id[..8].copy_from_slice(&(crate::clock::now_ms() as u64).to_be_bytes());
        id[8..].copy_from_slice(&COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_be_bytes());
    }
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// URL-safe base64 without padding, as Kafka prints UUIDs.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_url_matches_known_values() {
        assert_eq!(base64_url(b"\xfb\xff"), "-_8");
        assert_eq!(base64_url(b"Man"), "TWFu");
        assert_eq!(base64_url(&[0u8; 16]).len(), 22);
    }

    #[test]
    fn a_new_directory_is_private_and_keeps_its_cluster_id() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("topics")), 0o700);
        let id = cluster_id(&dir).unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(cluster_id(&dir).unwrap(), id);
        std::fs::write(dir.join(META_FILE), "").unwrap();
        let new = cluster_id(&dir).unwrap();
        assert!(new.len() == 22 && new != id, "an empty file is a new id");
        assert_eq!(mode(&dir.join(META_FILE)), 0o600);
        let _held = lock(&dir).unwrap();
        assert_eq!(mode(&dir.join(LOCK_FILE)), 0o600);
        match lock(&dir) {
            Err(Error::Locked { holder: Some(h), .. }) => assert!(h.starts_with(&format!("pid {}", std::process::id())), "{h}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_directory_others_may_write_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(prepare(tmp.path()).unwrap_err().kind(), "INVALID_CONFIG");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(tmp.path().join("topics")).unwrap();
        std::fs::set_permissions(tmp.path().join("topics"), std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(tmp.path()).unwrap();
        assert_eq!(std::fs::metadata(tmp.path().join("topics")).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
