//! Registered-claim checks (iss, aud/azp, exp/nbf/iat, sub) on verified payloads, and the
//! mapping of provider-specific claims to username, email, groups and roles
//! (RFC 7519 §4.1: https://www.rfc-editor.org/rfc/rfc7519#section-4.1).

use serde_json::{Map, Value};

use super::error::TokenError;
use crate::config::ClaimsMapping;

/// The issuer claim must be the provider's issuer, byte for byte.
pub fn check_issuer(claims: &Map<String, Value>, expected: &str) -> Result<(), TokenError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == expected => Ok(()),
        Some(Value::String(_)) => Err(TokenError::WrongIssuer),
        Some(_) => Err(TokenError::InvalidClaim {
            claim: "iss",
            reason: "not a string",
        }),
        None => Err(TokenError::MissingClaim { claim: "iss" }),
    }
}

/// The token's audiences, and the one that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceMatch {
    pub audiences: Vec<String>,
    pub matched: String,
}

/// Accepts the token when any `aud` entry (a string or an array of strings) is one of
/// `client_ids`. `azp` is consulted only when the token has no `aud`, or when the provider opts in
/// with `accept_azp`: a token issued to another API (its `aud`) on behalf of a configured client
/// (its `azp`) would otherwise be replayable here by that API.
pub fn check_audience(
    claims: &Map<String, Value>,
    client_ids: &[String],
    accept_azp: bool,
) -> Result<AudienceMatch, TokenError> {
    let invalid = |claim, reason| TokenError::InvalidClaim { claim, reason };
    let audiences: Vec<String> = match claims.get("aud") {
        None => Vec::new(),
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or(invalid("aud", "array holds a non-string"))?,
        Some(_) => return Err(invalid("aud", "neither a string nor an array of strings")),
    };
    if let Some(matched) = audiences.iter().find(|a| client_ids.contains(a)) {
        let matched = matched.clone();
        return Ok(AudienceMatch { audiences, matched });
    }
    if claims.contains_key("aud") && !accept_azp {
        return Err(TokenError::WrongAudience);
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if client_ids.contains(azp) => Ok(AudienceMatch {
            audiences,
            matched: azp.clone(),
        }),
        Some(Value::String(_)) | None => Err(TokenError::WrongAudience),
        Some(_) => Err(invalid("azp", "not a string")),
    }
}

/// The validity window, as checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub exp: i64,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
}

/// `exp` is required; `now` may pass it, and `nbf`/`iat` may lie ahead of `now`, by at most
/// `skew` seconds.
pub fn check_times(claims: &Map<String, Value>, now: i64, skew: i64) -> Result<Times, TokenError> {
    let exp = numeric_date(claims, "exp")?.ok_or(TokenError::MissingClaim { claim: "exp" })?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    if now.saturating_sub(skew) >= exp {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
        return Err(TokenError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(skew)) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(Times { exp, nbf, iat })
}

/// A NumericDate: seconds since the epoch, possibly fractional (truncated toward the past).
fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<i64>, TokenError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            // `as` saturates at the i64 bounds, which is the wanted clamp for absurd dates.
            (None, Some(f)) if f.is_finite() => Ok(Some(f.floor() as i64)),
            _ => Err(TokenError::InvalidClaim {
                claim,
                reason: "not a finite number",
            }),
        },
        Some(_) => Err(TokenError::InvalidClaim {
            claim,
            reason: "not a number",
        }),
    }
}

/// Nested object claims become condition keys this deep (`oidc:kubernetes.io/serviceaccount/name`).
pub const MAX_CLAIM_DEPTH: usize = 4;

/// Refuses a token in which two claims would answer to the same condition key
/// (`<prefix>:<claim>`, `<prefix>:<claim>/<field>`, case-insensitive as the policy context folds
/// keys): names that differ only in letter case (`Department` and `department`, or `K` and the
/// Kelvin sign `\u{212A}`), or a flat name that spells a nested path (`"kubernetes.io/namespace"`
/// beside `"kubernetes.io": {"namespace": …}`). Whichever of the two the context kept would
/// decide the trust policy; refusing the token keeps every key bound to exactly one claim.
/// `prefixes` are the key prefixes in use (`oidc` and the issuer's host/path); each is checked,
/// since Unicode lower-casing can depend on the letters before a name.
pub fn check_claim_names(claims: &Map<String, Value>, prefixes: &[&str]) -> Result<(), TokenError> {
    fn walk(
        fields: &Map<String, Value>,
        key: &mut String,
        depth: usize,
        seen: &mut std::collections::HashSet<String>,
    ) -> bool {
        let len = key.len();
        for (name, value) in fields {
            if depth > 0 {
                key.push('/');
            }
            key.push_str(name);
            let folded = if key.is_ascii() {
                key.to_ascii_lowercase()
            } else {
                key.to_lowercase()
            };
            if !seen.insert(folded) {
                return false;
            }
            if let Value::Object(nested) = value {
                if depth < MAX_CLAIM_DEPTH && !walk(nested, key, depth + 1, seen) {
                    return false;
                }
            }
            key.truncate(len);
        }
        true
    }
    let mut seen = std::collections::HashSet::with_capacity(claims.len() * 2);
    let distinct = prefixes.iter().all(|prefix| {
        seen.clear();
        let mut key = String::with_capacity(64);
        key.push_str(prefix);
        key.push(':');
        walk(claims, &mut key, 0, &mut seen)
    });
    if distinct {
        Ok(())
    } else {
        Err(TokenError::InvalidClaim {
            claim: "claim names",
            reason: "two claims differ only in letter case or in nesting",
        })
    }
}

