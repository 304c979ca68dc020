//! AssumeRoleWithWebIdentity orchestration: verify the token, check the trust policy, cap the
//! duration, mint the session. No HTTP types here; the clock is an argument.

pub mod caller;
pub mod context;
pub mod error;
mod grant;
pub mod guard;
pub mod operator;
pub mod params;
pub mod pod_identity;
pub mod sessions;
mod status;
pub mod tags;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use time::OffsetDateTime;

use crate::config::{IamConfig, ProviderSpec, Role};
use crate::limits::RateLimiter;
use crate::policy::PolicyDocument;
use crate::providers::{ProviderError, Registry, VerifiedIdentity};
use crate::secret::SecretString;
use crate::session::{self, SessionClaims, SessionKeys};

use sessions::SessionCounter;

pub use crate::arn::CLAIM_BASED_ROLE_ARN as CLAIM_MODE_ROLE_ARN;
pub use error::ServiceError;
pub use params::{AssumeRoleRequest, RawAssumeRoleParams, RoleTarget};
pub use pod_identity::PodIdentityRequest;
pub use status::ProviderStatus;

use grant::{Grant, Trail};
/// Session policies larger than this (after normalisation) do not fit (AWS's packed limit).
const MAX_PACKED_POLICY_BYTES: usize = 2048;

/// Temporary credentials as returned to the caller.
#[derive(Debug, Clone)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: String,
    pub expiration: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRoleUser {
    /// `arn:aws:sts::[account:]assumed-role/<RoleName>/<RoleSessionName>`
    pub arn: String,
    /// `<RoleName>:<RoleSessionName>`
    pub assumed_role_id: String,
}

/// Everything the AssumeRoleWithWebIdentity response carries.
#[derive(Debug, Clone)]
pub struct AssumeRoleOutput {
    pub credentials: IssuedCredentials,
    pub subject: String,
    pub assumed_role_user: AssumedRoleUser,
    /// The web identity token's issuer.
    pub provider: String,
    /// The name of the configured provider that verified the token.
    pub provider_name: String,
    /// The audience value that matched the provider's client ids.
    pub audience: String,
    /// Present only when the request carried a session `Policy`.
    pub packed_policy_size: Option<u32>,
    /// From the token's `https://aws.amazon.com/source_identity` claim.
    pub source_identity: Option<String>,
}

/// What one configuration turns into: the file, its providers, the session keys and the rate
/// limits.
pub struct Runtime {
    config: IamConfig,
    registry: Registry,
    keys: SessionKeys,
    limits: RateLimiter,
}

impl Runtime {
    /// The validated configuration this runtime was built from.
    pub fn config(&self) -> &IamConfig {
        &self.config
    }

    fn build(config: IamConfig, previous: Option<&Runtime>) -> Result<Self, ProviderError> {
        let skew = config.sts.clock_skew;
        let registry = match previous {
            Some(old) => old.registry.rebuild(&config.providers, skew),
            None => Registry::new(&config.providers, skew),
        }?;
        let limits = RateLimiter::new(&config.sts.rate_limits, previous.map(|p| &p.limits));
        let keys = config.sts.session_keys();
        Ok(Self {
            config,
            registry,
            keys,
            limits,
        })
    }
}

/// The STS service. Cheap to clone; replicas built from the same file behave identically.
#[derive(Clone)]
pub struct StsService {
    runtime: Arc<ArcSwap<Runtime>>,
    sessions: Arc<SessionCounter>,
    revocations: Arc<guard::RevocationCounts>,
}

impl StsService {
    /// Fails only when a provider cannot be set up (e.g. an unreadable `tlsCaCert`).
    pub fn new(config: IamConfig) -> Result<Self, ProviderError> {
        let runtime = Runtime::build(config, None)?;
        Ok(Self {
            runtime: Arc::new(ArcSwap::from_pointee(runtime)),
            sessions: Arc::default(),
            revocations: Arc::default(),
        })
    }

    /// Start background work (JWKS prefetch). Must be called inside a Tokio runtime.
    pub fn start(&self) {
        self.runtime.load().registry.start();
    }

    /// Swap in a new configuration. JWKS caches of unchanged providers carry over; requests
    /// in flight finish on the configuration they started with.
    pub fn reload(&self, config: IamConfig) -> Result<(), ProviderError> {
        let current = self.runtime.load_full();
        let next = Runtime::build(config, Some(&current))?;
        next.registry.start();
        self.runtime.store(Arc::new(next));
        Ok(())
    }

