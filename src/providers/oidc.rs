//! OIDC (and Kubernetes service-account) token verification against the provider's JWKS
//! (https://openid.net/specs/openid-connect-core-1_0.html §3.1.3.7).

use std::sync::Arc;

use super::claims::{self, AudienceMatch};
use super::error::{ProviderError, TokenError};
use super::jwt::{Jws, JwsAlgorithm};
use super::trace::{step, Trace};
use super::{BoxFuture, IdentityProvider, VerifiedIdentity};
use crate::config::{OidcSettings, ProviderSpec};
use crate::jwks::sanitize_header_value;
use crate::jwks::{
    CacheConfig, ClientError, FetchSettings, JwksCache, JwksStatus, KeyMiss, KeySet, Refresh,
};

/// An `oidc` or `kubernetes` provider: the two differ only in defaults the config loader fills.
#[derive(Debug)]
pub struct OidcProvider {
    spec: ProviderSpec,
    jwks: Arc<JwksCache>,
}

impl OidcProvider {
    pub fn new(spec: &ProviderSpec) -> Result<Self, ProviderError> {
        if spec.settings.tls_insecure_skip_verify {
            tracing::warn!(provider = %spec.name, "TLS certificate verification is disabled for this provider's IdP");
        }
        let cache =
            JwksCache::new(&spec.name, cache_config(&spec.settings)).map_err(|e| match e {
                ClientError::Ca { path, reason } => ProviderError::TlsCa {
                    provider: spec.name.clone(),
                    path,
                    reason,
                },
                ClientError::Build(reason) => ProviderError::HttpClient {
                    provider: spec.name.clone(),
                    reason,
                },
            })?;
        Ok(Self::with_cache(spec, Arc::new(cache)))
    }

    /// A provider reusing an existing key cache (whose configuration must equal
    /// `cache_config(&spec.settings)`), so a config reload keeps fetched keys.
    pub fn with_cache(spec: &ProviderSpec, jwks: Arc<JwksCache>) -> Self {
        Self {
            spec: spec.clone(),
            jwks,
        }
    }

    pub fn jwks(&self) -> &Arc<JwksCache> {
        &self.jwks
    }

    async fn verify_jws(
        &self,
        jws: &Jws<'_>,
        now: i64,
        skew: i64,
        trace: &mut Trace,
    ) -> Result<VerifiedIdentity, TokenError> {
        let settings = &self.spec.settings;

        let alg = match jws.alg().parse::<JwsAlgorithm>() {
            Ok(alg) if settings.allowed_algorithms.contains(&alg) => alg,
            _ => {
                let alg = sanitize_header_value(jws.alg());
                return Err(trace.fail(step::ALGORITHM, TokenError::AlgorithmNotAllowed { alg }));
            }
        };
        trace.pass(step::ALGORITHM, || format!("{alg} is allowed"));

        let (keys, refresh) = self.key_set_for(jws.kid(), alg, now, trace).await?;
        let key = match keys.find(jws.kid(), alg) {
            Ok(key) => key,
            Err(miss) => {
                let kid = jws.kid().map(sanitize_header_value);
                let err = match miss {
                    KeyMiss::TypeMismatch => TokenError::KeyTypeMismatch {
                        alg: alg.name().to_owned(),
                    },
                    // DESIGN.md §7: a kid that is not cached while the IdP cannot be reached is
                    // the IdP's outage (which SDKs retry), not a bad token.
                    KeyMiss::Unknown if self.last_fetch_failed() => TokenError::IdpUnavailable {
                        provider: self.spec.name.clone(),
                        reason: self.jwks.status().last_error.unwrap_or_default(),
                    },
                    KeyMiss::Unknown | KeyMiss::Ambiguous => TokenError::UnknownKey { kid },
                };
                return Err(trace.fail_with(step::KEY, err, || refresh.describe().to_owned()));
            }
        };
        trace.pass(step::KEY, || {
            format!(
                "kid {} ({}); {}",
                key.kid()
                    .map(sanitize_header_value)
                    .unwrap_or_else(|| "-".into()),
                key.kty(),
                refresh.describe()
            )
        });

        if !key.verify(alg, jws.signing_input().as_bytes(), jws.signature()) {
            return Err(trace.fail(step::SIGNATURE, TokenError::BadSignature));
        }
        trace.pass(step::SIGNATURE, || format!("valid {alg} signature"));

        let payload = jws.claims();
        claims::check_issuer(payload, &settings.issuer).map_err(|e| trace.fail(step::ISSUER, e))?;
        trace.pass(step::ISSUER, || format!("iss {}", settings.issuer));

        let AudienceMatch { audiences, matched } = claims::check_audience(
            payload,
            &settings.client_ids,
            settings.accept_azp_as_audience,
        )
        .map_err(|e| trace.fail(step::AUDIENCE, e))?;
        trace.pass(step::AUDIENCE, || format!("matched {matched}"));

        let times = claims::check_times(payload, now, skew).map_err(|e| {
            trace.fail_with(step::EXPIRY, e, || format!("now {now}, clock skew {skew}s"))
        })?;
        trace.pass(step::EXPIRY, || {
            let optional =
                |name: &str, t: Option<i64>| t.map(|t| format!(", {name} {t}")).unwrap_or_default();
            format!(
                "exp {}{}{}, now {now}, clock skew {skew}s",
                times.exp,
                optional("nbf", times.nbf),
                optional("iat", times.iat)
            )
        });

        let subject = claims::check_subject(payload).map_err(|e| trace.fail(step::SUBJECT, e))?;
        trace.pass(step::SUBJECT, || "sub is a non-empty string".to_owned());

        let host_path = crate::policy::issuer_host_path(&settings.issuer);
        claims::check_claim_names(payload, &["oidc", host_path])
            .map_err(|e| trace.fail(step::CLAIM_NAMES, e))?;
        trace.pass(step::CLAIM_NAMES, || {
            "each condition key names one claim".to_owned()
        });

        let mapped = claims::map_claims(payload, &settings.claims_mapping);
        Ok(VerifiedIdentity {
            provider: self.spec.name.clone(),
            issuer: settings.issuer.clone(),
            subject,
            audiences,
            matched_audience: matched,
            expires_at: Some(times.exp),
            claims: payload.clone(),
            username: mapped.username,
            email: mapped.email,
            groups: mapped.groups,
            roles: mapped.roles,
        })
    }

