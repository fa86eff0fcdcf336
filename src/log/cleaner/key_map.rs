//! The cleaner's map from key to the latest offset seen for it in the dirty section.
//!
//! As Kafka's SkimpyOffsetMap, keys are not stored: each slot holds a 128-bit hash of the
//! key (XXH3-128 where Kafka takes MD5: as well spread, many times faster) and an offset,
//! 24 bytes, in an open-addressing table. Two keys would have to share all 128 bits to be
//! taken for one. Unlike Kafka's, the table starts small and doubles
//! as keys arrive, so a pass over a few thousand keys costs kilobytes; it never grows past
//! the dedupe buffer, and at three quarters full at that size it takes no new key.

pub struct KeyMap {
    /// Hash (high and low halves) and offset side by side: one cache miss per probe.
    slots: Vec<Slot>,
    len: usize,
    max_slots: usize,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    hash_high: u64,
    hash_low: u64,
    offset: i64,
}

impl Slot {
    fn hash(&self) -> u128 {
        ((self.hash_high as u128) << 64) | self.hash_low as u128
    }
}

/// Bytes per slot: a 16-byte hash and an 8-byte offset.
pub const SLOT_BYTES: usize = 24;
const MIN_SLOTS: usize = 1024;

impl KeyMap {
    /// A map that never takes more than `max_bytes` (at least 1024 slots).
    pub fn new(max_bytes: usize) -> Self {
        let fit = (max_bytes / SLOT_BYTES).max(MIN_SLOTS);
        // The largest power of two that fits.
        let max_slots = 1usize << (usize::BITS - 1 - fit.leading_zeros());
        KeyMap { slots: vec![Slot::default(); MIN_SLOTS], len: 0, max_slots }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the table holds now.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    /// A key's hash, as the map keeps it.
    pub fn hash(key: &[u8]) -> u128 {
        // 0 marks an empty slot.
        twox_hash::XxHash3_128::oneshot(key).max(1)
    }

    /// Starts loading the slot where `hash` would be into the cache.
    pub fn prefetch(&self, hash: u128) {
        #[cfg(target_arch = "x86_64")]
        {
            let i = (hash as usize) & (self.slots.len() - 1);
            let p = self.slots.as_ptr().wrapping_add(i).cast::<i8>();
            // SAFETY: a prefetch is a hint; it reads nothing and cannot fault.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
        }
    }

    fn slot(slots: &[Slot], h: u128) -> usize {
        let mask = slots.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            let found = slots[i].hash();
            if found == 0 || found == h {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Records `offset` as the latest for `key`. False if the key is new and the map is
    /// full: the caller stops mapping there.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        self.put_hashed(Self::hash(key), offset)
    }

    /// [`KeyMap::put`] of a key hashed already.
    pub fn put_hashed(&mut self, h: u128, offset: i64) -> bool {
        let i = Self::slot(&self.slots, h);
        if self.slots[i].hash() == h {
            self.slots[i].offset = offset;
            return true;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            if self.slots.len() >= self.max_slots {
                return false;
            }
            self.grow();
            return self.put_hashed(h, offset);
        }
        self.slots[i] = Slot { hash_high: (h >> 64) as u64, hash_low: h as u64, offset };
        self.len += 1;
        true
    }

    /// The latest offset recorded for `key`.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.get_hashed(Self::hash(key))
    }

    /// [`KeyMap::get`] of a key hashed already.
    pub fn get_hashed(&self, h: u128) -> Option<i64> {
        let i = Self::slot(&self.slots, h);
        (self.slots[i].hash() == h).then(|| self.slots[i].offset)
    }

    fn grow(&mut self) {
        let mut slots = vec![Slot::default(); self.slots.len() * 2];
        for s in &self.slots {
            let h = s.hash();
            if h != 0 {
                let i = Self::slot(&slots, h);
                slots[i] = *s;
            }
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_per_key_and_stops_when_full() {
        let mut m = KeyMap::new(1024 * SLOT_BYTES);
        for i in 0..700i64 {
            assert!(m.put(format!("k{}", i % 500).as_bytes(), i));
        }
        assert_eq!(m.len(), 500);
        assert_eq!(m.get(b"k7"), Some(507));
        assert_eq!(m.get(b"k499"), Some(499));
        assert_eq!(m.get(b"other"), None);
        // 1024 slots take 768 keys.
        let taken = (500..2000).take_while(|i| m.put(format!("k{i}").as_bytes(), *i)).count();
        assert_eq!(500 + taken, 768);
        assert!(m.put(b"k7", 9999), "a known key is updated even when full");
        assert_eq!(m.get(b"k7"), Some(9999));
        assert_eq!(m.memory_bytes(), 1024 * SLOT_BYTES);
    }

    #[test]
    fn grows_only_as_keys_arrive() {
        let mut m = KeyMap::new(128 << 20);
        assert_eq!(m.memory_bytes(), 1024 * SLOT_BYTES);
        for i in 0..100_000i64 {
            assert!(m.put(&i.to_be_bytes(), i));
        }
        assert_eq!(m.len(), 100_000);
        assert!(m.memory_bytes() <= 262_144 * SLOT_BYTES);
        assert!((0..100_000i64).all(|i| m.get(&i.to_be_bytes()) == Some(i)));
    }
}
