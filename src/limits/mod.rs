//! Rate limits on the credential endpoints (`sts.rateLimits`): token buckets per source address,
//! per verified subject and for the whole instance, in memory of fixed size.
//!
//! The address and global limits are checked before any signature is verified, so a throttled
//! request costs no public-key work. The subject limit is checked only after verification:
//! counting unverified `sub` claims would let anyone throttle a victim with forged tokens.

mod bucket;
mod table;

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;

pub use bucket::{Bucket, Rate};
use table::Table;

/// Source addresses tracked at most (about 2 MiB of buckets).
pub const SOURCE_CAPACITY: usize = 65_536;
/// Subjects tracked at most.
pub const SUBJECT_CAPACITY: usize = 65_536;

/// `sts.rateLimits`, validated. Every limit is off unless configured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateLimits {
    pub per_source_ip: Option<Rate>,
    pub per_subject: Option<Rate>,
    pub global: Option<Rate>,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    PerSourceIp,
    PerSubject,
    Global,
}

impl Limit {
    pub const ALL: [Limit; 3] = [Self::PerSourceIp, Self::PerSubject, Self::Global];

    /// The key under `sts.rateLimits`, also the `limit` label of the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::PerSourceIp => "perSourceIp",
            Self::PerSubject => "perSubject",
            Self::Global => "global",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::PerSourceIp => 0,
            Self::PerSubject => 1,
            Self::Global => 2,
        }
    }
}

/// A request refused by a limit; answered as AWS's `Throttling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Rate exceeded")]
pub struct Throttled(pub Limit);

/// The bucket key of a source address. IPv4-mapped IPv6 addresses count as the IPv4 address;
/// other IPv6 addresses count by their /64, which a single host usually holds whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SourceKey {
    V4(u32),
    V6Prefix(u64),
}

impl From<IpAddr> for SourceKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// The limits of one configuration. A reload builds a new limiter; limits whose numbers did not
/// change keep their buckets, and the refusal counts carry over.
#[derive(Debug)]
pub struct RateLimiter {
    source: Option<Arc<Table<SourceKey>>>,
    subject: Option<Arc<Table<u64>>>,
    global: Option<Arc<Bucket>>,
    refusals: Arc<[AtomicU64; 3]>,
}

impl RateLimiter {
    pub fn new(limits: &RateLimits, previous: Option<&RateLimiter>) -> Self {
        let source = limits.per_source_ip.map(|rate| {
            previous
                .and_then(|p| p.source.clone())
                .filter(|t| t.rate() == rate)
                .unwrap_or_else(|| Arc::new(Table::new(rate, SOURCE_CAPACITY)))
        });
        let subject = limits.per_subject.map(|rate| {
            previous
                .and_then(|p| p.subject.clone())
                .filter(|t| t.rate() == rate)
                .unwrap_or_else(|| Arc::new(Table::new(rate, SUBJECT_CAPACITY)))
        });
        let global = limits.global.map(|rate| {
            previous
                .and_then(|p| p.global.clone())
                .filter(|b| b.rate() == rate)
                .unwrap_or_else(|| Arc::new(Bucket::new(rate)))
        });
        Self {
            source,
            subject,
            global,
            refusals: previous.map(|p| p.refusals.clone()).unwrap_or_default(),
        }
    }

    /// The checks that run before any token is verified: the caller's address (when known),
    /// then the global ceiling. An address that is throttled does not use up the global budget.
    /// Every credential endpoint calls this first.
    pub fn admit_source(
        &self,
        source: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<(), Throttled> {
        let now = nanos(now);
        if let (Some(table), Some(ip)) = (&self.source, source) {
            if !table.admit(SourceKey::from(ip), now) {
                return Err(self.refuse(Limit::PerSourceIp));
            }
        }
        if let Some(bucket) = &self.global {
            if !bucket.admit(now) {
                return Err(self.refuse(Limit::Global));
            }
        }
        Ok(())
    }

    /// The check for a subject the identity provider vouched for: call it only with the
    /// provider name and `sub` of a verified token.
    pub fn admit_subject(
        &self,
        provider: &str,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<(), Throttled> {
        let Some(table) = &self.subject else {
            return Ok(());
        };
        // A keyed digest: fixed-size entries whatever the length of `sub`.
        let key = table.hasher().hash_one((provider, subject));
        if table.admit(key, nanos(now)) {
            Ok(())
        } else {
            Err(self.refuse(Limit::PerSubject))
        }
    }

    /// Requests refused by `limit` since start (across reloads).
    pub fn refusals(&self, limit: Limit) -> u64 {
        self.refusals[limit.index()].load(Ordering::Relaxed)
    }

    /// Addresses or subjects tracked by `limit`; `None` when it is off or not keyed.
    pub fn tracked(&self, limit: Limit) -> Option<usize> {
        match limit {
            Limit::PerSourceIp => self.source.as_ref().map(|t| t.len()),
            Limit::PerSubject => self.subject.as_ref().map(|t| t.len()),
            Limit::Global => None,
        }
    }

    fn refuse(&self, limit: Limit) -> Throttled {
        self.refusals[limit.index()].fetch_add(1, Ordering::Relaxed);
        Throttled(limit)
    }
}

fn nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-12-02 12:00:00 UTC);

