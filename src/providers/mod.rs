//! Identity providers (oidc, kubernetes, mock) behind one trait, and the registry that picks one by `iss`.

pub mod cache;
pub mod claims;
pub mod error;
pub mod jwt;
pub mod mock;
pub mod oidc;
pub mod registry;
pub mod trace;

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

use crate::config::{ProviderKind, ProviderSpec};
use crate::jwks::JwksStatus;

pub use cache::TokenCache;
pub use error::{ProviderError, TokenError};
pub use jwt::{Jws, JwsAlgorithm};
pub use mock::MockProvider;
pub use oidc::OidcProvider;
pub use registry::{ProviderInfo, Registry};
pub use trace::{StepReport, Trace};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who a verified web identity token says the caller is.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedIdentity {
    /// The provider's configured name.
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    /// Every `aud` entry of the token.
    pub audiences: Vec<String>,
    /// The `aud` entry (or `azp`) that is one of the provider's client ids.
    pub matched_audience: String,
    pub expires_at: Option<i64>,
    /// The whole verified payload.
    pub claims: Map<String, Value>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
}

/// One configured identity provider. Object-safe: the registry holds `dyn IdentityProvider`.
pub trait IdentityProvider: Send + Sync + std::fmt::Debug {
    /// The configuration the provider was built from (its client secret stays wrapped).
    fn spec(&self) -> &ProviderSpec;

    fn name(&self) -> &str {
        &self.spec().name
    }

    fn kind(&self) -> ProviderKind {
        self.spec().kind
    }

    fn is_enabled(&self) -> bool {
        self.spec().enabled
    }

    fn issuer(&self) -> &str {
        &self.spec().settings.issuer
    }

    fn client_ids(&self) -> &[String] {
        &self.spec().settings.client_ids
    }

    /// Key cache state, for providers that fetch keys.
    fn jwks_status(&self) -> Option<JwksStatus> {
        None
    }

    /// The answer to a fixed test string, for providers that have them (mock).
    fn fixed_token(&self, _token: &str, _now: i64) -> Option<Result<VerifiedIdentity, TokenError>> {
        None
    }

    /// Verifies a parsed token whose unverified `iss` selected this provider: algorithm, key,
    /// signature, issuer, audience, times (with `skew` seconds of leeway) and subject, in order,
    /// each recorded in `trace`.
    fn verify<'a>(
        &'a self,
        jws: &'a Jws<'a>,
        now: i64,
        skew: i64,
        trace: &'a mut Trace,
    ) -> BoxFuture<'a, Result<VerifiedIdentity, TokenError>>;
}
