//! What a verified token is granted for a `RoleArn`: a configured role whose trust policy allows
//! it, or policies named by the provider's `policyClaim` (SeaweedFS's claim-based mode and WEKA's
//! role-to-policy pattern). The real call and the dry run both run these steps; the dry run
//! records them in a [`Trail`].

use crate::arn::{Partition, CLAIM_BASED_ROLE_NAME};
use crate::config::{IamConfig, ProviderSpec, Role};
use crate::policy::{self, Decision, EvalRequest, Evaluation};
use crate::providers::VerifiedIdentity;

use super::context;
use super::operator::DryRunStep;
use super::params::RoleTarget;
use super::tags::SessionAttributes;
use super::{AssumeRoleRequest, ServiceError};

const WEB_IDENTITY_ACTION: &str = "sts:AssumeRoleWithWebIdentity";
const TAG_SESSION_ACTION: &str = "sts:TagSession";
const SET_SOURCE_IDENTITY_ACTION: &str = "sts:SetSourceIdentity";

/// What the caller is granted: a configured role, or policies from the token's policy claim.
pub(super) struct Grant<'a> {
    pub role: Option<&'a Role>,
    /// The RoleArn exactly as supplied (SeaweedFS copies it verbatim into `role`).
    pub role_arn: String,
    /// The `<RoleName>` of `assumed-role/<RoleName>/<session>`.
    pub role_name: String,
    /// The partition of the answers: the configured role's, else the requested ARN's.
    pub partition: Partition,
    /// Policy names for the session's `pol` claim (claim-based grants only).
    pub policies: Option<Vec<String>>,
}

/// The steps of a dry run and the warnings met on the way. The real call uses
/// [`Trail::off`], which formats nothing.
pub struct Trail {
    steps: Option<Vec<DryRunStep>>,
    warnings: Vec<String>,
}

impl Trail {
    pub fn off() -> Self {
        Self {
            steps: None,
            warnings: Vec::new(),
        }
    }

    pub fn on() -> Self {
        Self {
            steps: Some(Vec::new()),
            warnings: Vec::new(),
        }
    }

    pub fn push(&mut self, step: DryRunStep) {
        if let Some(steps) = &mut self.steps {
            steps.push(step);
        }
    }

    fn record(&mut self, step: &'static str, ok: bool, detail: impl FnOnce() -> String) {
        if self.steps.is_some() {
            self.push(DryRunStep::plain(step, ok, detail()));
        }
    }

    fn warn(&mut self, message: impl FnOnce() -> String) {
        if self.steps.is_some() {
            self.warnings.push(message());
        }
    }

    pub fn into_parts(self) -> (Vec<DryRunStep>, Vec<String>) {
        (self.steps.unwrap_or_default(), self.warnings)
    }
}

/// Checks that need no token: a claim-based request is refused before any verification when no
/// enabled provider has a `policyClaim`.
pub(super) fn precheck(
    config: &IamConfig,
    request: &AssumeRoleRequest,
    trail: &mut Trail,
) -> Result<(), ServiceError> {
    if request.role.is_claim_based() && !config.providers.iter().any(has_policy_claim) {
        trail.record("role", false, || {
            "no RoleArn (or the claim-based one) and no provider has a policyClaim".into()
        });
        return Err(missing_role_arn());
    }
    Ok(())
}

fn has_policy_claim(spec: &ProviderSpec) -> bool {
    spec.enabled && spec.settings.policy_claim.is_some()
}

pub(super) fn missing_role_arn() -> ServiceError {
    ServiceError::MissingParameter {
        message: "The request must contain the parameter RoleArn".into(),
    }
}

/// The verified token and what it brings to the session, as the trust policy sees them.
pub(super) struct Caller<'c> {
    pub spec: &'c ProviderSpec,
    pub identity: &'c VerifiedIdentity,
    pub attributes: &'c SessionAttributes,
}

