//! Loading tests: the example and development files, and every class of problem with its path.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::*;
use crate::jwks::JwsAlgorithm;
use crate::session::{SecretDerivation, SigningKey};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn key_a() -> String {
    b64(b"key-a-0123456789abcdef0123456789abcdef")
}

fn key_b() -> String {
    b64(b"key-b-0123456789abcdef0123456789abcdef")
}

fn base() -> Value {
    json!({
        "sts": { "signingKey": key_a() },
        "providers": [{
            "name": "idp",
            "type": "oidc",
            "config": { "issuer": "https://idp.example.com/realms/x", "clientId": "app" }
        }],
        "policies": [{
            "name": "P",
            "document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        }],
        "roles": [{
            "roleName": "R",
            "attachedPolicies": ["P"],
            "trustPolicy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": "idp"},
                 "Action": "sts:AssumeRoleWithWebIdentity"}]}
        }]
    })
}

fn load_env(v: &Value, vars: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    load_str(&v.to_string(), "test.json", &env)
}

fn load(v: &Value) -> Result<Loaded, ConfigErrors> {
    load_env(v, &[])
}

fn problems(v: &Value) -> Vec<String> {
    match load(v) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

/// Exactly one problem, returned as its Display text.
fn problem(v: &Value) -> String {
    let p = problems(v);
    assert_eq!(p.len(), 1, "{p:#?}");
    p[0].clone()
}

fn warnings(loaded: &Loaded) -> Vec<String> {
    loaded.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn base_is_valid_and_has_defaults() {
    let loaded = load(&base()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    assert_eq!(c.sts.token_duration, Duration::from_secs(3600));
    assert_eq!(c.sts.max_session_length, Duration::from_secs(43200));
    assert_eq!(c.sts.issuer, "seaweedfs-sts");
    assert_eq!(c.sts.clock_skew, Duration::from_secs(60));
    assert_eq!(c.sts.secret_derivation, SecretDerivation::SeaweedFs);
    assert_eq!(c.sts.account_id, None);
    assert_eq!(
        c.sts.signing_key,
        SigningKey::from_base64(&key_a()).unwrap()
    );
    let p = &c.providers[0];
    assert!(p.enabled);
    assert_eq!(p.kind, ProviderKind::Oidc);
    assert_eq!(p.settings.client_ids, vec!["app"]);
    assert_eq!(p.settings.allowed_algorithms, JwsAlgorithm::ALL.to_vec());
    assert_eq!(p.settings.jwks_cache_ttl, Duration::from_secs(3600));
    assert_eq!(p.settings.http_timeout, Duration::from_secs(5));
    assert_eq!(p.settings.jwks_uri, None);
    assert_eq!(p.settings.tls_ca_cert, None);
    assert_eq!(c.roles[0].role_arn, "arn:aws:iam::role/R");
    assert_eq!(c.roles[0].max_session_duration, None);
}

#[test]
fn example_file_passes_validation() {
    let text = include_str!("../../config/iam.example.json");
    let key = key_a();
    let env = |name: &str| (name == SIGNING_KEY_ENV).then(|| key.clone());
    let loaded = load_str(text, "iam.example.json", &env).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["keycloak", "k8s", "mock"]);
    assert_eq!(
        c.providers[0].settings.issuer,
        "https://keycloak.example.com/realms/ci"
    );
    assert_eq!(
        c.providers[0].settings.allowed_algorithms,
        vec![JwsAlgorithm::Rs256, JwsAlgorithm::Es256]
    );
    assert!(c.enabled_mock_providers().is_empty());
    assert_eq!(c.providers[1].settings.issuer, validate::K8S_ISSUER);
    let ci = c.role_by_arn("arn:aws:iam::role/CiRole").unwrap();
    assert_eq!(ci.max_session_duration, Some(Duration::from_secs(3600)));
    assert_eq!(ci.attached_policies, vec!["CiArtifactsReadWrite"]);
    assert_eq!(c.policies.len(), 2);
    assert_eq!(c.pod_identity_associations.len(), 1);
    assert_eq!(
        c.pod_identity_associations[0].provider.as_deref(),
        Some("k8s")
    );
}

#[test]
fn dev_config_has_mock_provider_and_dev_role() {
    let loaded = dev_config(&key_a());
    let c = &loaded.config;
    assert_eq!(c.enabled_mock_providers(), vec!["mock"]);
    let mock = c.provider_by_issuer("http://127.0.0.1:8090/mock").unwrap();
    assert_eq!(mock.name, "mock");
    assert_eq!(mock.settings.client_ids, vec!["stsd-dev"]);
    let role = c.role_by_arn("arn:aws:iam::role/DevRole").unwrap();
    assert_eq!(role.role_name, "DevRole");
    assert_eq!(role.attached_policies, vec!["DevS3FullAccess"]);
    assert!(c.policy("DevS3FullAccess").is_some());
    assert_eq!(
        c.sts.signing_key,
        SigningKey::from_base64(&key_a()).unwrap()
    );
    assert!(try_dev_config("c2hvcnQ=").is_err());
}

#[test]
fn role_lookup_by_any_valid_arn_form() {
    let c = load(&base()).unwrap().config;
    assert_eq!(c.role_by_arn("arn:aws:iam::role/R").unwrap().role_name, "R");
    assert_eq!(
        c.role_by_arn("arn:aws:iam::123456789012:role/R")
            .unwrap()
            .role_name,
        "R"
    );
    assert_eq!(
        c.role_by_arn("arn:aws:iam:::role/R").unwrap().role_name,
        "R"
    );
    assert!(c.role_by_arn("arn:aws:iam::role/Other").is_none());
    assert!(c.role_by_arn("arn:aws:iam::123:user/R").is_none());
    assert!(c.role_by_arn("R").is_none());
    assert!(c
        .provider_by_issuer("https://idp.example.com/realms/x")
        .is_some());
    assert!(c
        .provider_by_issuer("https://idp.example.com/realms/x/")
        .is_none());
}

#[test]
fn bad_base64_key() {
    let mut v = base();
    v["sts"]["signingKey"] = json!("not base64!!");
    assert_eq!(
        problem(&v),
        "sts.signingKey: not standard padded base64 (RFC 4648 §4)"
    );
}

#[test]
fn short_key() {
    let mut v = base();
    v["sts"]["signingKey"] = json!("c2hvcnQ=");
    assert_eq!(
        problem(&v),
        "sts.signingKey: decodes to 5 bytes; at least 32 are required"
    );
}

#[test]
fn missing_key() {
    let mut v = base();
    v["sts"] = json!({});
    assert!(problem(&v).starts_with("sts.signingKey: required"));
}

#[test]
fn missing_issuer() {
    let mut v = base();
    v["providers"][0]["config"] = json!({"clientId": "app"});
    assert_eq!(problem(&v), "providers[0].config.issuer: required");
}

#[test]
fn issuer_must_be_an_http_url() {
    let mut v = base();
    v["providers"][0]["config"]["issuer"] = json!("idp.example.com");
    assert_eq!(
        problem(&v),
        "providers[0].config.issuer: \"idp.example.com\" is not an http(s) URL"
    );
}

#[test]
fn no_client_id() {
    let mut v = base();
    v["providers"][0]["config"] = json!({"issuer": "https://idp.example.com"});
    assert!(problem(&v).starts_with(
        "providers[0].config.clientId: at least one client id is required (clientId or clientIds)"
    ));
    v["providers"][0]["config"]["clientIds"] = json!(["a", ""]);
    assert_eq!(
        problem(&v),
        "providers[0].config.clientIds[1]: must not be empty"
    );
}

#[test]
fn client_ids_are_merged() {
    let mut v = base();
    v["providers"][0]["config"]["clientIds"] = json!(["b", "app", "c"]);
    let c = load(&v).unwrap().config;
    assert_eq!(c.providers[0].settings.client_ids, vec!["app", "b", "c"]);
}

#[test]
fn duplicate_provider_name() {
    let mut v = base();
    v["providers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "idp", "type": "oidc",
        "config": {"issuer": "https://other.example.com", "clientId": "app"}}));
    assert_eq!(
        problem(&v),
        "providers[1].name: duplicate provider name \"idp\" (also providers[0])"
    );
}

