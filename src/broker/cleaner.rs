//! The broker's log cleaner: a thread of its own, at a lower CPU priority than the
//! application, that cleans the dirtiest due compacted partition, again and again, and
//! sleeps `log.cleaner.backoff.ms` when none is due. A partition whose cleaning fails is
//! left alone until the broker is opened again, as Kafka marks it uncleanable (a topic
//! deleted and created again is a new partition).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{lock, now_ms, read, Broker, Partition};
use crate::error::{Error, Result};
use crate::log::cleaner::{self, Report};

pub(super) struct CleanerThread {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    wake: Arc<(Mutex<()>, Condvar)>,
}

impl CleanerThread {
    pub(super) fn start(broker: Weak<Broker>, backoff: Duration) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new((Mutex::new(()), Condvar::new()));
        let (thread_stop, thread_wake) = (Arc::clone(&stop), Arc::clone(&wake));
        let handle = std::thread::Builder::new()
            .name("samsa-cleaner".into())
            .spawn(move || run(broker, backoff, &thread_stop, &thread_wake))
            .map_err(|e| Error::io("starting the cleaner thread", e))?;
        Ok(CleanerThread { handle, stop, wake })
    }

    /// Stops the thread within one chunk of a pass, and waits for it.
    pub(super) fn stop(self) {
        self.signal();
        let _ = self.handle.join();
    }

    /// Tells the thread to stop, without waiting (the broker is dropped, perhaps on the
    /// cleaner's own thread).
    pub(super) fn signal(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _guard = lock(&self.wake.0);
        self.wake.1.notify_all();
    }
}

fn run(broker: Weak<Broker>, backoff: Duration, stop: &AtomicBool, wake: &(Mutex<()>, Condvar)) {
    lower_priority();
    let mut uncleanable: Vec<Weak<Partition>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Some(b) = broker.upgrade() else { return };
        let cleaned = match b.dirtiest(now_ms(), &uncleanable) {
            Some((topic, partition)) => {
                let result = b.clean_partition_with(&topic, &partition, now_ms(), &|| stop.load(Ordering::Relaxed));
                match result {
                    Ok(Some(r)) => {
                        tracing::info!(topic = %topic, partition = partition.id, read = r.bytes_read, written = r.bytes_written, removed = r.records_removed, keys = r.keys, map_bytes = r.map_bytes, map_seconds = r.map_seconds, seconds = r.seconds, "cleaned a partition");
                        true
                    }
                    Ok(None) => false,
                    Err(_) if stop.load(Ordering::Relaxed) => return,
                    Err(e) => {
                        tracing::warn!(topic = %topic, partition = partition.id, error = %e, "cleaning failed: the partition is not cleaned again until the broker reopens");
                        uncleanable.retain(|p| p.strong_count() > 0);
                        uncleanable.push(Arc::downgrade(&partition));
                        false
                    }
                }
            }
            None => false,
        };
        drop(b);
        if !cleaned {
            let guard = lock(&wake.0);
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let _ = wake.1.wait_timeout(guard, backoff);
        }
    }
}

/// The cleaner yields the CPU to the application's threads (nice 10 for this thread).
fn lower_priority() {
    // SAFETY: gettid and setpriority take plain integers; failure only leaves the priority.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

impl Broker {
    /// The compacted partition the cleaner should take now: the one with the highest
    /// dirty ratio among those due (Kafka's grabFilthiestCompactedLog).
    fn dirtiest(&self, now_ms: i64, skip: &[Weak<Partition>]) -> Option<(String, Arc<Partition>)> {
        let topics: Vec<_> = read(&self.topics).values().cloned().collect();
        let mut best: Option<(f64, String, Arc<Partition>)> = None;
        for topic in topics {
            for p in topic.partitions() {
                if skip.iter().any(|s| std::ptr::eq(s.as_ptr(), Arc::as_ptr(&p))) {
                    continue;
                }
                let mut log = p.log();
                let min_ratio = log.config().cleanup.min_cleanable_dirty_ratio;
                let Ok(Some(dirt)) = log.dirt(now_ms) else { continue };
                drop(log);
                if dirt.is_due(min_ratio) && best.as_ref().is_none_or(|(r, _, _)| dirt.ratio > *r) {
                    best = Some((dirt.ratio, topic.name.clone(), p));
                }
            }
        }
        best.map(|(_, t, p)| (t, p))
    }

    /// Cleans one partition of a compacted topic now, whatever its dirty ratio (tests and
    /// tools; the cleaner thread picks partitions by their ratio). None if it has nothing
    /// cleanable.
    pub fn clean_partition(&self, topic: &str, partition: i32, now_ms: i64) -> Result<Option<Report>> {
        let p = self.partition(topic, partition)?;
        self.clean_partition_with(topic, &p, now_ms, &|| false)
    }

    /// Whether a pass is cleaning the partition now (a test hook).
    #[doc(hidden)]
    pub fn is_cleaning(&self, topic: &str, partition: i32) -> bool {
        self.partition(topic, partition).is_ok_and(|p| p.cleaning.try_lock().is_err())
    }

    /// One pass, the partition's only one: a deletion of its topic waits for it, and tells
    /// it to stop.
    fn clean_partition_with(&self, topic: &str, p: &Partition, now_ms: i64, stop: &dyn Fn() -> bool) -> Result<Option<Report>> {
        self.check_open()?;
        let _turn = lock(&p.cleaning);
        if p.retired.load(Ordering::Acquire) {
            return Ok(None);
        }
        let settings = cleaner::Settings {
            dedupe_buffer_bytes: self.config.cleaner.dedupe_buffer_bytes,
            io_max_bytes_per_second: self.config.cleaner.io_max_bytes_per_second,
        };
        let halted = || stop() || p.retired.load(Ordering::Relaxed);
        cleaner::clean(&p.log, now_ms, &settings, &halted).map_err(|e| super::with_partition(e, topic, p.id))
    }
}
