//! The operator endpoints over HTTP, on the admin listener: `/sts/providers`, `/sts/validate-token`,
//! `/sts/sessions/count`.
#![allow(clippy::unwrap_used)]

mod common;

use common::iam::iam_json;
use common::server::TestServer;
use serde_json::{json, Value};

const DEV_ROLE: &str = "arn:aws:iam::role/DevRole";
const CLIENT_SECRET: &str = "s3cr3t-client-value-never-shown";

async fn get_json(server: &TestServer, path: &str) -> (u16, Value) {
    let res = reqwest::get(server.admin_url(path)).await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// POSTs `body` as-is to `/sts/validate-token`; returns status, request-id header and body text.
async fn validate_raw(
    server: &TestServer,
    body: impl Into<reqwest::Body>,
) -> (u16, String, String) {
    let res = reqwest::Client::new()
        .post(server.admin_url("/sts/validate-token"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let id = res.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, id, res.text().await.unwrap())
}

async fn validate(server: &TestServer, body: &Value) -> (u16, Value) {
    let (status, _, text) = validate_raw(server, body.to_string()).await;
    (status, serde_json::from_str(&text).unwrap())
}

/// Credentials for the dev role through the JSON twin: (access key id, secret, session token).
async fn assume(server: &TestServer) -> (String, String, String) {
    let res = reqwest::Client::new()
        .post(server.url("/sts/assume-role-with-web-identity"))
        .json(
            &json!({"RoleArn": DEV_ROLE, "WebIdentityToken": "valid_test_token",
                      "RoleSessionName": "operator-test"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    let c = &body["Credentials"];
    let field = |name: &str| c[name].as_str().unwrap().to_owned();
    (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    )
}

/// Asserts the JSON error shape with the given status and code, and that the body's request id
/// is the header's.
fn assert_json_error(status: u16, id: &str, text: &str, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{text}");
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["Error"]["Code"], want_code, "{text}");
    assert!(body["Error"]["Message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(body["RequestId"], id);
}

fn providers_config() -> Value {
    iam_json(json!({
        "sts": {"issuer": "seaweedfs-sts"},
        "providers": [
            {"name": "corp", "type": "oidc", "enabled": true,
             "config": {"issuer": "https://idp.example.com", "clientId": "app",
                        "clientSecret": CLIENT_SECRET,
                        "jwksUri": "https://idp.example.com/keys"}},
            {"name": "legacy", "type": "oidc", "enabled": false,
             "config": {"issuer": "https://old-idp.example.com", "clientId": "sts"}},
            {"name": "mock", "type": "mock",
             "config": {"issuer": "https://mock.example", "clientId": "c"}}
        ],
        "roles": []
    }))
}

#[tokio::test]
async fn providers_lists_every_provider_without_secrets() {
    let server = TestServer::start_with_config(&providers_config());
    let res = reqwest::get(server.admin_url("/sts/providers"))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().contains_key("x-amzn-requestid"));
    let text = res.text().await.unwrap();
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    assert!(!text.contains("clientSecret"), "{text}");

    let body: Value = serde_json::from_str(&text).unwrap();
    let providers = body["providers"].as_array().unwrap();
    let names: Vec<&str> = providers
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["corp", "legacy", "mock"]);
    let corp = &providers[0];
    assert_eq!(corp["type"], "oidc");
    assert_eq!(corp["enabled"], true);
    assert_eq!(corp["issuer"], "https://idp.example.com");
    assert_eq!(corp["clientIds"], json!(["app"]));
    let jwks = &corp["jwks"];
    assert_eq!(jwks["keys"], 0);
    assert_eq!(jwks["kids"], json!([]));
    assert!(jwks["fetchedAt"].is_null(), "nothing fetched yet: {jwks}");
    assert_eq!(providers[1]["type"], "oidc");
    assert_eq!(providers[1]["enabled"], false);
    assert_eq!(providers[2]["type"], "mock");
    assert!(providers[2].get("jwks").is_none(), "{}", providers[2]);
}

/// Replicas built from one file must describe it identically; only JWKS timing may differ.
#[tokio::test]
async fn two_services_from_one_file_list_the_same_providers() {
    fn without_timing(mut body: Value) -> Value {
        for p in body["providers"].as_array_mut().unwrap() {
            if let Some(jwks) = p.get_mut("jwks").and_then(Value::as_object_mut) {
                for field in ["fetchedAt", "lastErrorAt", "nextRefresh"] {
                    jwks.remove(field);
                }
            }
        }
        body
    }
    let config = providers_config();
    let a = TestServer::start_with_config(&config);
    let b = TestServer::start_with_config(&config);
    let (_, a) = get_json(&a, "/sts/providers").await;
    let (_, b) = get_json(&b, "/sts/providers").await;
    assert_eq!(without_timing(a), without_timing(b));
}

#[tokio::test]
async fn session_token_verdicts() {
    let server = TestServer::start();
    let (access_key, secret, token) = assume(&server).await;

    let (status, text) = {
        let (s, _, t) = validate_raw(&server, json!({"sessionToken": token}).to_string()).await;
        (s, t)
    };
    assert_eq!(status, 200);
    assert!(!text.contains(&secret), "the secret must never be shown");
    assert!(!text.contains(&token), "the token is not echoed");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["accessKeyId"], access_key);
    assert_eq!(body["role"], DEV_ROLE);
    assert_eq!(body["sessionName"], "operator-test");
    assert_eq!(body["provider"], "mock");
    assert_eq!(body["policies"], json!(["DevS3FullAccess"]));
    let claims = body["claims"].as_object().unwrap();
    for hidden in ["sid", "sub", "jti"] {
        assert!(!claims.contains_key(hidden), "{hidden} in {body}");
    }
    assert_eq!(claims["snam"], "operator-test");

    // Another signature on the same header and claims.
    let (head, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{head}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let (status, body) = validate(&server, &json!({"sessionToken": forged})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"valid": false, "reason": "bad-signature"}));

    let (status, body) = validate(&server, &json!({"sessionToken": "not-a-jwt"})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"valid": false, "reason": "malformed"}));
}