#[test]
fn duplicate_issuer_across_both_lists() {
    let mut v = base();
    v["sts"]["providers"] = json!([{"name": "first", "type": "oidc",
        "config": {"issuer": "https://idp.example.com/realms/x", "clientId": "x"}}]);
    assert_eq!(
        problem(&v),
        "providers[0].config.issuer: duplicate issuer \"https://idp.example.com/realms/x\" \
         (also sts.providers[0]); tokens are routed by issuer"
    );
}

#[test]
fn unknown_provider_type() {
    let mut v = base();
    v["providers"][0]["type"] = json!("ldap");
    assert_eq!(
        problem(&v),
        "providers[0].type: unsupported provider type \"ldap\"; stsd supports oidc, kubernetes and mock"
    );
    v["providers"][0]["type"] = json!("");
    assert_eq!(
        problem(&v),
        "providers[0].type: required: oidc, kubernetes or mock"
    );
}

#[test]
fn hmac_and_none_algorithms_are_refused() {
    let mut v = base();
    v["providers"][0]["config"]["allowedAlgorithms"] = json!(["RS256", "HS256", "none", "XX1"]);
    let p = problems(&v);
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(
        p[0].starts_with("providers[0].config.allowedAlgorithms[1]: HS256 is not allowed: HMAC")
    );
    assert_eq!(
        p[1],
        "providers[0].config.allowedAlgorithms[2]: \"none\" is not allowed: unsigned tokens prove nothing"
    );
    assert!(p[2].starts_with(
        "providers[0].config.allowedAlgorithms[3]: unknown algorithm \"XX1\"; supported: RS256"
    ));
    v["providers"][0]["config"]["allowedAlgorithms"] = json!([]);
    assert!(
        problem(&v).starts_with("providers[0].config.allowedAlgorithms: must list at least one")
    );
}

#[test]
fn bad_durations() {
    let mut v = base();
    v["sts"]["tokenDuration"] = json!("1x");
    assert_eq!(
        problem(&v),
        "sts.tokenDuration: unknown unit \"x\" in \"1x\"; use ns, us, µs, ms, s, m or h"
    );
    v["sts"]["tokenDuration"] = json!(-5);
    assert_eq!(
        problem(&v),
        "sts.tokenDuration: negative durations are not allowed"
    );
    v["sts"]["tokenDuration"] = json!("3600");
    assert!(problem(&v).starts_with("sts.tokenDuration: \"3600\" has no unit"));
    v["sts"]["tokenDuration"] = json!(0);
    assert_eq!(problem(&v), "sts.tokenDuration: must be greater than zero");
    v["sts"]["tokenDuration"] = json!(3_600_000_000_000_u64);
    assert!(problem(&v).starts_with(
        "sts.tokenDuration: 3600000000000 seconds is implausibly large; a JSON integer here means seconds"
    ));
    v["sts"]["tokenDuration"] = json!(5400);
    assert_eq!(
        load(&v).unwrap().config.sts.token_duration,
        Duration::from_secs(5400)
    );
    let mut v = base();
    v["providers"][0]["config"]["httpTimeout"] = json!("");
    assert_eq!(
        problem(&v),
        "providers[0].config.httpTimeout: empty duration"
    );
}

