//! Verified web identity tokens remembered by the SHA-256 of their exact bytes, so a token
//! presented again (an SDK refresh, many replicas of one pod) skips signature verification.
//!
//! Only the signature check and the claim parsing are skipped. A hit is served only while
//! - the provider is still enabled in this registry (a reload builds a new registry, and with
//!   it an empty cache),
//! - the provider's current key set is the very one that was current when the token was
//!   verified (any refetch — rotation, TTL expiry, an unknown kid — replaces the key set, so
//!   every entry of that provider stops matching), and
//! - the token's `exp`/`nbf`/`iat` still pass at the caller's `now`.
//!
//! Anything else falls back to full verification, so the cache can only ever repeat an answer
//! that full verification would give at that moment; it never produces a rejection itself.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use moka::Expiry;
use sha2::{Digest as _, Sha256};

use super::claims;
use super::jwt::{Jws, JwsAlgorithm};
use super::VerifiedIdentity;
use crate::jwks::{JwksCache, KeySet};

/// Upper bound of the summed entry weights (estimated heap bytes).
pub const MAX_WEIGHT: u64 = 64 * 1024 * 1024;

/// Upper bound of the number of entries, enforced through a minimum weight per entry.
pub const MAX_ENTRIES: u64 = 100_000;

/// Estimated bytes an entry costs besides its claims: the cache's own node, timer and
/// frequency-sketch share, the 32-byte key, the `Arc<Entry>` and the identity's fixed fields.
pub const ENTRY_OVERHEAD: u32 = 640;

/// SHA-256 of the trimmed token.
pub type TokenDigest = [u8; 32];

/// One remembered verification.
pub struct Entry {
    /// Index of the provider in the registry that verified the token.
    provider: usize,
    jwks: Arc<JwksCache>,
    /// The key set that was current when the token was verified. Weak, so a replaced set is
    /// freed even while entries still point at it (they then never match again).
    keys: Weak<KeySet>,
    identity: VerifiedIdentity,
    weight: u32,
    lifetime: Duration,
}

/// The verified-token cache of one registry.
pub struct TokenCache {
    entries: moka::sync::Cache<TokenDigest, Arc<Entry>>,
}

struct EntryLifetime;

impl Expiry<TokenDigest, Arc<Entry>> for EntryLifetime {
    fn expire_after_create(
        &self,
        _key: &TokenDigest,
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

impl TokenCache {
    pub fn new() -> Self {
        Self::with_max_weight(MAX_WEIGHT)
    }

    /// A cache bounded by `max_weight` estimated bytes and by `MAX_ENTRIES`-proportional
    /// entry count (each entry weighs at least `max_weight / MAX_ENTRIES`).
    pub fn with_max_weight(max_weight: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_weight)
            .weigher(|_: &TokenDigest, entry: &Arc<Entry>| entry.weight)
            .expire_after(EntryLifetime)
            .build();
        Self { entries }
    }

    pub fn digest(token: &str) -> TokenDigest {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The remembered identity for `digest`, if it may be served at `now`: see the module
    /// documentation for the conditions. `enabled` says whether the provider at an index is
    /// enabled. An entry that no longer qualifies is dropped.
    pub async fn lookup(
        &self,
        digest: &TokenDigest,
        now: i64,
        skew: i64,
        enabled: impl Fn(usize) -> bool,
    ) -> Option<VerifiedIdentity> {
        let entry = self.entries.get(digest)?;
        if enabled(entry.provider) && entry.servable(now, skew).await {
            return Some(entry.identity.clone());
        }
        self.entries.invalidate(digest);
        None
    }

    /// Remembers a successful verification of the token whose digest is `digest`, parsed as
    /// `jws`, by the provider at index `provider` whose keys are in `jwks`.
    ///
    /// The entry is tied to the key set current after verification, and only if that set still
    /// holds the key for the token's kid and algorithm: a refetch that dropped the key between
    /// the signature check and this call leaves the token uncached.
    #[allow(clippy::too_many_arguments)]
    pub async fn remember(
        &self,
        digest: TokenDigest,
        provider: usize,
        jwks: &Arc<JwksCache>,
        jws: &Jws<'_>,
        token_len: usize,
        identity: &VerifiedIdentity,
        now: i64,
        skew: i64,
    ) {
        let Some(exp) = identity.expires_at else {
            return;
        };
        let Ok(alg) = jws.alg().parse::<JwsAlgorithm>() else {
            return;
        };
        let Ok((keys, _)) = jwks.keys(now).await else {
            return;
        };
        if keys.find(jws.kid(), alg).is_err() {
            return;
        }
        let token_secs = exp.saturating_add(skew).saturating_sub(now);
        let Ok(token_secs) = u64::try_from(token_secs) else {
            return;
        };
        if token_secs == 0 {
            return;
        }
        let lifetime = Duration::from_secs(token_secs).min(jwks.config().ttl);
        let entry = Entry {
            provider,
            jwks: jwks.clone(),
            keys: Arc::downgrade(&keys),
            identity: identity.clone(),
            weight: weight(token_len, self.min_weight()),
            lifetime,
        };
        self.entries.insert(digest, Arc::new(entry));
    }

    /// Forgets every entry (for tests and benchmarks; a reload builds a new cache instead).
    pub fn clear(&self) {
        self.entries.invalidate_all();
        self.entries.run_pending_tasks();
    }

    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    fn min_weight(&self) -> u32 {
        let max = self.entries.policy().max_capacity().unwrap_or(MAX_WEIGHT);
        u32::try_from(max.div_ceil(MAX_ENTRIES)).unwrap_or(u32::MAX)
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl Entry {
    async fn servable(&self, now: i64, skew: i64) -> bool {
        // The same call full verification starts with: lock-free while the keys are fresh,
        // a refetch once they are stale (which replaces the set and so retires this entry).
        let Ok((current, _)) = self.jwks.keys(now).await else {
            return false;
        };
        std::ptr::eq(self.keys.as_ptr(), Arc::as_ptr(&current))
            && claims::check_times(&self.identity.claims, now, skew).is_ok()
    }
}

/// Estimated heap bytes of an entry for a token of `token_len` bytes: the decoded claims held
/// as a JSON map take about twice the token's length (its base64 payload is a third larger than
/// the JSON, and a map costs a few times the text), plus the fixed overhead.
fn weight(token_len: usize, min: u32) -> u32 {
    let claims = u32::try_from(token_len.saturating_mul(2)).unwrap_or(u32::MAX);
    ENTRY_OVERHEAD.saturating_add(claims).max(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_of_the_exact_bytes() {
        assert_eq!(
            hex::encode(TokenCache::digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(TokenCache::digest("abc"), TokenCache::digest("abc "));
    }

    #[test]
    fn weight_grows_with_the_token_and_respects_the_entry_bound() {
        let min = u32::try_from(MAX_WEIGHT.div_ceil(MAX_ENTRIES)).expect("fits");
        assert_eq!(weight(0, min), ENTRY_OVERHEAD.max(min));
        assert_eq!(weight(1000, min), ENTRY_OVERHEAD + 2000);
        assert_eq!(weight(usize::MAX, min), u32::MAX);
        // At the minimum weight, a full cache holds at most MAX_ENTRIES entries.
        assert!(MAX_WEIGHT / u64::from(min) <= MAX_ENTRIES);
    }

    #[test]
    fn empty_cache_reports_nothing() {
        let cache = TokenCache::new();
        assert_eq!(cache.entry_count(), 0);
        assert_eq!(cache.weighted_size(), 0);
        assert!(format!("{cache:?}").starts_with("TokenCache"));
    }
}
