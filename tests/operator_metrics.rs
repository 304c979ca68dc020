//! `/metrics` after real requests: every series of DESIGN.md §8 moves, with bounded labels.
#![allow(clippy::unwrap_used)]

mod common;

use common::clock::now;
use common::iam::iam_json;
use common::idp::TestIdp;
use common::server::TestServer;
use serde_json::json;

const DEV_ROLE: &str = "arn:aws:iam::role/DevRole";

async fn scrape(server: &TestServer) -> String {
    let res = reqwest::get(server.admin_url("/metrics")).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    res.text().await.unwrap()
}

/// The value of the series written exactly as `series` (name and labels), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

async fn query_assume(server: &TestServer, role: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .post(server.url("/"))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role),
            ("RoleSessionName", "metrics-test"),
            ("WebIdentityToken", token),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn requests_credentials_and_providers_are_counted() {
    let server = TestServer::start();
    assert_eq!(
        query_assume(&server, DEV_ROLE, "valid_test_token").await,
        200
    );
    assert_eq!(query_assume(&server, DEV_ROLE, "invalid_token").await, 400);
    let twin = reqwest::Client::new()
        .post(server.url("/sts/assume-role-with-web-identity"))
        .json(
            &json!({"RoleArn": DEV_ROLE, "WebIdentityToken": "valid_test_token",
                      "RoleSessionName": "metrics-test"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(twin.status().as_u16(), 200);
    // Operator calls are not STS actions and are not counted as such.
    reqwest::get(server.admin_url("/sts/providers"))
        .await
        .unwrap();

    let text = scrape(&server).await;
    let expect = [
        (
            r#"stsd_requests_total{action="AssumeRoleWithWebIdentity",code="OK"}"#,
            2.0,
        ),
        (
            r#"stsd_requests_total{action="AssumeRoleWithWebIdentity",code="InvalidIdentityToken"}"#,
            1.0,
        ),
        (
            r#"stsd_request_duration_seconds_count{action="AssumeRoleWithWebIdentity"}"#,
            3.0,
        ),
        (r#"stsd_credentials_issued_total{provider="mock"}"#, 2.0),
        (r#"stsd_providers{state="enabled"}"#, 1.0),
        (r#"stsd_providers{state="disabled"}"#, 0.0),
        (r#"stsd_config_reloads_total{result="success"}"#, 0.0),
        (r#"stsd_config_reloads_total{result="failure"}"#, 0.0),
    ];
    for (series, want) in expect {
        assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
    }
    // The mock provider has no key set, so no JWKS series.
    assert!(!text.contains("stsd_jwks_keys{"), "{text}");
    assert!(!text.contains("stsd_jwks_fetch_total{"), "{text}");
    #[cfg(target_os = "linux")]
    {
        assert!(value(&text, "process_resident_memory_bytes").is_some_and(|v| v > 0.0));
        assert!(value(&text, "process_open_fds").is_some_and(|v| v > 0.0));
    }
    // Only bounded label values: no session name, token or path anywhere.
    for leaked in ["metrics-test", "valid_test_token", "invalid_token", "/sts/"] {
        assert!(!text.contains(leaked), "{leaked} in\n{text}");
    }
}

#[tokio::test]
async fn jwks_series_follow_the_key_cache() {
    let idp = TestIdp::start().await;
    let config = iam_json(json!({
        "providers": [
            {"name": "corp", "type": "oidc", "config": {"issuer": idp.issuer(), "clientId": "app"}},
            {"name": "retired", "type": "oidc", "enabled": false,
             "config": {"issuer": "https://retired.example.com", "clientId": "app"}}
        ],
        "roles": [{"roleName": "Reader", "roleArn": "arn:aws:iam::role/Reader",
                   "attachedPolicies": [],
                   "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                       "Principal": {"Federated": "corp"},
                       "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
    }));
    let server = TestServer::start_with_config(&config);

    let before = scrape(&server).await;
    assert_eq!(
        value(&before, r#"stsd_jwks_keys{provider="corp"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(
            &before,
            r#"stsd_jwks_fetch_total{provider="corp",result="success"}"#
        ),
        Some(0.0)
    );

    let now = now();
    let token = idp.sign(&json!({"iss": idp.issuer(), "aud": "app", "sub": "alice",
                                 "iat": now, "exp": now + 600}));
    assert_eq!(
        query_assume(&server, "arn:aws:iam::role/Reader", &token).await,
        200
    );

    let text = scrape(&server).await;
    let published = idp.jwks()["keys"].as_array().unwrap().len() as f64;
    for (series, want) in [
        (r#"stsd_jwks_keys{provider="corp"}"#, published),
        (
            r#"stsd_jwks_fetch_total{provider="corp",result="success"}"#,
            1.0,
        ),
        (
            r#"stsd_jwks_fetch_total{provider="corp",result="failure"}"#,
            0.0,
        ),
        (r#"stsd_credentials_issued_total{provider="corp"}"#, 1.0),
        (r#"stsd_providers{state="enabled"}"#, 1.0),
        (r#"stsd_providers{state="disabled"}"#, 1.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
    }
    assert!(!text.contains("alice"), "{text}");
}
