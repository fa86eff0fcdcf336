//! What a listener's connections may hold, together: the bytes of requests being read
//! and handled (Kafka's `queued.max.request.bytes`), and the connection slots, where a
//! new client may take the slot of the connection that has gone longest without
//! completing a request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// The bytes that requests in progress may hold on one listener.
pub struct ByteBudget {
    used: AtomicUsize,
    max: usize,
    freed: Notify,
}

impl ByteBudget {
    pub fn new(max: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget { used: AtomicUsize::new(0), max, freed: Notify::new() })
    }

    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(n).filter(|t| *t <= self.max))
            .is_ok()
    }

    /// Takes `n` more bytes for `held`, waiting while the listener is at its budget. Not
    /// first come, first served: a small request of a new client goes ahead of a large
    /// one waiting for room.
    pub async fn take(&self, held: &mut Held, n: usize) {
        loop {
            let freed = self.freed.notified();
            if self.try_take(n) {
                held.bytes += n;
                return;
            }
            freed.await;
        }
    }

    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// Bytes taken from a [`ByteBudget`], given back when dropped.
pub struct Held {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl Held {
    pub fn new(budget: &Arc<ByteBudget>) -> Held {
        Held { budget: Arc::clone(budget), bytes: 0 }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
            self.budget.freed.notify_waiters();
        }
    }
}

/// One connection's standing, as the slots see it.
pub struct Standing {
    /// When it last completed a request (or was accepted), in ms since the slots began.
    last_progress_ms: AtomicU64,
    /// Inside a handler (a long-polling fetch, say): never evicted.
    busy: AtomicBool,
    /// Told when the connection must close to make room.
    pub evicted: Notify,
}

impl Standing {
    pub fn progressed(&self, slots: &Slots) {
        self.last_progress_ms.store(slots.now_ms(), Ordering::Release);
    }

    pub fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Release);
    }
}

/// The listener's connection slots.
pub struct Slots {
    max: usize,
    started: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Standing>>>,
}

/// A connection's slot, given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    pub standing: Arc<Standing>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().remove(&self.id);
    }
}

impl Slots {
    pub fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots { max, started: Instant::now(), next_id: AtomicU64::new(0), open: Mutex::new(HashMap::new()) })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Standing>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection. When every slot is taken, the connection that has
    /// gone longest without completing a request (the oldest of those tied), and is not
    /// inside one, is told to close and the new one takes its place; when every
    /// connection is inside a request, None.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.lock();
        if open.len() >= self.max {
            let victim = open
                .iter()
                .filter(|(_, s)| !s.busy.load(Ordering::Acquire))
                .min_by_key(|(id, s)| (s.last_progress_ms.load(Ordering::Acquire), **id))
                .map(|(id, _)| *id)?;
            if let Some(s) = open.remove(&victim) {
                s.evicted.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let standing = Arc::new(Standing {
            last_progress_ms: AtomicU64::new(self.now_ms()),
            busy: AtomicBool::new(false),
            evicted: Notify::new(),
        });
        open.insert(id, Arc::clone(&standing));
        Some(Slot { slots: Arc::clone(self), id, standing })
    }

    #[cfg(test)]
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_listener_evicts_the_connection_idle_longest_and_never_a_busy_one() {
        let slots = Slots::new(2);
        let a = slots.admit().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = slots.admit().unwrap();
        b.standing.progressed(&slots);
        let c = slots.admit().unwrap();
        assert_eq!(slots.open_count(), 2);
        // `a` was told to close; its slot went to `c`.
        {
            let told = a.standing.evicted.notified();
            tokio::pin!(told);
            assert!(futures_util::FutureExt::now_or_never(told.as_mut()).is_some());
        }
        b.standing.set_busy(true);
        c.standing.set_busy(true);
        assert!(slots.admit().is_none(), "every connection is inside a request");
        drop(a);
        assert_eq!(slots.open_count(), 2);
    }

    #[tokio::test]
    async fn the_budget_waits_for_room_and_gives_it_back() {
        let budget = ByteBudget::new(100);
        let mut first = Held::new(&budget);
        budget.take(&mut first, 80).await;
        let mut second = Held::new(&budget);
        let waiting = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move {
                budget.take(&mut second, 50).await;
                second
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(budget.used(), 50);
        drop(second);
        assert_eq!(budget.used(), 0);
    }
}
