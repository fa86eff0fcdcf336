//! How many compressed batches from clients are expanded at once, in the whole process.
//!
//! One batch is checked as a stream ([`super::codec::reader`], [`super::codec::Capped`]),
//! so it costs at most its cap ([`super::batch::decompressed_cap`]) plus its codec's
//! buffers: a zstd frame may declare a 128 MiB window, whose pages are touched as output
//! is produced, up to the cap. A batch of 2 KiB can cost that, and nothing in the batch
//! bounds how many are expanded side by side: eight connections sending one each at the
//! same moment would hold eight caps. So expanding takes a permit of one process-wide
//! [`Gate`] of [`permits`] permits, held while the batch is checked and given back once
//! its codec's buffers are freed.
//!
//! A thread that checks batches under a permit it already holds ([`Permit::run`]) takes
//! no other: the listener waits for its permit without a thread (an `await`), then checks
//! the partition's batches on a thread of its own (`block_in_place`) under it. Any other
//! caller waits for a permit where it stands. Permits are not handed out first come, first
//! served; each is held only as long as one partition's batches take to check, which the
//! cap bounds.

use std::cell::Cell;
use std::sync::{Condvar, Mutex, OnceLock};

use tokio::sync::Notify;

/// How many batches may be expanded at once on a machine of `cores` cores: as many as the
/// cores (expanding is CPU work; more at once than cores adds memory, not throughput), at
/// least 2 (a batch being expanded never holds up every other compressed produce), at
/// most 4 (so the memory bound does not grow with the machine: at the default
/// `max.message.bytes`, 4 x 64 MiB).
pub fn permits_for(cores: usize) -> usize {
    cores.clamp(2, 4)
}

/// The process's permits: [`permits_for`] the cores this process may run on.
pub fn permits() -> usize {
    gate().permits
}

fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| Gate::new(permits_for(std::thread::available_parallelism().map_or(2, |n| n.get()))))
}

/// Waits, without a thread, for a permit of the process's gate.
pub async fn acquire() -> Permit<'static> {
    gate().acquire().await
}

/// The permit to expand a batch on this thread: none if the thread runs under one
/// already ([`Permit::run`]), else one of the process's gate, waited for here.
pub(crate) fn hold() -> Option<Permit<'static>> {
    if HELD.with(Cell::get) {
        None
    } else {
        Some(gate().acquire_blocking())
    }
}

thread_local! {
    /// This thread runs under a permit ([`Permit::run`]).
    static HELD: Cell<bool> = const { Cell::new(false) };
}

/// A counting semaphore that both threads and tasks may wait on.
pub struct Gate {
    permits: usize,
    free: Mutex<usize>,
    /// Threads waiting for a permit.
    freed: Condvar,
    /// Tasks waiting for a permit.
    freed_async: Notify,
}

impl Gate {
    pub fn new(permits: usize) -> Gate {
        let permits = permits.max(1);
        Gate { permits, free: Mutex::new(permits), freed: Condvar::new(), freed_async: Notify::new() }
    }

    fn free(&self) -> std::sync::MutexGuard<'_, usize> {
        // A panic while holding the lock leaves a count that is still right.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut free = self.free();
        (*free > 0).then(|| {
            *free -= 1;
            Permit { gate: self }
        })
    }

    /// Waits on this thread for a permit.
    pub fn acquire_blocking(&self) -> Permit<'_> {
        let mut free = self.free();
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit { gate: self }
    }

    /// Waits for a permit without holding a thread; dropping the future gives up waiting.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before trying, so a permit freed in between wakes it.
            let freed = self.freed_async.notified();
            if let Some(p) = self.try_acquire() {
                return p;
            }
            freed.await;
        }
    }

    #[cfg(test)]
    fn available(&self) -> usize {
        *self.free()
    }
}

/// A permit to expand, given back when dropped.
pub struct Permit<'a> {
    gate: &'a Gate,
}

impl Permit<'_> {
    /// Runs `f` on this thread under this permit: the batches it checks take no other.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                HELD.with(|h| h.set(self.0));
            }
        }
        let _restore = Restore(HELD.with(|h| h.replace(true)));
        f()
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.gate.free() += 1;
        self.gate.freed.notify_one();
        self.gate.freed_async.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn permits_follow_the_cores_within_two_to_four() {
        assert_eq!([1, 2, 3, 4, 64].map(permits_for), [2, 2, 3, 4, 4]);
        assert!((2..=4).contains(&permits()));
    }

    #[test]
    fn no_more_than_the_permits_are_held_at_once_by_threads() {
        let gate = Arc::new(Gate::new(2));
        let (inside, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, inside, most) = (Arc::clone(&gate), Arc::clone(&inside), Arc::clone(&most));
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        let _p = gate.acquire_blocking();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(gate.available(), 2);
    }

    #[test]
    fn a_task_waits_without_a_thread_and_wakes_when_a_permit_is_freed() {
        let gate: &'static Gate = Box::leak(Box::new(Gate::new(1)));
        let held = gate.try_acquire().unwrap();
        assert!(gate.try_acquire().is_none());
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            // Two tasks wait on the one thread; one gives up (its future dropped).
            let waiting = tokio::spawn(async move { gate.acquire().await });
            let given_up = tokio::time::timeout(Duration::from_millis(20), gate.acquire()).await;
            assert!(given_up.is_err());
            assert!(!waiting.is_finished());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                drop(held);
            });
            let p = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").unwrap();
            assert_eq!(gate.available(), 0);
            drop(p);
        });
        assert_eq!(gate.available(), 1);
    }

    #[test]
    fn a_thread_running_under_a_permit_takes_no_other() {
        let gate = Gate::new(1);
        let p = gate.try_acquire().unwrap();
        assert!(!HELD.with(Cell::get));
        // hold() would wait for the process's gate outside run(); inside it takes nothing.
        let nested = p.run(|| (HELD.with(Cell::get), p.run(|| hold().is_none()), HELD.with(Cell::get)));
        assert_eq!(nested, (true, true, true));
        assert!(!HELD.with(Cell::get));
    }
}
