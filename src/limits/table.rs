//! Token buckets by key in a table of fixed capacity: the memory an address flood can make stsd
//! spend is the capacity, never the number of addresses.
//!
//! A bucket that has refilled completely is the same as no bucket, so such entries are dropped
//! whenever a shard needs room. When a shard is full of buckets that are still refilling, a new
//! key is admitted without being tracked: the limits fail open for newcomers rather than evict a
//! key that is being throttled, and the global limit still bounds the total.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

use super::bucket::Rate;

/// Shards keep lock contention low; a power of two so that the index is a mask.
const SHARDS: usize = 64;

#[derive(Debug)]
pub struct Table<K> {
    rate: Rate,
    per_shard: usize,
    /// Keyed per process, so nobody can aim many keys at one shard.
    hasher: RandomState,
    shards: Box<[Mutex<Shard<K>>]>,
}

#[derive(Debug)]
struct Shard<K> {
    /// Key → the bucket's arrival time (see `bucket.rs`).
    buckets: HashMap<K, i64>,
    /// No entry is full (removable) before this time; saves scanning a shard in vain.
    next_removable: i64,
}

impl<K: Hash + Eq> Table<K> {
    /// A table holding at most `capacity` keys (rounded up to a multiple of the shard count).
    pub fn new(rate: Rate, capacity: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    buckets: HashMap::new(),
                    next_removable: i64::MAX,
                })
            })
            .collect();
        Self {
            rate,
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards,
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The hasher of this table, for callers that key it by a digest of something larger.
    pub fn hasher(&self) -> &RandomState {
        &self.hasher
    }

    /// Takes a token from `key`'s bucket at `now` (nanoseconds); `false` when it is empty.
    pub fn admit(&self, key: K, now: i64) -> bool {
        let index = (self.hasher.hash_one(&key) as usize) & (SHARDS - 1);
        let mut shard = self.lock(index);
        if let Some(tat) = shard.buckets.get_mut(&key) {
            return match self.rate.take(*tat, now) {
                Some(next) => {
                    *tat = next;
                    true
                }
                None => false,
            };
        }
        let Some(next) = self.rate.take(i64::MIN, now) else {
            return false;
        };
        if shard.buckets.len() >= self.per_shard {
            shard.remove_full(now);
        }
        if shard.buckets.len() < self.per_shard {
            shard.buckets.insert(key, next);
            shard.next_removable = shard.next_removable.min(next);
        }
        true
    }

    /// How many keys are tracked now.
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.lock(i).buckets.len()).sum()
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard<K>> {
        // A panic while holding the lock leaves at worst one bucket unchanged.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K> Shard<K> {
    /// Drops the buckets that are full at `now`.
    fn remove_full(&mut self, now: i64) {
        if now < self.next_removable {
            return;
        }
        self.buckets.retain(|_, tat| *tat > now);
        self.next_removable = self.buckets.values().copied().min().unwrap_or(i64::MAX);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    fn table(capacity: usize) -> Table<u32> {
        Table::new(Rate::new(1.0, 2).unwrap(), capacity)
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let t = table(1024);
        assert!(t.admit(1, 0) && t.admit(1, 0));
        assert!(!t.admit(1, 0));
        assert!(t.admit(2, 0), "another key is not affected");
        assert!(t.admit(1, SECOND), "one second refills one token");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_flood_of_keys_never_grows_the_table_beyond_its_capacity() {
        let t = table(4096);
        // A key being throttled before the flood...
        assert!(t.admit(u32::MAX, 0) && t.admit(u32::MAX, 0));
        for key in 0..200_000 {
            assert!(t.admit(key, 0), "untracked newcomers are admitted");
            if key % 10_000 == 0 {
                assert!(t.len() <= 4096);
            }
        }
        assert_eq!(t.len(), 4096, "every shard is full, none beyond");
        // ...stays throttled through it.
        assert!(!t.admit(u32::MAX, 0));
    }

    #[test]
    fn refilled_buckets_make_room() {
        let t = table(SHARDS);
        for key in 0..10_000 {
            t.admit(key, 0);
        }
        assert_eq!(t.len(), SHARDS);
        // Two seconds on every bucket is full again and may go; the newcomer takes its place.
        assert!(t.admit(20_000, 2 * SECOND));
        assert!(t.admit(20_000, 2 * SECOND));
        assert!(!t.admit(20_000, 2 * SECOND), "the newcomer is tracked now");
        assert!(t.len() <= SHARDS);
    }
}
