//! What a session carries about its web identity beyond the role: principal tags (AWS's
//! `https://aws.amazon.com/tags` claim and a provider's `principalTagClaims`), the source
//! identity, and which IdP claims may be copied into the session's `req_ctx` at all
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html).
//!
//! SeaweedFS gateways read `aws:PrincipalTag/<key>` from `req_ctx` with no allowlist of their own
//! and skip a role's policies for `is_admin` (seaweedfs-4.48.md), so a claim name chosen by an IdP
//! user must never land on a name the gateway interprets. Tags reach `req_ctx` only from here,
//! after the provider's allowlist and AWS's limits.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::OidcSettings;

use super::error::ServiceError;

/// AWS's session-tags claim: `{"principal_tags": {"K": ["v"]}, "transitive_tag_keys": ["K"]}`.
pub const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
pub const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";
/// The `req_ctx` key prefix a SeaweedFS gateway reads principal tags from.
pub const PRINCIPAL_TAG_PREFIX: &str = "aws:PrincipalTag/";
pub const SOURCE_IDENTITY_KEY: &str = "aws:SourceIdentity";
/// AWS's limits for session tags.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// AWS's limits for `SourceIdentity`.
const SOURCE_IDENTITY_CHARS: (usize, usize) = (2, 64);

/// Tags, source identity and the record of what was left out, for one verified token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionAttributes {
    /// Taken tags, in key order, keys as the token or mapping spelt them.
    pub tags: Vec<(String, String)>,
    /// Keys of `tags` the token marks transitive.
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    /// Claims and tags that were left out, and why.
    pub notes: Vec<AttributeNote>,
}

/// One claim or tag that was not carried into the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeNote {
    /// The claim name or the tag key (never a value).
    pub name: String,
    pub reason: String,
}

impl SessionAttributes {
    pub fn tag_keys(&self) -> Vec<String> {
        self.tags.iter().map(|(k, _)| k.clone()).collect()
    }
}

/// Reads the tags and source identity a verified token carries, under the provider's rules.
/// Claims that break AWS's limits fail the call rather than being trimmed silently.
pub fn session_attributes(
    settings: &OidcSettings,
    claims: &Map<String, Value>,
) -> Result<SessionAttributes, ServiceError> {
    let mut out = SessionAttributes::default();
    let mut tags: Vec<(String, String)> = Vec::new();
    let mut transitive: Vec<String> = Vec::new();

    if let Some(claim) = claims.get(TAGS_CLAIM) {
        let Value::Object(claim) = claim else {
            return Err(invalid_tags(format!("{TAGS_CLAIM} is not an object")));
        };
        match claim.get("principal_tags") {
            None | Some(Value::Null) => {}
            Some(Value::Object(principal_tags)) => {
                for (key, value) in principal_tags {
                    let value = single_value(value).map_err(|shape| {
                        invalid_tags(format!("principal tag {key:?} is {shape}"))
                    })?;
                    if settings.allowed_principal_tag_keys.iter().any(|k| k == key) {
                        tags.push((key.clone(), value));
                    } else {
                        out.notes.push(AttributeNote {
                            name: key.clone(),
                            reason: "principal tag not listed in the provider's \
                                     allowedPrincipalTagKeys: dropped"
                                .into(),
                        });
                    }
                }
            }
            Some(_) => {
                return Err(invalid_tags(format!(
                    "{TAGS_CLAIM}.principal_tags is not an object"
                )))
            }
        }
        match claim.get("transitive_tag_keys") {
            None | Some(Value::Null) => {}
            Some(Value::Array(keys)) => {
                for key in keys {
                    let Some(key) = key.as_str() else {
                        return Err(invalid_tags(format!(
                            "{TAGS_CLAIM}.transitive_tag_keys holds a non-string"
                        )));
                    };
                    transitive.push(key.to_string());
                }
            }
            Some(_) => {
                return Err(invalid_tags(format!(
                    "{TAGS_CLAIM}.transitive_tag_keys is not a list"
                )))
            }
        }
    }

    // Mapped claims are the operator's own choice of key, so they need no allowlist entry, and
    // they win over a tag of the same key from the token.
    for (key, claim_path) in &settings.principal_tag_claims {
        match claim_at(claims, claim_path).map(single_value) {
            None => out.notes.push(AttributeNote {
                name: key.clone(),
                reason: format!("principalTagClaims: the token has no claim {claim_path:?}"),
            }),
            Some(Err(shape)) => out.notes.push(AttributeNote {
                name: key.clone(),
                reason: format!(
                    "principalTagClaims: claim {claim_path:?} is {shape}; a tag holds one value"
                ),
            }),
            Some(Ok(value)) => {
                if let Some(i) = tags.iter().position(|(k, _)| k == key) {
                    tags.remove(i);
                    out.notes.push(AttributeNote {
                        name: key.clone(),
                        reason: "the token's principal tag is replaced by principalTagClaims"
                            .into(),
                    });
                }
                tags.push((key.clone(), value));
            }
        }
    }

    tags.sort_by(|a, b| a.0.cmp(&b.0));
    check_tags(&tags)?;
    out.transitive_tag_keys = transitive
        .into_iter()
        .filter(|k| tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)))
        .collect();
    out.tags = tags;

    match claims.get(SOURCE_IDENTITY_CLAIM) {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            check_source_identity(s)?;
            out.source_identity = Some(s.clone());
        }
        Some(_) => {
            return Err(ServiceError::Validation {
                message: format!("{SOURCE_IDENTITY_CLAIM} must be a string"),
            })
        }
    }
    Ok(out)
}

