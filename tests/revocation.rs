//! `sts.revoked` over HTTP: revoked identities get no new credentials (`AccessDenied`, a message
//! that names no rule), their session tokens fail GetCallerIdentity (`ExpiredToken`) and
//! `/sts/validate-token` (`revoked`), and rules take effect on reload.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_sts::error::ProvideErrorMetadata;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use common::clock::now;
use common::http::post_json;
use common::iam::{corp_app, load};
use common::idp::TestIdp;
use common::sdk::signed_client;
use common::server::TestServer;

const CLIENT: &str = "sts-client";
const ROLE: &str = "arn:aws:iam::role/App";
const NOT_AUTHORIZED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn config(idp: &TestIdp, revoked: Value) -> Value {
    corp_app(
        idp.issuer(),
        &idp.jwks_uri(),
        CLIENT,
        json!({"revoked": revoked}),
    )
}

fn token_issued_at(idp: &TestIdp, sub: &str, iat: Option<i64>) -> String {
    let mut claims = json!({"iss": idp.issuer(), "sub": sub, "aud": CLIENT, "exp": now() + 600});
    if let Some(iat) = iat {
        claims["iat"] = iat.into();
    }
    idp.sign(&claims)
}

fn token(idp: &TestIdp, sub: &str) -> String {
    token_issued_at(idp, sub, Some(now()))
}

/// AssumeRoleWithWebIdentity through the query API: status and body.
async fn query(server: &TestServer, token: &str) -> (u16, String) {
    let res = reqwest::Client::new()
        .post(server.url("/"))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "revocation"),
            ("WebIdentityToken", token),
        ])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The same through the JSON twin.
async fn twin(server: &TestServer, token: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(server.url("/sts/assume-role-with-web-identity"))
        .json(&json!({"RoleArn": ROLE, "RoleSessionName": "revocation", "WebIdentityToken": token}))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn assert_denied_xml(status: u16, body: &str) {
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(&format!(
            "<Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{NOT_AUTHORIZED}</Message></Error>"
        )),
        "{body}"
    );
}

fn assert_denied_json(status: u16, body: &Value) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["Error"],
        json!({"Code": "AccessDenied", "Message": NOT_AUTHORIZED})
    );
}

/// Credentials from the JSON twin: (access key id, secret, session token).
async fn credentials(server: &TestServer, token: &str) -> (String, String, String) {
    let (status, body) = twin(server, token).await;
    assert_eq!(status, 200, "{body}");
    let field = |name: &str| body["Credentials"][name].as_str().unwrap().to_owned();
    (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    )
}

/// GetCallerIdentity signed with `creds` by the SDK: the ARN, or the error code and status.
async fn caller(
    server: &TestServer,
    creds: &(String, String, String),
) -> Result<String, (String, u16)> {
    match signed_client(&server.base_url, &creds.0, &creds.1, Some(&creds.2))
        .await
        .get_caller_identity()
        .send()
        .await
    {
        Ok(out) => Ok(out.arn().unwrap_or_default().to_owned()),
        Err(err) => {
            let status = err.raw_response().map_or(0, |r| r.status().as_u16());
            let code = err
                .as_service_error()
                .and_then(|e| e.code())
                .unwrap_or_default();
            Err((code.to_owned(), status))
        }
    }
}

/// `/sts/validate-token` on the admin listener, which also serves the dry run.
async fn validate(server: &TestServer, body: Value) -> Value {
    let (status, answer) = post_json(server.admin_url("/sts/validate-token"), &body).await;
    assert_eq!(status, 200);
    answer
}