    /// Sessions minted by this instance that have not expired at `now`.
    pub fn active_sessions(&self, now: OffsetDateTime) -> u64 {
        self.sessions.active(now.unix_timestamp())
    }

    /// The configuration currently serving requests.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    pub async fn assume_role_with_web_identity(
        &self,
        request: AssumeRoleRequest,
        now: OffsetDateTime,
    ) -> Result<AssumeRoleOutput, ServiceError> {
        let rt = self.runtime.load_full();
        // Before anything costs more than a table lookup.
        rt.limits.admit_source(request.source_ip, now)?;
        grant::precheck(&rt.config, &request, &mut Trail::off())?;
        let session_policy = request
            .policy
            .as_deref()
            .map(SessionPolicy::parse)
            .transpose()?;

        let identity = rt
            .registry
            .verify(&request.web_identity_token, now.unix_timestamp())
            .await?;
        self.issue(&rt, &identity, &request, session_policy, now)
    }

    /// The steps after verification, shared by AssumeRoleWithWebIdentity and pod identity: the
    /// role's trust policy (or claim-based mode), the duration, the session token and the
    /// credentials derived from it. Checks that every issuance must pass (revocation, rate limits
    /// per subject) belong here, so that both entry points apply them.
    fn issue(
        &self,
        rt: &Runtime,
        identity: &VerifiedIdentity,
        request: &AssumeRoleRequest,
        session_policy: Option<SessionPolicy>,
        now: OffsetDateTime,
    ) -> Result<AssumeRoleOutput, ServiceError> {
        rt.limits
            .admit_subject(&identity.provider, &identity.subject, now)?;
        let spec = rt
            .config
            .provider_by_name(&identity.provider)
            .ok_or_else(|| ServiceError::Internal {
                detail: format!("verified by unknown provider {}", identity.provider),
            })?;
        let attributes = tags::session_attributes(&spec.settings, &identity.claims)?;
        let grant = grant::resolve(
            &rt.config,
            spec,
            identity,
            &attributes,
            request,
            now.unix_timestamp(),
            &mut Trail::off(),
        )?;

        self.refuse_revoked_identity(rt, identity, grant.role, now)?;
        let duration = session_duration(&rt.config, grant.role, request.duration_seconds);
        let issued = mint(
            rt,
            spec,
            identity,
            request,
            &grant,
            &attributes,
            duration,
            session_policy.as_ref(),
            now,
        )?;
        self.sessions.record(
            issued.credentials.expiration.unix_timestamp(),
            now.unix_timestamp(),
        );
        Ok(AssumeRoleOutput {
            credentials: issued.credentials,
            subject: identity.subject.clone(),
            assumed_role_user: issued.user,
            provider: identity.issuer.clone(),
            provider_name: identity.provider.clone(),
            audience: identity.matched_audience.clone(),
            packed_policy_size: session_policy.map(|p| p.packed_size),
            source_identity: attributes.source_identity,
        })
    }
}

/// The request-context entries a session token always keeps: who the session is for. Every
/// `aws:` entry (principal tags, source identity) is kept too: a gateway may decide on them, in
/// a Deny as well as an Allow, so leaving one out could widen access.
const KEPT_CONTEXT: [&str; 2] = ["sub", "aws:userid"];

fn always_kept(key: &str) -> bool {
    KEPT_CONTEXT.contains(&key) || key.starts_with("aws:")
}

/// Mints the token, never larger than verification accepts
/// ([`session::MAX_SESSION_TOKEN_BYTES`]): when the claims copied from the web identity token
/// make it too large, the largest copied entries of `req_ctx` are left out, one at a time, until
/// it fits. What cannot be left out (subject, role, session policy) and still does not fit is
/// refused: a session token that every verifier would reject is never issued.
fn mint_within_limit(
    keys: &SessionKeys,
    claims: &mut SessionClaims,
) -> Result<String, ServiceError> {
    let mut token = keys.mint(claims);
    if token.len() <= session::MAX_SESSION_TOKEN_BYTES {
        return Ok(token);
    }
    let mut droppable: Vec<(usize, String)> = claims
        .req_ctx
        .iter()
        .filter(|(k, _)| !always_kept(k))
        .map(|(k, v)| (k.len() + v.to_string().len(), k.clone()))
        .collect();
    // Largest first; equal sizes by name, so that every replica leaves out the same entries.
    droppable.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut dropped = 0usize;
    for (_, key) in droppable {
        claims.req_ctx.remove(&key);
        dropped += 1;
        token = keys.mint(claims);
        if token.len() <= session::MAX_SESSION_TOKEN_BYTES {
            tracing::debug!(
                dropped,
                "identity claims left out of the session token to keep it within its size limit"
            );
            return Ok(token);
        }
    }
    if claims
        .req_ctx
        .keys()
        .any(|k| k.starts_with(tags::PRINCIPAL_TAG_PREFIX))
    {
        return Err(ServiceError::PackedPolicyTooLarge {
            message: "The session tags and session policy do not fit in a session token".into(),
        });
    }
    Err(ServiceError::IdpRejectedClaim {
        message: "The identity token's subject and the request do not fit in a session token"
            .into(),
    })
}

