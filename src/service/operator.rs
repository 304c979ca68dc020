//! Operator views: what a session token says (validate-token) and a step-by-step dry run of
//! AssumeRoleWithWebIdentity that mints nothing. Neither ever returns a secret.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::policy::StatementTrace;
use crate::providers::StepReport;
use crate::session::{self, SessionClaims};

use super::grant::{self, Trail};
use super::{error::ServiceError, guard, tags, AssumeRoleRequest, StsService};

/// The verdict on a session token. `reason` is one of the stable strings of
/// `SessionTokenError::reason` when `valid` is false.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInspection {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub access_key_id: String,
    pub expires_at: String,
    pub principal: String,
    pub role: String,
    pub session_name: String,
    pub provider: String,
    pub subject: String,
    pub policies: Vec<String>,
    pub session_policy: bool,
    /// Principal tags (`req_ctx`'s `aws:PrincipalTag/<key>` entries), by key.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// The claims minus `sid`, `sub` and `jti`: in the legacy derivation mode the session id
    /// alone yields the secret access key.
    pub claims: Map<String, Value>,
}

/// The `reason` of a session token that verifies but is revoked by `sts.revoked`.
pub const REVOKED: &str = "revoked";

/// Claims that would let a reader derive the session's secret.
const SECRET_BEARING_CLAIMS: [&str; 3] = ["sid", "sub", "jti"];

/// One dry-run step, in the order the real call runs them.
#[derive(Debug, Serialize)]
pub struct DryRunStep {
    pub step: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementTrace>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// Whether the real call would issue credentials.
    pub allowed: bool,
    /// The AWS error code the real call would return, when it would fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    pub steps: Vec<DryRunStep>,
    /// What the real call logs as a warning (policy-claim values naming no policy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl StsService {
    /// Verifies a session token with the current and previous signing keys.
    pub fn inspect_session_token(&self, token: &str, now: OffsetDateTime) -> SessionInspection {
        let rt = self.runtime();
        match rt
            .keys
            .open(token, now.unix_timestamp(), rt.config.sts.secret_derivation)
        {
            Ok(session::OpenSession { claims, .. }) if self.is_session_revoked(&rt, &claims) => {
                SessionInspection {
                    valid: false,
                    reason: Some(REVOKED),
                    session: None,
                }
            }
            Ok(session::OpenSession {
                claims,
                credentials: derived,
            }) => {
                let policies = claims.pol.clone().unwrap_or_else(|| {
                    rt.config
                        .role_by_arn(&claims.role)
                        .map(|r| r.attached_policies.clone())
                        .unwrap_or_default()
                });
                SessionInspection {
                    valid: true,
                    reason: None,
                    session: Some(SessionSummary {
                        access_key_id: derived.access_key_id,
                        expires_at: crate::timestamp::rfc3339_from_unix(claims.exp)
                            .unwrap_or_default(),
                        principal: claims.principal.clone(),
                        role: claims.role.clone(),
                        session_name: claims.snam.clone(),
                        provider: claims.idp.clone(),
                        subject: claims.ext_uid.clone(),
                        policies,
                        session_policy: claims.spol.is_some(),
                        tags: claims
                            .req_ctx
                            .iter()
                            .filter_map(|(k, v)| {
                                let key = k.strip_prefix(tags::PRINCIPAL_TAG_PREFIX)?;
                                Some((key.to_string(), v.as_str()?.to_string()))
                            })
                            .collect(),
                        source_identity: claims
                            .req_ctx
                            .get(tags::SOURCE_IDENTITY_KEY)
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        claims: public_claims(&claims),
                    }),
                }
            }
            Err(e) => SessionInspection {
                valid: false,
                reason: Some(e.reason()),
                session: None,
            },
        }
    }

