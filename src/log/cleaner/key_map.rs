//! The cleaner's map from key to the latest offset seen for it in the dirty section.
//!
//! As Kafka's SkimpyOffsetMap, keys are not stored: each slot holds a 128-bit hash of the
//! key and an offset, 24 bytes, in an open-addressing table. Two keys would have to share
//! all 128 bits to be taken for one. Unlike Kafka's, the table starts small and doubles
//! as keys arrive, so a pass over a few thousand keys costs kilobytes; it never grows past
//! the dedupe buffer, and at three quarters full at that size it takes no new key.

use std::hash::{Hash, Hasher};

pub struct KeyMap {
    hashes: Vec<u128>,
    offsets: Vec<i64>,
    len: usize,
    max_slots: usize,
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
        KeyMap { hashes: vec![0; MIN_SLOTS], offsets: vec![0; MIN_SLOTS], len: 0, max_slots }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the table holds now.
    pub fn memory_bytes(&self) -> usize {
        self.hashes.len() * SLOT_BYTES
    }

    fn hash(key: &[u8]) -> u128 {
        // Two SipHash-1-3 runs with different prefixes: 128 bits without a dependency.
        let mut a = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut a);
        let mut b = std::collections::hash_map::DefaultHasher::new();
        0xC1EA_u16.hash(&mut b);
        key.hash(&mut b);
        let h = ((a.finish() as u128) << 64) | b.finish() as u128;
        // 0 marks an empty slot.
        h.max(1)
    }

    fn slot(hashes: &[u128], h: u128) -> usize {
        let mask = hashes.len() - 1;
        let mut i = (h as usize) & mask;
        while hashes[i] != 0 && hashes[i] != h {
            i = (i + 1) & mask;
        }
        i
    }

    /// Records `offset` as the latest for `key`. False if the key is new and the map is
    /// full: the caller stops mapping there.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let h = Self::hash(key);
        let i = Self::slot(&self.hashes, h);
        if self.hashes[i] == h {
            self.offsets[i] = offset;
            return true;
        }
        if (self.len + 1) * 4 > self.hashes.len() * 3 {
            if self.hashes.len() >= self.max_slots {
                return false;
            }
            self.grow();
            return self.put(key, offset);
        }
        self.hashes[i] = h;
        self.offsets[i] = offset;
        self.len += 1;
        true
    }

    /// The latest offset recorded for `key`.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        let h = Self::hash(key);
        let i = Self::slot(&self.hashes, h);
        (self.hashes[i] == h).then(|| self.offsets[i])
    }

    fn grow(&mut self) {
        let size = self.hashes.len() * 2;
        let mut hashes = vec![0u128; size];
        let mut offsets = vec![0i64; size];
        for (h, o) in self.hashes.iter().zip(&self.offsets) {
            if *h != 0 {
                let i = Self::slot(&hashes, *h);
                hashes[i] = *h;
                offsets[i] = *o;
            }
        }
        self.hashes = hashes;
        self.offsets = offsets;
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
