//! Attacks on the HTTP surface and the answers they must get: certificate pinning, the private
//! operator surface, aws:SourceIp for IPv4-mapped peers, audience on `aud`, claim-name
//! collisions, session-token size, SigV4 body binding, plain-HTTP key downgrades and the
//! role-existence oracle. Each test sends the attack and checks the exact AWS code and status.
#![allow(clippy::unwrap_used)]

mod common;

use openssl::hash::MessageDigest;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::clock::now;
use common::http::{get_json, post_json};
use common::idp::TestIdp;
use common::server::TestServer;
use stsd::app::HttpSettings;
use stsd::service::StsService;

const CLIENT_ID: &str = "stsd";
const SIGNING_KEY: &str = "aGFyZGVuaW5nLXRlc3Qtc2lnbmluZy1rZXktMzItYnl0ZXMh";
const EMPTY_FORM: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// Claims of a token for `sub`, valid ten minutes, audience [`CLIENT_ID`].
fn claims(iss: &str, sub: &str) -> Value {
    let now = now();
    json!({"iss": iss, "sub": sub, "aud": CLIENT_ID, "iat": now, "nbf": now, "exp": now + 600})
}

/// A role that `provider` tokens may assume when `condition` holds (`null`: no condition).
fn role(name: &str, statements: Value) -> Value {
    json!({"roleName": name, "attachedPolicies": [],
           "trustPolicy": {"Version": "2012-10-17", "Statement": statements}})
}

fn allow(condition: Value) -> Value {
    let mut statement = json!({"Effect": "Allow", "Principal": {"Federated": "*"},
                               "Action": "sts:AssumeRoleWithWebIdentity"});
    if !condition.is_null() {
        statement["Condition"] = condition;
    }
    statement
}

fn deny(condition: Value) -> Value {
    let mut statement = allow(condition);
    statement["Effect"] = json!("Deny");
    statement
}

/// An `iam.json` with one oidc provider (`config` merged into its settings) and `roles`.
fn iam(issuer: &str, config: Value, roles: Vec<Value>) -> Value {
    let mut provider = json!({"issuer": issuer, "clientId": CLIENT_ID});
    if let Value::Object(extra) = config {
        for (k, v) in extra {
            provider[k] = v;
        }
    }
    json!({
        "sts": {"issuer": "hardening-sts", "signingKey": SIGNING_KEY},
        "providers": [{"name": "idp", "type": "oidc", "config": provider}],
        "roles": roles,
    })
}

fn service(iam: &Value) -> StsService {
    let loaded = stsd::config::load_str(&iam.to_string(), "test", &|_| None)
        .unwrap_or_else(|e| panic!("test config is invalid: {:?}", e.problems));
    StsService::new(loaded.config).unwrap()
}

/// The answer to a request: status and body.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn code(&self) -> &str {
        if let Some(start) = self.body.find("<Code>") {
            let rest = &self.body[start + 6..];
            return rest.find("</Code>").map_or("", |end| &rest[..end]);
        }
        ""
    }

    fn field(&self, tag: &str) -> &str {
        let open = format!("<{tag}>");
        let start = self.body.find(&open).map(|i| i + open.len()).unwrap();
        let end = self.body[start..].find(&format!("</{tag}>")).unwrap() + start;
        &self.body[start..end]
    }

    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.body);
    }

    fn assert_ok(&self) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.body.contains("<Credentials>"), "{}", self.body);
    }
}

async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    Answer {
        status,
        body: res.text().await.unwrap(),
    }
}

/// AssumeRoleWithWebIdentity through the query API.
async fn assume(base: &str, role: &str, token: &str) -> Answer {
    let res = reqwest::Client::new()
        .post(format!("{base}/"))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", &format!("arn:aws:iam::role/{role}")),
            ("RoleSessionName", "hardening"),
            ("WebIdentityToken", token),
        ])
        .send()
        .await
        .unwrap();
    answer(res).await
}