/// `sub` must be a non-empty string: it becomes the session's subject and parent user id.
pub fn check_subject(claims: &Map<String, Value>) -> Result<String, TokenError> {
    match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(TokenError::InvalidClaim {
            claim: "sub",
            reason: "empty",
        }),
        Some(_) => Err(TokenError::InvalidClaim {
            claim: "sub",
            reason: "not a string",
        }),
        None => Err(TokenError::MissingClaim { claim: "sub" }),
    }
}

/// Identity attributes read through the provider's claims mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappedClaims {
    pub username: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
}

/// Reads username (default `preferred_username`, then `name`), email (`email`), groups
/// (`groups`) and roles (`roles`). A claim of an unexpected type is ignored rather than refused:
/// these are descriptive attributes, not security checks.
pub fn map_claims(claims: &Map<String, Value>, mapping: &ClaimsMapping) -> MappedClaims {
    let string = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let username = match &mapping.username_claim {
        Some(c) => string(c),
        None => string("preferred_username").or_else(|| string("name")),
    };
    MappedClaims {
        username,
        email: string(mapping.email_claim.as_deref().unwrap_or("email")),
        groups: string_list(claims.get(mapping.groups_claim.as_deref().unwrap_or("groups"))),
        roles: string_list(claims.get(mapping.roles_claim.as_deref().unwrap_or("roles"))),
    }
}