/// Why an IdP claim may not be copied under its own name into `req_ctx`, or `None` when it may.
/// A SeaweedFS gateway interprets `aws:*` keys (principal tags among them) and `is_admin` there,
/// and resolves `${jwt:<name>}` only for names without `:`; `/` is the separator of
/// `aws:PrincipalTag/<key>`. Names outside that shape are never copied.
pub fn reserved_claim_name(name: &str) -> Option<&'static str> {
    if name.contains(':') {
        Some("claim name contains ':' (reserved for aws:, sts:, jwt: keys the gateway reads)")
    } else if name.contains('/') {
        Some("claim name contains '/' (the gateway reads aws:PrincipalTag/<key> paths)")
    } else if name.eq_ignore_ascii_case("is_admin") {
        Some("is_admin makes a SeaweedFS gateway skip the role's policies")
    } else {
        None
    }
}

/// A tag value: a string, number or boolean as text, or AWS's shape, a list of exactly one.
fn single_value(value: &Value) -> Result<String, &'static str> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Array(items) => match items.as_slice() {
            [one] if !one.is_array() && !one.is_object() => single_value(one),
            [] => Err("an empty list"),
            _ => Err("not a single value"),
        },
        Value::Null => Err("null"),
        Value::Object(_) => Err("an object"),
    }
}

/// A claim by name, or by a `/` path into nested objects (`kubernetes.io/namespace`).
fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('/');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn check_tags(tags: &[(String, String)]) -> Result<(), ServiceError> {
    if tags.len() > MAX_TAGS {
        return Err(ServiceError::PackedPolicyTooLarge {
            message: format!(
                "The session carries {} tags; at most {MAX_TAGS} session tags are allowed",
                tags.len()
            ),
        });
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > MAX_TAG_KEY_CHARS || !key.chars().all(tag_char) {
            return Err(invalid_tags(format!(
                "a tag key must be 1-{MAX_TAG_KEY_CHARS} characters of letters, digits, spaces \
                 and _.:/=+-@ (key #{})",
                i + 1
            )));
        }
        if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
            return Err(invalid_tags(format!(
                "tag key {key:?} uses the reserved prefix aws:"
            )));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS || !value.chars().all(tag_char) {
            return Err(invalid_tags(format!(
                "the value of tag {key:?} must be at most {MAX_TAG_VALUE_CHARS} characters of \
                 letters, digits, spaces and _.:/=+-@"
            )));
        }
        if tags[..i].iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(invalid_tags(format!(
                "tag keys are case-insensitive and {key:?} appears twice"
            )));
        }
    }
    Ok(())
}

/// AWS's tag character class `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
fn tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
        || (c.is_whitespace() && !c.is_control())
}

fn check_source_identity(s: &str) -> Result<(), ServiceError> {
    let len = s.chars().count();
    let ok = (SOURCE_IDENTITY_CHARS.0..=SOURCE_IDENTITY_CHARS.1).contains(&len)
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
        });
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Validation {
            message: format!(
                "{SOURCE_IDENTITY_CLAIM} must be 2-64 characters of letters, digits and _+=,.@-"
            ),
        })
    }
}

