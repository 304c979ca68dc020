//! Session tags and source identity over HTTP: what a token's tag claims become in the session,
//! how AWS's limits answer, what trust policies see, and the claim names no token can place in
//! a session. The real gateways' side of the same rules is in tests/seaweedfs/.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_sts::error::ProvideErrorMetadata;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use common::clock::now;
use common::http::post_json;
use common::iam::iam_json;
use common::idp::TestIdp;
use common::sdk::{anonymous_client, exchange};
use common::server::TestServer;

const CLIENT_ID: &str = "tags-test";
const TAGS: &str = "https://aws.amazon.com/tags";
const SOURCE_IDENTITY: &str = "https://aws.amazon.com/source_identity";

fn trust(actions: Value, condition: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "idp"}, "Action": actions,
        "Condition": condition}]})
}

fn config(issuer: &str) -> Value {
    let role = |name: &str, trust: Value| json!({"roleName": name, "attachedPolicies": [], "trustPolicy": trust});
    iam_json(json!({
        "sts": {"issuer": "seaweedfs-sts"},
        "providers": [{"name": "idp", "type": "oidc", "enabled": true,
            "config": {"issuer": issuer, "clientId": CLIENT_ID,
                       "allowedPrincipalTagKeys": ["team", "env"],
                       "principalTagClaims": {"unit": "kubernetes.io/namespace"}}}],
        "roles": [
            role("Plain", trust(json!("sts:AssumeRoleWithWebIdentity"), json!({}))),
            role("BlueOnly", trust(json!("sts:AssumeRoleWithWebIdentity"),
                json!({"StringEquals": {"aws:RequestTag/team": "blue"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env", "unit"]}}))),
            role("AwsStyle", json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": "idp"},
                 "Action": "sts:AssumeRoleWithWebIdentity"},
                {"Effect": "Allow", "Principal": {"Federated": "idp"},
                 "Action": ["sts:TagSession", "sts:SetSourceIdentity"],
                 "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}}}]})),
            role("SourceChecked", trust(json!("sts:AssumeRoleWithWebIdentity"),
                json!({"StringLike": {"sts:SourceIdentity": "*@corp"}}))),
        ]
    }))
}

struct Fixture {
    idp: TestIdp,
    server: TestServer,
}

impl Fixture {
    async fn start() -> Self {
        let idp = TestIdp::start().await;
        let server = TestServer::start_with_config(&config(idp.issuer()));
        Self { idp, server }
    }

    fn token(&self, extra: Value) -> String {
        let now = now();
        let mut claims = json!({"iss": self.idp.issuer(), "sub": "alice", "aud": CLIENT_ID,
                                "iat": now, "exp": now + 600});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.idp.sign(&claims)
    }

    /// The JSON twin: (status, body).
    async fn assume(&self, role: &str, token: &str) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(self.server.url("/sts/assume-role-with-web-identity"))
            .json(&json!({"RoleArn": format!("arn:aws:iam::role/{role}"),
                          "WebIdentityToken": token, "RoleSessionName": "tags"}))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    async fn session_ctx(&self, role: &str, token: &str) -> Map<String, Value> {
        let (status, body) = self.assume(role, token).await;
        assert_eq!(status, 200, "{body}");
        let session = body["Credentials"]["SessionToken"].as_str().unwrap();
        let payload = session.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["req_ctx"].as_object().unwrap().clone()
    }

    /// `/sts/validate-token` on the admin listener, where the dry run is served.
    async fn validate(&self, body: Value) -> Value {
        post_json(self.server.admin_url("/sts/validate-token"), &body)
            .await
            .1
    }
}

fn tags(pairs: &[(&str, &str)]) -> Value {
    let principal: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!([v])))
        .collect();
    json!({ TAGS: {"principal_tags": principal, "transitive_tag_keys": ["team"]} })
}

fn error(body: &Value) -> &str {
    body["Error"]["Code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn allowed_tags_reach_the_session_and_others_are_dropped() {
    let f = Fixture::start().await;
    let mut extra = tags(&[("team", "blue"), ("cost-center", "42")]);
    extra["kubernetes.io"] = json!({"namespace": "apps"});
    let token = f.token(extra);
    let ctx = f.session_ctx("Plain", &token).await;
    assert_eq!(ctx["aws:PrincipalTag/team"], "blue");
    assert_eq!(ctx["aws:PrincipalTag/unit"], "apps");
    assert!(!ctx.contains_key("aws:PrincipalTag/cost-center"), "{ctx:?}");
    assert!(!ctx.contains_key(TAGS), "the raw tags claim is not copied");

    let (_, body) = f.assume("Plain", &token).await;
    let verdict = f
        .validate(json!({"sessionToken": body["Credentials"]["SessionToken"]}))
        .await;
    assert_eq!(verdict["tags"], json!({"team": "blue", "unit": "apps"}));

    let dry = f
        .validate(json!({"webIdentityToken": token, "roleArn": "arn:aws:iam::role/Plain"}))
        .await;
    let step = dry["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "session-attributes")
        .unwrap_or_else(|| panic!("{dry}"));
    let detail = step["detail"].as_str().unwrap();
    assert!(detail.contains("team=blue"), "{detail}");
    assert!(
        detail.contains("\"cost-center\" left out") && detail.contains("allowedPrincipalTagKeys"),
        "{detail}"
    );
}

#[tokio::test]
async fn claims_named_like_gateway_keys_never_reach_the_session() {
    let f = Fixture::start().await;
    let token = f.token(json!({
        "aws:PrincipalTag/team": "red",
        "IS_ADMIN": "true",
        "jwt:team": "red",
        "sts:RoleSessionName": "x",
        "a/b": "c",
        "department": "eng"
    }));
    let ctx = f.session_ctx("Plain", &token).await;
    for name in [
        "aws:PrincipalTag/team",
        "IS_ADMIN",
        "jwt:team",
        "sts:RoleSessionName",
        "a/b",
    ] {
        assert!(!ctx.contains_key(name), "{name} reached req_ctx: {ctx:?}");
    }
    assert_eq!(ctx["department"], "eng", "ordinary claims are still copied");
    let ctx = f
        .session_ctx("Plain", &f.token(json!({"is_admin": true})))
        .await;
    assert!(!ctx.contains_key("is_admin"), "{ctx:?}");

    let dry = f
        .validate(json!({"webIdentityToken": token, "roleArn": "arn:aws:iam::role/Plain"}))
        .await;
    let text = dry.to_string();
    assert!(
        text.contains("claim \\\"IS_ADMIN\\\" not copied into the session"),
        "{text}"
    );
}

#[tokio::test]
async fn aws_limits_answer_with_aws_codes() {
    let f = Fixture::start().await;
    let mut many = Map::new();
    for i in 0..51 {
        many.insert(format!("k{i}"), json!(["v"]));
    }
    // Over the limit counts taken tags: map 51 claims into tags through the allowlist.
    let idp = TestIdp::start().await;
    let mut cfg = config(idp.issuer());
    cfg["providers"][0]["config"]["allowedPrincipalTagKeys"] =
        json!(many.keys().cloned().collect::<Vec<_>>());
    let server = TestServer::start_with_config(&cfg);
    let now = now();
    let token = idp.sign(&json!({"iss": idp.issuer(), "sub": "a", "aud": CLIENT_ID,
        "iat": now, "exp": now + 600, TAGS: {"principal_tags": many}}));
    let res = reqwest::Client::new()
        .post(server.url("/sts/assume-role-with-web-identity"))
        .json(
            &json!({"RoleArn": "arn:aws:iam::role/Plain", "WebIdentityToken": token,
                      "RoleSessionName": "tags"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(error(&body), "PackedPolicyTooLarge", "{body}");

    for (extra, what) in [
        (tags(&[("team", &"x".repeat(257))]), "value over 256"),
        (tags(&[("team", "bad\u{7}")]), "control character"),
        (
            json!({ TAGS: {"principal_tags": {"team": ["a", "b"]}} }),
            "two values",
        ),
        (json!({ TAGS: "team=blue" }), "not an object"),
        (json!({ SOURCE_IDENTITY: "x" }), "source identity too short"),
        (
            json!({ SOURCE_IDENTITY: "has space" }),
            "source identity pattern",
        ),
    ] {
        let (status, body) = f.assume("Plain", &f.token(extra)).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(error(&body), "ValidationError", "{what}: {body}");
        assert!(!body.to_string().contains("bad\u{7}"), "{what}");
    }
}

#[tokio::test]
async fn trust_policies_see_request_tags() {
    let f = Fixture::start().await;
    let (status, _) = f
        .assume("BlueOnly", &f.token(tags(&[("team", "blue")])))
        .await;
    assert_eq!(status, 200);
    let (status, body) = f
        .assume("BlueOnly", &f.token(tags(&[("team", "red")])))
        .await;
    assert_eq!((status, error(&body)), (403, "AccessDenied"), "{body}");
    let (status, body) = f.assume("BlueOnly", &f.token(json!({}))).await;
    assert_eq!((status, error(&body)), (403, "AccessDenied"), "{body}");
}

#[tokio::test]
async fn a_trust_policy_naming_tag_session_must_allow_it() {
    let f = Fixture::start().await;
    let (status, body) = f
        .assume("AwsStyle", &f.token(tags(&[("env", "prod")])))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = f
        .assume("AwsStyle", &f.token(tags(&[("env", "dev")])))
        .await;
    assert_eq!((status, error(&body)), (403, "AccessDenied"), "{body}");
    assert!(body["Error"]["Message"]
        .as_str()
        .unwrap()
        .contains("sts:TagSession"));
    // No tags: sts:TagSession is not needed.
    let (status, _) = f.assume("AwsStyle", &f.token(json!({}))).await;
    assert_eq!(status, 200);
    // A source identity needs sts:SetSourceIdentity, which the same statement allows only with
    // env=prod.
    let (status, body) = f
        .assume(
            "AwsStyle",
            &f.token(json!({ SOURCE_IDENTITY: "alice@corp" })),
        )
        .await;
    assert_eq!((status, error(&body)), (403, "AccessDenied"), "{body}");
}

#[tokio::test]
async fn source_identity_is_returned_carried_and_checked() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let call = |token: String| exchange(&sdk, "arn:aws:iam::role/SourceChecked", "source", token);
    let out = call(f.token(json!({ SOURCE_IDENTITY: "alice@corp" })))
        .await
        .unwrap();
    assert_eq!(out.source_identity(), Some("alice@corp"));
    let session = out.credentials().unwrap().session_token().to_owned();
    let verdict = f.validate(json!({ "sessionToken": session })).await;
    assert_eq!(verdict["sourceIdentity"], "alice@corp");

    let err = call(f.token(json!({ SOURCE_IDENTITY: "mallory@elsewhere" })))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"));
    let err = call(f.token(json!({}))).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("AccessDenied"),
        "no source identity, no match"
    );
}
