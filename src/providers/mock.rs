//! The development-only `mock` provider: fixed test strings instead of signed tokens
//! (DESIGN.md §4; enabling one needs `--allow-mock-providers`).

use serde_json::{json, Map, Value};

use super::claims;
use super::error::TokenError;
use super::jwt::Jws;
use super::trace::Trace;
use super::{BoxFuture, IdentityProvider, VerifiedIdentity};
use crate::config::ProviderSpec;

/// Tokens that yield the test identity.
pub const VALID_TOKENS: [&str; 2] = ["valid_test_token", "valid-oidc-token"];
pub const EXPIRED_TOKEN: &str = "expired_token";
pub const INVALID_TOKEN: &str = "invalid_token";

pub const TEST_SUBJECT: &str = "test-user-id";
pub const TEST_EMAIL: &str = "test@example.com";
pub const TEST_NAME: &str = "Test User";
pub const TEST_GROUPS: [&str; 2] = ["developers", "users"];
/// Lifetime of the test identity, as if the token expired an hour after `now`.
pub const TEST_LIFETIME_SECS: i64 = 3600;

#[derive(Debug)]
pub struct MockProvider {
    spec: ProviderSpec,
}

impl MockProvider {
    pub fn new(spec: &ProviderSpec) -> Self {
        Self { spec: spec.clone() }
    }

    /// Whether `token` is one of the fixed strings a mock provider answers.
    pub fn is_fixed_token(token: &str) -> bool {
        VALID_TOKENS.contains(&token) || token == EXPIRED_TOKEN || token == INVALID_TOKEN
    }

    fn test_identity(&self, now: i64) -> VerifiedIdentity {
        let settings = &self.spec.settings;
        let audience = settings.client_ids.first().cloned().unwrap_or_default();
        let exp = now.saturating_add(TEST_LIFETIME_SECS);
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(settings.issuer));
        claims.insert("sub".into(), json!(TEST_SUBJECT));
        claims.insert("aud".into(), json!(audience));
        claims.insert("exp".into(), json!(exp));
        claims.insert("iat".into(), json!(now));
        claims.insert("email".into(), json!(TEST_EMAIL));
        claims.insert("name".into(), json!(TEST_NAME));
        claims.insert("groups".into(), Value::from(TEST_GROUPS.to_vec()));
        let mapped = claims::map_claims(&claims, &settings.claims_mapping);
        VerifiedIdentity {
            provider: self.spec.name.clone(),
            issuer: settings.issuer.clone(),
            subject: TEST_SUBJECT.to_owned(),
            audiences: vec![audience.clone()],
            matched_audience: audience,
            expires_at: Some(exp),
            claims,
            username: mapped.username,
            email: mapped.email,
            groups: mapped.groups,
            roles: mapped.roles,
        }
    }
}

impl IdentityProvider for MockProvider {
    fn spec(&self) -> &ProviderSpec {
        &self.spec
    }

    fn fixed_token(&self, token: &str, now: i64) -> Option<Result<VerifiedIdentity, TokenError>> {
        match token {
            t if VALID_TOKENS.contains(&t) => Some(Ok(self.test_identity(now))),
            EXPIRED_TOKEN => Some(Err(TokenError::Expired)),
            INVALID_TOKEN => Some(Err(TokenError::Malformed(
                "the mock provider's invalid test token",
            ))),
            _ => None,
        }
    }

    /// A real JWT naming the mock issuer: the mock cannot verify signatures, so it refuses.
    fn verify<'a>(
        &'a self,
        _jws: &'a Jws<'a>,
        _now: i64,
        _skew: i64,
        trace: &'a mut Trace,
    ) -> BoxFuture<'a, Result<VerifiedIdentity, TokenError>> {
        Box::pin(async move {
            Err(trace.fail(
                super::trace::step::SIGNATURE,
                TokenError::Malformed("the mock provider accepts only its fixed test tokens"),
            ))
        })
    }
}