#[test]
fn clock_skew_over_five_minutes() {
    let mut v = base();
    v["sts"]["clockSkew"] = json!("6m");
    assert_eq!(problem(&v), "sts.clockSkew: must be at most 5m");
    v["sts"]["clockSkew"] = json!("5m");
    assert_eq!(
        load(&v).unwrap().config.sts.clock_skew,
        Duration::from_secs(300)
    );
    v["sts"]["clockSkew"] = json!(0);
    assert_eq!(load(&v).unwrap().config.sts.clock_skew, Duration::ZERO);
}

#[test]
fn unknown_attached_policy() {
    let mut v = base();
    v["roles"][0]["attachedPolicies"] = json!(["P", "Nope"]);
    assert_eq!(
        problem(&v),
        "roles[0].attachedPolicies[1]: unknown policy \"Nope\"; it must be defined under \"policies\""
    );
}

#[test]
fn role_arn_must_name_the_role() {
    let mut v = base();
    v["roles"][0]["roleArn"] = json!("arn:aws:iam::role/Other");
    assert_eq!(
        problem(&v),
        "roles[0].roleArn: names role \"Other\" but roleName is \"R\""
    );
    v["roles"][0]["roleArn"] = json!("arn:aws:iam::123456789012:user/R");
    assert!(problem(&v).starts_with(
        "roles[0].roleArn: \"arn:aws:iam::123456789012:user/R\" is not an IAM role ARN"
    ));
    v["roles"][0]["roleArn"] = json!("arn:aws:iam::123456789012:role/team/R");
    assert!(problem(&v).starts_with("roles[0].roleArn: role paths are not supported"));
    v["roles"][0]["roleArn"] = json!("arn:aws:iam::123456789012:role/R");
    let c = load(&v).unwrap().config;
    assert_eq!(c.roles[0].role_arn, "arn:aws:iam::123456789012:role/R");
    assert_eq!(
        c.role_by_arn("arn:aws:iam::123456789012:role/R")
            .unwrap()
            .role_name,
        "R"
    );
}

#[test]
fn role_rules() {
    let mut v = base();
    let first = v["roles"][0].clone();
    v["roles"].as_array_mut().unwrap().push(first);
    assert_eq!(
        problem(&v),
        "roles[1].roleName: duplicate role name \"R\" (also roles[0])"
    );
    let mut v = base();
    v["roles"][0]["roleName"] = json!("bad name");
    assert!(problem(&v).starts_with("roles[0].roleName: must be 1-64 characters"));
    let mut v = base();
    v["roles"][0].as_object_mut().unwrap().remove("trustPolicy");
    assert!(problem(&v).starts_with("roles[0].trustPolicy: required"));
    let mut v = base();
    v["roles"][0]["maxSessionDuration"] = json!(100);
    assert!(problem(&v).starts_with("roles[0].maxSessionDuration: must be between 3600 and 43200"));
    v["roles"][0]["maxSessionDuration"] = json!("13h");
    assert!(problem(&v).starts_with("roles[0].maxSessionDuration: must be between"));
    v["roles"][0]["maxSessionDuration"] = json!("2h");
    assert_eq!(
        load(&v).unwrap().config.roles[0].max_session_duration,
        Some(Duration::from_secs(7200))
    );
    v["roles"][0]["maxSessionDuration"] = json!(0);
    assert_eq!(load(&v).unwrap().config.roles[0].max_session_duration, None);
}

#[test]
fn policy_rules() {
    let mut v = base();
    let first = v["policies"][0].clone();
    v["policies"].as_array_mut().unwrap().push(first);
    assert_eq!(
        problem(&v),
        "policies[1].name: duplicate policy name \"P\" (also policies[0])"
    );
    let mut v = base();
    v["policies"][0].as_object_mut().unwrap().remove("document");
    let p = problems(&v);
    assert_eq!(p[0], "policies[0].document: required");
}

#[test]
fn sts_scalar_rules() {
    let mut v = base();
    v["sts"]["accountId"] = json!("12345");
    v["sts"]["secretDerivation"] = json!("sha1");
    v["sts"]["issuer"] = json!(" ");
    v["sts"]["previousSigningKeys"] = json!([key_b(), "c2hvcnQ="]);
    let p = problems(&v);
    assert_eq!(
        p,
        vec![
            "sts.issuer: must not be empty",
            "sts.secretDerivation: unknown mode \"sha1\"; use \"seaweedfs\" (SeaweedFS 4.48 and \
             later: the secret is keyed by the signing key) or \"seaweedfs-legacy\" (SeaweedFS \
             4.47 and earlier)",
            "sts.accountId: must be 12 digits",
            "sts.previousSigningKeys[1]: decodes to 5 bytes; at least 32 are required",
        ]
    );
    let mut v = base();
    v["sts"]["accountId"] = json!("123456789012");
    v["sts"]["secretDerivation"] = json!("seaweedfs-legacy");
    v["sts"]["previousSigningKeys"] = json!([key_b()]);
    let loaded = load(&v).unwrap();
    let c = loaded.config;
    assert_eq!(c.sts.secret_derivation, SecretDerivation::SeaweedFsLegacy);
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w
                .starts_with("sts.secretDerivation: \"seaweedfs-legacy\" serves SeaweedFS 4.47")),
        "{warnings:?}"
    );
    assert_eq!(
        c.sts.previous_signing_keys,
        vec![SigningKey::from_base64(&key_b()).unwrap()]
    );
}

