//! `iam.json` documents for tests, around the one test signing key.

use serde_json::{json, Value};
use stsd::config::IamConfig;

/// The test signing key (the SeaweedFS documentation's example key), standard padded base64.
pub const TEST_SIGNING_KEY: &str = "dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=";

/// The key of the end-to-end fixtures: standard padded base64 of the 37 bytes
/// `stsd-e2e-signing-key-0123456789abcdef`.
pub const E2E_SIGNING_KEY: &str = "c3RzZC1lMmUtc2lnbmluZy1rZXktMDEyMzQ1Njc4OWFiY2RlZg==";

/// The `iam.json` document `file` with [`TEST_SIGNING_KEY`] as its `sts.signingKey`.
pub fn iam_json(file: Value) -> Value {
    signed_with(TEST_SIGNING_KEY, file)
}

/// The `iam.json` document `file` with `key` as its `sts.signingKey`.
pub fn signed_with(key: &str, mut file: Value) -> Value {
    file["sts"]["signingKey"] = json!(key);
    file
}

/// The runtime configuration of the `iam.json` document `file`; panics with its problems.
pub fn load(file: &Value) -> IamConfig {
    stsd::config::load_str(&file.to_string(), "iam.json", &|_| None)
        .unwrap_or_else(|e| panic!("test config is invalid: {:?}", e.problems))
        .config
}

/// An `iam.json` with one OIDC provider, `corp` (`issuer`, keys at `jwks_uri`, audience
/// `client`), a role `App` that any `corp` token may assume, and `sts` beside the test key.
pub fn corp_app(issuer: &str, jwks_uri: &str, client: &str, sts: Value) -> Value {
    iam_json(json!({
        "sts": sts,
        "providers": [{"name": "corp", "type": "oidc",
                       "config": {"issuer": issuer, "clientId": client, "jwksUri": jwks_uri}}],
        "roles": [{"roleName": "App", "trustPolicy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": "corp"},
             "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
    }))
}
