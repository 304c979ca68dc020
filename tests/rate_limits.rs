//! `sts.rateLimits` over HTTP: AWS's `Throttling` from the query API, the JSON twin and the SDK;
//! the address and global limits act before any signature verification; the subject limit counts
//! verified subjects only; limits follow a configuration reload.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;

use aws_sdk_sts::error::ProvideErrorMetadata;
use serde_json::{json, Value};

use common::clock::now;
use common::iam::{corp_app, load};
use common::idp::{Family, TestIdp};
use common::sdk::{anonymous_client, exchange};
use common::server::TestServer;

const CLIENT: &str = "sts-client";
const ROLE: &str = "arn:aws:iam::role/App";
const THROTTLING_XML: &str =
    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>";

fn config(idp: &TestIdp, rate_limits: Value) -> Value {
    corp_app(
        idp.issuer(),
        &idp.jwks_uri(),
        CLIENT,
        json!({"rateLimits": rate_limits}),
    )
}

fn token(idp: &TestIdp, sub: &str) -> String {
    idp.sign(&json!({"iss": idp.issuer(), "sub": sub, "aud": CLIENT,
                     "iat": now(), "exp": now() + 600}))
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// AssumeRoleWithWebIdentity through the query API: status and body.
async fn query(client: &reqwest::Client, server: &TestServer, token: &str) -> (u16, String) {
    let res = client
        .post(server.url("/"))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "limits"),
            ("WebIdentityToken", token),
        ])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The same through the JSON twin.
