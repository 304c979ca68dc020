//! End to end: a real OIDC issuer on loopback, stsd configured from an `iam.json`, and the
//! official AWS SDK for Rust — web-identity exchange, signed GetCallerIdentity, the credentials
//! provider a Kubernetes pod uses, the gateway's view of the session token, and the error paths.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_web_identity::{
    AssumeRoleWithWebIdentityError, AssumeRoleWithWebIdentityOutput,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::clock::now;
use common::iam::E2E_SIGNING_KEY;
use common::idp::{Family, TestIdp};
use common::sdk::{
    anonymous_client, environment_config, exchange, exchange_with, session_client, signed_client,
};
use common::server::TestServer;
use stsd::session::{derive_credentials, SecretDerivation, SessionClaims, SessionKeys, SigningKey};
use stsd::sigv4::{self, SigV4Error, SignedRequest};

const STS_ISSUER: &str = "https://sts.e2e.test";
const ACCOUNT: &str = "123456789012";
const CLIENT_ID: &str = "stsd-e2e";
const PROVIDER: &str = "e2e-idp";

const SUB_ROLE: &str = "arn:aws:iam::123456789012:role/E2ESubRole";
const AWS_FORM_ROLE: &str = "arn:aws:iam::123456789012:role/E2EAwsFormRole";
const K8S_ROLE: &str = "arn:aws:iam::123456789012:role/E2EServiceAccountRole";
const SHORT_ROLE: &str = "arn:aws:iam::123456789012:role/E2EShortRole";
const ROLE_NAMES: [&str; 4] = [
    "E2ESubRole",
    "E2EAwsFormRole",
    "E2EShortRole",
    "E2EServiceAccountRole",
];

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A loopback port nothing listens on: bound, read, released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

struct Fixture {
    idp: TestIdp,
    server: TestServer,
    /// `127.0.0.1:<port>`: the issuer as AWS writes it in provider ARNs and condition keys.
    host_path: String,
    disabled_issuer: String,
    unreachable_issuer: String,
}

impl Fixture {
    async fn start() -> Self {
        let idp = TestIdp::start().await;
        let host_path = idp.issuer().trim_start_matches("http://").to_owned();
        let disabled_issuer = format!("{}/disabled", idp.issuer());
        let unreachable_issuer = format!("http://127.0.0.1:{}", closed_port());
        let iam = iam_json(
            idp.issuer(),
            &host_path,
            &disabled_issuer,
            &unreachable_issuer,
        );
        let server = TestServer::start_with_config(&iam);
        Self {
            idp,
            server,
            host_path,
            disabled_issuer,
            unreachable_issuer,
        }
    }

    /// An RS256 token of the issuer for `sub`, valid for ten minutes, audience `stsd-e2e`.
    fn token(&self, sub: &str) -> String {
        self.idp.sign(&self.claims(self.idp.issuer(), sub))
    }

    fn claims(&self, iss: &str, sub: &str) -> Value {
        let now = now();
        json!({
            "iss": iss,
            "sub": sub,
            "aud": CLIENT_ID,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "email": format!("{sub}@example.test"),
        })
    }
}

fn iam_json(issuer: &str, host_path: &str, disabled: &str, unreachable: &str) -> Value {
    let allow = |federated: String, condition: Value| {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Federated": federated },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }]
        })
    };
    json!({
        "sts": {
            "tokenDuration": "1h",
            "maxSessionLength": "12h",
            "issuer": STS_ISSUER,
            "signingKey": E2E_SIGNING_KEY,
            "accountId": ACCOUNT,
        },
        "providers": [
            {
                "name": PROVIDER,
                "type": "oidc",
                "enabled": true,
                "config": { "issuer": issuer, "clientIds": [CLIENT_ID] },
            },
            {
                "name": "e2e-disabled",
                "type": "oidc",
                "enabled": false,
                "config": { "issuer": disabled, "clientIds": [CLIENT_ID] },
            },
            {
                "name": "e2e-unreachable",
                "type": "oidc",
                "enabled": true,
                "config": { "issuer": unreachable, "clientIds": [CLIENT_ID], "httpTimeout": "1s" },
            },
        ],
        "policies": [{
            "name": "S3ReadOnly",
            "document": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"],
                }]
            }
        }],
        "roles": [
            {
                "roleName": "E2ESubRole",
                "roleArn": SUB_ROLE,
                "attachedPolicies": ["S3ReadOnly"],
                "trustPolicy": allow(
                    PROVIDER.to_owned(),
                    json!({ "StringEquals": { "oidc:sub": "alice" } }),
                ),
            },
            {
                "roleName": "E2EAwsFormRole",
                "roleArn": AWS_FORM_ROLE,
                "attachedPolicies": ["S3ReadOnly"],
                "trustPolicy": allow(
                    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host_path}"),
                    json!({ "StringEquals": {
                        format!("{host_path}:sub"): "bob",
                        format!("{host_path}:aud"): CLIENT_ID,
                    } }),
                ),
            },
            {
                "roleName": "E2EShortRole",
                "roleArn": SHORT_ROLE,
                "attachedPolicies": ["S3ReadOnly"],
                "maxSessionDuration": "1h",
                "trustPolicy": allow(
                    PROVIDER.to_owned(),
                    json!({ "StringEquals": { "oidc:sub": "alice" } }),
                ),
            },
            {
                "roleName": "E2EServiceAccountRole",
                "roleArn": K8S_ROLE,
                "attachedPolicies": ["S3ReadOnly"],
                "trustPolicy": allow(
                    PROVIDER.to_owned(),
                    json!({ "StringLike": { "oidc:sub": "system:serviceaccount:default:*" } }),
                ),
            },
        ],
    })
}

