//! Swapping cleaned segments in, crash-safely.
//!
//! A pass writes each group of rewritten segments as one new segment in the partition's
//! `cleaning/` directory. The swap then:
//! 1. renames `cleaning/` to `swap-<base>-<next>/` and fsyncs the partition directory:
//!    the commit point, after which the new segment replaces every old segment whose
//!    base offset is in `[base, next)`;
//! 2. deletes the old segments after the first;
//! 3. moves the new segment's time index, offset index and log over the first old
//!    segment's files (each rename replaces one atomically; the log goes last);
//! 4. removes the swap directory; the caller fsyncs the partition directory once it has
//!    let the partition go (a crash before that finishes the swap again on open).
//!
//! Opening a partition finishes a swap whose directory is still there (every step can
//! run again), and discards a `cleaning/` directory: a crash leaves the segments as they
//! were before the pass or as they are after it, never a mix.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::log::segment::{file_name, segment_bases};

const CLEANING: &str = "cleaning";
const SWAP_PREFIX: &str = "swap-";
const EXTENSIONS: [&str; 3] = ["log", "index", "timeindex"];

/// A fresh, empty `cleaning/` directory in the partition directory `dir`.
pub fn prepare(dir: &Path) -> Result<PathBuf> {
    let cleaning = dir.join(CLEANING);
    discard(dir)?;
    crate::fsutil::create_private_dir(&cleaning, false).map_err(|e| Error::io_at("creating", &cleaning, e))?;
    Ok(cleaning)
}

/// Removes an unfinished `cleaning/` directory.
pub fn discard(dir: &Path) -> Result<()> {
    let cleaning = dir.join(CLEANING);
    match std::fs::remove_dir_all(&cleaning) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io_at("removing", &cleaning, e)),
    }
}

fn swap_dir(dir: &Path, base: i64, next: i64) -> PathBuf {
    dir.join(format!("{SWAP_PREFIX}{base:020}-{next:020}"))
}

/// Commits the segment in `cleaning/` (base offset `base`) in place of the segments in
/// `[base, next)`, and finishes the swap but for the last fsync of `dir`. The caller
/// holds the partition and has closed the old segments.
pub fn commit(dir: &Path, base: i64, next: i64) -> Result<()> {
    let swap = swap_dir(dir, base, next);
    let cleaning = dir.join(CLEANING);
    std::fs::rename(&cleaning, &swap).map_err(|e| Error::io_at("renaming", &cleaning, e))?;
    crate::fsutil::sync_dir(dir)?;
    finish(dir, base, next)
}

/// Steps 2 to 4 of a committed swap; safe to run again after a crash at any point.
fn finish(dir: &Path, base: i64, next: i64) -> Result<()> {
    let swap = swap_dir(dir, base, next);
    // The new log moves last: while it is in the swap directory nothing has moved yet.
    // Without it (moved already, or lost with a power cut before the commit's fsync),
    // nothing old may be deleted.
    let new_log = swap.join(file_name(base, "log"));
    if new_log.exists() {
        for old in segment_bases(dir)?.into_iter().filter(|&b| b > base && b < next) {
            for ext in EXTENSIONS {
                remove_if_there(&dir.join(file_name(old, ext)))?;
            }
        }
        for ext in ["timeindex", "index"] {
            let (from, to) = (swap.join(file_name(base, ext)), dir.join(file_name(base, ext)));
            if from.exists() {
                std::fs::rename(&from, &to).map_err(|e| Error::io_at("renaming", &from, e))?;
            } else {
                // The new segment has no such index yet: the old one must not stand in.
                remove_if_there(&to)?;
            }
        }
        let to = dir.join(file_name(base, "log"));
        std::fs::rename(&new_log, &to).map_err(|e| Error::io_at("renaming", &new_log, e))?;
    }
    std::fs::remove_dir_all(&swap).map_err(|e| Error::io_at("removing", &swap, e))
}

/// Finishes the swaps a crash interrupted and discards unfinished cleanings, before the
/// partition in `dir` lists its segments.
pub fn recover(dir: &Path) -> Result<()> {
    discard(dir)?;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io_at("listing", dir, e)),
    };
    let mut swaps = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io_at("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((base, next)) = name.strip_prefix(SWAP_PREFIX).and_then(|r| r.split_once('-')) {
            if let (Ok(base), Ok(next)) = (base.parse::<i64>(), next.parse::<i64>()) {
                swaps.push((base, next));
            }
        }
    }
    swaps.sort_unstable();
    for (base, next) in swaps {
        tracing::info!(dir = %dir.display(), base, next, "finishing a swap of cleaned segments");
        finish(dir, base, next)?;
        crate::fsutil::sync_dir(dir)?;
    }
    Ok(())
}

fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io_at("deleting", path, e)),
    }
}
