//! Runtime configuration types: what a validated `iam.json` becomes.

use std::path::PathBuf;
use std::time::Duration;

use crate::arn::Partition;
use crate::jwks::JwsAlgorithm;
use crate::limits::RateLimits;
use crate::policy::{ContextKeys, PolicyDocument};
use crate::revocation::Revocations;
use crate::secret::SecretString;
use crate::session::{SecretDerivation, SessionKeys, SigningKey};

/// How long a provider's key set is cached without `jwksCacheTTL`.
pub const DEFAULT_JWKS_CACHE_TTL: Duration = Duration::from_secs(3600);
/// The timeout of a provider's discovery and JWKS requests without `httpTimeout`.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A validated `iam.json`.
#[derive(Debug, Clone)]
pub struct IamConfig {
    pub sts: StsSettings,
    /// `sts.providers` and top-level `providers`, merged; names and issuers are unique.
    pub providers: Vec<ProviderSpec>,
    pub policies: Vec<NamedPolicy>,
    pub roles: Vec<Role>,
    /// Top-level `podIdentityAssociations`: which role a ServiceAccount's pods get from
    /// `GET /v1/credentials`. No two entries match the same token.
    pub pod_identity_associations: Vec<PodIdentityAssociation>,
}

#[derive(Debug, Clone)]
pub struct StsSettings {
    pub token_duration: Duration,
    pub max_session_length: Duration,
    pub issuer: String,
    pub signing_key: SigningKey,
    pub previous_signing_keys: Vec<SigningKey>,
    pub account_id: Option<String>,
    pub clock_skew: Duration,
    pub secret_derivation: SecretDerivation,
    /// `sts.rateLimits`: every limit off unless configured.
    pub rate_limits: RateLimits,
    /// `sts.revoked`.
    pub revoked: Revocations,
}

impl StsSettings {
    /// The issuer and keys that mint and verify session tokens.
    pub fn session_keys(&self) -> SessionKeys {
        SessionKeys::new(
            self.issuer.clone(),
            self.signing_key.clone(),
            self.previous_signing_keys.clone(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Oidc,
    Kubernetes,
    Mock,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Kubernetes => "kubernetes",
            Self::Mock => "mock",
        }
    }
}

/// One identity provider. A `kubernetes` provider arrives here with its in-cluster defaults
/// already filled in; a `mock` provider uses only `issuer` and `client_ids`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSpec {
    pub name: String,
    pub kind: ProviderKind,
    pub enabled: bool,
    pub settings: OidcSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OidcSettings {
    pub issuer: String,
    /// `clientId` ∪ `clientIds`: the accepted audiences.
    pub client_ids: Vec<String>,
    pub jwks_uri: Option<String>,
    pub client_secret: Option<SecretString>,
    pub user_info_uri: Option<String>,
    pub scopes: Vec<String>,
    pub claims_mapping: ClaimsMapping,
    pub role_mapping: Option<RoleMapping>,
    pub policy_claim: Option<String>,
    pub allowed_principal_tag_keys: Vec<String>,
    /// Session tags taken from ordinary claims: (tag key, claim name or `/` path), in key order.
    pub principal_tag_claims: Vec<(String, String)>,
    pub tls_ca_cert: Option<PathBuf>,
    pub tls_insecure_skip_verify: bool,
    /// Lowercase hex SHA-1 (40 digits) or SHA-256 (64 digits) fingerprints; when any is set, a
    /// discovery or JWKS connection must present a certificate with one of them.
    pub thumbprints: Vec<String>,
    /// Accept a token whose `aud` names none of `client_ids` when its `azp` does. Off by default:
    /// `azp` alone is then consulted only when the token has no `aud`.
    pub accept_azp_as_audience: bool,
    pub bearer_token_file: Option<PathBuf>,
    pub allowed_algorithms: Vec<JwsAlgorithm>,
    pub jwks_cache_ttl: Duration,
    pub http_timeout: Duration,
}

impl OidcSettings {
    /// Settings for `issuer` accepting `client_ids`, with every other key at its documented
    /// default (what an `iam.json` entry naming only these two gets).
    pub fn new(issuer: impl Into<String>, client_ids: Vec<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_ids,
            jwks_uri: None,
            client_secret: None,
            user_info_uri: None,
            scopes: Vec::new(),
            claims_mapping: ClaimsMapping::default(),
            role_mapping: None,
            policy_claim: None,
            allowed_principal_tag_keys: Vec::new(),
            principal_tag_claims: Vec::new(),
            tls_ca_cert: None,
            tls_insecure_skip_verify: false,
            thumbprints: Vec::new(),
            accept_azp_as_audience: false,
            bearer_token_file: None,
            allowed_algorithms: JwsAlgorithm::ALL.to_vec(),
            jwks_cache_ttl: DEFAULT_JWKS_CACHE_TTL,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimsMapping {
    pub username_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub email_claim: Option<String>,
    pub roles_claim: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMapping {
    pub rules: Vec<RoleMappingRule>,
    pub default_role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMappingRule {
    pub claim: String,
    /// Case-insensitive glob.
    pub value: String,
    pub role: String,
}

#[derive(Debug, Clone)]
pub struct NamedPolicy {
    pub name: String,
    pub document: PolicyDocument,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub role_name: String,
    /// The configured ARN, or `arn:aws:iam::role/<roleName>`.
    pub role_arn: String,
    /// The partition of `role_arn`: answers about this role's sessions use it.
    pub partition: Partition,
    pub attached_policies: Vec<String>,
    pub trust_policy: PolicyDocument,
    /// The condition keys the trust policy reads; the request context is built for these only.
    pub trust_keys: ContextKeys,
    pub max_session_duration: Option<Duration>,
    pub description: Option<String>,
}

/// One `podIdentityAssociations` entry: pods running as `service_account` in `namespace` get
/// `role_arn`, when their token was verified by `provider` (any provider when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentityAssociation {
    pub namespace: String,
    pub service_account: String,
    /// The ARN as written; it names a configured role.
    pub role_arn: String,
    pub provider: Option<String>,
}