    /// Whether the latest attempt to fetch keys failed, so the cached set may be out of date.
    fn last_fetch_failed(&self) -> bool {
        let status = self.jwks.status();
        status
            .last_error_at
            .is_some_and(|failed| status.fetched_at.is_none_or(|ok| failed >= ok))
    }

    /// The key set to look the token's key up in: the cached one, or a refetched one when the
    /// kid is unknown (rate-limited inside the cache).
    async fn key_set_for(
        &self,
        kid: Option<&str>,
        alg: JwsAlgorithm,
        now: i64,
        trace: &mut Trace,
    ) -> Result<(Arc<KeySet>, Refresh), TokenError> {
        let unavailable = |reason: String| TokenError::IdpUnavailable {
            provider: self.spec.name.clone(),
            reason,
        };
        let (keys, refresh) = match self.jwks.keys(now).await {
            Ok(found) => found,
            Err(e) => return Err(trace.fail(step::KEY, unavailable(e.0))),
        };
        // Only keys that came from the cache are worth refetching: a set fetched (or refused)
        // during this very call is as current as the IdP can make it.
        if refresh != Refresh::Cached || !matches!(keys.find(kid, alg), Err(KeyMiss::Unknown)) {
            return Ok((keys, refresh));
        }
        match self.jwks.refetch_for_unknown_kid(now, &keys).await {
            Ok(found) => Ok(found),
            Err(e) => Err(trace.fail(step::KEY, unavailable(e.0))),
        }
    }
}

/// The part of a provider's settings that decides how its keys are fetched and checked.
pub fn cache_config(settings: &OidcSettings) -> CacheConfig {
    CacheConfig {
        fetch: FetchSettings {
            issuer: settings.issuer.clone(),
            jwks_uri: settings.jwks_uri.clone(),
            tls_ca_cert: settings.tls_ca_cert.clone(),
            tls_insecure_skip_verify: settings.tls_insecure_skip_verify,
            thumbprints: settings.thumbprints.clone(),
            bearer_token_file: settings.bearer_token_file.clone(),
            http_timeout: settings.http_timeout,
        },
        allowed_algorithms: settings.allowed_algorithms.clone(),
        ttl: settings.jwks_cache_ttl,
    }
}

impl IdentityProvider for OidcProvider {
    fn spec(&self) -> &ProviderSpec {
        &self.spec
    }

    fn jwks_status(&self) -> Option<JwksStatus> {
        Some(self.jwks.status())
    }

    fn verify<'a>(
        &'a self,
        jws: &'a Jws<'a>,
        now: i64,
        skew: i64,
        trace: &'a mut Trace,
    ) -> BoxFuture<'a, Result<VerifiedIdentity, TokenError>> {
        Box::pin(self.verify_jws(jws, now, skew, trace))
    }
}
