//! The configured providers, chosen per token by its exact `iss`, and the ordered verification
//! that reports each step for the operator dry run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::cache::{TokenCache, TokenDigest};
use super::error::{ProviderError, TokenError};
use super::jwt::{Jws, MAX_TOKEN_LEN};
use super::mock::MockProvider;
use super::oidc::{cache_config, OidcProvider};
use super::trace::{step, StepReport, Trace};
use super::{IdentityProvider, VerifiedIdentity};
use crate::config::{ProviderKind, ProviderSpec};
use crate::jwks::sanitize_header_value;
use crate::jwks::{JwksCache, JwksStatus};

/// The providers of one configuration. Cheap to share behind an `Arc`; rebuilt on reload.
#[derive(Debug)]
pub struct Registry {
    providers: Vec<Arc<dyn IdentityProvider>>,
    /// Key caches of the oidc/kubernetes providers, by provider name.
    caches: Vec<(String, Arc<JwksCache>)>,
    by_issuer: HashMap<String, usize>,
    skew_secs: i64,
    /// Verified tokens of this configuration; a reload starts with an empty one.
    tokens: TokenCache,
}

/// Operator listing of one provider: never a client secret or bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub enabled: bool,
    pub issuer: String,
    pub client_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwksStatus>,
}

impl Registry {
    /// Builds every provider (HTTP clients included; nothing is fetched yet).
    pub fn new(specs: &[ProviderSpec], clock_skew: Duration) -> Result<Self, ProviderError> {
        Self::build(specs, clock_skew, &[])
    }

    /// Builds the registry for a reloaded configuration, keeping the fetched keys of every
    /// provider whose name and key-related settings did not change.
    pub fn rebuild(
        &self,
        specs: &[ProviderSpec],
        clock_skew: Duration,
    ) -> Result<Self, ProviderError> {
        Self::build(specs, clock_skew, &self.caches)
    }

    fn build(
        specs: &[ProviderSpec],
        clock_skew: Duration,
        previous: &[(String, Arc<JwksCache>)],
    ) -> Result<Self, ProviderError> {
        let mut providers: Vec<Arc<dyn IdentityProvider>> = Vec::with_capacity(specs.len());
        let mut caches = Vec::new();
        let mut by_issuer = HashMap::new();
        let mut names: HashMap<&str, &str> = HashMap::new();
        for spec in specs {
            if let Some(first) = names.insert(&spec.name, &spec.name) {
                return Err(ProviderError::Duplicate {
                    first: first.to_owned(),
                    second: spec.name.clone(),
                    what: "name",
                });
            }
            if let Some(&i) = by_issuer.get(&spec.settings.issuer) {
                let first: &Arc<dyn IdentityProvider> = &providers[i];
                return Err(ProviderError::Duplicate {
                    first: first.name().to_owned(),
                    second: spec.name.clone(),
                    what: "issuer",
                });
            }
            let provider: Arc<dyn IdentityProvider> = match spec.kind {
                ProviderKind::Mock => Arc::new(MockProvider::new(spec)),
                ProviderKind::Oidc | ProviderKind::Kubernetes => {
                    let wanted = cache_config(&spec.settings);
                    let reused = previous
                        .iter()
                        .find(|(name, cache)| *name == spec.name && *cache.config() == wanted);
                    let oidc = match reused {
                        Some((_, cache)) => OidcProvider::with_cache(spec, cache.clone()),
                        None => OidcProvider::new(spec)?,
                    };
                    caches.push((spec.name.clone(), oidc.jwks().clone()));
                    Arc::new(oidc)
                }
            };
            by_issuer.insert(spec.settings.issuer.clone(), providers.len());
            providers.push(provider);
        }
        let skew_secs = i64::try_from(clock_skew.as_secs()).unwrap_or(i64::MAX);
        Ok(Self {
            providers,
            caches,
            by_issuer,
            skew_secs,
            tokens: TokenCache::new(skew_secs),
        })
    }

    /// Fetches the keys of every enabled provider in the background; returns at once. Without
    /// a Tokio runtime it does nothing (keys are then fetched on first use).
    pub fn start(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let now = unix_now();
        for (name, cache) in &self.caches {
            if self.provider(name).is_some_and(|p| p.is_enabled()) {
                let cache = cache.clone();
                runtime.spawn(async move { cache.prefetch(now).await });
            }
        }
    }

