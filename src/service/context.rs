//! The condition-key context of a trust-policy evaluation (DESIGN.md §6.3) and the `req_ctx`
//! claim of a session token (seaweedfs-sts.md §1.4), both derived from a verified identity.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::ProviderSpec;
use crate::policy::{issuer_host_path, wildcard, Context, ContextValue};
use crate::providers::VerifiedIdentity;

use super::AssumeRoleRequest;

/// Claims SeaweedFS keeps out of the flattened attributes of `req_ctx`.
const NON_ATTRIBUTE_CLAIMS: [&str; 11] = [
    "sub", "email", "name", "groups", "roles", "iss", "aud", "exp", "iat", "nbf", "jti",
];

/// Nested object claims are flattened this deep (`oidc:kubernetes.io/serviceaccount/name`).
const MAX_CLAIM_DEPTH: usize = 4;

/// Context keys for the trust policy: `oidc:<claim>` for every claim, the AWS forms
/// `<issuer host/path>:<claim>`, and the `aws:`/`sts:` keys.
pub fn trust_context(
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    request: &AssumeRoleRequest,
    now: i64,
) -> Context {
    let mut ctx = Context::new();
    let host_path = issuer_host_path(&identity.issuer);
    for (claim, value) in &identity.claims {
        insert_claim(&mut ctx, &format!("oidc:{claim}"), value, 0);
        if !host_path.is_empty() {
            insert_claim(&mut ctx, &format!("{host_path}:{claim}"), value, 0);
        }
    }
    ctx.insert("oidc:sub", identity.subject.clone());
    ctx.insert("oidc:iss", identity.issuer.clone());
    ctx.insert("aws:FederatedProvider", spec.name.clone());
    ctx.insert("aws:userid", identity.subject.clone());
    ctx.insert("sts:RoleSessionName", request.role_session_name.clone());
    if let Some(d) = request.duration_seconds {
        ctx.insert("sts:DurationSeconds", d.to_string());
    }
    if let Some(ip) = request.source_ip {
        ctx.insert("aws:SourceIp", ip.to_string());
    }
    ctx.insert_request_time(now);
    ctx
}

/// Scalars and arrays become condition values as they are; an object becomes its JSON text
/// plus one key per nested field, so a ServiceAccount token's `kubernetes.io` claim can be
/// matched as `oidc:kubernetes.io/namespace`.
fn insert_claim(ctx: &mut Context, key: &str, value: &Value, depth: usize) {
    match value {
        Value::Object(fields) => {
            ctx.insert(key, value.to_string());
            if depth < MAX_CLAIM_DEPTH {
                for (field, nested) in fields {
                    insert_claim(ctx, &format!("{key}/{field}"), nested, depth + 1);
                }
            }
        }
        other => ctx.insert_json(key, other),
    }
}

fn json_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Policy names from a `policyClaim` value: a string, a comma-separated string, or a list.
pub fn policy_names(value: Option<&Value>) -> Vec<String> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    match value {
        Some(Value::String(s)) => split(s),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .flat_map(split)
            .collect(),
        _ => Vec::new(),
    }
}

/// `req_ctx` as SeaweedFS's own STS writes it, so gateway policies that read `jwt:`/`oidc:`
/// attributes see the same values whichever STS minted the session.
pub fn session_request_context(
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    parent_user: &str,
) -> BTreeMap<String, Value> {
    let mut ctx = BTreeMap::new();
    for (claim, value) in &identity.claims {
        if NON_ATTRIBUTE_CLAIMS.contains(&claim.as_str()) {
            continue;
        }
        ctx.insert(claim.clone(), Value::String(json_text(value)));
    }
    if identity.roles.is_empty() {
        ctx.insert(
            "roles".into(),
            Value::String(mapped_roles(spec, identity).join(",")),
        );
    } else {
        ctx.insert(
            "roles".into(),
            Value::Array(identity.roles.iter().cloned().map(Value::String).collect()),
        );
    }
    if let Some(email) = &identity.email {
        ctx.insert("email".into(), Value::String(email.clone()));
    }
    if let Some(name) = identity.claims.get("name").and_then(Value::as_str) {
        ctx.insert("name".into(), Value::String(name.to_string()));
    }
    ctx.insert("sub".into(), Value::String(identity.subject.clone()));
    if !identity.groups.is_empty() {
        ctx.insert(
            "groups".into(),
            Value::Array(identity.groups.iter().cloned().map(Value::String).collect()),
        );
    }
    ctx.insert("aws:userid".into(), Value::String(parent_user.to_string()));
    ctx
}

/// Roles from the provider's `roleMapping` (first matching rule per claim value), else
/// SeaweedFS's legacy group mapping with its `readonly` default.
fn mapped_roles(spec: &ProviderSpec, identity: &VerifiedIdentity) -> Vec<String> {
    let mut roles = Vec::new();
    if let Some(mapping) = &spec.settings.role_mapping {
        for rule in &mapping.rules {
            let values = identity
                .claims
                .get(&rule.claim)
                .map(|v| match ContextValue::from_json(v) {
                    Some(ContextValue::Single(s)) => vec![s],
                    Some(ContextValue::Multi(m)) => m,
                    None => Vec::new(),
                })
                .unwrap_or_default();
            if values
                .iter()
                .any(|v| wildcard::matches(&rule.value, v, true))
                && !roles.contains(&rule.role)
            {
                roles.push(rule.role.clone());
            }
        }
        if roles.is_empty() {
            roles.extend(mapping.default_role.clone());
        }
        return roles;
    }
    for group in &identity.groups {
        let role = match group.as_str() {
            "admins" => "admin",
            "developers" => "readwrite",
            "users" => "readonly",
            _ => continue,
        };
        if !roles.iter().any(|r| r == role) {
            roles.push(role.to_string());
        }
    }
    if roles.is_empty() {
        roles.push("readonly".into());
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_claim_values_accept_strings_lists_and_commas() {
        assert_eq!(
            policy_names(Some(&serde_json::json!("a, b,,c"))),
            ["a", "b", "c"]
        );
        assert_eq!(
            policy_names(Some(&serde_json::json!(["a", "b,c", 3]))),
            ["a", "b", "c"]
        );
        assert!(policy_names(Some(&serde_json::json!(42))).is_empty());
        assert!(policy_names(None).is_empty());
    }
}