/// The configured provider's `jwks.lastError` from the admin listener.
async fn last_error(server: &TestServer) -> String {
    let (status, providers) = get_json(server.admin_url("/sts/providers")).await;
    assert_eq!(status, 200);
    providers["providers"][0]["jwks"]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// --- 1. thumbprints

async fn pinned(idp: &TestIdp, thumbprints: &[String]) -> TestServer {
    let config = json!({"tlsCaCert": idp.ca_cert_path(), "thumbprints": thumbprints});
    TestServer::start_with_config(&iam(
        idp.issuer(),
        config,
        vec![role("Reader", json!([allow(Value::Null)]))],
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_leaf_or_chain_certificate_lets_keys_be_fetched() {
    let idp = TestIdp::start_https().await;
    let token = idp.sign(&claims(idp.issuer(), "alice"));
    for pins in [
        vec![idp.leaf_fingerprint(MessageDigest::sha1())],
        vec![idp.ca_fingerprint(MessageDigest::sha256())],
        vec![
            "00".repeat(20),
            idp.leaf_fingerprint(MessageDigest::sha256()),
        ],
    ] {
        let server = pinned(&idp, &pins).await;
        assume(&server.base_url, "Reader", &token).await.assert_ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thumbprint_mismatch_is_an_idp_communication_error() {
    let idp = TestIdp::start_https().await;
    let token = idp.sign(&claims(idp.issuer(), "alice"));
    let server = pinned(&idp, &["ab".repeat(20), "cd".repeat(32)]).await;
    assume(&server.base_url, "Reader", &token)
        .await
        .assert_error(400, "IDPCommunicationError");
    // The handshake failed: nothing, bearer token included, reached the server.
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (0, 0));
    let reason = last_error(&server).await;
    assert!(reason.contains("thumbprints"), "{reason}");
}

// --- 2. the operator surface

#[tokio::test]
async fn the_operator_surface_is_not_served_on_the_sts_listener() {
    let secret_condition = "repo:acme-internal/deploy-*:ref:refs/heads/main";
    let iam = json!({
        "sts": {"issuer": "hardening-sts", "signingKey": SIGNING_KEY},
        "providers": [{"name": "mock", "type": "mock",
                       "config": {"issuer": "http://127.0.0.1/mock", "clientId": "dev"}}],
        "roles": [role("Deploy", json!([allow(json!({"StringLike": {"oidc:sub": secret_condition}}))]))],
    });
    let server = TestServer::start_with_config(&iam);
    let client = reqwest::Client::new();
    for path in ["/metrics", "/sts/providers", "/sts/sessions/count"] {
        let res = answer(client.get(server.url(path)).send().await.unwrap()).await;
        res.assert_error(404, "NotFound");
        let status = reqwest::get(server.admin_url(path))
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 200, "admin {path}");
    }

    // The dry run names the condition's expected values: operators only.
    let dry_run = json!({"webIdentityToken": "valid_test_token",
                         "roleArn": "arn:aws:iam::role/Deploy"});
    let res = client
        .post(server.url("/sts/validate-token"))
        .json(&dry_run)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Error"]["Code"], "AccessDenied", "{body}");
    assert!(!body.to_string().contains("acme-internal"), "{body}");
    let res = client
        .post(server.admin_url("/sts/validate-token"))
        .json(&dry_run)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap().contains("acme-internal"));

    // Session-token verdicts stay where gateways reach them.
    let res = client
        .post(server.url("/sts/validate-token"))
        .json(&json!({"sessionToken": "a.b.c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let verdict: Value = res.json().await.unwrap();
    assert_eq!(verdict["valid"], false, "{verdict}");
}

// --- 3. aws:SourceIp

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_clients_of_a_dual_stack_listener_match_ipv4_ranges() {
    let idp = TestIdp::start().await;
    let loopback = json!({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}});
    let iam = iam(
        idp.issuer(),
        Value::Null,
        vec![
            role(
                "DenyLoopback",
                json!([allow(Value::Null), deny(loopback.clone())]),
            ),
            role(
                "AllowElsewhere",
                json!([allow(
                    json!({"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
                )]),
            ),
            role("AllowLoopback", json!([allow(loopback)])),
        ],
    );
    let Ok(probe) = std::net::TcpListener::bind("[::]:0") else {
        eprintln!("no IPv6 on this machine; the dual-stack case cannot occur");
        return;
    };
    drop(probe);
    let server = TestServer::start_on(service(&iam), HttpSettings::default(), "[::]:0");
    assert!(server.addr.is_ipv6());
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let token = idp.sign(&claims(idp.issuer(), "alice"));
    assume(&base, "DenyLoopback", &token)
        .await
        .assert_error(403, "AccessDenied");
    assume(&base, "AllowElsewhere", &token)
        .await
        .assert_error(403, "AccessDenied");
    assume(&base, "AllowLoopback", &token).await.assert_ok();
}

// --- 4. audience

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azp_does_not_stand_in_for_a_foreign_audience() {
    let idp = TestIdp::start().await;
    let roles = vec![role("Reader", json!([allow(Value::Null)]))];
    let server = TestServer::start_with_config(&iam(idp.issuer(), Value::Null, roles.clone()));
    let mut replayed = claims(idp.issuer(), "alice");
    replayed["aud"] = json!("billing-api");
    replayed["azp"] = json!(CLIENT_ID);
    let replayed = idp.sign(&replayed);
    assume(&server.base_url, "Reader", &replayed)
        .await
        .assert_error(400, "InvalidIdentityToken");

    // Without `aud`, azp is the audience.
    let mut no_aud = claims(idp.issuer(), "alice");
    no_aud.as_object_mut().unwrap().remove("aud");
    no_aud["azp"] = json!(CLIENT_ID);
    assume(&server.base_url, "Reader", &idp.sign(&no_aud))
        .await
        .assert_ok();

    // A provider may opt in.
    let opted = TestServer::start_with_config(&iam(
        idp.issuer(),
        json!({"acceptAzpAsAudience": true}),
        roles,
    ));
    assume(&opted.base_url, "Reader", &replayed)
        .await
        .assert_ok();
}

// --- 5. claim names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_claim_names_are_refused() {
    let idp = TestIdp::start().await;
    let iam = iam(
        idp.issuer(),
        Value::Null,
        vec![
            role(
                "Eng",
                json!([allow(json!({"StringEquals": {"oidc:Department": "eng"}}))]),
            ),
            role(
                "Prod",
                json!([allow(
                    json!({"StringEquals": {"oidc:kubernetes.io/namespace": "prod"}})
                )]),
            ),
        ],
    );
    let server = TestServer::start_with_config(&iam);
    let with = |extra: Value| {
        let mut c = claims(idp.issuer(), "alice");
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        idp.sign(&c)
    };
    assume(
        &server.base_url,
        "Eng",
        &with(json!({"Department": "sales", "department": "eng"})),
    )
    .await
    .assert_error(403, "IDPRejectedClaim");
    for extra in [
        json!({"kubernetes.io/namespace": "prod", "kubernetes.io": {"namespace": "apps"}}),
        json!({"\u{212A}ubernetes.io": {"namespace": "prod"}, "kubernetes.io": {"namespace": "apps"}}),
    ] {
        assume(&server.base_url, "Prod", &with(extra.clone()))
            .await
            .assert_error(403, "IDPRejectedClaim");
    }
    // One spelling per key still works.
    assume(&server.base_url, "Eng", &with(json!({"department": "eng"})))
        .await
        .assert_ok();
    assume(
        &server.base_url,
        "Prod",
        &with(json!({"kubernetes.io": {"namespace": "prod"}})),
    )
    .await
    .assert_ok();
}

// --- 7 and 8. session tokens that verify, and SigV4 over the body

/// Sends GetCallerIdentity with `sent_body`, signed over `signed_hash` as the declared
/// `x-amz-content-sha256` (the request's payload hash).
async fn caller_identity(
    base: &str,
    credentials: &Answer,
    sent_body: &str,
    signed_hash: &str,
) -> Answer {
    let token = credentials.field("SessionToken");
    let amz_date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let headers = vec![
        (
            "host".to_owned(),
            base.trim_start_matches("http://").to_owned(),
        ),
        ("x-amz-content-sha256".to_owned(), signed_hash.to_owned()),
        ("x-amz-date".to_owned(), amz_date.clone()),
        ("x-amz-security-token".to_owned(), token.to_owned()),
    ];
    let request = stsd::sigv4::SignedRequest {
        method: "POST".into(),
        path: "/".into(),
        query: Vec::new(),
        headers,
        payload_sha256: signed_hash.to_owned(),
    };
    let authorization = stsd::sigv4::authorization_header(
        &request,
        credentials.field("AccessKeyId"),
        credentials.field("SecretAccessKey"),
        "us-east-1",
        "sts",
        &[
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token",
        ],
    )
    .unwrap();
    let res = reqwest::Client::new()
        .post(format!("{base}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-amz-content-sha256", signed_hash)
        .header("x-amz-date", amz_date)
        .header("x-amz-security-token", token)
        .header("authorization", authorization)
        .body(sent_body.to_owned())
        .send()
        .await
        .unwrap();
    answer(res).await
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_web_identity_token_yields_a_session_token_that_verifies() {
    let idp = TestIdp::start().await;
    let server = TestServer::start_with_config(&iam(
        idp.issuer(),
        Value::Null,
        vec![role("Reader", json!([allow(Value::Null)]))],
    ));
    let mut big = claims(idp.issuer(), "alice");
    big["profile"] = json!("p".repeat(10_000));
    big["department"] = json!("engineering");
    big["entitlements"] = json!(vec!["entitlement-with-a-long-name"; 120]);
    let token = idp.sign(&big);
    assert!((18_500..20_000).contains(&token.len()), "{}", token.len());

    let credentials = assume(&server.base_url, "Reader", &token).await;
    credentials.assert_ok();
    let session_token = credentials.field("SessionToken");
    assert!(
        session_token.len() <= stsd::session::MAX_SESSION_TOKEN_BYTES,
        "{}",
        session_token.len()
    );
    let verdict: Value = post_json(
        server.url("/sts/validate-token"),
        &json!({"sessionToken": session_token}),
    )
    .await
    .1;
    assert_eq!(verdict["valid"], true, "{verdict}");
    // The claims that fit are still carried; the largest were left out.
    assert_eq!(verdict["claims"]["req_ctx"]["department"], "engineering");
    assert!(verdict["claims"]["req_ctx"].get("profile").is_none());
    let identity = caller_identity(
        &server.base_url,
        &credentials,
        EMPTY_FORM,
        &sha256_hex(EMPTY_FORM),
    )
    .await;
    assert_eq!(identity.status, 200, "{}", identity.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_too_large_for_any_session_token_is_refused_not_minted() {
    let idp = TestIdp::start().await;
    let server = TestServer::start_with_config(&iam(
        idp.issuer(),
        Value::Null,
        vec![role("Reader", json!([allow(Value::Null)]))],
    ));
    // `sub` is carried twice (`ext_uid` and `req_ctx.sub`), and neither may be left out.
    let token = idp.sign(&claims(idp.issuer(), &"s".repeat(12_000)));
    assert!(token.len() < 20_000, "{}", token.len());
    assume(&server.base_url, "Reader", &token)
        .await
        .assert_error(403, "IDPRejectedClaim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_caller_identity_signatures_must_cover_the_body_sent() {
    let idp = TestIdp::start().await;
    let server = TestServer::start_with_config(&iam(
        idp.issuer(),
        Value::Null,
        vec![role("Reader", json!([allow(Value::Null)]))],
    ));
    let credentials = assume(
        &server.base_url,
        "Reader",
        &idp.sign(&claims(idp.issuer(), "alice")),
    )
    .await;
    credentials.assert_ok();
    let base = &server.base_url;

    let signed = sha256_hex(EMPTY_FORM);
    caller_identity(base, &credentials, EMPTY_FORM, &signed)
        .await
        .field("Arn")
        .contains("assumed-role/Reader/hardening")
        .then_some(())
        .unwrap();
    let swapped = "Action=GetCallerIdentity&Version=2011-06-15&Extra=unsigned";
    caller_identity(base, &credentials, swapped, &signed)
        .await
        .assert_error(403, "SignatureDoesNotMatch");
    caller_identity(base, &credentials, EMPTY_FORM, "UNSIGNED-PAYLOAD")
        .await
        .assert_error(403, "SignatureDoesNotMatch");
}

// --- 9. plain-HTTP keys for an https issuer

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_issuer_cannot_send_key_fetches_to_plain_http() {
    let idp = TestIdp::start_https().await;
    let on_the_path = TestIdp::start().await;
    idp.set_discovery_jwks_uri(Some(&on_the_path.jwks_uri()));
    let server = TestServer::start_with_config(&iam(
        idp.issuer(),
        json!({"tlsCaCert": idp.ca_cert_path()}),
        vec![role("Reader", json!([allow(Value::Null)]))],
    ));
    let forged = on_the_path.sign(&claims(idp.issuer(), "alice"));
    assume(&server.base_url, "Reader", &forged)
        .await
        .assert_error(400, "IDPCommunicationError");
    assert_eq!(on_the_path.jwks_requests(), 0);
    let reason = last_error(&server).await;
    assert!(reason.contains("plain-HTTP jwks_uri"), "{reason}");
}

#[test]
fn check_config_warns_about_plain_http_issuers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iam.json");
    let file = iam(
        "http://idp.example.com",
        Value::Null,
        vec![role("Reader", json!([allow(Value::Null)]))],
    );
    std::fs::write(&path, file.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stsd"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("providers[0].config.issuer: plain HTTP"),
        "{text}"
    );
}

// --- 10. the role-existence oracle

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_refused_roles_get_the_same_answer() {
    let idp = TestIdp::start().await;
    let server = TestServer::start_with_config(&iam(
        idp.issuer(),
        Value::Null,
        vec![
            role(
                "Guarded",
                json!([allow(json!({"StringEquals": {"oidc:sub": "bob"}}))]),
            ),
            role("Forbidden", json!([allow(Value::Null), deny(Value::Null)])),
        ],
    ));
    let token = idp.sign(&claims(idp.issuer(), "alice"));
    let mut messages = Vec::new();
    for role in ["Missing", "Guarded", "Forbidden"] {
        let answer = assume(&server.base_url, role, &token).await;
        answer.assert_error(403, "AccessDenied");
        messages.push(answer.field("Message").to_owned());
    }
    assert_eq!(
        messages,
        vec!["Not authorized to perform sts:AssumeRoleWithWebIdentity"; 3]
    );
}
