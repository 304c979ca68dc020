//! Pod identity end to end: `GET /v1/credentials` with projected ServiceAccount tokens of a real
//! issuer on loopback, through the AWS SDK for Rust's container credentials provider (configured
//! by nothing but its environment variables) and by hand for every refusal.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::ProvideCredentials;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use common::clock::now;
use common::http::post_json;
use common::iam::E2E_SIGNING_KEY;
use common::idp::TestIdp;
use common::sdk::environment_config;
use common::server::TestServer;
use stsd::session::{derive_credentials, SecretDerivation, SigningKey};

const ACCOUNT: &str = "123456789012";
const AUDIENCE: &str = "stsd";
const POD_ROLE: &str = "arn:aws:iam::123456789012:role/PodRole";

/// A role the `team-a` namespace may assume; associations for `team-a/app` (any provider),
/// `team-z/app` (whose namespace the trust policy refuses) and `team-a/pinned` (tokens of
/// another provider only).
fn iam_json(issuer: &str) -> Value {
    json!({
        "sts": {
            "issuer": "https://sts.pod.test",
            "signingKey": E2E_SIGNING_KEY,
            "accountId": ACCOUNT,
            "tokenDuration": "2h",
        },
        "providers": [
            {"name": "cluster", "type": "oidc",
             "config": {"issuer": issuer, "clientIds": [AUDIENCE]}},
            {"name": "other-cluster", "type": "oidc", "enabled": true,
             "config": {"issuer": "https://other-cluster.test", "clientIds": [AUDIENCE]}},
        ],
        "policies": [{"name": "S3Read", "document": {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}],
        "roles": [{
            "roleName": "PodRole",
            "roleArn": POD_ROLE,
            "attachedPolicies": ["S3Read"],
            "maxSessionDuration": "1h",
            "trustPolicy": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "cluster"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"oidc:kubernetes.io/namespace": "team-a"}}
            }]}
        }],
        "podIdentityAssociations": [
            {"namespace": "team-a", "serviceAccount": "app", "roleArn": POD_ROLE},
            {"namespace": "team-z", "serviceAccount": "app", "roleArn": POD_ROLE},
            {"namespace": "team-a", "serviceAccount": "pinned", "roleArn": POD_ROLE,
             "provider": "other-cluster"},
        ]
    })
}

struct Fixture {
    idp: TestIdp,
    server: TestServer,
}

impl Fixture {
    async fn start() -> Self {
        let idp = TestIdp::start().await;
        let server = TestServer::start_with_config(&iam_json(idp.issuer()));
        Self { idp, server }
    }

    fn claims(&self, namespace: &str, account: &str, pod: &str) -> Value {
        let now = now();
        json!({
            "iss": self.idp.issuer(),
            "aud": [AUDIENCE],
            "sub": format!("system:serviceaccount:{namespace}:{account}"),
            "iat": now - 5,
            "nbf": now - 5,
            "exp": now + 3600,
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": account, "uid": "0d4c1a52-3c1e-4b8e-9d55-0d2f4c7a9e11"},
                "pod": {"name": pod, "uid": "b1e2c3d4-0000-4f00-8000-1234567890ab"}
            }
        })
    }

    fn token(&self, namespace: &str, account: &str, pod: &str) -> String {
        self.idp.sign(&self.claims(namespace, account, pod))
    }

    fn url(&self) -> String {
        self.server.url("/v1/credentials")
    }

    /// GET /v1/credentials with `authorization` as the header value: status and JSON body.
    async fn get(&self, authorization: Option<&str>) -> (u16, Value) {
        let mut request = reqwest::Client::new().get(self.url());
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap())
    }
}

