//! Pure policy evaluation with a per-statement trace (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).

use std::fmt;

use serde::Serialize;

use super::condition::{check_block, ConditionFailure, FailureReason};
use super::context::Context;
use super::model::{Effect, OneOrMany, PolicyDocument, Principal, PrincipalType, Statement};
use super::wildcard;

/// What is being asked of a policy.
#[derive(Debug, Clone, Copy)]
pub struct EvalRequest<'a> {
    /// e.g. `sts:AssumeRoleWithWebIdentity`.
    pub action: &'a str,
    /// The identifiers `Principal.Federated` may name for the token's provider (see [`federated_identifiers`]).
    pub federated: &'a [String],
    pub context: &'a Context,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    /// One entry per statement, in document order.
    pub statements: Vec<StatementTrace>,
}

impl Evaluation {
    pub fn is_allowed(&self) -> bool {
        matches!(self.decision, Decision::Allow { .. })
    }
}

/// The outcome; `statement` is the index of the first statement that decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Decision {
    Allow { statement: usize },
    ExplicitDeny { statement: usize },
    ImplicitDeny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementTrace {
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    pub outcome: StatementOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StatementOutcome {
    Matched,
    ActionNotMatched,
    PrincipalNotMatched,
    ConditionFailed(ConditionFailure),
}

/// Evaluates `doc` for `req`: an explicit Deny wins, then any Allow, else an implicit deny.
///
/// `Resource`/`NotResource` are not checked: stsd evaluates trust policies, whose actions are all
/// `sts:` actions, and IAM ignores the resource for those. Session policies are enforced by the
/// gateway, not here.
pub fn evaluate(doc: &PolicyDocument, req: &EvalRequest<'_>) -> Evaluation {
    let statements: Vec<StatementTrace> = doc
        .statements
        .iter()
        .enumerate()
        .map(|(index, statement)| StatementTrace {
            index,
            sid: statement.sid.clone(),
            effect: statement.effect,
            outcome: statement_outcome(statement, req),
        })
        .collect();
    let first_matching = |effect: Effect| {
        statements
            .iter()
            .find(|t| t.effect == effect && t.outcome == StatementOutcome::Matched)
            .map(|t| t.index)
    };
    let decision = if let Some(statement) = first_matching(Effect::Deny) {
        Decision::ExplicitDeny { statement }
    } else if let Some(statement) = first_matching(Effect::Allow) {
        Decision::Allow { statement }
    } else {
        Decision::ImplicitDeny
    };
    Evaluation {
        decision,
        statements,
    }
}

fn statement_outcome(statement: &Statement, req: &EvalRequest<'_>) -> StatementOutcome {
    let action_listed = |list: &OneOrMany<String>| {
        list.iter()
            .any(|pattern| wildcard::matches(pattern, req.action, true))
    };
    let action_matches = match (&statement.action, &statement.not_action) {
        (None, None) => false,
        (action, not_action) => {
            action.as_ref().is_none_or(action_listed)
                && !not_action.as_ref().is_some_and(action_listed)
        }
    };
    if !action_matches {
        return StatementOutcome::ActionNotMatched;
    }
    let principal_ok = statement
        .principal
        .as_ref()
        .is_none_or(|p| principal_matches(p, req.federated))
        && !statement
            .not_principal
            .as_ref()
            .is_some_and(|p| principal_matches(p, req.federated));
    if !principal_ok {
        return StatementOutcome::PrincipalNotMatched;
    }
    for block in &statement.condition {
        if let Err(failure) = check_block(block, req.context) {
            return StatementOutcome::ConditionFailed(failure);
        }
    }
    StatementOutcome::Matched
}

/// A web identity is named only by `Federated` entries (or `"*"`); AWS and Service principals
/// describe other callers and never match it.
fn principal_matches(principal: &Principal, federated: &[String]) -> bool {
    match principal {
        Principal::Any => true,
        Principal::Map(entries) => entries
            .iter()
            .filter(|(kind, _)| *kind == PrincipalType::Federated)
            .flat_map(|(_, values)| values.iter())
            .any(|value| {
                value == "*"
                    || federated
                        .iter()
                        .any(|identifier| federated_equal(value, identifier))
            }),
    }
}

/// Exact equality, except that an identifier `arn:<partition>:iam:::oidc-provider/<host/path>`
/// (no account configured) matches that provider ARN in any account.
fn federated_equal(policy_value: &str, identifier: &str) -> bool {
    if policy_value == identifier {
        return true;
    }
    match (
        oidc_provider_arn(identifier),
        oidc_provider_arn(policy_value),
    ) {
        (Some(("", id_partition, id_resource)), Some((_, partition, resource))) => {
            id_partition == partition && id_resource == resource
        }
        _ => false,
    }
}

/// (account, partition, `host/path`) of an `arn:<partition>:iam::<account>:oidc-provider/<host/path>`.
fn oidc_provider_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let host_path = resource.strip_prefix("oidc-provider/")?;
    Some((account, partition, host_path))
}

/// The issuer without its scheme or trailing slash (`oidc.example.com/id/ABC`): the prefix of
/// AWS-style condition keys (`<host/path>:sub`) and of the provider ARN.
pub fn issuer_host_path(issuer: &str) -> &str {
    let without_scheme = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer);
    without_scheme.trim_end_matches('/')
}

/// Every way a trust policy's `Principal.Federated` may name a provider: its configured name,
/// its issuer URL, and the AWS provider ARN `arn:aws:iam::<account>:oidc-provider/<host/path>`.
/// Without an account id the ARN is produced with an empty account, which matches any account.
pub fn federated_identifiers(
    provider_name: &str,
    issuer: &str,
    account_id: Option<&str>,
) -> Vec<String> {
    let arn = format!(
        "arn:aws:iam::{}:oidc-provider/{}",
        account_id.unwrap_or(""),
        issuer_host_path(issuer)
    );
    let mut identifiers = vec![provider_name.to_owned(), issuer.to_owned(), arn];
    identifiers.dedup();
    identifiers
}

impl fmt::Display for StatementTrace {
    /// One line for an operator: which statement, and exactly why it did or did not apply.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "statement {}", self.index)?;
        if let Some(sid) = &self.sid {
            write!(f, " ({sid})")?;
        }
        write!(f, " [{}]: ", self.effect)?;
        match &self.outcome {
            StatementOutcome::Matched => f.write_str("matched"),
            StatementOutcome::ActionNotMatched => f.write_str("action not matched"),
            StatementOutcome::PrincipalNotMatched => f.write_str("principal not matched"),
            StatementOutcome::ConditionFailed(failure) => {
                match failure.reason {
                    FailureReason::UnsupportedOperator => {
                        write!(f, "unsupported condition operator {}", failure.operator)?;
                        return Ok(());
                    }
                    FailureReason::NotSatisfied => {}
                }
                write!(
                    f,
                    "condition {} on {} failed: saw ",
                    failure.operator, failure.key
                )?;
                match &failure.seen {
                    Some(values) => write!(f, "{values:?}")?,
                    None => f.write_str("missing")?,
                }
                write!(f, ", expected {:?}", failure.expected)
            }
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow { statement } => write!(f, "allowed by statement {statement}"),
            Decision::ExplicitDeny { statement } => {
                write!(f, "explicitly denied by statement {statement}")
            }
            Decision::ImplicitDeny => f.write_str("no statement allows the request"),
        }
    }
}
