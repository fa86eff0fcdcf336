//! How the machine's other processes reach a data directory's owner: a Unix domain socket,
//! whose path the owner records in the data directory.
//!
//! The socket lies in the data directory itself when its path fits in `sun_path` (108
//! bytes with the NUL). A deeper directory gets a short path in a directory of this user's
//! that nobody else may enter (never an abstract socket, which has no permissions). Either
//! way, file permissions decide who may connect, and the record says where to go.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Listener;
use crate::broker::Broker;
use crate::error::{Error, Result};

/// The record of where the owner listens, in the data directory.
pub const RECORD_FILE: &str = "samsa.owner";
const SOCKET_NAME: &str = "samsa.sock";
/// `sun_path` holds 108 bytes, the last of them the NUL.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct OwnerRecord {
    pub socket: PathBuf,
    pub pid: u32,
}

/// The owner's socket for the data directory `dir`.
pub fn socket_path(dir: &Path) -> Result<PathBuf> {
    let in_dir = dir.join(SOCKET_NAME);
    if in_dir.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok(in_dir);
    }
    let private = private_dir()?;
    let mut h: u64 = 0xcbf29ce484222325;
    for b in dir.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    let path = private.join(format!("{h:016x}.sock"));
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(Error::InvalidConfig(format!(
            "no socket path of at most {MAX_SOCKET_PATH} bytes is available for {} (tried {})",
            dir.display(),
            path.display()
        )));
    }
    Ok(path)
}

/// `$XDG_RUNTIME_DIR/samsa` or `/tmp/samsa-<uid>`, made mode 0700 and checked to be this
/// user's own real directory that no one else can enter.
fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = unsafe { libc::geteuid() };
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(d) if d.is_absolute() && d.join("samsa").as_os_str().len() < 60 => d.join("samsa"),
        _ => PathBuf::from(format!("/tmp/samsa-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io_at("creating the private socket directory", &dir, e)),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| Error::io_at("checking the private socket directory", &dir, e))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::InvalidConfig(format!(
            "{} must be a directory of user {uid} that no one else may enter (mode 0700) to hold the data directory's socket",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Starts serving `broker` on its socket and records where. The caller holds the lock.
pub fn serve(broker: Arc<Broker>) -> Result<(Listener, PathBuf)> {
    let dir = broker.dir().to_path_buf();
    let socket = socket_path(&dir)?;
    let listener = Listener::start_unix(broker, &socket)?;
    let record = OwnerRecord { socket: socket.clone(), pid: std::process::id() };
    let json = serde_json::to_vec(&record).map_err(|e| Error::InvalidRecord(e.to_string()))?;
    // Whole or not at all; not fsynced: a record outliving a crash is stale anyway.
    crate::fsutil::replace(&dir.join(RECORD_FILE), &json, false)?;
    Ok((listener, socket))
}

/// The file where the owner records the broker settings in force (lib/settings.js reads it).
pub const SETTINGS_FILE: &str = "samsa.settings.json";

/// Records the settings in force, whole or not at all.
pub fn record_settings(dir: &Path, json: &str) -> Result<()> {
    crate::fsutil::replace(&dir.join(SETTINGS_FILE), json.as_bytes(), false)
}

/// Stops serving: the record and the socket go (the next owner makes its own).
pub fn withdraw(dir: &Path, listener: Listener, socket: &Path) {
    listener.stop();
    let _ = std::fs::remove_file(dir.join(RECORD_FILE));
    let _ = std::fs::remove_file(socket);
}

/// The owner's record in `dir`, if there is one.
pub fn read_record(dir: &Path) -> Result<Option<OwnerRecord>> {
    let path = dir.join(RECORD_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::corrupt_file(&path, 0, format!("the owner record is not valid: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io_at("reading the owner record", &path, e)),
    }
}
