//! Per-provider signing keys: discovery and JWKS fetching, a TTL cache that keeps the last good
//! keys when a refresh fails, and a rate-limited single-flight refetch for unknown kids.
//!
//! The cache is an `ArcSwap` of an immutable snapshot plus a timestamp rather than a `moka`
//! cache: there is exactly one entry per provider, readers on the request path only need a
//! lock-free load, and the refresh rules (stale-if-error, one refetch per window, TTL measured
//! against the caller's clock) are simpler to state over a snapshot than through eviction hooks.

pub mod alg;
pub mod fetch;
pub mod keys;
pub mod pin;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;

pub use alg::{sanitize_header_value, JwsAlgorithm};
pub use fetch::{ClientError, FetchError, FetchSettings};
pub use keys::{KeyMiss, KeySet, VerificationKey};

/// At most one refetch per this many seconds for tokens naming an unknown kid, and the pause
/// after a failed fetch before the next attempt (so a down IdP is not hit on every request).
pub const REFETCH_INTERVAL_SECS: i64 = 30;

/// What a cache is built from; equal configurations can keep their cache across reloads.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub fetch: FetchSettings,
    pub allowed_algorithms: Vec<JwsAlgorithm>,
    pub ttl: Duration,
}

/// One provider's keys.
pub struct JwksCache {
    provider: String,
    config: CacheConfig,
    ttl_secs: i64,
    client: reqwest::Client,
    state: ArcSwap<Snapshot>,
    /// Held while fetching: concurrent misses queue here and reuse the result.
    fetching: tokio::sync::Mutex<FetchBook>,
}

#[derive(Default)]
struct FetchBook {
    last_kid_refetch: Option<i64>,
}

#[derive(Clone, Default)]
struct Snapshot {
    /// Bumped by every fetch attempt, so a waiter can tell that someone fetched meanwhile.
    generation: u64,
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<i64>,
    jwks_uri: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<i64>,
    fetches_ok: u64,
    fetches_failed: u64,
}

/// Why the keys were (not) refreshed; reported in the operator dry run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// The cached keys were fresh enough; nothing was fetched.
    Cached,
    /// This call fetched the JWKS.
    Fetched,
    /// Another request fetched while this one waited; its result was used.
    Shared,
    /// A fetch was due but not allowed yet (rate limit or back-off after a failure).
    RateLimited,
    /// The fetch failed; the last good keys were used.
    FailedUsingStale,
}

impl Refresh {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Cached => "cached keys",
            Self::Fetched => "keys fetched",
            Self::Shared => "keys fetched by a concurrent request",
            Self::RateLimited => "refetch rate-limited; cached keys",
            Self::FailedUsingStale => "refresh failed; last good keys",
        }
    }
}

/// No key could be obtained: nothing cached and the IdP is unreachable or unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Prefetch,
    Stale,
    UnknownKid,
}

/// Operator view of one provider's keys. No secret appears here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwksStatus {
    /// Number of usable keys.
    pub keys: usize,
    pub kids: Vec<String>,
    pub algorithms: Vec<&'static str>,
    /// Keys left out of the last good JWKS, with why.
    pub skipped: Vec<String>,
    pub jwks_uri: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub fetched_at: Option<i64>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub last_error_at: Option<i64>,
    /// When the keys go stale (or, with none cached, when the next attempt is allowed).
    #[serde(serialize_with = "rfc3339")]
    pub next_refresh: Option<i64>,
    pub fetches_ok: u64,
    pub fetches_failed: u64,
}

fn rfc3339<S: serde::Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    let text = t.and_then(crate::timestamp::rfc3339_from_unix);
    match text {
        Some(text) => s.serialize_str(&text),
        None => s.serialize_none(),
    }
}