    /// Verifies a web identity token at `now` (seconds since the epoch). A token verified
    /// before is answered from the verified-token cache while its provider, key set and
    /// validity window still hold (see `providers::cache`).
    pub async fn verify(&self, token: &str, now: i64) -> Result<VerifiedIdentity, TokenError> {
        let trimmed = token.trim();
        if trimmed.len() > MAX_TOKEN_LEN || MockProvider::is_fixed_token(trimmed) {
            return self.run(token, now, &mut Trace::silent(), None).await;
        }
        let digest = TokenCache::digest(trimmed);
        let enabled = |i: usize| self.providers.get(i).is_some_and(|p| p.is_enabled());
        if let Some(identity) = self.tokens.lookup(&digest, now, enabled).await {
            return Ok(identity);
        }
        self.run(token, now, &mut Trace::silent(), Some(digest))
            .await
    }

    /// The verified-token cache (for metrics and benchmarks).
    pub fn token_cache(&self) -> &TokenCache {
        &self.tokens
    }

    /// [`Registry::verify`], also reporting each step in order up to the first failure.
    pub async fn verify_explained(
        &self,
        token: &str,
        now: i64,
    ) -> (Result<VerifiedIdentity, TokenError>, Vec<StepReport>) {
        let mut trace = Trace::recording();
        // The dry run reports every check, so it never answers from the cache.
        let result = self.run(token, now, &mut trace, None).await;
        (result, trace.into_steps())
    }

    pub fn providers(&self) -> impl Iterator<Item = &dyn IdentityProvider> {
        self.providers.iter().map(|p| p.as_ref())
    }

    pub fn provider(&self, name: &str) -> Option<&dyn IdentityProvider> {
        self.providers().find(|p| p.name() == name)
    }

    pub fn clock_skew_secs(&self) -> i64 {
        self.skew_secs
    }

    /// The read-only operator view of every provider, in configuration order.
    pub fn list(&self) -> Vec<ProviderInfo> {
        self.providers()
            .map(|p| ProviderInfo {
                name: p.name().to_owned(),
                kind: p.kind().name(),
                enabled: p.is_enabled(),
                issuer: p.issuer().to_owned(),
                client_ids: p.client_ids().to_vec(),
                jwks: p.jwks_status(),
            })
            .collect()
    }

    async fn run(
        &self,
        token: &str,
        now: i64,
        trace: &mut Trace,
        remember: Option<TokenDigest>,
    ) -> Result<VerifiedIdentity, TokenError> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_LEN {
            return Err(trace.fail(step::SIZE, TokenError::TooLarge));
        }
        trace.pass(step::SIZE, || {
            format!("{} bytes (limit {MAX_TOKEN_LEN})", token.len())
        });

        if MockProvider::is_fixed_token(token) {
            if let Some(mock) = self.mock_for_fixed_tokens() {
                trace.pass(step::SEGMENTS, || {
                    "a fixed test token, not a JWS".to_owned()
                });
                if !mock.is_enabled() {
                    let err = TokenError::ProviderDisabled {
                        provider: mock.name().to_owned(),
                    };
                    return Err(trace.fail(step::PROVIDER, err));
                }
                trace.pass(step::PROVIDER, || format!("{} (mock)", mock.name()));
                if let Some(result) = mock.fixed_token(token, now) {
                    return result.map_err(|e| {
                        let at = if e == TokenError::Expired {
                            step::EXPIRY
                        } else {
                            step::SIGNATURE
                        };
                        trace.fail(at, e)
                    });
                }
            }
        }

        let jws = Jws::parse(token).map_err(|e| trace.fail(step::SEGMENTS, e))?;
        trace.pass(step::SEGMENTS, || {
            format!(
                "alg {}, kid {}",
                sanitize_header_value(jws.alg()),
                jws.kid()
                    .map(sanitize_header_value)
                    .unwrap_or_else(|| "-".into())
            )
        });

        let Some(iss) = jws.unverified_issuer() else {
            return Err(
                trace.fail_with(step::PROVIDER, TokenError::UnknownIssuer, || {
                    "the token has no string iss".to_owned()
                }),
            );
        };
        let Some((index, provider)) = self.by_issuer.get(iss).map(|&i| (i, &self.providers[i]))
        else {
            return Err(
                trace.fail_with(step::PROVIDER, TokenError::UnknownIssuer, || {
                    format!("iss {}", sanitize_header_value(iss))
                }),
            );
        };
        if !provider.is_enabled() {
            let err = TokenError::ProviderDisabled {
                provider: provider.name().to_owned(),
            };
            return Err(trace.fail(step::PROVIDER, err));
        }
        trace.pass(step::PROVIDER, || {
            format!(
                "{} ({}) for iss {}",
                provider.name(),
                provider.kind().name(),
                provider.issuer()
            )
        });