fn sid_of(session_token: &str) -> String {
    let payload = session_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_revoked_subject_gets_no_credentials_and_is_not_told_why() {
    let idp = TestIdp::start().await;
    let (server, _service) = TestServer::start_reloadable(&config(
        &idp,
        json!([{"provider": "corp", "subject": "alice"}]),
    ));
    let (status, body) = query(&server, &token(&idp, "alice")).await;
    assert_denied_xml(status, &body);
    assert!(
        !body.contains("alice") && !body.contains("revoked"),
        "{body}"
    );
    let (status, body) = twin(&server, &token(&idp, "alice")).await;
    assert_denied_json(status, &body);
    let (status, body) = query(&server, &token(&idp, "bob")).await;
    assert_eq!(status, 200, "{body}");

    // The operator's dry run says which rule.
    let run = validate(
        &server,
        json!({"webIdentityToken": token(&idp, "alice"), "roleArn": ROLE}),
    )
    .await;
    assert_eq!(run["valid"], false, "{run}");
    assert_eq!(run["code"], "AccessDenied", "{run}");
    let last = run["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({"step": "revocation", "ok": false, "detail": "refused by sts.revoked[0]"})
    );
    let run = validate(
        &server,
        json!({"webIdentityToken": token(&idp, "bob"), "roleArn": ROLE}),
    )
    .await;
    assert_eq!(run["valid"], true, "{run}");

    let text = server.metrics().await;
    assert!(
        text.contains(r#"stsd_revoked_total{kind="credentials"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_provider_cutoff_refuses_tokens_issued_before_it() {
    let idp = TestIdp::start().await;
    let cutoff = now() - 1800;
    let (server, _service) = TestServer::start_reloadable(&config(
        &idp,
        json!([{"provider": "corp", "issuedBefore": rfc3339(cutoff)}]),
    ));
    let (status, body) = query(&server, &token_issued_at(&idp, "alice", Some(cutoff - 1))).await;
    assert_denied_xml(status, &body);
    let (status, body) = query(&server, &token_issued_at(&idp, "alice", None)).await;
    assert_denied_xml(status, &body);
    let (status, body) = query(&server, &token_issued_at(&idp, "alice", Some(cutoff))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn sessions_issued_before_a_rule_are_revoked_once_it_loads() {
    let idp = TestIdp::start().await;
    let (server, service) = TestServer::start_reloadable(&config(&idp, json!([])));
    let alice = credentials(&server, &token(&idp, "alice")).await;
    let bob = credentials(&server, &token(&idp, "bob")).await;
    assert!(caller(&server, &alice).await.is_ok());
    assert_eq!(
        validate(&server, json!({"sessionToken": alice.2})).await["valid"],
        true
    );

    // One identity.
    service
        .reload(load(&config(
            &idp,
            json!([{"provider": "corp", "subject": "alice"}]),
        )))
        .unwrap();
    assert_eq!(
        caller(&server, &alice).await,
        Err(("ExpiredToken".into(), 403))
    );
    assert_eq!(
        validate(&server, json!({"sessionToken": alice.2})).await,
        json!({"valid": false, "reason": "revoked"})
    );
    assert!(caller(&server, &bob).await.is_ok());
    assert_eq!(
        validate(&server, json!({"sessionToken": bob.2})).await["valid"],
        true
    );

    // One session, by its id: bob's other sessions live on.
    let bob_again = credentials(&server, &token(&idp, "bob")).await;
    service
        .reload(load(&config(&idp, json!([{"sessionId": sid_of(&bob.2)}]))))
        .unwrap();
    assert_eq!(
        caller(&server, &bob).await,
        Err(("ExpiredToken".into(), 403))
    );
    assert!(caller(&server, &bob_again).await.is_ok());
    assert!(
        caller(&server, &alice).await.is_ok(),
        "alice's rule is gone"
    );

    // Every session of the role issued before a cutoff; while the cutoff lies ahead, new
    // sessions would be revoked at birth, so none are issued.
    service
        .reload(load(&config(
            &idp,
            json!([{"role": ROLE, "issuedBefore": rfc3339(now() + 600)}]),
        )))
        .unwrap();
    for creds in [&alice, &bob_again] {
        assert_eq!(
            caller(&server, creds).await,
            Err(("ExpiredToken".into(), 403))
        );
    }
    let (status, body) = twin(&server, &token(&idp, "carol")).await;
    assert_denied_json(status, &body);

    // A cutoff in the past leaves later sessions alone.
    service
        .reload(load(&config(
            &idp,
            json!([{"role": ROLE, "issuedBefore": rfc3339(now() - 3600)}]),
        )))
        .unwrap();
    assert!(caller(&server, &alice).await.is_ok());

    let text = server.metrics().await;
    assert!(
        text.contains(r#"stsd_revoked_total{kind="session"} 5"#),
        "{text}"
    );
    assert!(
        text.contains(r#"stsd_revoked_total{kind="credentials"} 1"#),
        "{text}"
    );
}
