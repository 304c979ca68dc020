//! One token bucket, kept as a GCRA "theoretical arrival time" so that its whole state is one
//! integer: a bucket of `burst` tokens refilled at `rps` per second admits a request at `now`
//! when the arrival time it would move to lies at most `burst` intervals ahead of `now`.

use std::sync::atomic::{AtomicI64, Ordering};

const NANOS_PER_SECOND: f64 = 1e9;

/// A validated rate: `rps` > 0 tokens per second, `burst` ≥ 1 tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    rps: f64,
    burst: u32,
    /// Nanoseconds per token.
    interval: i64,
    /// How far ahead of `now` the arrival time may run: `burst` intervals.
    tolerance: i64,
}

impl Rate {
    /// `None` unless `rps` is finite and positive and `burst` at least 1.
    pub fn new(rps: f64, burst: u32) -> Option<Self> {
        if !(rps.is_finite() && rps > 0.0) || burst == 0 {
            return None;
        }
        // `as` saturates: a rate below one token per ~292 years is one token per i64::MAX ns.
        let interval = ((NANOS_PER_SECOND / rps).ceil() as i64).max(1);
        Some(Self {
            rps,
            burst,
            interval,
            tolerance: interval.saturating_mul(i64::from(burst)),
        })
    }

    pub fn rps(&self) -> f64 {
        self.rps
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The arrival time after admitting one request at `now` to a bucket at `tat`, or `None` when
    /// the bucket is empty. An absent bucket is `i64::MIN` (full).
    pub(super) fn take(&self, tat: i64, now: i64) -> Option<i64> {
        let next = tat.max(now).saturating_add(self.interval);
        (next.saturating_sub(now) <= self.tolerance).then_some(next)
    }
}

/// A single shared bucket (the global limit), updated without a lock.
#[derive(Debug)]
pub struct Bucket {
    rate: Rate,
    tat: AtomicI64,
}

impl Bucket {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            tat: AtomicI64::new(i64::MIN),
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes a token at `now` (nanoseconds since the epoch); `false` when none is left.
    pub fn admit(&self, now: i64) -> bool {
        self.tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                self.rate.take(tat, now)
            })
            .is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn rates_must_be_positive() {
        assert!(Rate::new(0.0, 1).is_none());
        assert!(Rate::new(-1.0, 1).is_none());
        assert!(Rate::new(f64::NAN, 1).is_none());
        assert!(Rate::new(f64::INFINITY, 1).is_none());
        assert!(Rate::new(1.0, 0).is_none());
        assert!(Rate::new(1e-30, 1).is_some());
    }

    #[test]
    fn a_full_bucket_admits_burst_then_refills_at_the_rate() {
        let b = Bucket::new(Rate::new(2.0, 3).unwrap());
        let t0 = 1_000 * SECOND;
        assert!((0..3).all(|_| b.admit(t0)));
        assert!(!b.admit(t0), "the burst is spent");
        assert!(
            !b.admit(t0 + SECOND / 2 - 1),
            "half a second refills one token, not before"
        );
        assert!(b.admit(t0 + SECOND / 2));
        assert!(!b.admit(t0 + SECOND / 2));
        // Ten idle seconds refill the bucket, but never beyond `burst`.
        let t1 = t0 + 10 * SECOND;
        assert!((0..3).all(|_| b.admit(t1)));
        assert!(!b.admit(t1));
    }

    #[test]
    fn refusals_do_not_delay_recovery() {
        let b = Bucket::new(Rate::new(1.0, 1).unwrap());
        assert!(b.admit(0));
        for _ in 0..1000 {
            assert!(!b.admit(SECOND / 2));
        }
        assert!(b.admit(SECOND));
    }

    #[test]
    fn a_clock_that_steps_back_never_adds_tokens() {
        let b = Bucket::new(Rate::new(1.0, 2).unwrap());
        assert!(b.admit(100 * SECOND) && b.admit(100 * SECOND));
        assert!(!b.admit(50 * SECOND));
        assert!(!b.admit(100 * SECOND));
    }

    #[test]
    fn extreme_rates_do_not_overflow() {
        let slow = Bucket::new(Rate::new(1e-30, u32::MAX).unwrap());
        assert!(slow.admit(i64::MAX - 1));
        let fast = Bucket::new(Rate::new(1e12, 1).unwrap());
        assert!(fast.admit(i64::MIN + 1) && fast.admit(i64::MAX));
    }
}