    fn limits(
        source: Option<(f64, u32)>,
        subject: Option<(f64, u32)>,
        global: Option<(f64, u32)>,
    ) -> RateLimits {
        let rate = |r: Option<(f64, u32)>| r.map(|(rps, burst)| Rate::new(rps, burst).unwrap());
        RateLimits {
            per_source_ip: rate(source),
            per_subject: rate(subject),
            global: rate(global),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn no_limits_admit_everything() {
        let l = RateLimiter::new(&RateLimits::default(), None);
        for _ in 0..10_000 {
            assert!(l.admit_source(ip("10.0.0.1"), T0).is_ok());
            assert!(l.admit_subject("corp", "alice", T0).is_ok());
        }
        assert_eq!(l.tracked(Limit::PerSourceIp), None);
        assert!(Limit::ALL.iter().all(|&x| l.refusals(x) == 0));
    }

    #[test]
    fn per_source_ip_counts_each_address_and_recovers_with_time() {
        let l = RateLimiter::new(&limits(Some((1.0, 2)), None, None), None);
        assert!(l.admit_source(ip("10.0.0.1"), T0).is_ok());
        assert!(l.admit_source(ip("10.0.0.1"), T0).is_ok());
        assert_eq!(
            l.admit_source(ip("10.0.0.1"), T0),
            Err(Throttled(Limit::PerSourceIp))
        );
        assert!(l.admit_source(ip("10.0.0.2"), T0).is_ok());
        assert!(l
            .admit_source(ip("10.0.0.1"), T0 + Duration::seconds(1))
            .is_ok());
        // Without an address (a transport that has none) only the other limits apply.
        assert!((0..10).all(|_| l.admit_source(None, T0).is_ok()));
        assert_eq!(l.refusals(Limit::PerSourceIp), 1);
        assert_eq!(l.tracked(Limit::PerSourceIp), Some(2));
    }

    #[test]
    fn mapped_ipv4_is_the_same_address_and_ipv6_counts_by_slash_64() {
        let l = RateLimiter::new(&limits(Some((0.001, 1)), None, None), None);
        assert!(l.admit_source(ip("192.0.2.7"), T0).is_ok());
        assert!(l.admit_source(ip("::ffff:192.0.2.7"), T0).is_err());
        assert!(l.admit_source(ip("2001:db8:1:2::1"), T0).is_ok());
        assert!(l.admit_source(ip("2001:db8:1:2:ffff::9"), T0).is_err());
        assert!(l.admit_source(ip("2001:db8:1:3::1"), T0).is_ok());
    }

    #[test]
    fn a_throttled_address_does_not_spend_the_global_budget() {
        let l = RateLimiter::new(&limits(Some((0.001, 1)), None, Some((0.001, 3))), None);
        assert!(l.admit_source(ip("10.0.0.1"), T0).is_ok());
        for _ in 0..100 {
            assert_eq!(
                l.admit_source(ip("10.0.0.1"), T0),
                Err(Throttled(Limit::PerSourceIp))
            );
        }
        assert!(l.admit_source(ip("10.0.0.2"), T0).is_ok());
        assert!(l.admit_source(ip("10.0.0.3"), T0).is_ok());
        assert_eq!(
            l.admit_source(ip("10.0.0.4"), T0),
            Err(Throttled(Limit::Global))
        );
        assert_eq!(l.refusals(Limit::PerSourceIp), 100);
        assert_eq!(l.refusals(Limit::Global), 1);
    }

    #[test]
    fn subjects_are_provider_and_sub() {
        let l = RateLimiter::new(&limits(None, Some((0.001, 1)), None), None);
        assert!(l.admit_subject("corp", "alice", T0).is_ok());
        assert_eq!(
            l.admit_subject("corp", "alice", T0),
            Err(Throttled(Limit::PerSubject))
        );
        assert!(l.admit_subject("other", "alice", T0).is_ok());
        assert!(l.admit_subject("corp", "bob", T0).is_ok());
        // The pair is hashed unambiguously: ("co", "rpalice") is not ("corp", "alice").
        assert!(l.admit_subject("co", "rpalice", T0).is_ok());
    }

    #[test]
    fn an_address_flood_keeps_the_table_at_its_bound() {
        let l = RateLimiter::new(&limits(Some((1.0, 5)), None, None), None);
        let attacker = ip("198.51.100.1");
        for _ in 0..5 {
            l.admit_source(attacker, T0).unwrap();
        }
        for n in 0u32..(3 * SOURCE_CAPACITY as u32) {
            let v4 = std::net::Ipv4Addr::from(0x0a00_0000 + n);
            l.admit_source(Some(IpAddr::V4(v4)), T0).unwrap();
            let v6 = std::net::Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(n) << 64));
            l.admit_source(Some(IpAddr::V6(v6)), T0).unwrap();
        }
        assert_eq!(l.tracked(Limit::PerSourceIp), Some(SOURCE_CAPACITY));
        assert_eq!(
            l.admit_source(attacker, T0),
            Err(Throttled(Limit::PerSourceIp)),
            "an address already throttled stays throttled through the flood"
        );
    }

    #[test]
    fn reloads_keep_unchanged_limits_and_the_counts() {
        let first = RateLimiter::new(&limits(Some((0.001, 1)), None, Some((0.001, 2))), None);
        first.admit_source(ip("10.0.0.1"), T0).unwrap();
        assert!(first.admit_source(ip("10.0.0.1"), T0).is_err());

        let same = RateLimiter::new(
            &limits(Some((0.001, 1)), None, Some((0.001, 2))),
            Some(&first),
        );
        assert!(
            same.admit_source(ip("10.0.0.1"), T0).is_err(),
            "bucket kept"
        );
        assert_eq!(same.refusals(Limit::PerSourceIp), 2, "counts kept");

        let changed = RateLimiter::new(&limits(Some((0.001, 2)), None, None), Some(&same));
        assert!(
            changed.admit_source(ip("10.0.0.1"), T0).is_ok(),
            "new numbers, new buckets"
        );
        assert_eq!(changed.refusals(Limit::PerSourceIp), 2);

        let off = RateLimiter::new(&RateLimits::default(), Some(&changed));
        assert!((0..100).all(|_| off.admit_source(ip("10.0.0.1"), T0).is_ok()));
    }
}
