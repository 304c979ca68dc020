//! AssumeRoleWithWebIdentity orchestration: verify the token, check the trust policy, cap the
//! duration, mint the session. No HTTP types here; the clock is an argument.

pub mod caller;
pub mod context;
pub mod error;
pub mod operator;
pub mod params;
pub mod pod_identity;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use time::OffsetDateTime;

use crate::config::{IamConfig, ProviderSpec, Role};
use crate::policy::{self, Decision, EvalRequest, Evaluation, PolicyDocument};
use crate::providers::{ProviderError, Registry, VerifiedIdentity};
use crate::secret::SecretString;
use crate::session::{self, SessionClaims, SessionKeys};

use sessions::SessionCounter;

pub use error::ServiceError;
pub use params::{AssumeRoleRequest, RawAssumeRoleParams};
pub use pod_identity::PodIdentityRequest;

/// The role ARN SeaweedFS reserves for claim-based policy mode (seaweedfs-sts.md §8.3).
pub const CLAIM_MODE_ROLE_ARN: &str = "arn:aws:iam:::role/sts-claim-based";
const CLAIM_MODE_ROLE_NAME: &str = "sts-claim-based";
const WEB_IDENTITY_ACTION: &str = "sts:AssumeRoleWithWebIdentity";
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
}

/// What one configuration turns into: the file, its providers, and the session keys.
pub struct Runtime {
    pub config: IamConfig,
    pub registry: Registry,
    pub keys: SessionKeys,
}

impl Runtime {
    fn build(config: IamConfig, previous: Option<&Registry>) -> Result<Self, ProviderError> {
        let skew = config.sts.clock_skew;
        let registry = match previous {
            Some(old) => old.rebuild(&config.providers, skew),
            None => Registry::new(&config.providers, skew),
        }?;
        let keys = SessionKeys {
            issuer: config.sts.issuer.clone(),
            current: config.sts.signing_key.clone(),
            previous: config.sts.previous_signing_keys.clone(),
        };
        Ok(Self {
            config,
            registry,
            keys,
        })
    }
}

/// The STS service. Cheap to clone; replicas built from the same file behave identically.
#[derive(Clone)]
pub struct StsService {
    runtime: Arc<ArcSwap<Runtime>>,
    sessions: Arc<SessionCounter>,
}

impl StsService {
    /// Fails only when a provider cannot be set up (e.g. an unreadable `tlsCaCert`).
    pub fn new(config: IamConfig) -> Result<Self, ProviderError> {
        let runtime = Runtime::build(config, None)?;
        Ok(Self {
            runtime: Arc::new(ArcSwap::from_pointee(runtime)),
            sessions: Arc::default(),
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
        let next = Runtime::build(config, Some(&current.registry))?;
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
        let claim_mode = is_claim_mode(request.role_arn.as_deref());
        if claim_mode && !rt.config.providers.iter().any(has_policy_claim) {
            return Err(missing_role_arn());
        }
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
        let claim_mode = is_claim_mode(request.role_arn.as_deref());
        let spec = rt
            .config
            .providers
            .iter()
            .find(|p| p.name == identity.provider)
            .ok_or_else(|| ServiceError::Internal {
                detail: format!("verified by unknown provider {}", identity.provider),
            })?;

        let grant = if claim_mode {
            claim_mode_grant(spec, identity, request.role_arn.as_deref())?
        } else {
            let arn = request.role_arn.as_deref().unwrap_or_default();
            role_grant(
                &rt.config,
                spec,
                identity,
                request,
                arn,
                now.unix_timestamp(),
            )?
        };

        let duration = session_duration(&rt.config, grant.role, request.duration_seconds);
        let issued = mint(
            rt,
            spec,
            identity,
            request,
            &grant,
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
        })
    }
}

fn is_claim_mode(role_arn: Option<&str>) -> bool {
    matches!(role_arn, None | Some("") | Some(CLAIM_MODE_ROLE_ARN))
}

fn has_policy_claim(spec: &ProviderSpec) -> bool {
    spec.enabled && spec.settings.policy_claim.is_some()
}

fn missing_role_arn() -> ServiceError {
    ServiceError::MissingParameter {
        message: "The request must contain the parameter RoleArn".into(),
    }
}

/// What the caller is granted: a configured role, or claim-based policies.
struct Grant<'a> {
    role: Option<&'a Role>,
    /// The RoleArn exactly as supplied (SeaweedFS copies it verbatim into `role`).
    role_arn: String,
    role_name: String,
    policies: Option<Vec<String>>,
}

