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
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::claims;
use super::jwt::{Jws, JwsAlgorithm};
use super::VerifiedIdentity;
use crate::jwks::{JwksCache, KeySet};

/// Upper bound of the summed entry weights (estimated heap bytes). A projected ServiceAccount
/// token's entry measures about 1.5 KB of process memory (see docs/performance.md), so a full
/// cache of those is about 90 000 entries and adds about 130 MiB.
pub const MAX_WEIGHT: u64 = 128 * 1024 * 1024;

/// Upper bound of the number of entries, enforced through a minimum weight per entry.
pub const MAX_ENTRIES: u64 = 100_000;

/// Estimated bytes an entry costs besides its strings: the cache's own node, timer and
/// frequency-sketch share, the 32-byte key, the `Arc<Entry>` and the identity's fixed fields.
pub const ENTRY_OVERHEAD: u32 = 800;

/// Estimated bytes one heap string costs besides its text (allocator header and rounding).
const STRING_OVERHEAD: usize = 24;

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
    /// The identity with its claims left out: they are kept as JSON text and decoded again on
    /// each hit, because a decoded map of a Kubernetes token's nested claims costs about five
    /// times its text, and decoding costs about what cloning the map would.
    identity: VerifiedIdentity,
    claims_json: Box<str>,
    weight: u32,
    lifetime: Duration,
}

/// The verified-token cache of one registry.
pub struct TokenCache {
    entries: moka::sync::Cache<TokenDigest, Arc<Entry>>,
    /// The registry's leeway on token times, in seconds.
    skew: i64,
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
    /// A cache for a registry allowing `skew` seconds of leeway on token times.
    pub fn new(skew: i64) -> Self {
        Self::with_max_weight(MAX_WEIGHT, skew)
    }

    /// A cache bounded by `max_weight` estimated bytes and by `MAX_ENTRIES`-proportional
    /// entry count (each entry weighs at least `max_weight / MAX_ENTRIES`).
    pub fn with_max_weight(max_weight: u64, skew: i64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_weight)
            .weigher(|_: &TokenDigest, entry: &Arc<Entry>| entry.weight)
            .expire_after(EntryLifetime)
            .build();
        Self { entries, skew }
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
        enabled: impl Fn(usize) -> bool,
    ) -> Option<VerifiedIdentity> {
        let entry = self.entries.get(digest)?;
        let served = if enabled(entry.provider) {
            entry.serve(now, self.skew).await
        } else {
            None
        };
        if served.is_none() {
            self.entries.invalidate(digest);
        }
        served
    }

    /// Remembers a successful verification of the token whose digest is `digest`, parsed as
    /// `jws`, by the provider at index `provider` whose keys are in `jwks`. Its weight follows
    /// the size of the encoded header and claims.
    ///
    /// The entry is tied to the key set current after verification, and only if that set still
    /// holds the key for the token's kid and algorithm: a refetch that dropped the key between
    /// the signature check and this call leaves the token uncached.
    pub async fn remember(
        &self,
        digest: TokenDigest,
        provider: usize,
        jwks: &Arc<JwksCache>,
        jws: &Jws<'_>,
        identity: &VerifiedIdentity,
        now: i64,
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
        let token_secs = exp.saturating_add(self.skew).saturating_sub(now);
        let Ok(token_secs) = u64::try_from(token_secs) else {
            return;
        };
        if token_secs == 0 {
            return;
        }
        let Ok(claims_json) = serde_json::to_string(&identity.claims) else {
            return;
        };
        let lifetime = Duration::from_secs(token_secs).min(jwks.config().ttl);
        // Field by field, so the claims map is not cloned only to be dropped.
        let identity = VerifiedIdentity {
            provider: identity.provider.clone(),
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            audiences: identity.audiences.clone(),
            matched_audience: identity.matched_audience.clone(),
            expires_at: identity.expires_at,
            claims: Map::new(),
            username: identity.username.clone(),
            email: identity.email.clone(),
            groups: identity.groups.clone(),
            roles: identity.roles.clone(),
        };
        let weight = weight(&identity, &claims_json, self.min_weight());
        let entry = Entry {
            provider,
            jwks: jwks.clone(),
            keys: Arc::downgrade(&keys),
            identity,
            claims_json: claims_json.into_boxed_str(),
            weight,
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

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl Entry {
    /// The identity, if the provider's key set is still the one that verified the token and
    /// the token's times pass at `now`.
    async fn serve(&self, now: i64, skew: i64) -> Option<VerifiedIdentity> {
        // The same call full verification starts with: lock-free while the keys are fresh,
        // a refetch once they are stale (which replaces the set and so retires this entry).
        let (current, _) = self.jwks.keys(now).await.ok()?;
        if !std::ptr::eq(self.keys.as_ptr(), Arc::as_ptr(&current)) {
            return None;
        }
        let claims: Map<String, Value> = serde_json::from_str(&self.claims_json).ok()?;
        claims::check_times(&claims, now, skew).ok()?;
        Some(VerifiedIdentity {
            claims,
            ..self.identity.clone()
        })
    }
}

/// Estimated heap bytes of an entry: the fixed overhead, the claims text and the identity's
/// strings, but at least `min`.
fn weight(identity: &VerifiedIdentity, claims_json: &str, min: u32) -> u32 {
    let strings = [
        &identity.provider,
        &identity.issuer,
        &identity.subject,
        &identity.matched_audience,
    ]
    .into_iter()
    .chain(&identity.audiences)
    .chain(&identity.groups)
    .chain(&identity.roles)
    .chain(&identity.username)
    .chain(&identity.email)
    .map(|s| s.len() + STRING_OVERHEAD)
    .sum::<usize>();
    let bytes = u32::try_from(strings.saturating_add(claims_json.len())).unwrap_or(u32::MAX);
    ENTRY_OVERHEAD.saturating_add(bytes).max(min)
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

    fn identity() -> VerifiedIdentity {
        VerifiedIdentity {
            provider: "k8s".into(),
            issuer: "https://issuer".into(),
            subject: "sub".into(),
            audiences: vec!["aud".into()],
            matched_audience: "aud".into(),
            expires_at: Some(0),
            claims: Map::new(),
            username: None,
            email: Some("e".into()),
            groups: vec!["g1".into(), "g2".into()],
            roles: vec![],
        }
    }

    #[test]
    fn weight_counts_the_strings_and_respects_the_entry_bound() {
        let id = identity();
        // provider 3 + issuer 14 + subject 3 + matched 3 + audience 3 + groups 2 + 2 + email 1,
        // each with its allocation overhead, plus the claims text.
        let strings = 31 + 8 * 24;
        assert_eq!(weight(&id, "{}", 0), ENTRY_OVERHEAD + strings + 2);
        assert_eq!(weight(&id, "", 10_000), 10_000);
        let min = u32::try_from(MAX_WEIGHT.div_ceil(MAX_ENTRIES)).expect("fits");
        // At the minimum weight, a full cache holds at most MAX_ENTRIES entries.
        assert!(MAX_WEIGHT / u64::from(min) <= MAX_ENTRIES);
    }

    #[test]
    fn empty_cache_reports_nothing() {
        let cache = TokenCache::new(60);
        assert_eq!(cache.entry_count(), 0);
        assert_eq!(cache.weighted_size(), 0);
        assert!(format!("{cache:?}").starts_with("TokenCache"));
    }
}
