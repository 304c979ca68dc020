//! Semantic checks that make a structurally valid document usable as a trust or a session policy.

use super::condition::value_is_well_formed;
use super::model::{OneOrMany, Operator, OperatorKind, PolicyDocument, Principal, Statement};
use super::parse::child_path;
use super::{wildcard, PolicyError, VERSION_2008, VERSION_2012};

/// The STS actions a trust policy may grant.
pub const TRUST_ACTIONS: [&str; 5] = [
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRole",
    "sts:TagSession",
    "sts:SetSourceIdentity",
    "sts:AssumeRoleWithCredentials",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    Trust,
    Session,
}

pub(super) fn validate(doc: &PolicyDocument, usage: Use) -> Vec<PolicyError> {
    let mut problems = Vec::new();
    if doc.version.is_empty() {
        problems.push(PolicyError::new("Version", "is required"));
    } else if doc.version != VERSION_2012 && doc.version != VERSION_2008 {
        problems.push(PolicyError::new(
            "Version",
            format!("must be \"{VERSION_2012}\" or \"{VERSION_2008}\""),
        ));
    }
    if doc.statements.is_empty() {
        problems.push(PolicyError::new(
            "Statement",
            "at least one statement is required",
        ));
    }
    for (index, statement) in doc.statements.iter().enumerate() {
        // IAM requires a Sid to be unique within its policy, so traces can name statements by it.
        if let Some(sid) = statement.sid.as_deref().filter(|sid| !sid.is_empty()) {
            let first = doc.statements[..index]
                .iter()
                .position(|earlier| earlier.sid.as_deref() == Some(sid));
            if let Some(first) = first {
                problems.push(PolicyError::new(
                    format!("{}.Sid", doc.statement_path(index)),
                    format!("duplicates the Sid of {}", doc.statement_path(first)),
                ));
            }
        }
        validate_statement(statement, &doc.statement_path(index), usage, &mut problems);
    }
    problems
}

fn validate_statement(
    statement: &Statement,
    path: &str,
    usage: Use,
    problems: &mut Vec<PolicyError>,
) {
    let mut problem = |field: &str, message: String| {
        problems.push(PolicyError::new(format!("{path}.{field}"), message));
    };
    pair(
        "Action",
        statement.action.as_ref().map(OneOrMany::is_empty),
        statement.not_action.as_ref().map(OneOrMany::is_empty),
        &mut problem,
    );
    match usage {
        Use::Trust => {
            pair(
                "Principal",
                statement.principal.as_ref().map(principal_is_empty),
                statement.not_principal.as_ref().map(principal_is_empty),
                &mut problem,
            );
            for (field, list) in [
                ("Action", &statement.action),
                ("NotAction", &statement.not_action),
            ] {
                let Some(list) = list else { continue };
                for (item_path, action) in items(field, list) {
                    let grantable = TRUST_ACTIONS
                        .iter()
                        .any(|known| wildcard::matches(action, known, true));
                    if !grantable {
                        problem(
                            &item_path,
                            format!("\"{action}\" is not an STS action a trust policy can name"),
                        );
                    }
                }
            }
        }
        Use::Session => {
            for (field, present) in [
                ("Principal", statement.principal.is_some()),
                ("NotPrincipal", statement.not_principal.is_some()),
            ] {
                if present {
                    problem(
                        field,
                        "is not allowed in a session or identity policy".to_owned(),
                    );
                }
            }
            pair(
                "Resource",
                statement.resource.as_ref().map(OneOrMany::is_empty),
                statement.not_resource.as_ref().map(OneOrMany::is_empty),
                &mut problem,
            );
        }
    }
    for block in &statement.condition {
        let block_path = child_path("Condition", &block.operator.to_string());
        let kind = match &block.operator {
            Operator::Known { kind, .. } => *kind,
            Operator::Unknown(_) => {
                problem(&block_path, "unsupported condition operator".to_owned());
                continue;
            }
        };
        if block.entries.is_empty() {
            problem(
                &block_path,
                "must name at least one condition key".to_owned(),
            );
        }
        for entry in &block.entries {
            let key_path = child_path(&block_path, &entry.key);
            if entry.values.is_empty() {
                problem(&key_path, "must have at least one value".to_owned());
            }
            let values: Vec<_> = match &entry.values {
                OneOrMany::One(value) => vec![(key_path.clone(), value)],
                OneOrMany::Many(values) => values
                    .iter()
                    .enumerate()
                    .map(|(i, value)| (format!("{key_path}[{i}]"), value))
                    .collect(),
            };
            for (value_path, value) in values {
                if !value_is_well_formed(kind, &value.text) {
                    problem(
                        &value_path,
                        format!("\"{}\" is not {}", value.text, expectation(kind)),
                    );
                }
            }
        }
    }
}

/// Checks an element that must appear in exactly one of its two forms (`Action` / `NotAction`),
/// non-empty. Each side is `Some(is_empty)` when present.
fn pair(
    field: &str,
    positive: Option<bool>,
    negative: Option<bool>,
    problem: &mut impl FnMut(&str, String),
) {
    let not_field = format!("Not{field}");
    match (positive, negative) {
        (None, None) => problem(field, format!("is required (or {not_field})")),
        (Some(_), Some(_)) => problem(&not_field, format!("cannot be combined with {field}")),
        _ => {}
    }
    if positive == Some(true) {
        problem(field, "must not be empty".to_owned());
    }
    if negative == Some(true) {
        problem(&not_field, "must not be empty".to_owned());
    }
}

fn principal_is_empty(principal: &Principal) -> bool {
    match principal {
        Principal::Any => false,
        Principal::Map(entries) => {
            entries.is_empty() || entries.iter().all(|(_, values)| values.is_empty())
        }
    }
}

/// Each item of a list with its path: `Action` for a single string, `Action[i]` in an array.
fn items<'a>(field: &str, list: &'a OneOrMany<String>) -> Vec<(String, &'a str)> {
    match list {
        OneOrMany::One(item) => vec![(field.to_owned(), item.as_str())],
        OneOrMany::Many(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("{field}[{i}]"), item.as_str()))
            .collect(),
    }
}

fn expectation(kind: OperatorKind) -> &'static str {
    use OperatorKind as K;
    match kind {
        K::NumericEquals
        | K::NumericNotEquals
        | K::NumericLessThan
        | K::NumericLessThanEquals
        | K::NumericGreaterThan
        | K::NumericGreaterThanEquals => "a number",
        K::DateEquals
        | K::DateNotEquals
        | K::DateLessThan
        | K::DateLessThanEquals
        | K::DateGreaterThan
        | K::DateGreaterThanEquals => "a date (RFC 3339 / ISO 8601 or epoch seconds)",
        K::Bool | K::Null => "\"true\" or \"false\"",
        K::IpAddress | K::NotIpAddress => "an IP address or CIDR block",
        K::ArnEquals | K::ArnNotEquals | K::ArnLike | K::ArnNotLike => "an ARN",
        K::StringEquals
        | K::StringNotEquals
        | K::StringEqualsIgnoreCase
        | K::StringNotEqualsIgnoreCase
        | K::StringLike
        | K::StringNotLike
        | K::StringLikeIgnoreCase
        | K::StringNotLikeIgnoreCase => "a string with well-formed policy variables",
    }
}