/// A string or the string members of an array.
fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("object"),
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn issuer_must_match_exactly() {
        assert_eq!(
            check_issuer(&obj(json!({"iss": "https://a"})), "https://a"),
            Ok(())
        );
        assert_eq!(
            check_issuer(&obj(json!({"iss": "https://a/"})), "https://a"),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(
            check_issuer(&obj(json!({"iss": 1})), "https://a").map_err(|e| e.kind()),
            Err("invalid-claim")
        );
        assert_eq!(
            check_issuer(&obj(json!({})), "https://a").map_err(|e| e.kind()),
            Err("missing-claim")
        );
    }

    #[test]
    fn claim_names_must_bind_one_claim_per_condition_key() {
        let ok = |v: Value| check_claim_names(&obj(v), &["oidc", "idp.example.com"]).is_ok();
        assert!(ok(json!({"sub": "a", "department": "eng",
            "kubernetes.io": {"namespace": "apps", "serviceaccount": {"name": "x"}}})));
        assert!(!ok(json!({"Department": "sales", "department": "eng"})));
        assert!(!ok(json!({"kubernetes.io/Namespace": "prod",
            "kubernetes.io": {"namespace": "apps"}})));
        assert!(!ok(json!({"a": {"B": 1, "b": 2}})));
        // The Kelvin sign lower-cases to `k`, as condition keys are folded.
        assert!(!ok(json!({"\u{212A}ubernetes.io": {"namespace": "prod"},
            "kubernetes.io": {"namespace": "apps"}})));
        assert!(ok(json!({"größe": "xl", "grosse": "l"})));
    }

    #[test]
    fn audience_string_array_and_azp() {
        let allowed = ids(&["sts", "other"]);
        let m = check_audience(&obj(json!({"aud": "sts"})), &allowed, false).expect("string");
        assert_eq!(m.matched, "sts");
        let m =
            check_audience(&obj(json!({"aud": ["x", "other"]})), &allowed, false).expect("array");
        assert_eq!((m.matched.as_str(), m.audiences.len()), ("other", 2));
        assert_eq!(
            check_audience(&obj(json!({"aud": "x", "azp": "sts"})), &allowed, false),
            Err(TokenError::WrongAudience),
            "azp does not stand in for a foreign aud"
        );
        let m = check_audience(&obj(json!({"aud": "x", "azp": "sts"})), &allowed, true)
            .expect("azp when opted in");
        assert_eq!(m.matched, "sts");
        assert_eq!(m.audiences, vec!["x"]);
        let m = check_audience(&obj(json!({"azp": "sts"})), &allowed, false).expect("no aud");
        assert_eq!(m.matched, "sts");
        assert!(m.audiences.is_empty());
        assert_eq!(
            check_audience(&obj(json!({"aud": "x"})), &allowed, true),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            check_audience(&obj(json!({})), &allowed, false),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            check_audience(&obj(json!({"aud": "sts"})), &[], false),
            Err(TokenError::WrongAudience)
        );
        for bad in [
            json!({"aud": {"a": 1}}),
            json!({"aud": ["sts", 1]}),
            json!({"aud": "x", "azp": 5}),
        ] {
            assert_eq!(
                check_audience(&obj(bad), &allowed, true).map_err(|e| e.kind()),
                Err("invalid-claim")
            );
        }
    }

    #[test]
    fn times_with_skew() {
        let now = 1_000_000;
        let t = |v: Value| check_times(&obj(v), now, 60);
        assert!(t(json!({"exp": now + 1})).is_ok());
        assert!(t(json!({"exp": now - 59})).is_ok());
        assert_eq!(t(json!({"exp": now - 60})), Err(TokenError::Expired));
        assert_eq!(
            check_times(&obj(json!({"exp": now})), now, 0),
            Err(TokenError::Expired)
        );
        assert!(t(json!({"exp": now + 100, "nbf": now + 60, "iat": now + 60})).is_ok());
        assert_eq!(
            t(json!({"exp": now + 100, "nbf": now + 61})),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            t(json!({"exp": now + 100, "iat": now + 61})),
            Err(TokenError::IssuedInFuture)
        );
        assert_eq!(
            t(json!({"exp": (now + 10) as f64 + 0.5})).map(|t| t.exp),
            Ok(now + 10)
        );
        assert_eq!(t(json!({})), Err(TokenError::MissingClaim { claim: "exp" }));
        for bad in [
            json!({"exp": "123"}),
            json!({"exp": now + 10, "nbf": [1]}),
            json!({"exp": now + 10, "iat": null}),
        ] {
            assert_eq!(t(bad).map_err(|e| e.kind()), Err("invalid-claim"));
        }
        // Extreme values saturate instead of overflowing.
        assert!(t(json!({"exp": u64::MAX})).is_ok());
        assert!(check_times(&obj(json!({"exp": i64::MAX})), i64::MAX, i64::MAX).is_ok());
        assert_eq!(
            check_times(&obj(json!({"exp": 1, "iat": i64::MAX})), i64::MIN, 0),
            Err(TokenError::IssuedInFuture)
        );
    }

    #[test]
    fn subject_rules() {
        assert_eq!(check_subject(&obj(json!({"sub": "abc"}))), Ok("abc".into()));
        assert_eq!(
            check_subject(&obj(json!({}))),
            Err(TokenError::MissingClaim { claim: "sub" })
        );
        for bad in [
            json!({"sub": 42}),
            json!({"sub": {"id": 1}}),
            json!({"sub": ""}),
        ] {
            assert_eq!(
                check_subject(&obj(bad)).map_err(|e| e.kind()),
                Err("invalid-claim")
            );
        }
    }

    #[test]
    fn mapping_defaults_and_overrides() {
        let claims = obj(json!({
            "name": "Ann", "email": "ann@x", "groups": "ops", "roles": ["a", 1, "b"],
            "upn": "ann@corp", "mail": "a@corp", "teams": ["t1"], "perm": "admin"
        }));
        let m = map_claims(&claims, &ClaimsMapping::default());
        assert_eq!(m.username.as_deref(), Some("Ann"));
        assert_eq!(m.email.as_deref(), Some("ann@x"));
        assert_eq!(m.groups, vec!["ops"]);
        assert_eq!(m.roles, vec!["a", "b"]);
        let mapping = ClaimsMapping {
            username_claim: Some("upn".into()),
            groups_claim: Some("teams".into()),
            email_claim: Some("mail".into()),
            roles_claim: Some("perm".into()),
        };
        let m = map_claims(&claims, &mapping);
        assert_eq!(m.username.as_deref(), Some("ann@corp"));
        assert_eq!(m.email.as_deref(), Some("a@corp"));
        assert_eq!(m.groups, vec!["t1"]);
        assert_eq!(m.roles, vec!["admin"]);
        let claims = obj(json!({"preferred_username": "p", "name": "n"}));
        assert_eq!(
            map_claims(&claims, &ClaimsMapping::default())
                .username
                .as_deref(),
            Some("p")
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_claim_values_never_panic(
            values in proptest::collection::vec(proptest::option::of(json_value()), 12),
            now in proptest::prelude::any::<i64>(),
            skew in 0i64..=300,
        ) {
            let names = [
                "iss", "aud", "azp", "exp", "nbf", "iat", "sub", "groups", "roles", "email", "name",
                "preferred_username",
            ];
            let claims: Map<String, Value> = names
                .iter()
                .zip(values)
                .filter_map(|(n, v)| v.map(|v| (n.to_string(), v)))
                .collect();
            let _ = check_issuer(&claims, "https://a");
            let _ = check_audience(&claims, &ids(&["sts"]), true);
            let _ = check_times(&claims, now, skew);
            let _ = check_subject(&claims);
            let _ = map_claims(&claims, &ClaimsMapping::default());
        }
    }
}