fn payload(jwt: &str) -> Value {
    let segment = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

fn header(jwt: &str) -> Value {
    let segment = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

fn expires_in(expiration: &str) -> i64 {
    let at =
        time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .unwrap();
    at.unix_timestamp() - now()
}

#[tokio::test]
async fn credentials_are_minted_as_assume_role_with_web_identity_mints_them() {
    let f = Fixture::start().await;
    let token = f.token("team-a", "app", "app-7d9f8b6c5-x2x4z");
    let (status, body) = f.get(Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "AccessKeyId",
            "SecretAccessKey",
            "Token",
            "Expiration",
            "AccountId"
        ]
    );
    assert_eq!(body["AccountId"], ACCOUNT);
    // tokenDuration (2h) capped by the role's maxSessionDuration (1h).
    let left = expires_in(body["Expiration"].as_str().unwrap());
    assert!((3590..=3600).contains(&left), "{left}");

    // The credentials derive from the session id exactly as the gateways derive them.
    let session = body["Token"].as_str().unwrap();
    let claims = payload(session);
    let derived = derive_credentials(
        claims["sid"].as_str().unwrap(),
        SecretDerivation::SeaweedFs,
        &SigningKey::from_base64(E2E_SIGNING_KEY).unwrap(),
    );
    assert_eq!(body["AccessKeyId"], derived.access_key_id.as_str());
    assert_eq!(body["SecretAccessKey"], derived.secret_access_key.expose());

    // AssumeRoleWithWebIdentity with the same token, role and session name gives a session
    // token that differs only in what is unique to each session.
    let twin: Value = post_json(
        f.server.url("/sts/assume-role-with-web-identity"),
        &json!({"RoleArn": POD_ROLE, "RoleSessionName": "app-7d9f8b6c5-x2x4z",
                      "WebIdentityToken": token}),
    )
    .await
    .1;
    let twin_token = twin["Credentials"]["SessionToken"].as_str().unwrap();
    assert_eq!(header(session), header(twin_token));
    let strip = |mut v: Value| {
        for unique in ["sid", "jti", "sub", "iat", "nbf", "exp", "assumed_at"] {
            v.as_object_mut().unwrap().remove(unique);
        }
        v
    };
    let (mine, theirs) = (strip(claims), strip(payload(twin_token)));
    assert_eq!(mine, theirs);
    assert_eq!(
        mine["principal"],
        "arn:aws:sts::123456789012:assumed-role/PodRole/app-7d9f8b6c5-x2x4z"
    );
    assert_eq!(mine["snam"], "app-7d9f8b6c5-x2x4z");
    assert_eq!(mine["role"], POD_ROLE);
    assert_eq!(mine["ext_uid"], "system:serviceaccount:team-a:app");
}

#[tokio::test]
async fn a_bearer_prefix_is_accepted() {
    let f = Fixture::start().await;
    let token = f.token("team-a", "app", "app-1");
    let (status, body) = f.get(Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
}

#[tokio::test]
async fn refusals_carry_their_status_and_code_and_never_the_token() {
    let f = Fixture::start().await;
    let now = now();
    let mut wrong_audience = f.claims("team-a", "app", "app-1");
    wrong_audience["aud"] = json!(["https://kubernetes.default.svc"]);
    let mut expired = f.claims("team-a", "app", "app-1");
    expired["iat"] = json!(now - 7200);
    expired["nbf"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let mut no_workload = f.claims("team-a", "app", "app-1");
    no_workload["sub"] = json!("alice");
    no_workload.as_object_mut().unwrap().remove("kubernetes.io");

    let cases: Vec<(&str, Option<String>, u16, &str, &str)> = vec![
        (
            "no association",
            Some(f.token("team-b", "app", "app-1")),
            403,
            "AccessDenied",
            "No pod identity association for ServiceAccount app in namespace team-b",
        ),
        (
            "association for another provider only",
            Some(f.token("team-a", "pinned", "pinned-1")),
            403,
            "AccessDenied",
            "No pod identity association for ServiceAccount pinned in namespace team-a",
        ),
        (
            "trust policy refuses the namespace",
            Some(f.token("team-z", "app", "app-1")),
            403,
            "AccessDenied",
            // AWS's one message for every refused role; the dry run says why.
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        ),
        (
            "no ServiceAccount in the token",
            Some(f.idp.sign(&no_workload)),
            403,
            "AccessDenied",
            "names no Kubernetes ServiceAccount",
        ),
        (
            "wrong audience",
            Some(f.idp.sign(&wrong_audience)),
            401,
            "InvalidIdentityToken",
            "",
        ),
        (
            "expired",
            Some(f.idp.sign(&expired)),
            401,
            "ExpiredTokenException",
            "",
        ),
        (
            "missing header",
            None,
            401,
            "MissingAuthenticationToken",
            "Authorization header",
        ),
        (
            "empty header",
            Some(String::new()),
            401,
            "MissingAuthenticationToken",
            "",
        ),
        (
            "garbage",
            Some("not-a-jwt-at-all".to_owned()),
            401,
            "InvalidIdentityToken",
            "",
        ),
        (
            "too long",
            Some("x".repeat(20_001)),
            400,
            "ValidationError",
            "",
        ),
    ];
    for (name, authorization, status, code, message) in cases {
        let (got, body) = f.get(authorization.as_deref()).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["code"], code, "{name}: {body}");
        let text = body["message"].as_str().unwrap();
        assert!(text.contains(message), "{name}: {text}");
        assert!(body["requestId"].as_str().is_some_and(|id| id.len() == 36));
        if let Some(token) = authorization.filter(|t| t.len() > 16) {
            let tail = &token[token.len() - 16..];
            assert!(!body.to_string().contains(tail), "{name}: token echoed");
        }
    }

    // Another method is refused in the same shape.
    let response = reqwest::Client::new().post(f.url()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "MethodNotAllowed");

    // Counted as the query API counts, under the action PodIdentity.
    let metrics = f.server.metrics().await;
    for series in [
        r#"stsd_requests_total{action="PodIdentity",code="AccessDenied"} 4"#,
        r#"stsd_requests_total{action="PodIdentity",code="InvalidIdentityToken"} 2"#,
        r#"stsd_requests_total{action="PodIdentity",code="MissingAuthenticationToken"} 2"#,
        r#"stsd_requests_total{action="PodIdentity",code="MethodNotAllowed"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    // The service keeps serving.
    let (status, _) = f.get(Some(&f.token("team-a", "app", "app-1"))).await;
    assert_eq!(status, 200);
}

// ---------------------------------------------------------------------------------------------
// The AWS SDK for Rust, configured as a pod is: two container variables and the STS endpoint
// ---------------------------------------------------------------------------------------------

async fn pod_config(f: &Fixture, dir: &tempfile::TempDir) -> aws_types::SdkConfig {
    let token_path = dir.path().join("token").to_str().unwrap().to_owned();
    let home = dir.path().to_str().unwrap().to_owned();
    let full_uri = f.url();
    let vars = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_path.as_str(),
        ),
        ("AWS_ENDPOINT_URL_STS", f.server.base_url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("HOME", home.as_str()),
    ];
    environment_config(&vars).await
}

#[tokio::test]
async fn rust_sdk_container_provider_gets_working_credentials_and_rereads_the_token_file() {
    let f = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    // The kubelet writes the token without a trailing newline (the Rust SDK sends the file's
    // bytes as they are).
    std::fs::write(&token_file, f.token("team-a", "app", "app-first")).unwrap();
    let config = pod_config(&f, &dir).await;

    let provider = config.credentials_provider().expect("a credentials chain");
    let creds = provider.provide_credentials().await.unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    let features = creds
        .get_property::<Vec<AwsCredentialFeature>>()
        .expect("credential features");
    assert!(
        features.contains(&AwsCredentialFeature::CredentialsHttp),
        "{features:?}"
    );
    assert_eq!(creds.account_id().map(|a| a.as_str()), Some(ACCOUNT));
    let left = creds
        .expiry()
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(left > Duration::from_secs(3500), "{left:?}");

    // A client built from that config signs with those credentials, and stsd accepts them.
    let me = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/PodRole/app-first")
    );

    // The kubelet rotates the token: the next call sends the new file content.
    std::fs::write(&token_file, f.token("team-a", "app", "app-second")).unwrap();
    let again = provider.provide_credentials().await.unwrap();
    let claims = payload(again.session_token().unwrap());
    assert_eq!(claims["snam"], "app-second");
    assert_ne!(again.access_key_id(), creds.access_key_id());

    // A token the association does not cover: the provider fails with the 403.
    std::fs::write(&token_file, f.token("team-b", "app", "app-third")).unwrap();
    let err = provider.provide_credentials().await.unwrap_err();
    let text = format!("{}", aws_sdk_sts::error::DisplayErrorContext(&err));
    assert!(text.contains("403"), "{text}");
}