#[test]
fn the_removed_hmac_mode_names_the_modes_that_replace_it() {
    let mut v = base();
    v["sts"]["secretDerivation"] = json!("hmac");
    let p = problem(&v);
    assert!(
        p.starts_with("sts.secretDerivation: \"hmac\" is no longer offered")
            && p.contains("\"seaweedfs\" now keys the secret")
            && p.contains("\"seaweedfs-legacy\" (SeaweedFS 4.47 and earlier)"),
        "{p}"
    );
    let mut v = base();
    v["sts"]["secretDerivation"] = json!("seaweedfs");
    let loaded = load(&v).unwrap();
    assert_eq!(
        loaded.config.sts.secret_derivation,
        SecretDerivation::SeaweedFs
    );
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.to_string().starts_with("sts.secretDerivation")),
        "the default mode is not a warning"
    );
}

#[test]
fn unset_env_var_names_the_key() {
    let mut v = base();
    v["providers"][0]["config"]["clientSecret"] = json!("${CLIENT_SECRET}");
    assert_eq!(
        problem(&v),
        "providers[0].config.clientSecret: environment variable CLIENT_SECRET is not set"
    );
}

#[test]
fn env_substitution_and_defaults() {
    let mut v = base();
    v["providers"][0]["config"]["issuer"] = json!("https://${IDP_HOST}/realms/${REALM:-main}");
    v["providers"][0]["config"]["clientId"] = json!("${CLIENT_ID:-app}");
    v["providers"][0]["config"]["clientSecret"] = json!("${CLIENT_SECRET}");
    let loaded = load_env(
        &v,
        &[
            ("IDP_HOST", "sso.example.org"),
            ("CLIENT_SECRET", "s3cr3t-value"),
        ],
    )
    .unwrap();
    let s = &loaded.config.providers[0].settings;
    assert_eq!(s.issuer, "https://sso.example.org/realms/main");
    assert_eq!(s.client_ids, vec!["app"]);
    assert_eq!(s.client_secret.as_ref().unwrap().expose(), "s3cr3t-value");
}

#[test]
fn several_problems_are_reported_at_once() {
    let mut v = base();
    v["sts"]["signingKey"] = json!("c2hvcnQ=");
    v["sts"]["clockSkew"] = json!("10m");
    v["providers"][0]["config"]
        .as_object_mut()
        .unwrap()
        .remove("issuer");
    v["roles"][0]["attachedPolicies"] = json!(["Nope"]);
    let p = problems(&v);
    assert_eq!(p.len(), 4, "{p:#?}");
    for expected in [
        "sts.signingKey: decodes to 5 bytes; at least 32 are required",
        "sts.clockSkew: must be at most 5m",
        "providers[0].config.issuer: required",
    ] {
        assert!(
            p.contains(&expected.to_string()),
            "{expected} not in {p:#?}"
        );
    }
    assert!(p
        .iter()
        .any(|m| m.starts_with("roles[0].attachedPolicies[0]:")));

    // Substitution and type errors are collected together, too.
    let mut v = base();
    v["providers"][0]["enabled"] = json!("yes");
    v["providers"][0]["config"]["clientSecret"] = json!("${NOPE}");
    v["roles"][0]["attachedPolicies"] = json!("P");
    let mut p = problems(&v);
    p.sort();
    assert_eq!(
        p,
        vec![
            "providers[0].config.clientSecret: environment variable NOPE is not set",
            "providers[0].enabled: expected true or false, found a string",
            "roles[0].attachedPolicies: expected a list of strings, found a string",
        ]
    );
}

#[test]
fn unknown_keys_warn_and_seaweedfs_keys_are_accepted() {
    let mut v = base();
    v["sts"]["tokenTTL"] = json!("1h");
    v["providers"][0]["config"]["redirectUri"] = json!("https://x");
    v["providers"][0]["config"]["jwksCacheTTLSeconds"] = json!(60);
    v["providers"][0]["config"]["bindPassword"] = json!("ldap-secret");
    v["policy"] = json!({"defaultEffect": "Allow"});
    v["roleStore"] = json!({"storeType": "memory"});
    v["oidcProviderStore"] = json!({});
    v["roles"][0]["Tags"] = json!([]);
    let loaded = load(&v).unwrap();
    let w = warnings(&loaded);
    assert_eq!(
        w,
        vec![
            "providers[0].config.jwksCacheTTLSeconds: ignored (SeaweedFS never read it either); use \"jwksCacheTTL\": \"1h\"",
            "sts.tokenTTL: unknown key; ignored",
            "roles[0].Tags: unknown key; ignored",
            "policy.defaultEffect: ignored: stsd always denies when no trust-policy statement allows",
        ]
    );
    // SeaweedFS's own keys are listed as such, not as typos.
    assert_eq!(
        loaded.seaweedfs_keys,
        [
            "providers[0].config.redirectUri",
            "providers[0].config.bindPassword",
            "roleStore",
            "oidcProviderStore"
        ]
    );
}

#[test]
fn misspelt_keys_get_a_suggestion() {
    let mut v = base();
    v["sts"]["tokenDuraton"] = json!("1h");
    v["sts"]["rateLimit"] = json!({"global": {"rps": 1}});
    v["providers"][0]["config"]["policyclaim"] = json!("roles");
    let w = warnings(&load(&v).unwrap());
    assert_eq!(
        w,
        vec![
            "sts.tokenDuraton: unknown key; ignored (did you mean \"tokenDuration\"?)",
            "sts.rateLimit: unknown key; ignored (did you mean \"rateLimits\"?)",
            "providers[0].config.policyclaim: unknown key; ignored (did you mean \"policyClaim\"?)",
        ]
    );
}

