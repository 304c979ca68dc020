//! Operator views: what a session token says (validate-token) and a step-by-step dry run of
//! AssumeRoleWithWebIdentity that mints nothing. Neither ever returns a secret.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::policy::{Decision, StatementTrace};
use crate::providers::StepReport;
use crate::session::{self, SessionClaims};

use super::{
    error::ServiceError, evaluate_trust, find_role, guard, is_claim_mode, trust_verdict,
    AssumeRoleRequest, StsService,
};

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
    /// The claims minus `sid`, `sub` and `jti`: in the default derivation mode the session id
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
}

impl StsService {
    /// Verifies a session token with the current and previous signing keys.
    pub fn inspect_session_token(&self, token: &str, now: OffsetDateTime) -> SessionInspection {
        let rt = self.runtime();
        match rt.keys.verify(token, now.unix_timestamp()) {
            Ok(claims) if self.is_session_revoked(&rt, &claims) => SessionInspection {
                valid: false,
                reason: Some(REVOKED),
                session: None,
            },
            Ok(claims) => {
                let derived = session::derive_credentials(
                    &claims.sid,
                    rt.config.sts.secret_derivation,
                    &rt.config.sts.signing_key,
                );
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
                        expires_at: session::rfc3339_from_unix(claims.exp).unwrap_or_default(),
                        principal: claims.principal.clone(),
                        role: claims.role.clone(),
                        session_name: claims.snam.clone(),
                        provider: claims.idp.clone(),
                        subject: claims.ext_uid.clone(),
                        policies,
                        session_policy: claims.spol.is_some(),
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

    /// Runs every check of AssumeRoleWithWebIdentity in order and reports each one, stopping
    /// at the first failure, without minting anything.
    pub async fn explain(&self, request: &AssumeRoleRequest, now: OffsetDateTime) -> DryRun {
        let rt = self.runtime();
        let (verified, token_steps) = rt
            .registry
            .verify_explained(&request.web_identity_token, now.unix_timestamp())
            .await;
        let mut steps: Vec<DryRunStep> = token_steps.into_iter().map(DryRunStep::from).collect();
        let identity = match verified {
            Ok(identity) => identity,
            Err(e) => return DryRun::failed(steps, &ServiceError::from(e)),
        };
        let Some(arn) = request
            .role_arn
            .as_deref()
            .filter(|a| !is_claim_mode(Some(a)))
        else {
            steps.push(DryRunStep::plain(
                "role",
                false,
                "no RoleArn given: claim-based policy mode is not explained by the dry run".into(),
            ));
            return DryRun::failed(steps, &super::missing_role_arn());
        };
        let role = match find_role(&rt.config, arn) {
            Ok(role) => role,
            Err(e) => {
                steps.push(DryRunStep::plain(
                    "role",
                    false,
                    format!("no role matches {arn}"),
                ));
                return DryRun::failed(steps, &e);
            }
        };
        steps.push(DryRunStep::plain(
            "role",
            true,
            format!("role {}", role.role_name),
        ));
        let Some(spec) = rt.config.provider_by_name(&identity.provider) else {
            return DryRun::failed(
                steps,
                &ServiceError::Internal {
                    detail: String::new(),
                },
            );
        };
        let evaluation = evaluate_trust(
            &rt.config,
            spec,
            &identity,
            request,
            role,
            now.unix_timestamp(),
        );
        let detail = match evaluation.decision {
            Decision::Allow { statement } => format!("allowed by statement {statement}"),
            Decision::ExplicitDeny { statement } => format!("denied by statement {statement}"),
            Decision::ImplicitDeny => "no statement allows this token".to_string(),
        };
        let verdict = trust_verdict(&evaluation, role);
        steps.push(DryRunStep {
            step: "trust-policy",
            ok: verdict.is_ok(),
            detail,
            statements: evaluation.statements,
        });
        if verdict.is_ok() && !rt.config.sts.revoked.is_empty() {
            let rule = guard::revoking_rule(&rt, &identity, Some(role), now);
            let detail = match rule {
                Some(rule) => format!("refused by sts.revoked[{rule}]"),
                None => "no rule of sts.revoked applies".to_string(),
            };
            steps.push(DryRunStep::plain("revocation", rule.is_none(), detail));
            if rule.is_some() {
                return DryRun::failed(steps, &guard::revoked_identity());
            }
        }
        match verdict {
            Ok(()) => DryRun {
                allowed: true,
                code: None,
                steps,
            },
            Err(e) => DryRun::failed(steps, &e),
        }
    }
}

impl DryRun {
    fn failed(steps: Vec<DryRunStep>, error: &ServiceError) -> Self {
        Self {
            allowed: false,
            code: Some(error.aws_code()),
            steps,
        }
    }
}

impl DryRunStep {
    fn plain(step: &'static str, ok: bool, detail: String) -> Self {
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

fn public_claims(claims: &SessionClaims) -> Map<String, Value> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&claims.to_go_json()) else {
        return Map::new();
    };
    for key in SECRET_BEARING_CLAIMS {
        map.remove(key);
    }
    map
}
