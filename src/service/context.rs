//! The condition-key context of a trust-policy evaluation (DESIGN.md §6.3) and the `req_ctx`
//! claim of a session token (seaweedfs-sts.md §1.4), both derived from a verified identity.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::ProviderSpec;
use crate::policy::{issuer_host_path, wildcard, Context, ContextKeys, ContextValue};
use crate::providers::VerifiedIdentity;

use super::tags::{self, SessionAttributes};
use super::AssumeRoleRequest;

/// Claims SeaweedFS keeps out of the flattened attributes of `req_ctx`.
const NON_ATTRIBUTE_CLAIMS: [&str; 11] = [
    "sub", "email", "name", "groups", "roles", "iss", "aud", "exp", "iat", "nbf", "jti",
];

use crate::providers::claims::MAX_CLAIM_DEPTH;

/// Context keys for the trust policy: `oidc:<claim>` for every claim, the AWS forms
/// `<issuer host/path>:<claim>`, and the `aws:`/`sts:` keys — each only if `keys` says the
/// policy can read it, so a claim no condition names costs nothing.
pub fn trust_context(
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    attributes: &SessionAttributes,
    request: &AssumeRoleRequest,
    now: i64,
    keys: &ContextKeys,
) -> Context {
    let mut ctx = Context::new();
    let host_path = issuer_host_path(&identity.issuer);
    let mut key = String::with_capacity(64);
    for (claim, value) in &identity.claims {
        for prefix in ["oidc", host_path] {
            if prefix.is_empty() {
                continue;
            }
            key.clear();
            key.push_str(prefix);
            key.push(':');
            key.push_str(claim);
            insert_claim(&mut ctx, keys, &mut key, value, 0);
        }
    }
    let mut put = |key: &str, value: &dyn Fn() -> String| {
        if keys.wants(key) {
            ctx.insert(key, value());
        }
    };
    put("oidc:sub", &|| identity.subject.clone());
    put("oidc:iss", &|| identity.issuer.clone());
    put("aws:FederatedProvider", &|| spec.name.clone());
    put("aws:userid", &|| identity.subject.clone());
    put("sts:RoleSessionName", &|| request.role_session_name.clone());
    if let Some(d) = request.duration_seconds {
        put("sts:DurationSeconds", &|| d.to_string());
    }
    if let Some(ip) = request.source_ip {
        put("aws:SourceIp", &|| ip.to_string());
    }
    if keys.wants("aws:EpochTime") || keys.wants("aws:CurrentTime") {
        ctx.insert_request_time(now);
    }
    insert_session_attributes(&mut ctx, keys, attributes);
    ctx
}

/// The tag and source-identity keys: `aws:RequestTag/<k>` and `aws:PrincipalTag/<k>` (the same
/// tags: a web identity session has no others), `aws:TagKeys`, `sts:TransitiveTagKeys`,
/// `sts:SourceIdentity` and `aws:SourceIdentity`.
fn insert_session_attributes(ctx: &mut Context, keys: &ContextKeys, a: &SessionAttributes) {
    for (key, value) in &a.tags {
        for prefix in ["aws:RequestTag/", tags::PRINCIPAL_TAG_PREFIX] {
            let name = format!("{prefix}{key}");
            if keys.wants(&name) {
                ctx.insert(name, value.clone());
            }
        }
    }
    if !a.tags.is_empty() && keys.wants("aws:TagKeys") {
        ctx.insert("aws:TagKeys", a.tag_keys());
    }
    if !a.transitive_tag_keys.is_empty() && keys.wants("sts:TransitiveTagKeys") {
        ctx.insert("sts:TransitiveTagKeys", a.transitive_tag_keys.clone());
    }
    if let Some(source) = &a.source_identity {
        for name in ["sts:SourceIdentity", tags::SOURCE_IDENTITY_KEY] {
            if keys.wants(name) {
                ctx.insert(name, source.clone());
            }
        }
    }
}