/// Resolves `request.role` for a token verified by `spec`.
pub(super) fn resolve<'a>(
    config: &'a IamConfig,
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    attributes: &SessionAttributes,
    request: &AssumeRoleRequest,
    now: i64,
    trail: &mut Trail,
) -> Result<Grant<'a>, ServiceError> {
    let caller = Caller {
        spec,
        identity,
        attributes,
    };
    match &request.role {
        RoleTarget::ClaimBased { arn, partition } => {
            claim_based(config, spec, identity, arn, *partition, trail)
        }
        RoleTarget::Named {
            arn,
            partition,
            name,
        } => {
            if let Some(role) = config.role_by_arn(arn) {
                return configured_role(config, &caller, request, role, now, trail);
            }
            if let Some(claim) = spec.settings.policy_claim.as_deref() {
                let target = NamedValue {
                    arn,
                    partition: *partition,
                    name,
                };
                return claim_value(config, spec, claim, identity, &target, trail);
            }
            trail.record("role", false, || format!("no role matches {arn}"));
            tracing::debug!("AccessDenied: no role matches the RoleArn");
            Err(not_authorized())
        }
    }
}

/// The one AccessDenied message of role resolution, as AWS words it. A missing role, an explicit
/// Deny, a missing Allow and a claim value that grants nothing all answer with it, so callers
/// cannot tell existing roles or policies from missing ones; the operator's dry run says which.
pub(super) fn not_authorized() -> ServiceError {
    ServiceError::AccessDenied {
        message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
    }
}

fn configured_role<'a>(
    config: &IamConfig,
    caller: &Caller<'_>,
    request: &AssumeRoleRequest,
    role: &'a Role,
    now: i64,
    trail: &mut Trail,
) -> Result<Grant<'a>, ServiceError> {
    trail.record("role", true, || format!("role {}", role.role_name));
    let evaluation = evaluate_trust(config, caller, request, role, WEB_IDENTITY_ACTION, now);
    let verdict = trust_verdict(&evaluation, role);
    if trail.steps.is_some() {
        let detail = match evaluation.decision {
            Decision::Allow { statement } => format!("allowed by statement {statement}"),
            Decision::ExplicitDeny { statement } => format!("denied by statement {statement}"),
            Decision::ImplicitDeny => "no statement allows this token".to_string(),
        };
        trail.push(DryRunStep {
            step: "trust-policy",
            ok: verdict.is_ok(),
            detail,
            statements: evaluation.statements,
        });
    }
    verdict?;
    for action in gated_actions(role, caller.attributes) {
        let evaluation = evaluate_trust(config, caller, request, role, action, now);
        let ok = evaluation.is_allowed();
        if trail.steps.is_some() {
            trail.push(DryRunStep {
                step: "trust-policy-tags",
                ok,
                detail: format!(
                    "the trust policy names {action}: {}",
                    if ok { "allowed" } else { "not allowed" }
                ),
                statements: evaluation.statements,
            });
        }
        if !ok {
            return Err(ServiceError::AccessDenied {
                message: format!(
                    "Not authorized to perform {action}: the trust policy of role {} names \
                     {action} and does not allow it for this token",
                    role.role_name
                ),
            });
        }
    }
    Ok(Grant {
        role: Some(role),
        role_arn: request.role.arn().to_owned(),
        role_name: role.role_name.clone(),
        partition: role.partition,
        policies: None,
    })
}

/// The AWS permissions a token's tags and source identity need: only where the role's trust
/// policy names them (AWS-style); otherwise tags are governed by `allowedPrincipalTagKeys` and
/// conditions on `aws:RequestTag/…` alone, which SeaweedFS gateways also accept.
fn gated_actions(role: &Role, attributes: &SessionAttributes) -> Vec<&'static str> {
    let mut actions = Vec::new();
    if !attributes.tags.is_empty() && role.trust_policy.may_allow_action(TAG_SESSION_ACTION) {
        actions.push(TAG_SESSION_ACTION);
    }
    if attributes.source_identity.is_some()
        && role
            .trust_policy
            .may_allow_action(SET_SOURCE_IDENTITY_ACTION)
    {
        actions.push(SET_SOURCE_IDENTITY_ACTION);
    }
    actions
}

/// The role's trust policy applied to this token and request, for `action`.
fn evaluate_trust(
    config: &IamConfig,
    caller: &Caller<'_>,
    request: &AssumeRoleRequest,
    role: &Role,
    action: &str,
    now: i64,
) -> Evaluation {
    let Caller {
        spec,
        identity,
        attributes,
    } = *caller;
    let ctx = context::trust_context(spec, identity, attributes, request, now, &role.trust_keys);
    let federated = policy::federated_identifiers(
        &spec.name,
        &spec.settings.issuer,
        config.sts.account_id.as_deref(),
    );
    policy::evaluate(
        &role.trust_policy,
        &EvalRequest {
            action,
            federated: &federated,
            context: &ctx,
        },
    )
}