impl JwksCache {
    pub fn new(provider: &str, config: CacheConfig) -> Result<Self, ClientError> {
        let client = fetch::build_client(&config.fetch)?;
        let ttl_secs = i64::try_from(config.ttl.as_secs())
            .unwrap_or(i64::MAX)
            .max(1);
        Ok(Self {
            provider: provider.to_owned(),
            config,
            ttl_secs,
            client,
            state: ArcSwap::from_pointee(Snapshot::default()),
            fetching: tokio::sync::Mutex::new(FetchBook::default()),
        })
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Keys to verify with at `now`: the cached ones while fresh, else a refresh (single-flight;
    /// after a failed attempt, at most one new attempt per interval; stale keys on failure).
    pub async fn keys(&self, now: i64) -> Result<(Arc<KeySet>, Refresh), Unavailable> {
        let snap = self.state.load_full();
        if let Some(keys) = self.fresh(&snap, now) {
            return Ok((keys, Refresh::Cached));
        }
        self.refresh(now, Trigger::Stale, snap.generation).await
    }

    /// Called when the token's kid is not among `seen`'s keys: refetch once, unless a refetch for
    /// an unknown kid already happened within [`REFETCH_INTERVAL_SECS`].
    pub async fn refetch_for_unknown_kid(
        &self,
        now: i64,
        seen: &Arc<KeySet>,
    ) -> Result<(Arc<KeySet>, Refresh), Unavailable> {
        let snap = self.state.load_full();
        let generation = match &snap.keys {
            // Keys already changed since the caller looked: use them first.
            Some(current) if !Arc::ptr_eq(current, seen) => {
                return Ok((current.clone(), Refresh::Shared))
            }
            _ => snap.generation,
        };
        self.refresh(now, Trigger::UnknownKid, generation).await
    }

    /// Fetches once in the background at start, so the first request does not pay for it.
    /// Keys still fresh (a cache kept across a reload) are left alone.
    pub async fn prefetch(&self, now: i64) {
        let snap = self.state.load_full();
        if self.fresh(&snap, now).is_none() {
            let _ = self.refresh(now, Trigger::Prefetch, snap.generation).await;
        }
    }

    pub fn status(&self) -> JwksStatus {
        let snap = self.state.load();
        let keys = snap.keys.as_deref();
        let stale_at = snap.fetched_at.map(|at| at.saturating_add(self.ttl_secs));
        let retry_at = snap
            .last_error_at
            .map(|at| at.saturating_add(REFETCH_INTERVAL_SECS));
        let next_refresh = match (stale_at, retry_at) {
            (Some(stale), Some(retry)) => Some(stale.max(retry)),
            (stale, retry) => stale.or(retry),
        };
        JwksStatus {
            keys: keys.map_or(0, |k| k.keys().len()),
            kids: keys.map(KeySet::kids).unwrap_or_default(),
            algorithms: keys
                .map(|k| k.algorithms().into_iter().collect())
                .unwrap_or_default(),
            skipped: keys.map(|k| k.skipped().to_vec()).unwrap_or_default(),
            jwks_uri: snap
                .jwks_uri
                .as_deref()
                .or(self.config.fetch.jwks_uri.as_deref())
                .map(fetch::redact_url),
            fetched_at: snap.fetched_at,
            last_error: snap.last_error.clone(),
            last_error_at: snap.last_error_at,
            next_refresh,
            fetches_ok: snap.fetches_ok,
            fetches_failed: snap.fetches_failed,
        }
    }

    fn fresh(&self, snap: &Snapshot, now: i64) -> Option<Arc<KeySet>> {
        let keys = snap.keys.as_ref()?;
        let fetched = snap.fetched_at?;
        // A clock that moved backwards leaves the keys fresh rather than forcing a fetch.
        (now < fetched.saturating_add(self.ttl_secs)).then(|| keys.clone())
    }

    async fn refresh(
        &self,
        now: i64,
        trigger: Trigger,
        seen_generation: u64,
    ) -> Result<(Arc<KeySet>, Refresh), Unavailable> {
        let mut book = self.fetching.lock().await;
        let snap = self.state.load_full();
        if snap.generation != seen_generation {
            return usable(&snap, Refresh::Shared);
        }
        // After a failed attempt, wait out the interval whatever asked: a down or hanging IdP
        // must not cost every request a timeout.
        let failed_recently = snap.last_error_at.is_some_and(|at| {
            snap.fetched_at.is_none_or(|ok| at >= ok) && within(now, at, REFETCH_INTERVAL_SECS)
        });
        match trigger {
            Trigger::Prefetch => {}
            Trigger::Stale if failed_recently => return usable(&snap, Refresh::RateLimited),
            Trigger::Stale => {}
            Trigger::UnknownKid => {
                let refetched_recently = book
                    .last_kid_refetch
                    .is_some_and(|at| within(now, at, REFETCH_INTERVAL_SECS));
                if failed_recently || refetched_recently {
                    return usable(&snap, Refresh::RateLimited);
                }
                book.last_kid_refetch = Some(now);
            }
        }

        let mut next = (*snap).clone();
        next.generation += 1;
        let outcome = match self.download(&snap).await {
            Ok((keys, jwks_uri)) => {
                tracing::info!(provider = %self.provider, keys = keys.keys().len(), "fetched JWKS");
                next.keys = Some(Arc::new(keys));
                next.fetched_at = Some(now);
                next.jwks_uri = jwks_uri;
                next.fetches_ok += 1;
                Refresh::Fetched
            }
            Err(e) => {
                tracing::warn!(provider = %self.provider, error = %e, "JWKS fetch failed");
                // A failed JWKS download may mean the URI moved: rediscover next time.
                if matches!(e, FetchError::Jwks(_)) && self.config.fetch.jwks_uri.is_none() {
                    next.jwks_uri = None;
                }
                next.last_error = Some(e.to_string());
                next.last_error_at = Some(now);
                next.fetches_failed += 1;
                Refresh::FailedUsingStale
            }
        };
        self.state.store(Arc::new(next.clone()));
        drop(book);
        usable(&next, outcome)
    }

    async fn download(&self, snap: &Snapshot) -> Result<(KeySet, Option<String>), FetchError> {
        let uri = match (&self.config.fetch.jwks_uri, &snap.jwks_uri) {
            (Some(configured), _) => configured.clone(),
            (None, Some(discovered)) => discovered.clone(),
            (None, None) => fetch::discover(&self.client, &self.config.fetch).await?,
        };
        let body = fetch::fetch_jwks(&self.client, &self.config.fetch, &uri).await?;
        let keys =
            KeySet::from_json(&body, &self.config.allowed_algorithms).map_err(FetchError::Keys)?;
        if keys.is_empty() {
            return Err(FetchError::Keys(format!(
                "no usable signing key ({} skipped)",
                keys.skipped().len()
            )));
        }
        let discovered = self.config.fetch.jwks_uri.is_none().then_some(uri);
        Ok((keys, discovered))
    }
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("provider", &self.provider)
            .field("issuer", &self.config.fetch.issuer)
            .finish_non_exhaustive()
    }
}

/// Whether `now` falls in `[at, at + window)`. A clock that moved backwards counts as outside,
/// so a skewed clock cannot block fetching for good.
fn within(now: i64, at: i64, window: i64) -> bool {
    now >= at && now - at < window
}

fn usable(snap: &Snapshot, outcome: Refresh) -> Result<(Arc<KeySet>, Refresh), Unavailable> {
    match &snap.keys {
        Some(keys) => Ok((keys.clone(), outcome)),
        None => Err(Unavailable(
            snap.last_error
                .clone()
                .unwrap_or_else(|| "no keys fetched yet".to_owned()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_half_open_and_ignores_backward_clocks() {
        assert!(within(100, 100, 30));
        assert!(within(129, 100, 30));
        assert!(!within(130, 100, 30));
        assert!(!within(99, 100, 30));
    }

    fn config() -> CacheConfig {
        CacheConfig {
            fetch: FetchSettings {
                // Port 9 on loopback: nothing listens, so fetches fail fast.
                issuer: "http://127.0.0.1:9".into(),
                jwks_uri: None,
                tls_ca_cert: None,
                tls_insecure_skip_verify: false,
                thumbprints: Vec::new(),
                bearer_token_file: None,
                http_timeout: Duration::from_secs(2),
            },
            allowed_algorithms: JwsAlgorithm::ALL.to_vec(),
            ttl: Duration::from_secs(3600),
        }
    }

    #[tokio::test]
    async fn unreachable_idp_without_keys_is_unavailable_and_backs_off() {
        let cache = JwksCache::new("p", config()).expect("client");
        let err = cache.keys(1000).await.expect_err("no keys");
        assert!(err.0.contains("discovery failed"), "{}", err.0);
        let status = cache.status();
        assert_eq!(status.fetches_failed, 1);
        assert_eq!(status.keys, 0);
        assert_eq!(status.next_refresh, Some(1000 + REFETCH_INTERVAL_SECS));
        // Within the back-off window no new attempt is made.
        assert!(cache.keys(1010).await.is_err());
        assert_eq!(cache.status().fetches_failed, 1);
        assert!(cache.keys(1030).await.is_err());
        assert_eq!(cache.status().fetches_failed, 2);
    }

    #[test]
    fn status_serializes_times_as_rfc3339() {
        let status = JwksStatus {
            keys: 1,
            kids: vec!["k".into()],
            algorithms: vec!["RS256"],
            skipped: vec![],
            jwks_uri: None,
            fetched_at: Some(0),
            last_error: None,
            last_error_at: None,
            next_refresh: Some(3600),
            fetches_ok: 1,
            fetches_failed: 0,
        };
        let json = serde_json::to_value(&status).expect("json");
        assert_eq!(json["fetchedAt"], "1970-01-01T00:00:00Z");
        assert_eq!(json["nextRefresh"], "1970-01-01T01:00:00Z");
        assert_eq!(json["lastError"], serde_json::Value::Null);
    }
}