/// Scalars and arrays become condition values as they are; an object becomes its JSON text
/// plus one key per nested field, so a ServiceAccount token's `kubernetes.io` claim can be
/// matched as `oidc:kubernetes.io/namespace`.
fn insert_claim(
    ctx: &mut Context,
    keys: &ContextKeys,
    key: &mut String,
    value: &Value,
    depth: usize,
) {
    if !keys.wants_within(key) {
        return;
    }
    match value {
        Value::Object(fields) => {
            if keys.wants(key) {
                ctx.insert(key.as_str(), value.to_string());
            }
            if depth < MAX_CLAIM_DEPTH {
                let len = key.len();
                for (field, nested) in fields {
                    key.push('/');
                    key.push_str(field);
                    insert_claim(ctx, keys, key, nested, depth + 1);
                    key.truncate(len);
                }
            }
        }
        other => {
            if keys.wants(key) {
                ctx.insert_json(key.as_str(), other);
            }
        }
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
///
/// IdP claims keep their names only where a gateway cannot mistake them for something it
/// interprets ([`tags::reserved_claim_name`]); tags and the source identity are written under
/// their `aws:` names from [`SessionAttributes`] alone.
pub fn session_request_context(
    spec: &ProviderSpec,
    identity: &VerifiedIdentity,
    attributes: &SessionAttributes,
    parent_user: &str,
) -> BTreeMap<String, Value> {
    let mut ctx = BTreeMap::new();
    for (claim, value) in &identity.claims {
        if NON_ATTRIBUTE_CLAIMS.contains(&claim.as_str())
            || tags::reserved_claim_name(claim).is_some()
        {
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
    for (key, value) in &attributes.tags {
        ctx.insert(
            format!("{}{key}", tags::PRINCIPAL_TAG_PREFIX),
            Value::String(value.clone()),
        );
    }
    if let Some(source) = &attributes.source_identity {
        ctx.insert(
            tags::SOURCE_IDENTITY_KEY.into(),
            Value::String(source.clone()),
        );
    }
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
    use crate::config;
    use crate::policy::{evaluate, federated_identifiers, EvalRequest, PolicyDocument};
    use serde_json::json;

    const NOW: i64 = 1_767_225_600;

    fn spec() -> ProviderSpec {
        let file = json!({
            "sts": {"issuer": "test-sts", "signingKey": "dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc="},
            "providers": [{"name": "k8s", "type": "oidc",
                "config": {"issuer": "https://oidc.example.com/tenant", "clientId": "sts"}}]
        });
        let loaded = config::load_str(&file.to_string(), "test", &|_| None).expect("valid config");
        loaded.config.providers[0].clone()
    }

    fn identity() -> VerifiedIdentity {
        let claims = json!({
            "iss": "https://oidc.example.com/tenant",
            "sub": "system:serviceaccount:apps:builder",
            "aud": ["sts", "other"],
            "exp": NOW + 3600,
            "iat": NOW,
            "Email": "builder@example.com",
            "https://example.com/groups": ["ops", "dev"],
            "kubernetes.io": {"namespace": "apps", "serviceaccount": {"name": "builder", "uid": "u-1"}},
            "größe": "xl",
            "amr": ["pwd", "mfa"],
            "email_verified": true,
            "unused": {"deep": {"er": 1}}
        });
        VerifiedIdentity {
            provider: "k8s".into(),
            issuer: "https://oidc.example.com/tenant".into(),
            subject: "system:serviceaccount:apps:builder".into(),
            audiences: vec!["sts".into(), "other".into()],
            matched_audience: "sts".into(),
            expires_at: Some(NOW + 3600),
            claims: claims.as_object().cloned().unwrap_or_default(),
            username: None,
            email: None,
            groups: vec![],
            roles: vec![],
        }
    }

    fn request() -> AssumeRoleRequest {
        AssumeRoleRequest {
            role: crate::service::RoleTarget::Named {
                arn: "arn:aws:iam::role/R".into(),
                partition: crate::arn::Partition::Aws,
                name: "R".into(),
            },
            role_session_name: "builder-1".into(),
            web_identity_token: String::new(),
            duration_seconds: Some(900),
            policy: None,
            source_ip: Some("10.1.2.3".parse().unwrap()),
        }
    }

    fn attributes() -> SessionAttributes {
        SessionAttributes {
            tags: vec![
                ("env".into(), "prod".into()),
                ("team".into(), "blue".into()),
            ],
            transitive_tag_keys: vec!["team".into()],
            source_identity: Some("builder@apps".into()),
            notes: Vec::new(),
        }
    }

    fn trust(condition: serde_json::Value) -> PolicyDocument {
        PolicyDocument::from_value(&json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": "k8s"},
            "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]}))
        .unwrap()
    }

    /// Conditions reaching every kind of context key: plain, AWS host/path form, flattened
    /// objects, an object's JSON text, a claim name with slashes, another spelling, a
    /// non-ASCII claim, sets, the aws:/sts: keys and variables in values.
    fn conditions() -> Vec<serde_json::Value> {
        vec![
            json!({"StringEquals": {"oidc:sub": "system:serviceaccount:apps:builder"}}),
            json!({"StringEquals": {"oidc.example.com/tenant:aud": "sts"}}),
            json!({"StringEquals": {"OIDC:Kubernetes.IO/Namespace": "apps"}}),
            json!({"StringEquals": {"oidc:kubernetes.io/serviceaccount/name": "builder"}}),
            json!({"StringLike": {"oidc:kubernetes.io": "*\"namespace\":\"apps\"*"}}),
            json!({"ForAnyValue:StringEquals": {"oidc:https://example.com/groups": "ops"}}),
            json!({"StringEquals": {"oidc:email": "builder@example.com"}}),
            json!({"StringEquals": {"oidc:GRÖßE": "xl"}}),
            json!({"ForAllValues:StringEquals": {"oidc:amr": ["pwd", "mfa"]}}),
            json!({"Bool": {"oidc:email_verified": "true"}}),
            json!({"StringEquals": {"sts:RoleSessionName": "${oidc:kubernetes.io/serviceaccount/name}-1"}}),
            json!({"StringEquals": {"aws:userid": "${oidc:sub}", "aws:FederatedProvider": "k8s"}}),
            json!({"DateGreaterThan": {"aws:CurrentTime": "2025-01-01T00:00:00Z"},
                   "NumericLessThanEquals": {"sts:DurationSeconds": "900"},
                   "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
            json!({"StringEquals": {"oidc:iss": "https://oidc.example.com/tenant", "oidc:nothing": "x"}}),
            json!({"Null": {"oidc:unused/deep": "false"}}),
            json!({"StringEquals": {"aws:RequestTag/team": "blue", "aws:PrincipalTag/ENV": "prod"}}),
            json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]},
                   "ForAnyValue:StringEquals": {"sts:TransitiveTagKeys": "team"}}),
            json!({"StringEquals": {"sts:SourceIdentity": "builder@apps",
                                    "aws:SourceIdentity": "${sts:SourceIdentity}"}}),
        ]
    }

    #[test]
    fn a_context_built_for_the_policy_keys_decides_like_the_full_context() {
        let (spec, identity, request) = (spec(), identity(), request());
        let full = trust_context(
            &spec,
            &identity,
            &attributes(),
            &request,
            NOW,
            &ContextKeys::All,
        );
        let federated = federated_identifiers(&spec.name, &spec.settings.issuer, None);
        for condition in conditions() {
            let doc = trust(condition.clone());
            let keys = doc.context_keys();
            let ContextKeys::Only(named) = &keys else {
                panic!("a document yields the keys it names");
            };
            let narrow = trust_context(&spec, &identity, &attributes(), &request, NOW, &keys);
            for key in named {
                assert_eq!(narrow.get(key), full.get(key), "{key} in {condition}");
            }
            let decide = |context: &Context| {
                evaluate(
                    &doc,
                    &EvalRequest {
                        action: "sts:AssumeRoleWithWebIdentity",
                        federated: &federated,
                        context,
                    },
                )
                .decision
            };
            assert_eq!(decide(&narrow), decide(&full), "{condition}");
            let allowed = matches!(decide(&narrow), crate::policy::Decision::Allow { .. });
            assert!(
                allowed != condition.to_string().contains("nothing"),
                "{condition} should allow this identity"
            );
        }
    }

    #[test]
    fn claims_no_condition_names_are_left_out() {
        let keys =
            trust(json!({"StringEquals": {"oidc:kubernetes.io/namespace": "apps"}})).context_keys();
        let ctx = trust_context(&spec(), &identity(), &attributes(), &request(), NOW, &keys);
        let built: Vec<&str> = ctx.iter().map(|(key, _)| key).collect();
        // The non-ASCII claim is kept on purpose: its key cannot be folded piecewise.
        assert_eq!(
            built,
            [
                "oidc.example.com/tenant:größe",
                "oidc:größe",
                "oidc:kubernetes.io/namespace"
            ]
        );
        let full = trust_context(
            &spec(),
            &identity(),
            &attributes(),
            &request(),
            NOW,
            &ContextKeys::All,
        );
        assert!(full.len() > 25, "the full context has {} keys", full.len());
    }

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