    /// Runs every check of AssumeRoleWithWebIdentity in order, through the same role resolution
    /// as the real call, and reports each one, stopping at the first failure, without minting.
    pub async fn explain(&self, request: &AssumeRoleRequest, now: OffsetDateTime) -> DryRun {
        let rt = self.runtime();
        let mut trail = Trail::on();
        if let Err(e) = grant::precheck(&rt.config, request, &mut trail) {
            return DryRun::failed(trail, &e);
        }
        // The real call refuses a malformed session policy before verifying the token.
        if let Some(Err(e)) = request.policy.as_deref().map(super::SessionPolicy::parse) {
            trail.push(DryRunStep::plain("session-policy", false, e.to_string()));
            return DryRun::failed(trail, &e);
        }
        let (verified, token_steps) = rt
            .registry
            .verify_explained(&request.web_identity_token, now.unix_timestamp())
            .await;
        for step in token_steps {
            trail.push(DryRunStep::from(step));
        }
        let identity = match verified {
            Ok(identity) => identity,
            Err(e) => return DryRun::failed(trail, &ServiceError::from(e)),
        };
        let Some(spec) = rt.config.provider_by_name(&identity.provider) else {
            return DryRun::failed(
                trail,
                &ServiceError::Internal {
                    detail: String::new(),
                },
            );
        };
        let attributes = match tags::session_attributes(&spec.settings, &identity.claims) {
            Ok(attributes) => attributes,
            Err(e) => {
                trail.push(DryRunStep::plain(
                    "session-attributes",
                    false,
                    e.to_string(),
                ));
                return DryRun::failed(trail, &e);
            }
        };
        trail.push(attributes_step(&identity, &attributes));
        match grant::resolve(
            &rt.config,
            spec,
            &identity,
            &attributes,
            request,
            now.unix_timestamp(),
            &mut trail,
        ) {
            Ok(grant) => {
                if !rt.config.sts.revoked.is_empty() {
                    let rule = guard::revoking_rule(&rt, &identity, grant.role, now);
                    let detail = match rule {
                        Some(rule) => format!("refused by sts.revoked[{rule}]"),
                        None => "no rule of sts.revoked applies".to_string(),
                    };
                    trail.push(DryRunStep::plain("revocation", rule.is_none(), detail));
                    if rule.is_some() {
                        return DryRun::failed(trail, &guard::revoked_identity());
                    }
                }
                let (steps, warnings) = trail.into_parts();
                DryRun {
                    allowed: true,
                    code: None,
                    steps,
                    warnings,
                }
            }
            Err(e) => DryRun::failed(trail, &e),
        }
    }
}

impl DryRun {
    fn failed(trail: Trail, error: &ServiceError) -> Self {
        let (steps, warnings) = trail.into_parts();
        Self {
            allowed: false,
            code: Some(error.aws_code()),
            steps,
            warnings,
        }
    }
}

impl DryRunStep {
    pub(super) fn plain(step: &'static str, ok: bool, detail: String) -> Self {
        Self {
            step,
            ok,
            detail,
            statements: Vec::new(),
        }
    }
}

impl From<StepReport> for DryRunStep {
    fn from(r: StepReport) -> Self {
        Self::plain(r.step, r.ok, r.detail)
    }
}

/// Which tags the session would carry, and each claim or tag left out with its rule. Tag values
/// are shown: the dry run is an operator's view of a token the operator holds.
fn attributes_step(
    identity: &crate::providers::VerifiedIdentity,
    attributes: &tags::SessionAttributes,
) -> DryRunStep {
    let mut parts = Vec::new();
    if attributes.tags.is_empty() {
        parts.push("no session tags".to_string());
    } else {
        let taken: Vec<String> = attributes
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.push(format!("session tags taken: {}", taken.join(", ")));
    }
    if let Some(source) = &attributes.source_identity {
        parts.push(format!("source identity {source}"));
    }
    for note in &attributes.notes {
        parts.push(format!("tag {:?} left out: {}", note.name, note.reason));
    }
    for claim in identity.claims.keys() {
        if let Some(rule) = tags::reserved_claim_name(claim) {
            parts.push(format!(
                "claim {claim:?} not copied into the session: {rule}"
            ));
        }
    }
    DryRunStep::plain("session-attributes", true, parts.join("; "))
}

fn public_claims(claims: &SessionClaims) -> Map<String, Value> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&claims.to_go_json()) else {
        return Map::new();
    };
    for key in SECRET_BEARING_CLAIMS {
        map.remove(key);
    }
    map
}