#[test]
fn both_provider_lists_are_merged() {
    let mut v = base();
    v["sts"]["providers"] = json!([{"name": "early", "type": "oidc",
        "config": {"issuer": "https://early.example.com", "clientIds": ["e"]}}]);
    let c = load(&v).unwrap().config;
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["early", "idp"]);
    assert_eq!(
        c.provider_by_issuer("https://early.example.com")
            .unwrap()
            .name,
        "early"
    );
}

#[test]
fn signing_key_env_overrides_the_file() {
    let v = base();
    let c = load_env(&v, &[(SIGNING_KEY_ENV, &key_b())]).unwrap().config;
    assert_eq!(
        c.sts.signing_key,
        SigningKey::from_base64(&key_b()).unwrap()
    );
    let mut v = base();
    v["sts"] = json!({"signingKeyFile": "/nonexistent/key"});
    let c = load_env(&v, &[(SIGNING_KEY_ENV, &key_b())]).unwrap().config;
    assert_eq!(
        c.sts.signing_key,
        SigningKey::from_base64(&key_b()).unwrap()
    );
    match load_env(&base(), &[(SIGNING_KEY_ENV, "c2hvcnQ=")]) {
        Err(e) => assert_eq!(
            e.problems[0].to_string(),
            "STSD_SIGNING_KEY (environment): decodes to 5 bytes; at least 32 are required"
        ),
        Ok(_) => panic!("short env key accepted"),
    }
}

#[test]
fn signing_key_file() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{}", key_b()).unwrap();
    let mut v = base();
    v["sts"] = json!({"signingKeyFile": f.path()});
    let c = load(&v).unwrap().config;
    assert_eq!(
        c.sts.signing_key,
        SigningKey::from_base64(&key_b()).unwrap()
    );

    v["sts"]["signingKey"] = json!(key_a());
    assert_eq!(
        problem(&v),
        "sts.signingKeyFile: set either sts.signingKey or sts.signingKeyFile, not both"
    );

    let mut v = base();
    v["sts"] = json!({"signingKeyFile": "/nonexistent/stsd-key"});
    assert!(problem(&v).starts_with("sts.signingKeyFile: cannot read /nonexistent/stsd-key:"));

    let mut bad = tempfile::NamedTempFile::new().unwrap();
    write!(bad, "c2hvcnQ=").unwrap();
    v["sts"] = json!({"signingKeyFile": bad.path()});
    assert!(problem(&v).ends_with(": decodes to 5 bytes; at least 32 are required"));
}

#[test]
fn load_file_resolves_a_relative_key_file_next_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signing-key"), key_b()).unwrap();
    let mut v = base();
    v["sts"] = json!({"signingKeyFile": "signing-key"});
    let path = dir.path().join("iam.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let loaded = load_file(&path).unwrap();
    assert_eq!(loaded.config.providers.len(), 1);
    let missing = load_file(dir.path().join("absent.json")).unwrap_err();
    assert!(missing.problems[0].message.starts_with("cannot read "));
}

