//! Kubernetes deployment end to end: ServiceAccount tokens through a `kubernetes` provider whose
//! JWKS endpoint is HTTPS with a private CA and wants the pod's bearer token; `iam.json` reloads
//! as a ConfigMap update performs them; and the HTTPS listener picking up a rotated certificate.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::idp::{TestCa, TestIdp};
use common::server::TestServer;
use serde_json::{json, Value};

/// What the API server puts in `iss` (`--service-account-issuer` of an in-cluster setup).
const K8S_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const SA_SUBJECT: &str = "system:serviceaccount:default:my-app";
const SIGNING_KEY: &str = "dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=";

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The claims of a projected ServiceAccount token requested with `audience: stsd`.
fn service_account_claims(namespace: &str, account: &str) -> Value {
    let now = now();
    json!({
        "iss": K8S_ISSUER,
        "aud": ["stsd", "https://kubernetes.default.svc"],
        "sub": format!("system:serviceaccount:{namespace}:{account}"),
        "exp": now + 3600,
        "iat": now - 10,
        "nbf": now - 10,
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": account, "uid": "6f0c4a52-3c1e-4b8e-9d55-0d2f4c7a9e11"},
            "pod": {"name": format!("{account}-7d9f8b6c5-x2x4z"), "uid": "b1e2c3d4-0000-4f00-8000-1234567890ab"}
        }
    })
}

/// A `kubernetes` provider with every in-cluster default pointed at the test issuer.
fn kubernetes_provider(
    name: &str,
    idp: &TestIdp,
    ca_cert: &Path,
    bearer_token_file: Option<&Path>,
) -> Value {
    let mut config = json!({
        "issuer": K8S_ISSUER,
        "jwksUri": idp.jwks_uri(),
        "tlsCaCert": ca_cert,
        "clientIds": ["stsd"],
    });
    if let Some(file) = bearer_token_file {
        config["bearerTokenFile"] = json!(file);
    }
    json!({"name": name, "type": "kubernetes", "config": config})
}

/// `iam.json` with `providers` and a role `AppRole` that the `my-app` ServiceAccount of the
/// `default` namespace may assume through any of `federated`.
fn iam_json(providers: Vec<Value>, federated: &[&str]) -> Value {
    json!({
        "sts": {"signingKey": SIGNING_KEY},
        "providers": providers,
        "roles": [{
            "roleName": "AppRole",
            "attachedPolicies": [],
            "trustPolicy": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": federated},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "oidc:sub": SA_SUBJECT,
                        "oidc:kubernetes.io/namespace": "default",
                        "oidc:kubernetes.io/serviceaccount/name": "my-app"
                    }
                }
            }]}
        }]
    })
}