fn claim_mode_grant<'a>(
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    requested: Option<&str>,
) -> Result<Grant<'a>, ServiceError> {
    let Some(claim) = spec.settings.policy_claim.as_deref() else {
        return Err(missing_role_arn());
    };
    let policies = context::policy_names(identity.claims.get(claim));
    if policies.is_empty() {
        return Err(ServiceError::AccessDenied {
            message: format!(
                "claim-based policy mode requires the identity provider to emit policies in the '{claim}' claim"
            ),
        });
    }
    Ok(Grant {
        role: None,
        role_arn: requested.unwrap_or(CLAIM_MODE_ROLE_ARN).to_string(),
        role_name: CLAIM_MODE_ROLE_NAME.to_string(),
        policies: Some(policies),
    })
}

fn role_grant<'a>(
    config: &'a IamConfig,
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    request: &AssumeRoleRequest,
    arn: &str,
    now: i64,
) -> Result<Grant<'a>, ServiceError> {
    let role = find_role(config, arn)?;
    let evaluation = evaluate_trust(config, spec, identity, request, role, now);
    trust_verdict(&evaluation, role)?;
    Ok(Grant {
        role: Some(role),
        role_arn: arn.to_string(),
        role_name: role.role_name.clone(),
        policies: None,
    })
}

fn find_role<'a>(config: &'a IamConfig, arn: &str) -> Result<&'a Role, ServiceError> {
    config
        .role_by_arn(arn)
        .ok_or_else(|| ServiceError::AccessDenied {
            message: format!(
                "Not authorized to perform sts:AssumeRoleWithWebIdentity: role {arn} does not exist"
            ),
        })
}

/// The role's trust policy applied to this token and request.
fn evaluate_trust(
    config: &IamConfig,
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    request: &AssumeRoleRequest,
    role: &Role,
    now: i64,
) -> Evaluation {
    let ctx = context::trust_context(spec, identity, request, now, &role.trust_keys);
    let federated = policy::federated_identifiers(
        &spec.name,
        &spec.settings.issuer,
        config.sts.account_id.as_deref(),
    );
    policy::evaluate(
        &role.trust_policy,
        &EvalRequest {
            action: WEB_IDENTITY_ACTION,
            federated: &federated,
            context: &ctx,
        },
    )
}

/// Deny wins over Allow; no matching Allow is a denial too. The message says which, so an
/// operator can tell a missing statement from an explicit Deny without seeing the token.
fn trust_verdict(evaluation: &Evaluation, role: &Role) -> Result<(), ServiceError> {
    match evaluation.decision {
        Decision::Allow { .. } => Ok(()),
        Decision::ExplicitDeny { statement } => Err(ServiceError::AccessDenied {
            message: format!(
                "Not authorized to perform sts:AssumeRoleWithWebIdentity: statement {statement} of the trust policy of role {} explicitly denies this token",
                role.role_name
            ),
        }),
        Decision::ImplicitDeny => Err(ServiceError::AccessDenied {
            message: format!(
                "Not authorized to perform sts:AssumeRoleWithWebIdentity: no statement of the trust policy of role {} allows this token (POST /sts/validate-token explains why)",
                role.role_name
            ),
        }),
    }
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
    claims.req_ctx = context::session_request_context(spec, identity, &puid);
    claims.max_dur = Some(secs);
    claims.puid = puid;
    claims.spol = session_policy.map(|p| p.normalized.clone());
    claims.pol = grant.policies.clone();
    let token = rt.keys.mint(&claims);
    let derived = session::derive_credentials(&sid, sts.secret_derivation, &sts.signing_key);
    Ok(Minted {
        credentials: IssuedCredentials {
            access_key_id: derived.access_key_id,
            secret_access_key: derived.secret_access_key,
            session_token: token,
            expiration,
        },
        user: AssumedRoleUser {
            arn: principal,
            assumed_role_id: format!("{}:{session_name}", grant.role_name),
        },
    })
}

#[cfg(test)]
mod tests;
