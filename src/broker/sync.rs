//! Group commit: appends mark their partition dirty; one thread fsyncs every dirty
//! partition and answers all waiters whose appends that fsync covered. Concurrent sends
//! therefore share one fsync per partition instead of paying one each. A failed fsync
//! poisons the broker (see [`Durability`]): its waiters, and every later one, get the error.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{lock, Partition};
use crate::durability::Durability;
use crate::error::{Error, Result};

type Waiter = (u64, oneshot::Sender<Result<()>>);

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
    durability: Arc<Durability>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Syncer {
    pub fn start(durability: Arc<Durability>) -> Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let gate = Arc::clone(&durability);
        let thread = std::thread::Builder::new()
            .name("samsa-fsync".into())
            .spawn(move || run(&worker, &gate))
            .map_err(|e| Error::io("starting the fsync thread", e))?;
        Ok(Syncer { shared, durability, thread: Mutex::new(Some(thread)) })
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
    pub fn request(&self) -> oneshot::Receiver<Result<()>> {
        let (tx, rx) = oneshot::channel();
        let mut s = lock(&self.shared.state);
        if let Err(e) = self.durability.check() {
            let _ = tx.send(Err(e));
        } else if s.synced >= s.marked {
            let _ = tx.send(Ok(()));
        } else if s.stop {
            let _ = tx.send(Err(Error::Closed));
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

fn sync_partition(part: &Partition, durability: &Durability) -> Result<()> {
    part.queued_for_sync.store(false, Ordering::Release);
    let files = part.log().take_unsynced()?;
    for (file, path) in files {
        durability.sync_data(&file, &path)?;
    }
    Ok(())
}

fn run(shared: &Shared, durability: &Durability) {
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
        let mut result = durability.check();
        for part in dirty {
            if result.is_ok() {
                result = sync_partition(&part, durability);
            } else {
                part.queued_for_sync.store(false, Ordering::Release);
            }
        }
        let mut s = lock(&shared.state);
        if result.is_ok() {
            s.synced = s.synced.max(target);
        }
        let waiters = std::mem::take(&mut s.waiters);
        for (seq, tx) in waiters {
            if seq <= target || result.is_err() {
                let _ = tx.send(result.as_ref().map(|_| ()).map_err(clone_error));
            } else {
                s.waiters.push((seq, tx));
            }
        }
    }
}

/// The syncer's error, once per waiter (the core's error is not Clone: io errors aren't).
fn clone_error(e: &Error) -> Error {
    match e {
        Error::Poisoned(why) => Error::Poisoned(why.clone()),
        other => Error::Poisoned(other.to_string()),
    }
}
