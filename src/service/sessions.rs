//! Counts this instance's unexpired sessions without storing them: one counter per expiry
//! second, pruned as time passes, so memory is bounded by the longest session, not by traffic.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct SessionCounter {
    by_expiry: Mutex<BTreeMap<i64, u64>>,
}

impl SessionCounter {
    pub fn record(&self, expires_at: i64, now: i64) {
        let mut map = self.lock();
        prune(&mut map, now);
        *map.entry(expires_at).or_insert(0) += 1;
    }

    /// Sessions whose expiry is after `now`.
    pub fn active(&self, now: i64) -> u64 {
        let mut map = self.lock();
        prune(&mut map, now);
        map.values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, u64>> {
        // A panic while holding this lock cannot leave the map inconsistent, so poisoning is ignored.
        self.by_expiry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn prune(map: &mut BTreeMap<i64, u64>, now: i64) {
    let live = map.split_off(&now.saturating_add(1));
    *map = live;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_sessions_that_have_not_expired() {
        let c = SessionCounter::default();
        c.record(100, 0);
        c.record(100, 0);
        c.record(200, 0);
        assert_eq!(c.active(0), 3);
        assert_eq!(c.active(99), 3);
        assert_eq!(c.active(100), 1, "a session expiring exactly now is over");
        assert_eq!(c.active(200), 0);
    }

    #[test]
    fn memory_is_bounded_by_distinct_live_expiries() {
        let c = SessionCounter::default();
        for i in 0..10_000 {
            c.record(i + 10, i);
        }
        assert!(c.lock().len() <= 11);
        assert_eq!(c.active(10_000), 9);
    }
}
