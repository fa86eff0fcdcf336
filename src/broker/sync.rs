//! Group commit: appends mark their partition dirty; one thread fsyncs every dirty
//! partition and answers all waiters whose appends that fsync covered. Concurrent sends
//! therefore share one fsync per partition instead of paying one each.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{lock, Partition};
use crate::error::{Error, Result};

type Waiter = (u64, oneshot::Sender<Result<(), String>>);

#[derive(Default)]
struct State {
    /// Appends marked so far.
    marked: u64,
    /// Every append up to this one is fsynced.
    synced: u64,
    dirty: Vec<Arc<Partition>>,
    waiters: Vec<Waiter>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

pub struct Syncer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Syncer {
    pub fn start() -> Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("samsa-fsync".into())
            .spawn(move || run(&worker))
            .map_err(|e| Error::io("starting the fsync thread", e))?;
        Ok(Syncer { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Called after an append was written: the partition needs an fsync.
    pub fn mark_dirty(&self, partition: &Arc<Partition>) {
        let mut s = lock(&self.shared.state);
        if !partition.queued_for_sync.swap(true, Ordering::AcqRel) {
            s.dirty.push(Arc::clone(partition));
        }
        s.marked += 1;
    }

    /// Resolves once every append marked before this call is fsynced.
    pub fn request(&self) -> oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        let mut s = lock(&self.shared.state);
        if s.synced >= s.marked {
            let _ = tx.send(Ok(()));
        } else if s.stop {
            let _ = tx.send(Err("the broker is closed".into()));
        } else {
            let target = s.marked;
            s.waiters.push((target, tx));
            self.shared.wake.notify_one();
        }
        rx
    }

    /// Finishes the pending fsyncs, then ends the thread.
    pub fn stop(&self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared) {
    loop {
        let (dirty, target) = {
            let mut s = lock(&shared.state);
            while s.waiters.is_empty() && !s.stop {
                s = shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.waiters.is_empty() && s.stop {
                return;
            }
            (std::mem::take(&mut s.dirty), s.marked)
        };
        let mut result = Ok(());
        for part in dirty {
            part.queued_for_sync.store(false, Ordering::Release);
            let files = part.log().take_unsynced();
            for f in files {
                if let Err(e) = f.sync_data() {
                    result = Err(format!("fsync failed: {e}"));
                }
            }
        }
        let mut s = lock(&shared.state);
        if result.is_ok() {
            s.synced = s.synced.max(target);
        }
        let waiters = std::mem::take(&mut s.waiters);
        for (seq, tx) in waiters {
            if seq <= target {
                let _ = tx.send(result.clone());
            } else {
                s.waiters.push((seq, tx));
            }
        }
    }
}
