//! The serde schema of `iam.json` (SeaweedFS's format, seaweedfs-sts.md §5, plus stsd's extensions)
//! and the shape check that reports type errors and unknown keys with their paths.
//!
//! Decoding is in two steps so that every problem gets a precise path: [`check_shape`] walks the
//! JSON tree against the key tables below (a type error is a problem), and only a tree with no
//! type error is decoded into [`IamFile`]. Which keys are unknown is decided by that decoding
//! itself (every key the serde structs do not read), so a key added to a struct is known at once;
//! the tables only add type checks, notes, and the SeaweedFS keys stsd ignores on purpose.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::duration::RawDuration;
use super::problem::{join, Problem};
use crate::secret::SecretString;

/// The whole file. Keys SeaweedFS reads but stsd has no use for (`policy`, `roleStore`,
/// `oidcProviderStore`) are accepted and otherwise ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IamFile {
    pub sts: StsSection,
    pub providers: Vec<ProviderEntry>,
    pub policies: Vec<PolicyEntry>,
    pub roles: Vec<RoleEntry>,
    /// stsd's own key (SeaweedFS ignores unknown top-level keys).
    pub pod_identity_associations: Vec<PodIdentityAssociationEntry>,
    /// SeaweedFS's policy-engine settings; only looked at to warn about `defaultEffect: "Allow"`.
    pub policy: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StsSection {
    pub token_duration: Option<RawDuration>,
    pub max_session_length: Option<RawDuration>,
    pub issuer: Option<String>,
    #[serde(deserialize_with = "secret_opt")]
    pub signing_key: Option<SecretString>,
    pub signing_key_file: Option<String>,
    #[serde(deserialize_with = "secret_list")]
    pub previous_signing_keys: Vec<SecretString>,
    pub account_id: Option<String>,
    pub clock_skew: Option<RawDuration>,
    pub secret_derivation: Option<String>,
    pub providers: Vec<ProviderEntry>,
    pub rate_limits: Option<RateLimitsEntry>,
    pub revoked: Vec<RevokedEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RateLimitsEntry {
    pub per_source_ip: Option<RateEntry>,
    pub per_subject: Option<RateEntry>,
    pub global: Option<RateEntry>,
}

/// Numbers stay JSON numbers here so that validation can say what is wrong with them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RateEntry {
    pub rps: Option<serde_json::Number>,
    pub burst: Option<serde_json::Number>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RevokedEntry {
    pub provider: Option<String>,
    pub subject: Option<String>,
    pub role: Option<String>,
    pub issued_before: Option<String>,
    pub session_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProviderEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub enabled: Option<bool>,
    pub config: ProviderConfig,
    /// SeaweedFS's top-level form; moved into `config.roleMapping`.
    pub role_mapping: Option<RoleMappingEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProviderConfig {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_ids: Vec<String>,
    pub jwks_uri: Option<String>,
    #[serde(deserialize_with = "secret_opt")]
    pub client_secret: Option<SecretString>,
    pub user_info_uri: Option<String>,
    pub scopes: Vec<String>,
    pub claims_mapping: Option<ClaimsMappingEntry>,
    pub role_mapping: Option<RoleMappingEntry>,
    pub policy_claim: Option<PolicyClaimEntry>,
    pub allowed_principal_tag_keys: Vec<String>,
    pub principal_tag_claims: std::collections::BTreeMap<String, String>,
    pub tls_ca_cert: Option<String>,
    pub tls_insecure_skip_verify: Option<bool>,
    pub thumbprints: Vec<String>,
    pub accept_azp_as_audience: Option<bool>,
    pub bearer_token_file: Option<String>,
    pub allowed_algorithms: Option<Vec<String>>,
    #[serde(rename = "jwksCacheTTL")]
    pub jwks_cache_ttl: Option<RawDuration>,
    pub http_timeout: Option<RawDuration>,
}

/// `policyClaim`: a claim name, or `true` for WEKA's default claim `roles` (`false` = off).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PolicyClaimEntry {
    Enabled(bool),
    Claim(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClaimsMappingEntry {
    pub username_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub email_claim: Option<String>,
    pub roles_claim: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RoleMappingEntry {
    pub rules: Vec<RoleMappingRuleEntry>,
    pub default_role: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleMappingRuleEntry {
    pub claim: String,
    pub value: String,
    pub role: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PolicyEntry {
    pub name: String,
    pub document: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RoleEntry {
    pub role_name: String,
    pub role_arn: Option<String>,
    pub attached_policies: Vec<String>,
    pub trust_policy: Option<Value>,
    pub max_session_duration: Option<RawDuration>,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodIdentityAssociationEntry {
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    pub provider: Option<String>,
}

fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::new))
}

fn secret_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    Ok(Vec::<String>::deserialize(d)?
        .into_iter()
        .map(SecretString::new)
        .collect())
}

/// What a key's value must look like.
#[derive(Clone, Copy)]
enum Shape {
    Str,
    Bool,
    /// A string or `true`/`false`.
    StrOrBool,
    Number,
    StrList,
    /// An object whose values are all strings.
    StrMap,
    /// A Go duration string or an integer number of seconds.
    Duration,
    /// A JSON object checked elsewhere (policy documents).
    Document,
    Object(&'static [Field]),
    ObjectList(&'static [Field]),
    /// Accepted for compatibility with SeaweedFS files and not used.
    Ignored,
    /// Accepted but not used, with a warning explaining what to write instead.
    IgnoredWithNote(&'static str),
}

struct Field {
    name: &'static str,
    shape: Shape,
}

const fn f(name: &'static str, shape: Shape) -> Field {
    Field { name, shape }
}

const ROOT: &[Field] = &[
    f("sts", Shape::Object(STS)),
    f("providers", Shape::ObjectList(PROVIDER)),
    f("policies", Shape::ObjectList(POLICY)),
    f("roles", Shape::ObjectList(ROLE)),
    f(
        "podIdentityAssociations",
        Shape::ObjectList(POD_IDENTITY_ASSOCIATION),
    ),
    f("policy", Shape::Ignored),
    f("roleStore", Shape::Ignored),
    f("oidcProviderStore", Shape::Ignored),
];

const STS: &[Field] = &[
    f("tokenDuration", Shape::Duration),
    f("maxSessionLength", Shape::Duration),
    f("issuer", Shape::Str),
    f("signingKey", Shape::Str),
    f("signingKeyFile", Shape::Str),
    f("previousSigningKeys", Shape::StrList),
    f("accountId", Shape::Str),
    f("clockSkew", Shape::Duration),
    f("secretDerivation", Shape::Str),
    f("providers", Shape::ObjectList(PROVIDER)),
    f("rateLimits", Shape::Object(RATE_LIMITS)),
    f("revoked", Shape::ObjectList(REVOKED)),
];

const RATE_LIMITS: &[Field] = &[
    f("perSourceIp", Shape::Object(RATE)),
    f("perSubject", Shape::Object(RATE)),
    f("global", Shape::Object(RATE)),
];

const RATE: &[Field] = &[f("rps", Shape::Number), f("burst", Shape::Number)];

const REVOKED: &[Field] = &[
    f("provider", Shape::Str),
    f("subject", Shape::Str),
    f("role", Shape::Str),
    f("issuedBefore", Shape::Str),
    f("sessionId", Shape::Str),
];

const PROVIDER: &[Field] = &[
    f("name", Shape::Str),
    f("type", Shape::Str),
    f("enabled", Shape::Bool),
    f("config", Shape::Object(PROVIDER_CONFIG)),
    f("roleMapping", Shape::Object(ROLE_MAPPING)),
];

const PROVIDER_CONFIG: &[Field] = &[
    f("issuer", Shape::Str),
    f("clientId", Shape::Str),
    f("clientIds", Shape::StrList),
    f("jwksUri", Shape::Str),
    f("clientSecret", Shape::Str),
    f("userInfoUri", Shape::Str),
    f("scopes", Shape::StrList),
    f("claimsMapping", Shape::Object(CLAIMS_MAPPING)),
    f("roleMapping", Shape::Object(ROLE_MAPPING)),
    f("policyClaim", Shape::StrOrBool),
    f("allowedPrincipalTagKeys", Shape::StrList),
    f("principalTagClaims", Shape::StrMap),
    f("tlsCaCert", Shape::Str),
    f("tlsInsecureSkipVerify", Shape::Bool),
    f("thumbprints", Shape::StrList),
    f("acceptAzpAsAudience", Shape::Bool),
    f("bearerTokenFile", Shape::Str),
    f("allowedAlgorithms", Shape::StrList),
    f("jwksCacheTTL", Shape::Duration),
    f("httpTimeout", Shape::Duration),
    f("redirectUri", Shape::Ignored),
    f(
        "jwksCacheTTLSeconds",
        Shape::IgnoredWithNote(
            "ignored (SeaweedFS never read it either); use \"jwksCacheTTL\": \"1h\"",
        ),
    ),
    // LDAP provider keys (seaweedfs-sts.md §5.3): accepted so a SeaweedFS file loads.
    f("server", Shape::Ignored),
    f("baseDN", Shape::Ignored),
    f("userFilter", Shape::Ignored),
    f("bindDN", Shape::Ignored),
    f("bindPassword", Shape::Ignored),
    f("groupFilter", Shape::Ignored),
    f("groupBaseDN", Shape::Ignored),
    f("attributes", Shape::Ignored),
    f("useTLS", Shape::Ignored),
    f("insecureSkipVerify", Shape::Ignored),
    f("connectionTimeout", Shape::Ignored),
    f("poolSize", Shape::Ignored),
    f("audience", Shape::Ignored),
];

const CLAIMS_MAPPING: &[Field] = &[
    f("usernameClaim", Shape::Str),
    f("groupsClaim", Shape::Str),
    f("emailClaim", Shape::Str),
    f("rolesClaim", Shape::Str),
];

const ROLE_MAPPING: &[Field] = &[
    f("rules", Shape::ObjectList(ROLE_MAPPING_RULE)),
    f("defaultRole", Shape::Str),
];

const ROLE_MAPPING_RULE: &[Field] = &[
    f("claim", Shape::Str),
    f("value", Shape::Str),
    f("role", Shape::Str),
    // Parsed by SeaweedFS and never used.
    f("condition", Shape::Ignored),
];

const POLICY: &[Field] = &[f("name", Shape::Str), f("document", Shape::Document)];

const ROLE: &[Field] = &[
    f("roleName", Shape::Str),
    f("roleArn", Shape::Str),
    f("attachedPolicies", Shape::StrList),
    f("trustPolicy", Shape::Document),
    f("maxSessionDuration", Shape::Duration),
    f("description", Shape::Str),
];

const POD_IDENTITY_ASSOCIATION: &[Field] = &[
    f("namespace", Shape::Str),
    f("serviceAccount", Shape::Str),
    f("roleArn", Shape::Str),
    f("provider", Shape::Str),
];

/// Result of [`check_shape`]: type errors (which stop decoding), warnings, and what
/// [`decode`] needs to word its unknown-key warnings.
#[derive(Debug, Default)]
pub struct ShapeReport {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// Paths of keys SeaweedFS reads and stsd ignores on purpose (filled by [`decode`]).
    pub seaweedfs_keys: Vec<String>,
    /// Keys the tables mark as SeaweedFS's (`true`) or as already warned about (`false`).
    accounted: Vec<(String, bool)>,
    /// Paths of keys the tables do not know, with a spelling hint when one is close.
    hints: Vec<(String, String)>,
}

/// Remove `null` members of objects, so that `"key": null` means the same as an absent key.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Walk the tree against the known key tables.
pub fn check_shape(root: &Value) -> ShapeReport {
    let mut report = ShapeReport::default();
    check(root, Shape::Object(ROOT), "", &mut report);
    report
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

// Type errors name the expected and found kinds only: the value may be a secret.
fn mismatch(report: &mut ShapeReport, path: &str, expected: &str, value: &Value) {
    report.errors.push(Problem::new(
        path,
        format!("expected {expected}, found {}", kind_of(value)),
    ));
}

fn check(value: &Value, shape: Shape, path: &str, report: &mut ShapeReport) {
    match shape {
        Shape::Str => {
            if !value.is_string() {
                mismatch(report, path, "a string", value);
            }
        }
        Shape::Bool => {
            if !value.is_boolean() {
                mismatch(report, path, "true or false", value);
            }
        }
        Shape::StrOrBool => {
            if !(value.is_string() || value.is_boolean()) {
                mismatch(report, path, "a claim name or true", value);
            }
        }
        Shape::Number => {
            if !value.is_number() {
                mismatch(report, path, "a number", value);
            }
        }
        Shape::StrList => match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        mismatch(report, &format!("{path}[{i}]"), "a string", item);
                    }
                }
            }
            _ => mismatch(report, path, "a list of strings", value),
        },
        Shape::StrMap => match value {
            Value::Object(fields) => {
                for (name, item) in fields {
                    if !item.is_string() {
                        mismatch(report, &format!("{path}.{name}"), "a string", item);
                    }
                }
            }
            _ => mismatch(report, path, "an object of strings", value),
        },
        Shape::Duration => {
            if !(value.is_string() || value.is_number()) {
                mismatch(
                    report,
                    path,
                    "a duration (\"90m\") or a number of seconds",
                    value,
                );
            }
        }
        Shape::Document => {
            if !value.is_object() {
                mismatch(report, path, "a policy document object", value);
            }
        }
        Shape::Object(fields) => check_object(value, fields, path, report),
        Shape::ObjectList(fields) => match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_object(item, fields, &format!("{path}[{i}]"), report);
                }
            }
            _ => mismatch(report, path, "a list", value),
        },
        Shape::Ignored => report.accounted.push((path.to_owned(), true)),
        Shape::IgnoredWithNote(note) => {
            report.warnings.push(Problem::new(path, note));
            report.accounted.push((path.to_owned(), false));
        }
    }
}

fn check_object(value: &Value, fields: &[Field], path: &str, report: &mut ShapeReport) {
    let Value::Object(map) = value else {
        mismatch(report, path, "an object", value);
        return;
    };
    for (key, item) in map {
        let key_path = join(path, key);
        match fields.iter().find(|fd| fd.name == key) {
            Some(field) => check(item, field.shape, &key_path, report),
            // Whether it is unknown is for the decoder to say: a serde struct may read a key
            // these tables do not list.
            None => {
                if let Some(fd) = fields.iter().find(|fd| looks_like(key, fd.name)) {
                    report
                        .hints
                        .push((key_path, format!(" (did you mean \"{}\"?)", fd.name)));
                }
            }
        }
    }
}

/// A likely misspelling of `known`: the same letters in another case, or one or two letters
/// off for names long enough that this is rarely a coincidence.
fn looks_like(key: &str, known: &str) -> bool {
    let (a, b) = (key.to_ascii_lowercase(), known.to_ascii_lowercase());
    a == b || (b.len() >= 8 && edit_distance(a.as_bytes(), b.as_bytes()) <= 2)
}

fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Decode a tree that passed [`check_shape`]. Every key the schema did not read is either one of
/// SeaweedFS's own (`shape.seaweedfs_keys`) or an unknown-key warning in `shape.warnings`.
pub fn decode(root: Value, shape: &mut ShapeReport) -> Result<IamFile, Problem> {
    let mut ignored = Vec::new();
    let file = serde_ignored::deserialize(root, |path| ignored.push(path_text(&path)))
        .map_err(|e| Problem::new("", format!("cannot decode: {e}")))?;
    for path in ignored {
        match shape.accounted.iter().find(|(p, _)| *p == path) {
            Some((_, true)) => shape.seaweedfs_keys.push(path),
            Some((_, false)) => {}
            None => {
                let hint = shape
                    .hints
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map_or("", |(_, h)| h.as_str());
                let message = format!("unknown key; ignored{hint}");
                shape.warnings.push(Problem::new(path, message));
            }
        }
    }
    Ok(file)
}

/// `providers[0].config.clientID`, the path format of every other problem.
fn path_text(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", path_text(parent)),
        Path::Map { parent, key } => join(&path_text(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => path_text(parent),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_warn_with_their_path() {
        let v = json!({
            "sts": {"issuer": "x", "tokenDurationSeconds": 5},
            "providers": [{"name": "a", "type": "oidc", "config": {"clientID": "c", "bindDN": "x"}}],
            "roles": [{"roleName": "R", "tags": []}],
            "roleStore": {"anything": 1},
            "extra": true
        });
        let mut r = check_shape(&v);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        decode(v, &mut r).unwrap();
        let mut w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
        w.sort();
        assert_eq!(
            w,
            [
                "extra: unknown key; ignored",
                "providers[0].config.clientID: unknown key; ignored (did you mean \"clientId\"?)",
                "roles[0].tags: unknown key; ignored",
                "sts.tokenDurationSeconds: unknown key; ignored",
            ]
        );
        assert_eq!(
            r.seaweedfs_keys,
            ["providers[0].config.bindDN", "roleStore"]
        );
    }

    #[test]
    fn type_errors_name_the_path_but_not_the_value() {
        let v = json!({
            "sts": {"signingKey": 12345678, "previousSigningKeys": ["ok", 7], "clockSkew": true},
            "providers": [{"name": "a", "enabled": "yes", "config": {"clientIds": "c"}}],
            "roles": "nope"
        });
        let r = check_shape(&v);
        let mut e: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
        e.sort();
        assert_eq!(
            e,
            vec![
                "providers[0].config.clientIds: expected a list of strings, found a string",
                "providers[0].enabled: expected true or false, found a string",
                "roles: expected a list, found a string",
                "sts.clockSkew: expected a duration (\"90m\") or a number of seconds, found a boolean",
                "sts.previousSigningKeys[1]: expected a string, found a number",
                "sts.signingKey: expected a string, found a number",
            ]
        );
        assert!(!e.iter().any(|m| m.contains("12345678")));
    }

    #[test]
    fn nulls_count_as_absent() {
        let mut v = json!({"sts": {"issuer": null, "providers": null}, "roles": [{"roleName": "R", "description": null}]});
        strip_nulls(&mut v);
        let mut shape = check_shape(&v);
        assert!(shape.errors.is_empty());
        let file = decode(v, &mut shape).unwrap();
        assert!(file.sts.issuer.is_none());
        assert_eq!(file.roles[0].role_name, "R");
    }

    #[test]
    fn decodes_seaweedfs_names() {
        let v = json!({"sts": {"tokenDuration": "1h", "signingKey": "k"},
            "providers": [{"name": "p", "type": "oidc", "roleMapping": {"rules": [{"claim": "g", "value": "a*", "role": "r"}]},
                           "config": {"jwksCacheTTL": 60, "clientIds": ["a"]}}]});
        let file = decode(v, &mut ShapeReport::default()).unwrap();
        assert_eq!(
            file.sts.token_duration,
            Some(RawDuration::Text("1h".into()))
        );
        let p = &file.providers[0];
        assert_eq!(p.kind, "oidc");
        assert!(p.config.jwks_cache_ttl.is_some());
        assert_eq!(p.role_mapping.as_ref().unwrap().rules[0].value, "a*");
        assert!(!format!("{file:?}").contains("\"k\""));
    }
}