/// The error code and HTTP status of a failed SDK call (panics on a transport error).
fn code_and_status<E>(err: &SdkError<E>) -> (String, u16)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let service = err
        .as_service_error()
        .unwrap_or_else(|| panic!("a service error, not {err:?}"));
    let status = err.raw_response().map_or(0, |r| r.status().as_u16());
    (service.code().unwrap_or_default().to_owned(), status)
}

// ---------------------------------------------------------------------------------------------
// AssumeRoleWithWebIdentity and GetCallerIdentity through the SDK
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sdk_exchanges_a_web_identity_token_for_working_credentials() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::e2e-bucket/*"}]}"#;
    let before = now();
    let out = exchange_with(&sdk, SUB_ROLE, "alice-e2e", f.token("alice"), |r| {
        r.policy(policy)
    })
    .await
    .unwrap();
    let after = now();

    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(creds.access_key_id().len(), 20);
    assert_eq!(
        STANDARD.decode(creds.secret_access_key()).unwrap().len(),
        32
    );
    assert_eq!(creds.session_token().split('.').count(), 3);
    // tokenDuration is 1h; the instant is taken between the two local readings.
    let expiration = creds.expiration().secs();
    assert!(
        (before + 3600..=after + 3600).contains(&expiration),
        "{expiration} not in [{}, {}]",
        before + 3600,
        after + 3600
    );

    assert_eq!(out.subject_from_web_identity_token(), Some("alice"));
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::123456789012:assumed-role/E2ESubRole/alice-e2e"
    );
    assert_eq!(user.assumed_role_id(), "E2ESubRole:alice-e2e");
    assert_eq!(out.provider(), Some(f.idp.issuer()));
    assert_eq!(out.audience(), Some(CLIENT_ID));
    #[allow(deprecated)]
    let packed = out.packed_policy_size();
    let packed = packed.expect("PackedPolicySize when a Policy is sent");
    assert!((1..=100).contains(&packed), "{packed}");

    // The same credentials sign a GetCallerIdentity that stsd accepts.
    let me = session_client(&f.server.base_url, creds)
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/E2ESubRole/alice-e2e")
    );
    assert_eq!(me.user_id(), Some("E2ESubRole:alice-e2e"));
    assert_eq!(me.account(), Some(ACCOUNT));
}

#[tokio::test]
async fn sdk_without_a_policy_gets_no_packed_policy_size() {
    let f = Fixture::start().await;
    let out = exchange(
        &anonymous_client(&f.server.base_url).await,
        SUB_ROLE,
        "alice-e2e",
        f.token("alice"),
    )
    .await
    .unwrap();
    #[allow(deprecated)]
    let packed = out.packed_policy_size();
    assert_eq!(packed, None);
}

#[tokio::test]
async fn aws_style_trust_policy_with_provider_arn_and_issuer_keys() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let out = exchange(&sdk, AWS_FORM_ROLE, "bob-e2e", f.token("bob"))
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::123456789012:assumed-role/E2EAwsFormRole/bob-e2e"
    );

    // `<host:port>:sub` is bob only.
    let err = exchange(&sdk, AWS_FORM_ROLE, "alice-e2e", f.token("alice"))
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&err), ("AccessDenied".into(), 403));
    assert!(f.host_path.starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn kubernetes_style_service_account_pattern() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let out = exchange(
        &sdk,
        K8S_ROLE,
        "pod-e2e",
        f.token("system:serviceaccount:default:builder"),
    )
    .await
    .unwrap();
    assert_eq!(
        out.subject_from_web_identity_token(),
        Some("system:serviceaccount:default:builder")
    );

    // Another namespace does not match `system:serviceaccount:default:*`.
    let err = exchange(
        &sdk,
        K8S_ROLE,
        "pod-e2e",
        f.token("system:serviceaccount:kube-system:builder"),
    )
    .await
    .unwrap_err();
    assert_eq!(code_and_status(&err), ("AccessDenied".into(), 403));
}

async fn issue(f: &Fixture, role: &str, sub: &str) -> aws_sdk_sts::types::Credentials {
    exchange(
        &anonymous_client(&f.server.base_url).await,
        role,
        "e2e-session",
        f.token(sub),
    )
    .await
    .unwrap()
    .credentials()
    .unwrap()
    .clone()
}

#[tokio::test]
async fn get_caller_identity_with_a_wrong_secret_is_signature_does_not_match() {
    let f = Fixture::start().await;
    let creds = issue(&f, SUB_ROLE, "alice").await;
    let wrong_secret = STANDARD.encode(Sha256::digest(b"not the derived secret"));
    let err = signed_client(
        &f.server.base_url,
        creds.access_key_id(),
        &wrong_secret,
        Some(creds.session_token()),
    )
    .await
    .get_caller_identity()
    .send()
    .await
    .unwrap_err();
    assert_eq!(code_and_status(&err), ("SignatureDoesNotMatch".into(), 403));
}

#[tokio::test]
async fn get_caller_identity_with_an_expired_session_is_expired_token() {
    let f = Fixture::start().await;
    // A session that ended an hour ago, minted with the service's own key and issuer.
    let key = SigningKey::from_base64(E2E_SIGNING_KEY).unwrap();
    let keys = SessionKeys::new(STS_ISSUER, key.clone(), Vec::new());
    let issued = now() - 7200;
    let sid = "00112233445566778899aabbccddeeff";
    let mut claims = SessionClaims::new(STS_ISSUER, sid, issued, issued + 3600);
    claims.snam = "old-session".into();
    claims.role = SUB_ROLE.into();
    claims.principal = "arn:aws:sts::123456789012:assumed-role/E2ESubRole/old-session".into();
    claims.assumed = claims.principal.clone();
    claims.idp = PROVIDER.into();
    claims.max_dur = Some(3600);
    let token = keys.mint(&claims);
    let derived = derive_credentials(sid, SecretDerivation::SeaweedFs, &key);

    let err = signed_client(
        &f.server.base_url,
        &derived.access_key_id,
        derived.secret_access_key.expose(),
        Some(&token),
    )
    .await
    .get_caller_identity()
    .send()
    .await
    .unwrap_err();
    assert_eq!(code_and_status(&err), ("ExpiredToken".into(), 403));

    // The same session, still valid, is accepted: the refusal above is about time only.
    let mut live = claims.clone();
    live.exp = now() + 3600;
    let live_token = keys.mint(&live);
    let me = signed_client(
        &f.server.base_url,
        &derived.access_key_id,
        derived.secret_access_key.expose(),
        Some(&live_token),
    )
    .await
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/E2ESubRole/old-session")
    );
}

// ---------------------------------------------------------------------------------------------
// The web-identity credentials provider, configured only through environment variables
// ---------------------------------------------------------------------------------------------

/// The SDK configuration a pod gets from its environment alone — endpoint, role, token file,
/// region, plus `extra` — handed to the loader rather than set on this process. The token file
/// ends in a newline, as Kubernetes and most tools write it. HOME is an empty directory, so no
/// profile file of the machine running the tests takes part.
async fn pod_config(
    f: &Fixture,
    dir: &tempfile::TempDir,
    sub: &str,
    extra: &[(&str, &str)],
) -> aws_types::SdkConfig {
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", f.token(sub))).unwrap();
    let token_path = token_file.to_str().unwrap().to_owned();
    let home = dir.path().to_str().unwrap().to_owned();
    let mut vars = vec![
        ("AWS_ENDPOINT_URL_STS", f.server.base_url.as_str()),
        ("AWS_ROLE_ARN", K8S_ROLE),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_path.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("HOME", home.as_str()),
    ];
    vars.extend_from_slice(extra);
    environment_config(&vars).await
}

#[tokio::test]
async fn web_identity_credentials_provider_from_a_pod_environment() {
    let f = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = pod_config(
        &f,
        &dir,
        "system:serviceaccount:default:app",
        &[("AWS_ROLE_SESSION_NAME", "pod-app")],
    )
    .await;
    assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));

    let provider = config.credentials_provider().expect("a credentials chain");
    let creds = provider.provide_credentials().await.unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    // The chain's environment and profile sources had nothing; the web-identity one answered.
    let features = creds
        .get_property::<Vec<AwsCredentialFeature>>()
        .expect("credential features");
    assert!(
        features.contains(&AwsCredentialFeature::CredentialsProfileStsWebIdToken),
        "{features:?}"
    );
    let token = creds.session_token().expect("a session token").to_owned();
    let expiry = creds.expiry().expect("an expiry");
    let in_secs = expiry.duration_since(SystemTime::now()).unwrap();
    assert!(in_secs > Duration::from_secs(3000), "{in_secs:?}");

    // A client built from that config signs with those credentials, and stsd accepts them.
    let me = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/E2EServiceAccountRole/pod-app")
    );
    assert_eq!(me.account(), Some(ACCOUNT));
    let claims = gateway_accepts(&token, now());
    assert_eq!(claims["ext_uid"], "system:serviceaccount:default:app");
}

#[tokio::test]
async fn web_identity_credentials_provider_with_its_default_session_name() {
    let f = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = pod_config(&f, &dir, "system:serviceaccount:default:app", &[]).await;
    // Without AWS_ROLE_SESSION_NAME the SDK names the session `web-identity-token-<millis>`,
    // which must pass stsd's RoleSessionName rules.
    let me = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let arn = me.arn().unwrap();
    assert!(
        arn.starts_with(
            "arn:aws:sts::123456789012:assumed-role/E2EServiceAccountRole/web-identity-token-"
        ),
        "{arn}"
    );
}

#[tokio::test]
async fn web_identity_credentials_provider_reports_a_trust_refusal() {
    let f = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = pod_config(&f, &dir, "system:serviceaccount:other:app", &[]).await;
    let provider = config.credentials_provider().expect("a credentials chain");
    let err = provider.provide_credentials().await.unwrap_err();
    // The SDK wraps the service error; its text carries the STS code.
    let text = format!("{}", aws_sdk_sts::error::DisplayErrorContext(&err));
    assert!(text.contains("AccessDenied"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// What a SeaweedFS gateway checks (seaweedfs-sts.md §0, §1.3), done here without stsd's verifier
// ---------------------------------------------------------------------------------------------

fn b64url_json(segment: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap_or_else(|e| panic!("segment is not unpadded base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

fn non_empty_str<'a>(claims: &'a Value, name: &str) -> &'a str {
    let value = claims[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} is not a string"));
    assert!(!value.is_empty(), "{name} is empty");
    value
}

/// Verifies `token` the way the gateway does and returns its claims: HS256 over the decoded
/// signing key, the issuer, `exp`/`nbf` with no leeway, and the claim types Go decodes strictly.
fn gateway_accepts(token: &str, now: i64) -> Value {
    let segments: Vec<&str> = token.split('.').collect();
    assert_eq!(segments.len(), 3);
    let header = b64url_json(segments[0]);
    assert_eq!(header["alg"], "HS256");

    let key = STANDARD.decode(E2E_SIGNING_KEY).unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}", segments[0], segments[1]).as_bytes());
    let signature = URL_SAFE_NO_PAD.decode(segments[2]).unwrap();
    mac.verify_slice(&signature)
        .expect("HMAC-SHA256 with the shared key");

    let claims = b64url_json(segments[1]);
    assert_eq!(claims["iss"], STS_ISSUER);
    let exp = claims["exp"].as_i64().expect("exp is an integer");
    assert!(now < exp, "expired");
    if let Some(nbf) = claims.get("nbf") {
        assert!(nbf.as_i64().expect("nbf is an integer") <= now);
    }
    for name in ["sid", "role", "principal", "assumed"] {
        non_empty_str(&claims, name);
    }
    assert_eq!(claims["typ"], "session");
    let assumed_at = claims["assumed_at"].as_str().expect("assumed_at a string");
    time::OffsetDateTime::parse(assumed_at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("assumed_at {assumed_at} is not RFC 3339: {e}"));
    if let Some(max_dur) = claims.get("max_dur") {
        assert!(max_dur.is_i64(), "max_dur {max_dur} is not an integer");
    }
    if let Some(pol) = claims.get("pol") {
        let pol = pol.as_array().expect("pol is an array");
        assert!(pol.iter().all(Value::is_string));
    }
    if let Some(spol) = claims.get("spol") {
        assert!(spol.is_string());
    }
    if let Some(req_ctx) = claims.get("req_ctx") {
        assert!(req_ctx.is_object(), "req_ctx decodes into a map");
    }
    for name in ["sub", "jti", "snam", "idp", "ext_uid", "prov_iss", "puid"] {
        if let Some(value) = claims.get(name) {
            assert!(value.is_string(), "{name} is not a string");
        }
    }

    // Authorization by principal: arn:aws:sts::[acct:]assumed-role/<RoleName>/<session>, with
    // RoleName one the gateway's iam.json defines.
    let principal = non_empty_str(&claims, "principal");
    let rest = principal.strip_prefix("arn:aws:sts::").expect("an STS ARN");
    let rest = rest.strip_prefix(&format!("{ACCOUNT}:")).unwrap_or(rest);
    let rest = rest
        .strip_prefix("assumed-role/")
        .expect("an assumed-role ARN");
    let (role_name, session) = rest.split_once('/').expect("role and session");
    assert!(ROLE_NAMES.contains(&role_name), "{role_name}");
    assert!(!session.is_empty());
    claims
}

/// The credentials a SeaweedFS 4.48 gateway recomputes from `sid` (seaweedfs-4.48.md): the
/// access key id unkeyed, the secret keyed by the decoded signing key.
fn gateway_credentials(sid: &str) -> (String, String) {
    let access = Sha256::digest(format!("access-key:{sid}").as_bytes());
    let key = STANDARD.decode(E2E_SIGNING_KEY).unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("secret-key:{sid}").as_bytes());
    (
        format!("ASIA{}", &hex::encode(access)[..16]),
        STANDARD.encode(mac.finalize().into_bytes()),
    )
}

/// An S3 GET as a gateway receives it (seaweedfs-sts.md §10.4 shape), signed at a fixed instant.
fn s3_get(session_token: &str) -> SignedRequest {
    SignedRequest {
        method: "GET".into(),
        path: "/test-bucket/hello.txt".into(),
        query: Vec::new(),
        headers: vec![
            ("host".into(), "localhost:8333".into()),
            ("x-amz-content-sha256".into(), EMPTY_SHA256.into()),
            ("x-amz-date".into(), "20260101T000500Z".into()),
            ("x-amz-security-token".into(), session_token.into()),
        ],
        payload_sha256: EMPTY_SHA256.into(),
    }
}

/// 2026-01-01T00:05:00Z, the `x-amz-date` of [`s3_get`].
const S3_GET_TIME: i64 = 1_767_225_900;

#[tokio::test]
async fn issued_session_token_passes_the_gateway_checks() {
    let f = Fixture::start().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::test-bucket/*"}]}"#;
    let sdk = anonymous_client(&f.server.base_url).await;
    let out = exchange_with(&sdk, SUB_ROLE, "alice-gw", f.token("alice"), |r| {
        r.policy(policy)
    })
    .await
    .unwrap();
    let creds = out.credentials().unwrap();
    let claims = gateway_accepts(creds.session_token(), now());

    let sid = non_empty_str(&claims, "sid");
    assert_eq!(sid.len(), 32);
    assert!(sid
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(claims["role"], SUB_ROLE);
    assert_eq!(
        claims["principal"],
        "arn:aws:sts::123456789012:assumed-role/E2ESubRole/alice-gw"
    );
    assert_eq!(claims["assumed"], claims["principal"]);
    assert_eq!(claims["snam"], "alice-gw");
    assert_eq!(claims["idp"], PROVIDER);
    assert_eq!(claims["ext_uid"], "alice");
    assert_eq!(claims["prov_iss"], f.idp.issuer());
    assert_eq!(claims["max_dur"], 3600);
    assert_eq!(claims["exp"].as_i64(), Some(creds.expiration().secs()));
    assert!(claims["spol"].is_string(), "a session policy was sent");

    let (access_key_id, secret) = gateway_credentials(sid);
    assert_eq!(creds.access_key_id(), access_key_id);
    assert_eq!(creds.secret_access_key(), secret);

    // The client signs an S3 request with what stsd returned; the gateway verifies it with
    // what it recomputed from the token alone.
    let mut request = s3_get(creds.session_token());
    let authorization = sigv4::authorization_header(
        &request,
        creds.access_key_id(),
        creds.secret_access_key(),
        "us-east-1",
        "s3",
        &[
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token",
        ],
    )
    .unwrap();
    request
        .headers
        .push(("authorization".into(), authorization));
    let verified = sigv4::verify(&request, &secret, S3_GET_TIME).unwrap();
    assert_eq!(verified.access_key_id, access_key_id);
    assert_eq!(verified.service, "s3");
    assert_eq!(
        verified.security_token.as_deref(),
        Some(creds.session_token())
    );

    // The signature is bound to the secret: another session's secret does not verify it.
    let (_, other_secret) = gateway_credentials("ffeeddccbbaa99887766554433221100");
    assert_eq!(
        sigv4::verify(&request, &other_secret, S3_GET_TIME).unwrap_err(),
        SigV4Error::SignatureDoesNotMatch
    );
}

#[test]
fn gateway_check_rejects_a_token_signed_with_another_key() {
    // Guards the check above: it must fail for a token the gateway would refuse.
    let other = SigningKey::from_bytes(b"another-signing-key-of-enough-length".to_vec()).unwrap();
    let now = now();
    let mut claims = SessionClaims::new(
        STS_ISSUER,
        "0123456789abcdef0123456789abcdef",
        now,
        now + 3600,
    );
    claims.role = SUB_ROLE.into();
    claims.principal = "arn:aws:sts::assumed-role/E2ESubRole/s".into();
    claims.assumed = claims.principal.clone();
    let token = SessionKeys::new(STS_ISSUER, other, Vec::new()).mint(&claims);
    let result = std::panic::catch_unwind(|| gateway_accepts(&token, now));
    assert!(result.is_err());
}

// ---------------------------------------------------------------------------------------------
// Refusals, with their exact codes, and a service that keeps answering
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refusals_carry_the_exact_codes_and_the_service_keeps_serving() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let call = |role: &'static str, token: String| exchange(&sdk, role, "e2e-refused", token);

    let mut wrong_audience = f.claims(f.idp.issuer(), "alice");
    wrong_audience["aud"] = json!("some-other-client");
    let err = call(SUB_ROLE, f.idp.sign(&wrong_audience))
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&err), ("InvalidIdentityToken".into(), 400));

    // Expired two minutes ago: beyond the 60 s clock skew.
    let mut expired = f.claims(f.idp.issuer(), "alice");
    expired["iat"] = json!(now() - 900);
    expired["nbf"] = json!(now() - 900);
    expired["exp"] = json!(now() - 120);
    let err = call(SUB_ROLE, f.idp.sign(&expired)).await.unwrap_err();
    assert_eq!(code_and_status(&err), ("ExpiredTokenException".into(), 400));
    assert!(matches!(
        err.as_service_error(),
        Some(aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError::ExpiredTokenException(_))
    ));

    let err = call(SUB_ROLE, f.token("mallory")).await.unwrap_err();
    assert_eq!(code_and_status(&err), ("AccessDenied".into(), 403));

    let err = call(
        "arn:aws:iam::123456789012:role/NoSuchRole",
        f.token("alice"),
    )
    .await
    .unwrap_err();
    assert_eq!(code_and_status(&err), ("AccessDenied".into(), 403));

    let disabled = f.idp.sign(&f.claims(&f.disabled_issuer, "alice"));
    let err = call(SUB_ROLE, disabled).await.unwrap_err();
    assert_eq!(code_and_status(&err), ("IDPRejectedClaim".into(), 403));

    let unreachable = f.idp.sign(&f.claims(&f.unreachable_issuer, "alice"));
    let err = call(SUB_ROLE, unreachable).await.unwrap_err();
    assert_eq!(code_and_status(&err), ("IDPCommunicationError".into(), 400));

    // After all of that, the next good request is served.
    let out = call(SUB_ROLE, f.token("alice")).await.unwrap();
    assert!(out.credentials().is_some());
}

// ---------------------------------------------------------------------------------------------
// The JSON twin of the query action
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn json_twin_returns_the_same_credentials_shape() {
    let f = Fixture::start().await;
    let http = reqwest::Client::new();
    let response = http
        .post(f.server.url("/sts/assume-role-with-web-identity"))
        .json(&json!({
            "RoleArn": K8S_ROLE,
            "WebIdentityToken": f.token("system:serviceaccount:default:json"),
            "RoleSessionName": "json-e2e",
            "DurationSeconds": 900,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();

    let creds = &body["Credentials"];
    let token = creds["SessionToken"].as_str().unwrap();
    let claims = gateway_accepts(token, now());
    let (access_key_id, secret) = gateway_credentials(claims["sid"].as_str().unwrap());
    assert_eq!(creds["AccessKeyId"], access_key_id.as_str());
    assert_eq!(creds["SecretAccessKey"], secret.as_str());
    let expiration = time::OffsetDateTime::parse(
        creds["Expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(Some(expiration.unix_timestamp()), claims["exp"].as_i64());
    assert_eq!(claims["max_dur"], 900);
    assert_eq!(
        body["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/E2EServiceAccountRole/json-e2e"
    );
    assert_eq!(
        body["AssumedRoleUser"]["AssumedRoleId"],
        "E2EServiceAccountRole:json-e2e"
    );
    assert_eq!(
        body["SubjectFromWebIdentityToken"],
        "system:serviceaccount:default:json"
    );
    assert_eq!(body["Provider"], f.idp.issuer());
    assert_eq!(body["Audience"], CLIENT_ID);

    // And the credentials work through the SDK.
    let me = signed_client(&f.server.base_url, &access_key_id, &secret, Some(token))
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.user_id(), Some("E2EServiceAccountRole:json-e2e"));

    // An error has the JSON error shape with the same code as the query API.
    let response = http
        .post(f.server.url("/sts/assume-role-with-web-identity"))
        .json(&json!({
            "RoleArn": SUB_ROLE,
            "WebIdentityToken": f.token("mallory"),
            "RoleSessionName": "json-e2e",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Error"]["Code"], "AccessDenied");
    assert!(body["RequestId"].is_string());
}

// ---------------------------------------------------------------------------------------------
// More of the exchange: algorithms, key rotation, audiences, durations, session policies
// ---------------------------------------------------------------------------------------------

async fn assume(
    f: &Fixture,
    role: &str,
    token: String,
) -> Result<AssumeRoleWithWebIdentityOutput, SdkError<AssumeRoleWithWebIdentityError>> {
    exchange(
        &anonymous_client(&f.server.base_url).await,
        role,
        "e2e-more",
        token,
    )
    .await
}

#[tokio::test]
async fn ec_and_ed25519_tokens_are_exchanged_too() {
    let f = Fixture::start().await;
    for (alg, family) in [
        ("ES256", Family::Ec),
        ("EdDSA", Family::Ed),
        ("PS256", Family::Rsa),
    ] {
        let claims = f.claims(f.idp.issuer(), "alice");
        let token = f.idp.sign_with(alg, Some(&f.idp.kid(family)), &claims);
        let out = assume(&f, SUB_ROLE, token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(
            out.subject_from_web_identity_token(),
            Some("alice"),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn a_rotated_idp_key_is_picked_up_on_the_next_token() {
    let f = Fixture::start().await;
    assume(&f, SUB_ROLE, f.token("alice")).await.unwrap();
    let fetches = f.idp.jwks_requests();
    f.idp.rotate();
    // The new kid is unknown to the cache: one refetch, then the token verifies.
    assume(&f, SUB_ROLE, f.token("alice")).await.unwrap();
    assert_eq!(f.idp.jwks_requests(), fetches + 1);
}

#[tokio::test]
async fn the_audience_that_matched_is_reported_from_an_audience_list() {
    let f = Fixture::start().await;
    let mut claims = f.claims(f.idp.issuer(), "alice");
    claims["aud"] = json!(["https://kubernetes.default.svc", CLIENT_ID]);
    let out = assume(&f, SUB_ROLE, f.idp.sign(&claims)).await.unwrap();
    assert_eq!(out.audience(), Some(CLIENT_ID));
}

#[tokio::test]
async fn a_token_without_sub_is_a_rejected_claim() {
    let f = Fixture::start().await;
    let mut claims = f.claims(f.idp.issuer(), "alice");
    claims.as_object_mut().unwrap().remove("sub");
    let err = assume(&f, SUB_ROLE, f.idp.sign(&claims)).await.unwrap_err();
    assert_eq!(code_and_status(&err), ("IDPRejectedClaim".into(), 403));
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_an_invalid_identity_token() {
    let f = Fixture::start().await;
    let other = TestIdp::start().await;
    // Same kid and issuer as the real key, wrong signature.
    let claims = f.claims(f.idp.issuer(), "alice");
    let forged = other.sign_with("RS256", Some(&f.idp.kid(Family::Rsa)), &claims);
    let err = assume(&f, SUB_ROLE, forged).await.unwrap_err();
    assert_eq!(code_and_status(&err), ("InvalidIdentityToken".into(), 400));
}

#[tokio::test]
async fn duration_is_capped_by_the_role_maximum() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let before = now();
    let out = exchange_with(&sdk, SHORT_ROLE, "short", f.token("alice"), |r| {
        r.duration_seconds(7200)
    })
    .await
    .unwrap();
    let after = now();
    let expiration = out.credentials().unwrap().expiration().secs();
    assert!(
        (before + 3600..=after + 3600).contains(&expiration),
        "{expiration}"
    );
    let claims = gateway_accepts(out.credentials().unwrap().session_token(), now());
    assert_eq!(claims["max_dur"], 3600);

    // Below the role maximum the request is honoured.
    let out = exchange_with(&sdk, SUB_ROLE, "long", f.token("alice"), |r| {
        r.duration_seconds(7200)
    })
    .await
    .unwrap();
    let claims = gateway_accepts(out.credentials().unwrap().session_token(), now());
    assert_eq!(claims["max_dur"], 7200);

    // Outside 900..=43200 is a validation error before any token work.
    let err = exchange_with(&sdk, SUB_ROLE, "short", f.token("alice"), |r| {
        r.duration_seconds(899)
    })
    .await
    .unwrap_err();
    assert_eq!(code_and_status(&err), ("ValidationError".into(), 400));
}

#[tokio::test]
async fn a_malformed_session_policy_is_refused() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}"#;
    let err = exchange_with(&sdk, SUB_ROLE, "policy", f.token("alice"), |r| {
        r.policy(policy)
    })
    .await
    .unwrap_err();
    assert_eq!(
        code_and_status(&err),
        ("MalformedPolicyDocument".into(), 400)
    );
}

#[tokio::test]
async fn clock_skew_is_sixty_seconds_on_expiry() {
    let f = Fixture::start().await;
    // Expired thirty seconds ago: inside the default 60 s leeway.
    let mut claims = f.claims(f.idp.issuer(), "alice");
    claims["iat"] = json!(now() - 600);
    claims["nbf"] = json!(now() - 600);
    claims["exp"] = json!(now() - 30);
    assume(&f, SUB_ROLE, f.idp.sign(&claims)).await.unwrap();
}

#[tokio::test]
async fn tokens_no_provider_accepts_are_invalid_identity_tokens() {
    let f = Fixture::start().await;
    let cases = [
        (
            "unknown issuer",
            f.idp.sign(&f.claims("https://unknown.example", "alice")),
        ),
        (
            "HS256 keyed with the public key",
            f.idp.sign_hs256(
                &f.idp.rsa_public_pem(),
                Some(&f.idp.kid(Family::Rsa)),
                &f.claims(f.idp.issuer(), "alice"),
            ),
        ),
        (
            "alg none",
            common::idp::compact(
                r#"{"alg":"none","typ":"JWT"}"#,
                &f.claims(f.idp.issuer(), "alice").to_string(),
                |_| Vec::new(),
            ),
        ),
        ("not a JWT", "definitely-not-a-jwt".to_owned()),
    ];
    for (what, token) in cases {
        let err = assume(&f, SUB_ROLE, token).await.unwrap_err();
        assert_eq!(
            code_and_status(&err),
            ("InvalidIdentityToken".into(), 400),
            "{what}"
        );
    }
}

#[tokio::test]
async fn get_caller_identity_refuses_foreign_sessions_and_mismatched_keys() {
    let f = Fixture::start().await;
    // A well-formed session minted with a key stsd does not hold.
    let foreign = SigningKey::from_bytes(b"a-key-another-deployment-uses-0123".to_vec()).unwrap();
    let now = now();
    let sid = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let mut claims = SessionClaims::new(STS_ISSUER, sid, now, now + 3600);
    claims.snam = "foreign".into();
    claims.role = SUB_ROLE.into();
    claims.principal = "arn:aws:sts::123456789012:assumed-role/E2ESubRole/foreign".into();
    claims.assumed = claims.principal.clone();
    let token = SessionKeys::new(STS_ISSUER, foreign, Vec::new()).mint(&claims);
    let (access_key_id, secret) = gateway_credentials(sid);
    let err = signed_client(&f.server.base_url, &access_key_id, &secret, Some(&token))
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&err), ("InvalidClientTokenId".into(), 403));

    // A genuine session with the secret right but another access key id.
    let creds = issue(&f, SUB_ROLE, "alice").await;
    let err = signed_client(
        &f.server.base_url,
        "ASIA0000000000000000",
        creds.secret_access_key(),
        Some(creds.session_token()),
    )
    .await
    .get_caller_identity()
    .send()
    .await
    .unwrap_err();
    assert_eq!(code_and_status(&err), ("InvalidClientTokenId".into(), 403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exchanges_get_distinct_sessions() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (sdk, token) = (sdk.clone(), f.token("alice"));
        calls.spawn(async move { exchange(&sdk, SUB_ROLE, &format!("parallel-{i}"), token).await });
    }
    let mut keys: Vec<String> = calls
        .join_all()
        .await
        .into_iter()
        .map(|out| {
            let out = out.unwrap();
            let creds = out.credentials().unwrap();
            let claims = gateway_accepts(creds.session_token(), now());
            assert_eq!(
                gateway_credentials(claims["sid"].as_str().unwrap()).0,
                creds.access_key_id()
            );
            creds.access_key_id().to_owned()
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 16);
}

#[tokio::test]
async fn json_twin_refuses_with_the_codes_and_statuses_of_the_query_api() {
    let f = Fixture::start().await;
    let http = reqwest::Client::new();
    let mut wrong_audience = f.claims(f.idp.issuer(), "alice");
    wrong_audience["aud"] = json!("some-other-client");
    let mut expired = f.claims(f.idp.issuer(), "alice");
    expired["exp"] = json!(now() - 120);
    let cases = [
        (SUB_ROLE, f.idp.sign(&wrong_audience)),
        (SUB_ROLE, f.idp.sign(&expired)),
        (SUB_ROLE, f.token("mallory")),
        (
            "arn:aws:iam::123456789012:role/NoSuchRole",
            f.token("alice"),
        ),
        (SUB_ROLE, f.idp.sign(&f.claims(&f.disabled_issuer, "alice"))),
        (
            SUB_ROLE,
            f.idp.sign(&f.claims(&f.unreachable_issuer, "alice")),
        ),
    ];
    for (role, token) in cases {
        let query = assume(&f, role, token.clone()).await.unwrap_err();
        let (code, status) = code_and_status(&query);
        let response = http
            .post(f.server.url("/sts/assume-role-with-web-identity"))
            .json(&json!({
                "RoleArn": role,
                "WebIdentityToken": token,
                "RoleSessionName": "e2e-more",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{code}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["Error"]["Code"], code.as_str());
        assert!(body["Error"]["Message"].is_string());
        assert!(body["RequestId"].is_string());
    }
}

#[tokio::test]
async fn managed_session_policies_are_refused_rather_than_ignored() {
    let f = Fixture::start().await;
    let sdk = anonymous_client(&f.server.base_url).await;
    let err = exchange_with(&sdk, SUB_ROLE, "arns", f.token("alice"), |r| {
        r.policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
                .build(),
        )
    })
    .await
    .unwrap_err();
    // Ignoring them would issue broader credentials than the caller asked for.
    assert_eq!(code_and_status(&err), ("InvalidParameterValue".into(), 400));
}
