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
//! was stored already); until they are answered, this process's new sends wait, in call
//! order, so each producer's sequences reach the log in order. The members of the old
//! backend are told at once that they are out of their groups (the coordinator they joined
//! is gone) and join again here. The old backend is kept until its work is done, and closed
//! a while later.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::backend::BrokerBackend;
use super::broker::{Backend, Current};
use super::local::LocalBackend;
use super::BrokerOptions;

/// How often a remote process tries the directory's lock.
const POLL: Duration = Duration::from_millis(50);
/// The longest wait between tries after taking the directory over failed (a damaged or
/// full directory): other processes, or a restarted owner, may do better meanwhile.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// How long a replaced remote backend is kept: its resent sends are done long before.
const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// Told (with this process's pid) when this process took the directory over.
pub type TakeoverWatcher = napi::threadsafe_function::ThreadsafeFunction<u32, (), u32, napi::Status, false, true>;

/// What a process needs to open the directory as its owner: the settings it found in
/// force when it connected, used when the directory holds no record of them then.
pub struct Plan {
    pub dir: PathBuf,
    pub options: BrokerOptions,
    pub settings_record: Option<String>,
}

impl Plan {
    /// The settings in force now: the last owner's record (an owner restarted with new
    /// settings changes them), with this process's own `maxOpenFiles`.
    fn settings(&self) -> (BrokerOptions, Option<String>) {
        let path = self.dir.join(crate::wire::local::SETTINGS_FILE);
        match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<BrokerOptions>(&b).ok()) {
            Some(mut recorded) => {
                recorded.max_open_files = self.options.max_open_files;
                (recorded, None)
            }
            None => (self.options.clone(), self.settings_record.clone()),
        }
    }
}

/// Starts watching for the owner's exit; stops when `current` is closed.
pub fn watch(current: Arc<Current>, plan: Plan) {
    napi::bindgen_prelude::spawn(async move {
        let mut wait = POLL;
        let mut last_failure = String::new();
        loop {
            tokio::time::sleep(wait).await;
            // Held from the lock's try to the swap: `close` waits for a takeover under way.
            let _turn = current.taking_over.lock().await;
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
            let (options, record) = plan.settings();
            let dir = plan.dir.clone();
            let opened = tokio::task::spawn_blocking(move || LocalBackend::open(dir, options.into_config(), record, Some(lock))).await;
            let failure = match opened {
                Ok(Ok(local)) => {
                    take_over(&current, local).await;
                    return;
                }
                // The lock went with the failed open: another process may do better.
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            if failure != last_failure {
                tracing::warn!(error = %failure, dir = %plan.dir.display(), "the data directory's owner exited, and taking it over failed; trying again");
                last_failure = failure;
            }
            wait = (wait * 2).min(MAX_RETRY_WAIT);
        }
    });
}

async fn take_over(current: &Arc<Current>, local: LocalBackend) {
    let old = {
        let mut slot = current.backend.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock `close` takes to mark it closed: a handle closed
        // meanwhile does not keep the directory.
        if current.closed() {
            drop(slot);
            let _ = tokio::task::spawn_blocking(move || local.close_sync()).await;
            return;
        }
        // Under the same lock as `watch_appends`, so a watcher set meanwhile is not lost.
        local.watch_appends(current.appends());
        let old = std::mem::replace(&mut *slot, Arc::new(Backend::Local(local)));
        // Retired before any send can see the new backend: new sends wait for the old
        // backend's sends still out.
        current.retire(Arc::clone(&old));
        old
    };
    tracing::info!(pid = std::process::id(), "the data directory's owner exited: this process took it over and serves it now");
    if let Backend::Remote(r) = &*old {
        r.watch_appends(None);
        r.fence_members("the process that owned the data directory exited and this process took it over");
    }
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
