//! Taking the data directory over when its owner exits. A process that reaches the
//! directory through its owner tries the directory's lock every [`POLL`]: the kernel
//! releases a process's `flock` when it exits, however it exits, so the first process to
//! find the lock free holds it, recovers the log as after a crash, serves the directory
//! and becomes its owner; the others stay remote, and their connections find the new
//! owner from its record. The backend changes beneath the JS objects: calls made from then
//! on go to the local backend.
//!
//! Sends that were on their way to the dead owner are resent by the old remote backend to
//! the new owner (the same request: the idempotent producer's state in the log drops what
//! was stored already); until they are answered, this process's new sends wait, so each
//! producer's sequences reach the log in order. The old backend is kept until then, and
//! closed a while later, when its members have heard from the new owner that they must
//! join again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::broker::{Backend, Current};
use super::local::LocalBackend;
use crate::broker::BrokerConfig;

/// How often a remote process tries the directory's lock.
const POLL: Duration = Duration::from_millis(50);
/// How long a replaced remote backend is kept: its resent sends and its members'
/// heartbeats (each learning it must join again) are done long before.
const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// Told (with this process's pid) when this process took the directory over.
pub type TakeoverWatcher = napi::threadsafe_function::ThreadsafeFunction<u32, (), u32, napi::Status, false, true>;

/// What a process needs to open the directory as its owner.
pub struct Plan {
    pub dir: PathBuf,
    pub config: BrokerConfig,
    pub settings_record: Option<String>,
}

/// Starts watching for the owner's exit; stops when `current` is closed.
pub fn watch(current: Arc<Current>, plan: Plan) {
    napi::bindgen_prelude::spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            if current.closed() {
                return;
            }
            let lock = match crate::broker::data_dir::try_take_over(&plan.dir) {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot try the data directory's lock");
                    continue;
                }
            };
            let (dir, config, record) = (plan.dir.clone(), plan.config.clone(), plan.settings_record.clone());
            let opened = tokio::task::spawn_blocking(move || LocalBackend::open(dir, config, record, Some(lock))).await;
            match opened {
                Ok(Ok(local)) => {
                    take_over(&current, local);
                    return;
                }
                // The lock went with the failed open: another process may do better.
                Ok(Err(e)) => tracing::warn!(error = %e, dir = %plan.dir.display(), "the data directory's owner exited, and taking it over failed"),
                Err(e) => tracing::warn!(error = %e, "taking over the data directory failed"),
            }
        }
    });
}

fn take_over(current: &Arc<Current>, local: LocalBackend) {
    use super::backend::BrokerBackend;
    let appends = current.appends.lock().unwrap_or_else(|p| p.into_inner()).clone();
    local.watch_appends(appends);
    let old = {
        let mut slot = current.backend.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock `close` takes to mark it closed: a handle closed
        // meanwhile does not keep the directory.
        if current.closed() {
            drop(slot);
            let _ = local.close_sync();
            return;
        }
        std::mem::replace(&mut *slot, Arc::new(Backend::Local(local)))
    };
    tracing::info!(pid = std::process::id(), "the data directory's owner exited: this process took it over and serves it now");
    if let Backend::Remote(r) = &*old {
        r.watch_appends(None);
    }
    current.retire(Arc::clone(&old));
    if let Some(w) = current.takeover_watcher() {
        w.call(std::process::id(), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
    }
    let current = Arc::clone(current);
    napi::bindgen_prelude::spawn(async move {
        tokio::time::sleep(RETIRE_AFTER).await;
        current.close_retired().await;
    });
}

/// Set once the handle is closed.
#[derive(Default)]
pub struct Closed(AtomicBool);

impl Closed {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