#[tokio::test]
async fn session_token_of_another_issuer_is_wrong_issuer() {
    // Same key, another `sts.issuer`: the signature verifies, the issuer does not.
    let mut other = providers_config();
    other["sts"]["issuer"] = json!("another-sts");
    other["providers"] = json!([{"name": "mock", "type": "mock",
        "config": {"issuer": "https://mock.example", "clientId": "c"}}]);
    other["roles"] = json!([{"roleName": "DevRole", "roleArn": DEV_ROLE, "attachedPolicies": [],
        "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "mock"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}}]);
    let issuing = TestServer::start_with_config(&other);
    let (_, _, token) = assume(&issuing).await;
    let checking = TestServer::start();
    let (status, body) = validate(&checking, &json!({"sessionToken": token})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"valid": false, "reason": "wrong-issuer"}));
}

#[tokio::test]
async fn session_token_signed_with_another_key_is_unknown_key() {
    let mut other = providers_config();
    other["sts"]["signingKey"] = json!("YW5vdGhlci1zaWduaW5nLWtleS0zMi1ieXRlcy1sb25nIQ==");
    other["providers"] = json!([{"name": "mock", "type": "mock",
        "config": {"issuer": "https://mock.example", "clientId": "c"}}]);
    other["roles"] = json!([{"roleName": "DevRole", "roleArn": DEV_ROLE, "attachedPolicies": [],
        "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "mock"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}}]);
    let issuing = TestServer::start_with_config(&other);
    let (_, _, token) = assume(&issuing).await;
    let checking = TestServer::start();
    let (status, body) = validate(&checking, &json!({"sessionToken": token})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"valid": false, "reason": "unknown-key"}));
}

#[tokio::test]
async fn web_identity_dry_run() {
    let server = TestServer::start();
    let (status, body) = validate(
        &server,
        &json!({"webIdentityToken": "valid_test_token", "roleArn": DEV_ROLE}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["allowed"], true);
    assert!(body.get("code").is_none());
    let steps = body["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["ok"] == true), "{body}");
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names.last(), Some(&"trust-policy"), "{names:?}");
    assert!(names.contains(&"role"), "{names:?}");
    // A dry run mints nothing.
    let (_, count) = get_json(&server, "/sts/sessions/count").await;
    assert_eq!(count["active"], 0);

    let (status, body) = validate(
        &server,
        &json!({"webIdentityToken": "expired_token", "roleArn": DEV_ROLE}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false, "{body}");
    assert_eq!(body["code"], "ExpiredTokenException");
    assert_eq!(
        body["steps"].as_array().unwrap().last().unwrap()["ok"],
        false
    );

    let (status, body) = validate(
        &server,
        &json!({"webIdentityToken": "valid_test_token", "roleArn": "arn:aws:iam::role/Nope"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false, "{body}");
    assert_eq!(body["code"], "AccessDenied");
}

#[tokio::test]
async fn dry_run_parameters_are_validated_like_the_real_call() {
    let server = TestServer::start();
    let (status, id, text) = validate_raw(
        &server,
        json!({"webIdentityToken": "valid_test_token", "roleArn": DEV_ROLE,
               "roleSessionName": "has spaces"})
        .to_string(),
    )
    .await;
    assert_json_error(status, &id, &text, 400, "ValidationError");
    assert!(text.contains("roleSessionName"), "{text}");

    let (status, id, text) = validate_raw(
        &server,
        json!({"webIdentityToken": "x", "roleArn": DEV_ROLE}).to_string(),
    )
    .await;
    assert_json_error(status, &id, &text, 400, "ValidationError");
}

#[tokio::test]
async fn unusable_bodies_are_json_errors_that_never_echo_a_token() {
    let server = TestServer::start();
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIn0.c2lnbmF0dXJlLWJ5dGVz";
    let cases = [
        format!(r#"{{"sessionToken": "{token}""#),
        "{}".to_owned(),
        format!(r#"{{"sessionToken": "{token}", "webIdentityToken": "{token}"}}"#),
        r#"{"sessionToken": 42}"#.to_owned(),
        format!(r#"{{"webIdentityToken": ["{token}"]}}"#),
        format!(r#"{{"sessionToken": "{token}", "roleArn": "{DEV_ROLE}"}}"#),
        format!(r#"{{"token": "{token}"}}"#),
        format!(r#"["{token}"]"#),
        String::new(),
    ];
    for body in cases {
        let (status, id, text) = validate_raw(&server, body.clone()).await;
        assert_json_error(status, &id, &text, 400, "ValidationError");
        assert!(!text.contains(token), "{body} -> {text}");
    }

    let oversized = format!(r#"{{"sessionToken": "{}"}}"#, "a".repeat(70 * 1024));
    let (status, id, text) = validate_raw(&server, oversized).await;
    assert_json_error(status, &id, &text, 413, "RequestEntityTooLarge");
}

#[tokio::test]
async fn wrong_methods_get_json_405() {
    let server = TestServer::start();
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/sts/validate-token"),
        (reqwest::Method::POST, "/sts/providers"),
        (reqwest::Method::DELETE, "/sts/sessions/count"),
    ] {
        let res = client
            .request(method, server.admin_url(path))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let id = res.headers()["x-amzn-requestid"]
            .to_str()
            .unwrap()
            .to_owned();
        let text = res.text().await.unwrap();
        assert_json_error(status, &id, &text, 405, "MethodNotAllowed");
    }
}

#[tokio::test]
async fn sessions_count_follows_issued_credentials() {
    let server = TestServer::start();
    let (status, body) = get_json(&server, "/sts/sessions/count").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"active": 0, "scope": "instance"}));
    assume(&server).await;
    assume(&server).await;
    let (_, body) = get_json(&server, "/sts/sessions/count").await;
    assert_eq!(body, json!({"active": 2, "scope": "instance"}));
}