fn invalid_tags(detail: String) -> ServiceError {
    ServiceError::Validation {
        message: format!("The web identity token's session tags are invalid: {detail}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(allowed: &[&str], mapped: &[(&str, &str)]) -> OidcSettings {
        let mut s = OidcSettings::new("https://idp.example", vec!["c".to_string()]);
        s.allowed_principal_tag_keys = allowed.iter().map(|k| (*k).to_string()).collect();
        s.principal_tag_claims = mapped
            .iter()
            .map(|(k, c)| ((*k).to_string(), (*c).to_string()))
            .collect();
        s
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn allowed_tags_are_taken_and_others_dropped_with_a_note() {
        let c = claims(json!({TAGS_CLAIM: {
            "principal_tags": {"team": ["blue"], "env": ["prod"], "admin": ["yes"]},
            "transitive_tag_keys": ["team", "admin"]}}));
        let a = session_attributes(&settings(&["team", "env"], &[]), &c).unwrap();
        assert_eq!(
            a.tags,
            vec![
                ("env".into(), "prod".into()),
                ("team".into(), "blue".into())
            ]
        );
        assert_eq!(a.transitive_tag_keys, vec!["team".to_string()]);
        assert_eq!(a.notes.len(), 1);
        assert_eq!(a.notes[0].name, "admin");
        assert!(a.notes[0].reason.contains("allowedPrincipalTagKeys"));
    }

    #[test]
    fn no_allowlist_means_no_token_tags() {
        let c = claims(json!({TAGS_CLAIM: {"principal_tags": {"team": ["blue"]}}}));
        let a = session_attributes(&settings(&[], &[]), &c).unwrap();
        assert!(a.tags.is_empty());
    }

    #[test]
    fn mapped_claims_become_tags_and_win_over_the_token() {
        let c = claims(json!({
            "kubernetes.io": {"namespace": "team-a"},
            "groups": ["eng"],
            "many": ["a", "b"],
            TAGS_CLAIM: {"principal_tags": {"team": ["forged"]}}
        }));
        let a = session_attributes(
            &settings(
                &["team"],
                &[
                    ("team", "kubernetes.io/namespace"),
                    ("group", "groups"),
                    ("x", "many"),
                    ("y", "absent"),
                ],
            ),
            &c,
        )
        .unwrap();
        assert_eq!(
            a.tags,
            vec![
                ("group".into(), "eng".into()),
                ("team".into(), "team-a".into())
            ]
        );
        let names: Vec<&str> = a.notes.iter().map(|n| n.name.as_str()).collect();
        assert!(names.contains(&"x") && names.contains(&"y") && names.contains(&"team"));
    }

    #[test]
    fn aws_limits_are_enforced_with_aws_codes() {
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(["v"]))).collect();
        let allowed: Vec<String> = many.keys().cloned().collect();
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let c = claims(json!({TAGS_CLAIM: {"principal_tags": many}}));
        let err = session_attributes(&settings(&allowed, &[]), &c).unwrap_err();
        assert!(
            matches!(err, ServiceError::PackedPolicyTooLarge { .. }),
            "{err:?}"
        );

        for (tags, allowed) in [
            (json!({"team": ["a", "b"]}), "team"),
            (json!({"team": ["bad\u{0007}value"]}), "team"),
            (json!({"team": ["x".repeat(257)]}), "team"),
            (json!({"aws:team": ["x"]}), "aws:team"),
            (json!({"te!am": ["x"]}), "te!am"),
        ] {
            let c = claims(json!({TAGS_CLAIM: {"principal_tags": tags}}));
            let err = session_attributes(&settings(&[allowed], &[]), &c).unwrap_err();
            assert!(
                matches!(err, ServiceError::Validation { .. }),
                "{tags}: {err:?}"
            );
        }
        let c = claims(json!({TAGS_CLAIM: {"principal_tags": {"Team": ["a"], "team": ["b"]}}}));
        assert!(session_attributes(&settings(&["Team", "team"], &[]), &c).is_err());
        let c = claims(json!({TAGS_CLAIM: "team=blue"}));
        assert!(session_attributes(&settings(&["team"], &[]), &c).is_err());
    }

    #[test]
    fn source_identity_is_checked_against_aws_rules() {
        let ok = claims(json!({SOURCE_IDENTITY_CLAIM: "alice@example.com"}));
        let a = session_attributes(&settings(&[], &[]), &ok).unwrap();
        assert_eq!(a.source_identity.as_deref(), Some("alice@example.com"));
        for bad in [
            json!("a"),
            json!("has space"),
            json!(7),
            json!("x".repeat(65)),
        ] {
            let c = claims(json!({ SOURCE_IDENTITY_CLAIM: bad }));
            assert!(
                matches!(
                    session_attributes(&settings(&[], &[]), &c),
                    Err(ServiceError::Validation { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn reserved_claim_names() {
        for name in [
            "aws:PrincipalTag/team",
            "sts:RoleSessionName",
            "jwt:sub",
            "a/b",
            "is_admin",
            "IS_ADMIN",
        ] {
            assert!(reserved_claim_name(name).is_some(), "{name}");
        }
        for name in ["dept", "kubernetes.io", "email_verified", "isadmin"] {
            assert!(reserved_claim_name(name).is_none(), "{name}");
        }
    }
}