/// Deny wins over Allow; no matching Allow is a denial too. Both answer with the message of an
/// unknown role (see [`not_authorized`]); the reason goes to the debug log and the dry run.
fn trust_verdict(evaluation: &Evaluation, role: &Role) -> Result<(), ServiceError> {
    match evaluation.decision {
        Decision::Allow { .. } => Ok(()),
        Decision::ExplicitDeny { statement } => {
            tracing::debug!(role = %role.role_name, statement, "AccessDenied: explicit Deny in the trust policy");
            Err(not_authorized())
        }
        Decision::ImplicitDeny => {
            tracing::debug!(role = %role.role_name, "AccessDenied: no trust policy statement allows the token");
            Err(not_authorized())
        }
    }
}

/// A named RoleArn that matches no configured role.
struct NamedValue<'r> {
    arn: &'r str,
    partition: Partition,
    name: &'r str,
}

/// WEKA's pattern: the RoleArn's name is a value of the token's policy claim and the name of a
/// policy. The claim is the IdP's statement that the token holds that role, so no trust policy
/// is involved; a value the token does not carry is never granted.
fn claim_value<'a>(
    config: &IamConfig,
    spec: &ProviderSpec,
    claim: &str,
    identity: &VerifiedIdentity,
    target: &NamedValue<'_>,
    trail: &mut Trail,
) -> Result<Grant<'a>, ServiceError> {
    let NamedValue {
        arn,
        partition,
        name,
    } = *target;
    let values = context::policy_names(identity.claims.get(claim));
    if !values.iter().any(|v| v == name) {
        trail.record("role", false, || {
            format!(
                "no role matches {arn}, and {name:?} is not a value of the token's '{claim}' claim"
            )
        });
        return Err(not_authorized());
    }
    if config.policy(name).is_none() {
        tracing::warn!(provider = %spec.name, claim, value = ?name,
            "a value of the policy claim names no configured policy; ignored");
        trail.warn(|| format!("'{claim}' value {name:?} names no configured policy; ignored"));
        trail.record("policy-claim", false, || {
            format!("the token's '{claim}' claim carries {name:?}, but no policy has that name")
        });
        return Err(not_authorized());
    }
    trail.record("policy-claim", true, || {
        format!("policy {name} from the token's '{claim}' claim")
    });
    Ok(Grant {
        role: None,
        role_arn: arn.to_owned(),
        role_name: name.to_owned(),
        partition,
        policies: Some(vec![name.to_owned()]),
    })
}

/// SeaweedFS's claim-based mode (seaweedfs-sts.md §8.3), narrowed to the values that name a
/// configured policy: the others are ignored with a warning, and none left is a denial.
fn claim_based<'a>(
    config: &IamConfig,
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    arn: &str,
    partition: Partition,
    trail: &mut Trail,
) -> Result<Grant<'a>, ServiceError> {
    let Some(claim) = spec.settings.policy_claim.as_deref() else {
        trail.record("role", false, || {
            format!(
                "provider {} has no policyClaim: the request needs a RoleArn",
                spec.name
            )
        });
        return Err(missing_role_arn());
    };
    let values = context::policy_names(identity.claims.get(claim));
    if values.is_empty() {
        trail.record("policy-claim", false, || {
            format!("the token has no '{claim}' claim")
        });
        return Err(ServiceError::AccessDenied {
            message: format!(
                "claim-based policy mode requires the identity provider to emit policies in the '{claim}' claim"
            ),
        });
    }
    let mut granted: Vec<String> = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    for value in values {
        let list = if config.policy(&value).is_some() {
            &mut granted
        } else {
            &mut ignored
        };
        if !list.contains(&value) {
            list.push(value);
        }
    }
    if !ignored.is_empty() {
        tracing::warn!(provider = %spec.name, claim, values = ?ignored,
            "values of the policy claim name no configured policy; ignored");
        trail.warn(|| format!("'{claim}' values {ignored:?} name no configured policy; ignored"));
    }
    if granted.is_empty() {
        trail.record("policy-claim", false, || {
            format!("no value of the token's '{claim}' claim names a configured policy")
        });
        return Err(not_authorized());
    }
    trail.record("policy-claim", true, || {
        format!(
            "policies [{}] from the token's '{claim}' claim",
            granted.join(", ")
        )
    });
    Ok(Grant {
        role: None,
        role_arn: arn.to_owned(),
        role_name: CLAIM_BASED_ROLE_NAME.to_owned(),
        partition,
        policies: Some(granted),
    })
}