/// A validated inline session policy and its normalised form.
struct SessionPolicy {
    normalized: String,
    packed_size: u32,
}

impl SessionPolicy {
    fn parse(text: &str) -> Result<Self, ServiceError> {
        let malformed = |detail: String| ServiceError::MalformedPolicyDocument {
            message: format!("The session policy is not valid: {detail}"),
        };
        let doc = PolicyDocument::parse(text.trim()).map_err(|e| malformed(e.to_string()))?;
        if let Some(problem) = doc.validate_session().into_iter().next() {
            return Err(malformed(problem.to_string()));
        }
        let normalized = doc.normalized_json();
        let packed = normalized.len() * 100 / MAX_PACKED_POLICY_BYTES;
        if packed > 100 {
            return Err(ServiceError::PackedPolicyTooLarge {
                message: format!(
                    "Packed policy consumes {packed}% of allotted space, please use smaller policy"
                ),
            });
        }
        Ok(Self {
            normalized,
            packed_size: u32::try_from(packed).unwrap_or(100),
        })
    }
}

/// Requested duration (or `tokenDuration`), capped by the role and by `maxSessionLength`
/// (DESIGN.md §6.4). Credentials may outlive the web identity token, as on AWS.
fn session_duration(config: &IamConfig, role: Option<&Role>, requested: Option<u32>) -> Duration {
    let mut d = requested.map_or(config.sts.token_duration, |s| {
        Duration::from_secs(u64::from(s))
    });
    if let Some(max) = role.and_then(|r| r.max_session_duration) {
        d = d.min(max);
    }
    d.min(config.sts.max_session_length)
}

struct Minted {
    credentials: IssuedCredentials,
    user: AssumedRoleUser,
}

#[allow(clippy::too_many_arguments)]
fn mint(
    rt: &Runtime,
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    request: &AssumeRoleRequest,
    grant: &Grant<'_>,
    attributes: &tags::SessionAttributes,
    duration: Duration,
    session_policy: Option<&SessionPolicy>,
    now: OffsetDateTime,
) -> Result<Minted, ServiceError> {
    let sts = &rt.config.sts;
    let session_name = &request.role_session_name;
    let account = sts
        .account_id
        .as_deref()
        .map(|a| format!("{a}:"))
        .unwrap_or_default();
    // The token always carries the `aws` partition: that is what SeaweedFS gateways parse.
    let principal = format!(
        "arn:aws:sts::{account}assumed-role/{}/{session_name}",
        grant.role_name
    );
    let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
    let iat = now.unix_timestamp();
    let exp = iat.saturating_add(secs);
    let expiration =
        OffsetDateTime::from_unix_timestamp(exp).map_err(|e| ServiceError::Internal {
            detail: format!("expiry out of range: {e}"),
        })?;
    let sid = session::new_session_id();
    let puid = session::parent_user_id(&identity.subject, &identity.issuer);
    let mut claims = SessionClaims::new(&sts.issuer, &sid, iat, exp);
    claims.snam = session_name.clone();
    claims.role = grant.role_arn.clone();
    claims.assumed = principal.clone();
    claims.principal = principal.clone();
    claims.idp = identity.provider.clone();
    claims.ext_uid = identity.subject.clone();
    claims.prov_iss = identity.issuer.clone();
    claims.req_ctx = context::session_request_context(spec, identity, attributes, &puid);
    claims.max_dur = Some(secs);
    claims.puid = puid;
    claims.spol = session_policy.map(|p| p.normalized.clone());
    claims.pol = grant.policies.clone();
    let token = mint_within_limit(&rt.keys, &mut claims)?;
    let derived = rt.keys.credentials_for(&sid, sts.secret_derivation);
    Ok(Minted {
        credentials: IssuedCredentials {
            access_key_id: derived.access_key_id,
            secret_access_key: derived.secret_access_key,
            session_token: token,
            expiration,
        },
        user: AssumedRoleUser {
            arn: grant.partition.apply(&principal),
            assumed_role_id: format!("{}:{session_name}", grant.role_name),
        },
    })
}

#[cfg(test)]
mod tests;