        let result = provider.verify(&jws, now, self.skew_secs, trace).await;
        if let (Some(digest), Ok(identity)) = (remember, &result) {
            if let Some((_, jwks)) = self.caches.iter().find(|(n, _)| n == provider.name()) {
                self.tokens
                    .remember(digest, index, jwks, &jws, identity, now)
                    .await;
            }
        }
        result
    }

    /// The mock provider that answers fixed test strings: the first enabled one, else the first
    /// disabled one (so the answer is "provider disabled" rather than "not a JWT").
    fn mock_for_fixed_tokens(&self) -> Option<&dyn IdentityProvider> {
        let mut mocks = self.providers().filter(|p| p.kind() == ProviderKind::Mock);
        let first = mocks.next()?;
        if first.is_enabled() {
            return Some(first);
        }
        Some(mocks.find(|p| p.is_enabled()).unwrap_or(first))
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OidcSettings;

    fn spec(name: &str, kind: ProviderKind, issuer: &str) -> ProviderSpec {
        ProviderSpec {
            name: name.into(),
            kind,
            enabled: true,
            settings: OidcSettings::new(issuer, vec!["client".into()]),
        }
    }

    #[test]
    fn duplicate_names_and_issuers_are_refused() {
        let a = spec("a", ProviderKind::Oidc, "https://a");
        let err = Registry::new(
            &[a.clone(), spec("a", ProviderKind::Oidc, "https://b")],
            Duration::ZERO,
        );
        assert!(matches!(
            err,
            Err(ProviderError::Duplicate { what: "name", .. })
        ));
        let err = Registry::new(
            &[a, spec("b", ProviderKind::Mock, "https://a")],
            Duration::ZERO,
        );
        assert!(matches!(
            err,
            Err(ProviderError::Duplicate { what: "issuer", .. })
        ));
    }

    #[test]
    fn unreadable_ca_is_a_provider_error() {
        let mut k = spec(
            "k8s",
            ProviderKind::Kubernetes,
            "https://kubernetes.default.svc.cluster.local",
        );
        k.settings.tls_ca_cert = Some("/nonexistent/ca.crt".into());
        let err = Registry::new(&[k], Duration::ZERO).expect_err("no CA file");
        assert!(matches!(err, ProviderError::TlsCa { .. }));
        assert!(err.to_string().contains("/nonexistent/ca.crt"));
    }

    #[test]
    fn listing_covers_every_kind() {
        let registry = Registry::new(
            &[
                spec("k8s", ProviderKind::Kubernetes, "https://k"),
                spec("dev", ProviderKind::Mock, "https://m"),
            ],
            Duration::from_secs(60),
        )
        .expect("registry");
        let list = registry.list();
        assert_eq!(list[0].kind, "kubernetes");
        assert!(list[0].jwks.is_some());
        assert_eq!(list[1].kind, "mock");
        assert!(list[1].jwks.is_none());
        assert_eq!(registry.clock_skew_secs(), 60);
    }

    #[test]
    fn registry_and_its_futures_can_cross_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let registry = Registry::new(&[], Duration::ZERO).expect("registry");
        send_sync(&registry);
        let fut = registry.verify("x", 0);
        send(&fut);
        let explained = registry.verify_explained("x", 0);
        send(&explained);
    }

    #[tokio::test]
    async fn mock_answers_only_when_configured() {
        let without = Registry::new(&[], Duration::ZERO).expect("registry");
        assert_eq!(
            without
                .verify("valid_test_token", 0)
                .await
                .map_err(|e| e.kind())
                .err(),
            Some("malformed")
        );
        let with = Registry::new(
            &[spec("dev", ProviderKind::Mock, "https://m")],
            Duration::ZERO,
        )
        .expect("registry");
        let (result, steps) = with.verify_explained("expired_token", 0).await;
        assert_eq!(result.err(), Some(TokenError::Expired));
        assert_eq!(
            steps.last().map(|s| (s.step, s.ok)),
            Some(("expiry", false))
        );
    }
}