/// Calls the JSON twin of AssumeRoleWithWebIdentity: the response, or the error code.
async fn assume(server: &TestServer, token: &str) -> Result<Value, String> {
    let response = reqwest::Client::new()
        .post(server.url("/sts/assume-role-with-web-identity"))
        .json(&json!({
            "RoleArn": "arn:aws:iam::role/AppRole",
            "RoleSessionName": "k8s-test",
            "WebIdentityToken": token,
        }))
        .send()
        .await
        .unwrap();
    let ok = response.status().is_success();
    let body: Value = response.json().await.unwrap();
    if ok {
        Ok(body)
    } else {
        Err(body["Error"]["Code"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

fn write(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
}

#[tokio::test]
async fn service_account_token_is_accepted_over_https_with_the_bearer_token() {
    let idp = TestIdp::start_https().await;
    idp.require_bearer(Some("projected-token-1"));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    write(&token_file, "projected-token-1\n");
    let server = TestServer::start_with_config(&iam_json(
        vec![kubernetes_provider(
            "k8s",
            &idp,
            &idp.ca_cert_path(),
            Some(&token_file),
        )],
        &["k8s"],
    ));

    let token = idp.sign(&service_account_claims("default", "my-app"));
    let response = assume(&server, &token).await.unwrap();
    assert_eq!(response["SubjectFromWebIdentityToken"], SA_SUBJECT);
    assert_eq!(response["Audience"], "stsd");
    assert!(response["Credentials"]["SessionToken"].is_string());
    // Every request the issuer saw carried the file's content, newline trimmed.
    let seen = idp.authorizations();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|a| a.as_deref() == Some("Bearer projected-token-1")),
        "{seen:?}"
    );

    // The nested-claim conditions bind: another account or namespace is refused.
    let other_account = idp.sign(&service_account_claims("default", "intruder"));
    assert_eq!(
        assume(&server, &other_account).await.unwrap_err(),
        "AccessDenied"
    );
    let mut other_namespace = service_account_claims("default", "my-app");
    other_namespace["kubernetes.io"]["namespace"] = json!("other");
    let other_namespace = idp.sign(&other_namespace);
    assert_eq!(
        assume(&server, &other_namespace).await.unwrap_err(),
        "AccessDenied"
    );
}

#[tokio::test]
async fn a_rotated_bearer_token_is_read_on_the_next_fetch() {
    let idp = TestIdp::start_https().await;
    idp.require_bearer(Some("projected-token-1"));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    write(&token_file, "projected-token-1");
    let server = TestServer::start_with_config(&iam_json(
        vec![kubernetes_provider(
            "k8s",
            &idp,
            &idp.ca_cert_path(),
            Some(&token_file),
        )],
        &["k8s"],
    ));
    let claims = service_account_claims("default", "my-app");
    assume(&server, &idp.sign(&claims)).await.unwrap();
    let first_fetches = idp.jwks_requests();

    // The kubelet rewrites the projected token; the API server stops accepting the old one;
    // the signing key rotates, so the next token names a kid stsd has not seen and forces a fetch.
    write(&token_file, "projected-token-2");
    idp.require_bearer(Some("projected-token-2"));
    idp.rotate();
    let response = assume(&server, &idp.sign(&claims)).await.unwrap();
    assert_eq!(response["SubjectFromWebIdentityToken"], SA_SUBJECT);
    assert!(idp.jwks_requests() > first_fetches);
    let seen = idp.authorizations();
    assert_eq!(
        seen.last().unwrap().as_deref(),
        Some("Bearer projected-token-2"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn without_the_bearer_token_the_issuer_refuses_and_the_caller_gets_idp_communication_error() {
    let idp = TestIdp::start_https().await;
    idp.require_bearer(Some("projected-token-1"));
    // A `kubernetes` provider always has a bearerTokenFile (the in-cluster default), so the
    // token-less request is made by an `oidc` provider with the same endpoint and CA.
    let mut plain = kubernetes_provider("plain", &idp, &idp.ca_cert_path(), None);
    plain["type"] = json!("oidc");
    let server = TestServer::start_with_config(&iam_json(vec![plain], &["plain"]));
    let token = idp.sign(&service_account_claims("default", "my-app"));
    assert_eq!(
        assume(&server, &token).await.unwrap_err(),
        "IDPCommunicationError"
    );
    assert!(idp.jwks_requests() >= 1, "the issuer was asked");
    assert!(idp.authorizations().iter().all(Option::is_none));
}

#[tokio::test]
async fn the_default_token_file_missing_outside_a_pod_is_an_idp_communication_error() {
    let idp = TestIdp::start_https().await;
    idp.require_bearer(Some("projected-token-1"));
    // No bearerTokenFile: the default /var/run/secrets/kubernetes.io/serviceaccount/token,
    // which does not exist on a test machine.
    let server = TestServer::start_with_config(&iam_json(
        vec![kubernetes_provider("k8s", &idp, &idp.ca_cert_path(), None)],
        &["k8s"],
    ));
    let token = idp.sign(&service_account_claims("default", "my-app"));
    assert_eq!(
        assume(&server, &token).await.unwrap_err(),
        "IDPCommunicationError"
    );
    // Nothing is sent without the token (unless this runs in a pod, where the file exists).
    if !Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token").exists() {
        assert_eq!(idp.jwks_requests(), 0);
    }
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_an_idp_communication_error() {
    let idp = TestIdp::start_https().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    write(&token_file, "projected-token-1");
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, TestCa::generate("some other CA").cert_pem()).unwrap();
    let server = TestServer::start_with_config(&iam_json(
        vec![kubernetes_provider(
            "k8s",
            &idp,
            &other_ca,
            Some(&token_file),
        )],
        &["k8s"],
    ));
    let token = idp.sign(&service_account_claims("default", "my-app"));
    assert_eq!(
        assume(&server, &token).await.unwrap_err(),
        "IDPCommunicationError"
    );
    // The handshake failed: no request reached the issuer.
    assert_eq!(idp.jwks_requests(), 0);
    // The server is still up.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