async fn twin(client: &reqwest::Client, server: &TestServer, token: &str) -> (u16, Value) {
    let res = client
        .post(server.url("/sts/assume-role-with-web-identity"))
        .json(&json!({"RoleArn": ROLE, "RoleSessionName": "limits", "WebIdentityToken": token}))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn code_of(xml: &str) -> &str {
    let start = xml.find("<Code>").map_or(0, |i| i + 6);
    let end = xml[start..].find("</Code>").map_or(start, |i| start + i);
    &xml[start..end]
}

#[tokio::test]
async fn a_throttled_request_costs_no_verification() {
    let idp = TestIdp::start().await;
    let (server, service) =
        TestServer::start_reloadable(&config(&idp, json!({"global": {"rps": 0.001, "burst": 1}})));
    let http = reqwest::Client::new();
    // The one token of the bucket goes to a request that fails on its own.
    let (status, body) = query(&http, &server, "not-a-jwt").await;
    assert_eq!((status, code_of(&body)), (400, "InvalidIdentityToken"));

    for _ in 0..20 {
        let (status, body) = query(&http, &server, &token(&idp, "alice")).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(THROTTLING_XML), "{body}");
        assert!(body.contains("<RequestId>"), "{body}");
        let (status, body) = twin(&http, &server, &token(&idp, "alice")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["Error"],
            json!({"Code": "Throttling", "Message": "Rate exceeded"})
        );
    }
    assert_eq!(
        (idp.discovery_requests(), idp.jwks_requests()),
        (0, 0),
        "no key was fetched: nothing was verified"
    );
    let text = server.metrics().await;
    assert!(
        text.contains(r#"stsd_throttled_total{limit="global"} 40"#),
        "{text}"
    );
    assert!(
        text.contains(r#"stsd_throttled_total{limit="perSourceIp"} 0"#),
        "{text}"
    );

    // The same tokens, unthrottled, are verified (and fetch the keys to do it).
    service.reload(load(&config(&idp, json!({})))).unwrap();
    let (status, body) = query(&http, &server, &token(&idp, "alice")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(idp.jwks_requests(), 1);
}

#[tokio::test]
async fn per_source_ip_limits_each_address() {
    let idp = TestIdp::start().await;
    let (server, _service) = TestServer::start_reloadable(&config(
        &idp,
        json!({"perSourceIp": {"rps": 0.001, "burst": 2}}),
    ));
    let first = client_from("127.0.0.2");
    for _ in 0..2 {
        let (status, body) = query(&first, &server, &token(&idp, "alice")).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = query(&first, &server, &token(&idp, "alice")).await;
    assert_eq!((status, code_of(&body)), (400, "Throttling"));
    let (status, body) = twin(&first, &server, &token(&idp, "bob")).await;
    assert_eq!(
        (status, body["Error"]["Code"].as_str()),
        (400, Some("Throttling")),
        "a new subject does not help"
    );

    // Another address has its own bucket.
    let second = client_from("127.0.0.3");
    let (status, body) = query(&second, &server, &token(&idp, "alice")).await;
    assert_eq!(status, 200, "{body}");

    let text = server.metrics().await;
    assert!(
        text.contains(r#"stsd_throttled_total{limit="perSourceIp"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"stsd_rate_limit_tracked{limit="perSourceIp"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn forged_tokens_in_a_victims_name_do_not_throttle_the_victim() {
    let idp = TestIdp::start().await;
    let forger = TestIdp::start().await;
    let (server, _service) = TestServer::start_reloadable(&config(
        &idp,
        json!({"perSubject": {"rps": 0.001, "burst": 2}}),
    ));
    let http = reqwest::Client::new();
    // The victim's issuer, subject and key id; the forger's key.
    let forged = forger.sign_with(
        "RS256",
        Some(&idp.kid(Family::Rsa)),
        &json!({"iss": idp.issuer(), "sub": "victim", "aud": CLIENT, "iat": now(), "exp": now() + 600}),
    );
    for _ in 0..10 {
        let (status, body) = query(&http, &server, &forged).await;
        assert_eq!(
            (status, code_of(&body)),
            (400, "InvalidIdentityToken"),
            "{body}"
        );
    }
    for _ in 0..2 {
        let (status, body) = query(&http, &server, &token(&idp, "victim")).await;
        assert_eq!(status, 200, "the victim keeps its whole burst: {body}");
    }
    // Verified requests do count.
    let (status, body) = query(&http, &server, &token(&idp, "victim")).await;
    assert_eq!((status, code_of(&body)), (400, "Throttling"));
    let (status, body) = twin(&http, &server, &token(&idp, "victim")).await;
    assert_eq!(
        (status, body["Error"]["Code"].as_str()),
        (400, Some("Throttling"))
    );
    let (status, body) = query(&http, &server, &token(&idp, "someone-else")).await;
    assert_eq!(status, 200, "{body}");
    let text = server.metrics().await;
    assert!(
        text.contains(r#"stsd_throttled_total{limit="perSubject"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn the_sdk_sees_throttling() {
    let idp = TestIdp::start().await;
    let (server, _service) =
        TestServer::start_reloadable(&config(&idp, json!({"global": {"rps": 0.001, "burst": 1}})));
    let sdk = anonymous_client(&server.base_url).await;
    let call = || exchange(&sdk, ROLE, "sdk", token(&idp, "alice"));
    call().await.unwrap();
    let err = call().await.unwrap_err();
    let service_err = err.as_service_error().expect("a service error");
    assert_eq!(service_err.code(), Some("Throttling"));
    assert_eq!(service_err.message(), Some("Rate exceeded"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
}

#[tokio::test]
async fn limits_follow_reloads() {
    let idp = TestIdp::start().await;
    let (server, service) = TestServer::start_reloadable(&config(&idp, json!({})));
    let http = reqwest::Client::new();
    for _ in 0..5 {
        assert_eq!(query(&http, &server, &token(&idp, "alice")).await.0, 200);
    }
    service
        .reload(load(&config(
            &idp,
            json!({"perSubject": {"rps": 0.001, "burst": 1}}),
        )))
        .unwrap();
    assert_eq!(query(&http, &server, &token(&idp, "alice")).await.0, 200);
    assert_eq!(query(&http, &server, &token(&idp, "alice")).await.0, 400);
    // Reloading the same limits keeps the buckets: no fresh burst.
    service
        .reload(load(&config(
            &idp,
            json!({"perSubject": {"rps": 0.001, "burst": 1}}),
        )))
        .unwrap();
    assert_eq!(query(&http, &server, &token(&idp, "alice")).await.0, 400);
    service.reload(load(&config(&idp, json!({})))).unwrap();
    assert_eq!(query(&http, &server, &token(&idp, "alice")).await.0, 200);
}