#[test]
fn kubernetes_defaults_and_overrides() {
    let mut v = base();
    v["providers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "k8s", "type": "kubernetes", "config": {"clientId": "stsd"}}));
    let c = load(&v).unwrap().config;
    let k = c.provider_by_name("k8s").unwrap();
    assert_eq!(k.kind, ProviderKind::Kubernetes);
    assert_eq!(
        k.settings.issuer,
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(
        k.settings.jwks_uri.as_deref(),
        Some("https://kubernetes.default.svc/openid/v1/jwks")
    );
    assert_eq!(
        k.settings.tls_ca_cert,
        Some(PathBuf::from(
            "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
        ))
    );
    assert_eq!(
        k.settings.bearer_token_file,
        Some(PathBuf::from(
            "/var/run/secrets/kubernetes.io/serviceaccount/token"
        ))
    );

    v["providers"][1]["config"]["issuer"] = json!("https://oidc.eks.example.com/id/ABC");
    v["providers"][1]["config"]["jwksUri"] = json!("https://oidc.eks.example.com/id/ABC/keys");
    v["providers"][1]["config"]["tlsCaCert"] = json!("/etc/ssl/ca.pem");
    let c = load(&v).unwrap().config;
    let k = c.provider_by_name("k8s").unwrap();
    assert_eq!(k.settings.issuer, "https://oidc.eks.example.com/id/ABC");
    assert_eq!(
        k.settings.jwks_uri.as_deref(),
        Some("https://oidc.eks.example.com/id/ABC/keys")
    );
    assert_eq!(
        k.settings.tls_ca_cert,
        Some(PathBuf::from("/etc/ssl/ca.pem"))
    );
    assert_eq!(
        k.settings.bearer_token_file,
        Some(PathBuf::from(
            "/var/run/secrets/kubernetes.io/serviceaccount/token"
        ))
    );

    // Without a client id any pod's default API-server token would be accepted.
    v["providers"][1]["config"] = json!({});
    assert!(problem(&v).starts_with("providers[1].config.clientId: at least one client id"));
}

#[test]
fn mock_provider_rules() {
    let mut v = base();
    v["providers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "mock", "type": "mock", "config": {}}));
    let mut p = problems(&v);
    p.sort();
    assert_eq!(p[0], "providers[1].config.clientId: at least one client id is required (clientId or clientIds): tokens must carry one as audience");
    assert_eq!(p[1], "providers[1].config.issuer: required");
    v["providers"][1]["config"] = json!({"issuer": "test-issuer", "clientId": "c"});
    let loaded = load(&v).unwrap();
    assert_eq!(loaded.config.enabled_mock_providers(), vec!["mock"]);
    assert!(warnings(&loaded)[0].starts_with("providers[1]: enabled mock provider"));
    v["providers"][1]["enabled"] = json!(false);
    let loaded = load(&v).unwrap();
    assert!(loaded.config.enabled_mock_providers().is_empty());
    assert!(loaded.warnings.is_empty());
}

#[test]
fn provider_option_rules() {
    let mut v = base();
    let cfg = &mut v["providers"][0]["config"];
    cfg["thumbprints"] = json!(["ABCDEF0123456789ABCDEF0123456789ABCDEF01", "xyz"]);
    cfg["jwksUri"] = json!("file:///etc/jwks.json");
    cfg["jwksCacheTTL"] = json!(0);
    let mut p = problems(&v);
    p.sort();
    assert_eq!(
        p,
        vec![
            "providers[0].config.jwksCacheTTL: must be greater than zero",
            "providers[0].config.jwksUri: \"file:///etc/jwks.json\" is not an http(s) URL",
            "providers[0].config.thumbprints[1]: must be a certificate fingerprint: SHA-1 (40 hexadecimal digits) or SHA-256 (64)",
        ]
    );
    let mut v = base();
    v["providers"][0]["config"]["thumbprints"] = json!([
        "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
        "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
    ]);
    v["providers"][0]["config"]["tlsInsecureSkipVerify"] = json!(true);
    let loaded = load(&v).unwrap();
    assert_eq!(
        loaded.config.providers[0].settings.thumbprints,
        vec![
            "abcdef0123456789abcdef0123456789abcdef01",
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
        ]
    );
    assert!(!loaded.config.providers[0].settings.accept_azp_as_audience);
    v["providers"][0]["config"]["acceptAzpAsAudience"] = json!(true);
    assert!(
        load(&v).unwrap().config.providers[0]
            .settings
            .accept_azp_as_audience
    );
    assert!(warnings(&loaded)[0].starts_with("providers[0].config.tlsInsecureSkipVerify:"));
}

#[test]
fn role_mapping_from_either_place() {
    let mut v = base();
    v["providers"][0]["roleMapping"] = json!({"rules": [
        {"claim": "groups", "value": "admin*", "role": "arn:aws:iam::role/R", "condition": "x"}],
        "defaultRole": "arn:aws:iam::role/Missing"});
    let loaded = load(&v).unwrap();
    let m = loaded.config.providers[0]
        .settings
        .role_mapping
        .clone()
        .unwrap();
    assert_eq!(m.rules[0].value, "admin*");
    assert_eq!(m.default_role.as_deref(), Some("arn:aws:iam::role/Missing"));
    assert_eq!(
        warnings(&loaded),
        vec!["providers[0].roleMapping.defaultRole: no role named by \"arn:aws:iam::role/Missing\" is defined under \"roles\""]
    );
    v["providers"][0]["config"]["roleMapping"] = json!({"rules": []});
    assert!(problem(&v).starts_with("providers[0].roleMapping: set roleMapping either"));
    let mut v = base();
    v["providers"][0]["config"]["roleMapping"] =
        json!({"rules": [{"claim": "g", "value": "", "role": "R"}]});
    let p = problems(&v);
    assert_eq!(
        p,
        vec![
            "providers[0].config.roleMapping.rules[0].value: required",
            "providers[0].config.roleMapping.rules[0].role: \"R\" is not an IAM role ARN",
        ]
    );
}

#[test]
fn malformed_files() {
    let env = |_: &str| None;
    let e = load_str("{ not json", "x.json", &env).unwrap_err();
    assert!(e.problems[0]
        .message
        .starts_with("x.json is not valid JSON"));
    let e = load_str("[1, 2]", "x.json", &env).unwrap_err();
    assert_eq!(e.problems[0].message, "x.json must contain a JSON object");
}

#[test]
fn report_summarises_without_secrets() {
    let mut v = base();
    v["providers"][0]["config"]["clientSecret"] = json!("client-secret-text");
    v["sts"]["previousSigningKeys"] = json!([key_b()]);
    v["sts"]["unknownKey"] = json!(1);
    let result = load(&v);
    let text = report("iam.json", &result);
    assert!(text.starts_with("iam.json: valid\n"), "{text}");
    assert!(text.contains("  idp: type oidc, enabled, issuer https://idp.example.com/realms/x, clientIds [app], clientSecret ***"), "{text}");
    assert!(
        text.contains("  R: arn:aws:iam::role/R, policies [P]"),
        "{text}"
    );
    assert!(text.contains("policies (1): P"), "{text}");
    assert!(
        text.contains("warnings (1):\n  sts.unknownKey: unknown key; ignored"),
        "{text}"
    );
    assert!(text.contains("signing key *** (kid "), "{text}");
    for secret in [key_a(), key_b(), "client-secret-text".to_string()] {
        assert!(!text.contains(&secret), "{text}");
    }
    let debug = format!("{:?}", result.unwrap());
    assert!(!debug.contains("client-secret-text"));
}

#[test]
fn error_report_lists_every_problem_without_secrets() {
    let mut v = base();
    let short = "c2hvcnQ=";
    v["sts"]["signingKey"] = json!(short);
    v["sts"]["previousSigningKeys"] = json!(["bm90IGEga2V5IGF0IGFsbA", 42]);
    v["providers"][0]["config"]["clientSecret"] = json!(987654321);
    let text = report("iam.json", &load(&v));
    assert!(
        text.starts_with("iam.json: invalid, 2 problems\n"),
        "{text}"
    );
    assert!(text.contains("  sts.previousSigningKeys[1]: expected a string, found a number"));
    assert!(text.contains("  providers[0].config.clientSecret: expected a string, found a number"));
    assert!(!text.contains("987654321"));

    v["sts"]["previousSigningKeys"] = json!(["bm90IGEga2V5IGF0IGFsbA"]);
    v["providers"][0]["config"]["clientSecret"] = json!("x");
    let text = report("iam.json", &load(&v));
    assert!(
        text.starts_with("iam.json: invalid, 2 problems\n"),
        "{text}"
    );
    assert!(
        !text.contains(short) && !text.contains("bm90IGEga2V5IGF0IGFsbA"),
        "{text}"
    );
}

#[test]
fn the_report_names_the_gateway_releases_of_the_derivation_mode() {
    let text = report("iam.json", &load(&base()));
    assert!(
        text.contains("secretDerivation seaweedfs (SeaweedFS 4.48 and later)"),
        "{text}"
    );
    let mut v = base();
    v["sts"]["secretDerivation"] = json!("seaweedfs-legacy");
    let text = report("iam.json", &load(&v));
    assert!(
        text.contains("secretDerivation seaweedfs-legacy (SeaweedFS 4.47 and earlier)"),
        "{text}"
    );
    assert!(
        text.contains("sts.secretDerivation: \"seaweedfs-legacy\" serves SeaweedFS 4.47"),
        "the warning is part of check-config's report: {text}"
    );
}

#[test]
fn nulls_mean_absent() {
    let mut v = base();
    v["sts"]["tokenDuration"] = Value::Null;
    v["providers"][0]["enabled"] = Value::Null;
    let c = load(&v).unwrap().config;
    assert_eq!(c.sts.token_duration, Duration::from_secs(3600));
    assert!(c.providers[0].enabled);
}

#[test]
fn a_seaweedfs_style_file_loads_without_warnings() {
    let v = json!({
        "sts": {
            "tokenDuration": "1h",
            "maxSessionLength": "12h",
            "issuer": "seaweedfs-sts",
            "signingKey": "dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc="
        },
        "policy": { "defaultEffect": "Deny", "storeType": "memory" },
        "roleStore": { "storeType": "memory" },
        "oidcProviderStore": { "storeType": "memory" },
        "providers": [{
            "name": "keycloak",
            "type": "oidc",
            "enabled": true,
            "config": {
                "issuer": "http://keycloak:8080/realms/seaweedfs-test",
                "clientId": "seaweedfs-s3",
                "clientSecret": "seaweedfs-s3-secret",
                "jwksUri": "http://keycloak:8080/realms/seaweedfs-test/protocol/openid-connect/certs",
                "userInfoUri": "http://keycloak:8080/realms/seaweedfs-test/protocol/openid-connect/userinfo",
                "scopes": ["openid", "profile", "email"],
                "redirectUri": "http://localhost:8333/callback",
                "claimsMapping": { "usernameClaim": "preferred_username", "groupsClaim": "roles" },
                "roleMapping": {
                    "rules": [{ "claim": "roles", "value": "s3-admin", "role": "arn:aws:iam::role/KeycloakAdminRole" }],
                    "defaultRole": "arn:aws:iam::role/KeycloakAdminRole"
                }
            }
        }],
        "roles": [{
            "roleName": "KeycloakAdminRole",
            "roleArn": "arn:aws:iam::role/KeycloakAdminRole",
            "trustPolicy": {
                "Version": "2012-10-17",
                "Statement": [{ "Effect": "Allow", "Principal": { "Federated": "keycloak" },
                                "Action": ["sts:AssumeRoleWithWebIdentity"] }]
            },
            "attachedPolicies": ["S3AdminPolicy"],
            "description": "Admin role for Keycloak users",
            "maxSessionDuration": 3600
        }],
        "policies": [{
            "name": "S3AdminPolicy",
            "document": { "Version": "2012-10-17",
                          "Statement": [{ "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"] }] }
        }]
    });
    let loaded = load(&v).unwrap_or_else(|e| panic!("{e:#?}"));
    // Its only warning: the Keycloak issuer is plain HTTP.
    let warned = warnings(&loaded);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("providers[0].config.issuer: plain HTTP"),
        "{warned:?}"
    );
    let c = loaded.config;
    assert_eq!(
        c.sts.signing_key.bytes(),
        b"test-signing-key-32-characters-long"
    );
    let role = c
        .role_by_arn("arn:aws:iam::role/KeycloakAdminRole")
        .unwrap();
    assert_eq!(role.max_session_duration, Some(Duration::from_secs(3600)));
    let s = &c.providers[0].settings;
    assert_eq!(s.scopes, vec!["openid", "profile", "email"]);
    assert_eq!(s.claims_mapping.groups_claim.as_deref(), Some("roles"));
    assert_eq!(s.role_mapping.as_ref().unwrap().rules[0].value, "s3-admin");
}

#[test]
fn a_repeated_key_is_refused_rather_than_silently_dropped() {
    // Two StringEquals blocks: serde's Value would keep only the second and drop the sub check.
    let text = base()
        .to_string()
        .replacen("\"roles\":", "\"roles\": [], \"roles\":", 1);
    let errors = load_str(&text, "iam.json", &|_| None).unwrap_err();
    assert_eq!(
        errors.problems[0].to_string(),
        "iam.json: an object names the same key twice"
    );
    let valid = base().to_string();
    assert!(load_str(&valid, "iam.json", &|_| None).is_ok());
}

#[test]
fn policy_claim_is_a_claim_name_or_true() {
    let with = |value: serde_json::Value| {
        let mut v = base();
        v["providers"][0]["config"]["policyClaim"] = value;
        v
    };
    let claim = |value: serde_json::Value| load(&with(value));
    let loaded = claim(json!(true)).unwrap();
    assert_eq!(
        loaded.config.providers[0].settings.policy_claim.as_deref(),
        Some("roles")
    );
    assert!(
        warnings(&loaded)
            .iter()
            .any(|w| w
                .starts_with("providers[0].config.policyClaim: true reads the claim \"roles\"")),
        "{:?}",
        warnings(&loaded)
    );
    let off = claim(json!(false)).unwrap();
    assert_eq!(off.config.providers[0].settings.policy_claim, None);
    let named = claim(json!("groups")).unwrap();
    assert_eq!(
        named.config.providers[0].settings.policy_claim.as_deref(),
        Some("groups")
    );
    assert!(warnings(&named).is_empty(), "{:?}", warnings(&named));
    assert_eq!(
        problem(&with(json!(7))),
        "providers[0].config.policyClaim: expected a claim name or true, found a number"
    );
    assert_eq!(
        problem(&with(json!(" "))),
        "providers[0].config.policyClaim: must name a claim (or be true for \"roles\")"
    );
}

#[test]
fn seaweed_partition_role_arns() {
    let mut v = base();
    v["roles"][0]["roleArn"] = json!("arn:seaweed:iam::role/R");
    let c = load(&v).unwrap().config;
    assert_eq!(c.roles[0].partition, crate::arn::Partition::Seaweed);
    assert_eq!(
        c.role_by_arn("arn:seaweed:iam::role/R").unwrap().role_name,
        "R"
    );
    assert_eq!(c.role_by_arn("arn:aws:iam::role/R").unwrap().role_name, "R");

    let mut v = base();
    v["roles"][0]["roleArn"] = json!("arn:aws-cn:iam::role/R");
    let p = problem(&v);
    assert!(
        p.starts_with("roles[0].roleArn: \"arn:aws-cn:iam::role/R\" is not an IAM role ARN"),
        "{p:?}"
    );
}

#[test]
fn pod_identity_associations_load() {
    let mut v = base();
    v["podIdentityAssociations"] = json!([
        {"namespace": "team-a", "serviceAccount": "app", "roleArn": "arn:aws:iam::role/R"},
        {"namespace": "team-b", "serviceAccount": "app.v2", "roleArn": "arn:aws:iam::123456789012:role/R",
         "provider": "idp"}
    ]);
    let loaded = load(&v).unwrap();
    assert_eq!(
        loaded.config.pod_identity_associations,
        vec![
            PodIdentityAssociation {
                namespace: "team-a".into(),
                service_account: "app".into(),
                role_arn: "arn:aws:iam::role/R".into(),
                provider: None,
            },
            PodIdentityAssociation {
                namespace: "team-b".into(),
                service_account: "app.v2".into(),
                role_arn: "arn:aws:iam::123456789012:role/R".into(),
                provider: Some("idp".into()),
            },
        ]
    );
    assert!(warnings(&loaded).is_empty(), "{:?}", warnings(&loaded));
    let text = report("iam.json", &Ok(loaded));
    assert!(
        text.contains("pod identity associations (2):\n  team-a/app: arn:aws:iam::role/R\n"),
        "{text}"
    );
}

#[test]
fn pod_identity_associations_report_every_problem_with_its_path() {
    let mut v = base();
    v["podIdentityAssociations"] = json!([
        {"namespace": "team-a", "serviceAccount": "app", "roleArn": "arn:aws:iam::role/Nope"},
        {"namespace": "team-a", "serviceAccount": "app", "roleArn": "arn:aws:iam::role/R",
         "provider": "other"},
        {"namespace": "Team_A", "serviceAccount": "", "roleArn": "R"},
        {"namespace": "team-c", "serviceAccount": "web", "roleArn": "arn:aws:iam::role/R"},
        {"namespace": "team-c", "serviceAccount": "web", "roleArn": "arn:aws:iam::role/R",
         "provider": "idp"},
        {"namespace": "team-d", "serviceAccount": "web", "roleArn": "arn:aws:iam::role/R",
         "provider": "idp", "rolearn": "x"}
    ]);
    let errors = load(&v).unwrap_err();
    let got: Vec<String> = errors.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "podIdentityAssociations[0].roleArn: unknown role \"Nope\"; it must be defined under \"roles\"",
            "podIdentityAssociations[1].provider: unknown provider \"other\"; it must be defined under \"providers\"",
            "podIdentityAssociations[2].namespace: not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)",
            "podIdentityAssociations[2].serviceAccount: required",
            "podIdentityAssociations[2].roleArn: \"R\" is not an IAM role ARN (arn:aws:iam::[ACCOUNT:]role/NAME)",
            "podIdentityAssociations[4]: duplicate association for namespace \"team-c\" and serviceAccount \"web\" (also podIdentityAssociations[3]); give each a different provider",
        ]
    );
    let warned: Vec<String> = errors.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warned.contains(
            &"podIdentityAssociations[5].rolearn: unknown key; ignored (did you mean \"roleArn\"?)"
                .to_owned()
        ),
        "{warned:?}"
    );
}

#[test]
fn pod_identity_association_without_provider_warns_when_several_providers_exist() {
    let mut v = base();
    v["providers"].as_array_mut().unwrap().push(json!({
        "name": "cluster", "type": "kubernetes", "config": {"clientId": "stsd"}
    }));
    v["podIdentityAssociations"] = json!([
        {"namespace": "team-a", "serviceAccount": "app", "roleArn": "arn:aws:iam::role/R"},
        {"namespace": "team-b", "serviceAccount": "app", "roleArn": "arn:aws:iam::role/R",
         "provider": "cluster"}
    ]);
    let loaded = load(&v).unwrap();
    let w = warnings(&loaded);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("podIdentityAssociations[0]: matches tokens of every provider"));
}
