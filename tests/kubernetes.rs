//! Kubernetes deployment end to end: ServiceAccount tokens through a `kubernetes` provider whose
//! JWKS endpoint is HTTPS with a private CA and wants the pod's bearer token; `iam.json` reloads
//! as a ConfigMap update performs them; and the HTTPS listener picking up a rotated certificate.
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::clock::now;
use common::idp::{TestCa, TestIdp};
use common::server::TestServer;
use serde_json::{json, Value};

/// What the API server puts in `iss` (`--service-account-issuer` of an in-cluster setup).
const K8S_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const SA_SUBJECT: &str = "system:serviceaccount:default:my-app";

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
    common::iam::iam_json(json!({
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
                        "oidc:kubernetes.io/serviceaccount/name": "my-app",
                        // The AWS (IRSA) form: issuer host and path, then the claim.
                        "kubernetes.default.svc.cluster.local:aud": "stsd"
                    }
                }
            }]}
        }]
    }))
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
    let mut other_name = service_account_claims("default", "my-app");
    other_name["kubernetes.io"]["serviceaccount"]["name"] = json!("intruder");
    let other_name = idp.sign(&other_name);
    assert_eq!(
        assume(&server, &other_name).await.unwrap_err(),
        "AccessDenied"
    );
    // A token meant for the API server alone is not for stsd.
    let mut api_server_only = service_account_claims("default", "my-app");
    api_server_only["aud"] = json!(["https://kubernetes.default.svc"]);
    let api_server_only = idp.sign(&api_server_only);
    assert_eq!(
        assume(&server, &api_server_only).await.unwrap_err(),
        "InvalidIdentityToken"
    );
}

#[tokio::test]
async fn a_rotated_bearer_token_is_read_on_the_next_fetch() {
    let idp = TestIdp::start_https().await;
    idp.require_bearer(Some("projected-token-1"));
    // A projected volume, updated by the kubelet with the same symlink swap as a ConfigMap.
    let mut volume = Mount::new(&[("token", b"projected-token-1")]);
    let token_file = volume.path("token");
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

    // The kubelet rotates the projected token; the API server stops accepting the old one;
    // the signing key rotates, so the next token names a kid stsd has not seen and forces a fetch.
    volume.update(&[("token", b"projected-token-2")]);
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
    // The handshake failed: no request reached the issuer, and the reason recorded is the
    // certificate.
    assert_eq!(idp.jwks_requests(), 0);
    // The response names no cause (by design); the key cache does, and it is the TLS check.
    let cache = stsd::jwks::JwksCache::new(
        "k8s",
        stsd::jwks::CacheConfig {
            fetch: stsd::jwks::FetchSettings {
                issuer: K8S_ISSUER.to_owned(),
                jwks_uri: Some(idp.jwks_uri()),
                tls_ca_cert: Some(other_ca.clone()),
                tls_insecure_skip_verify: false,
                thumbprints: Vec::new(),
                bearer_token_file: Some(token_file.clone()),
                http_timeout: std::time::Duration::from_secs(5),
            },
            allowed_algorithms: stsd::providers::JwsAlgorithm::ALL.to_vec(),
            ttl: std::time::Duration::from_secs(3600),
        },
    )
    .unwrap();
    let stsd::jwks::Unavailable(reason) = cache.keys(now()).await.unwrap_err();
    assert!(
        reason.to_ascii_lowercase().contains("certificate"),
        "{reason}"
    );
    assert_eq!(idp.jwks_requests(), 0);
    // The operator listing shows the same cause for the server's own provider.
    let providers: Value = reqwest::get(server.admin_url("/sts/providers"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last_error = providers["providers"][0]["jwks"]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(last_error.contains("certificate"), "{providers}");
    assert!(!providers.to_string().contains("projected-token-1"));
    // The server is still up.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

// ---- The binary: iam.json reloads and certificate rotation as the kubelet performs them. ----

/// The binary under test: the one cargo built, or another given in `STSD_BIN` (a release build,
/// the binary of an image).
fn stsd_binary() -> std::ffi::OsString {
    std::env::var_os("STSD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_stsd").into())
}

/// Bounded waits for the 5 s file checks: the assertions are on outcomes, the bound only gives
/// the server time to act.
const WAIT: std::time::Duration = std::time::Duration::from_secs(15);
const STEP: std::time::Duration = std::time::Duration::from_millis(100);

/// Kills the server if an assertion fails before the test ends. The second field is the admin
/// listener's base URL.
struct Stsd(Child, String);

impl Drop for Stsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Stsd {
    /// `stsd serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --log-format json ARGS…`;
    /// returns it with its address, read from the JSON "listening" log line.
    fn start(args: &[&OsStr]) -> (Self, String) {
        let mut child = Command::new(stsd_binary())
            .env_remove("STSD_LISTEN")
            .env_remove("STSD_CONFIG")
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut server = Self(child, String::new());
        let mut addr = None;
        for line in lines.by_ref() {
            let Ok(line) = serde_json::from_str::<Value>(&line.unwrap()) else {
                continue;
            };
            let bound = line["fields"]["addr"].as_str().map(str::to_owned);
            if line["fields"]["message"] == "listening" {
                addr = bound;
            } else if line["fields"]["message"] == "admin listening" {
                server.1 = base_url(&bound.expect("an admin address"));
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        (server, addr.expect("a listening line"))
    }

    fn hangup(&self) {
        let sent = Command::new("kill")
            .args(["-HUP", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

/// A directory laid out as the kubelet mounts a ConfigMap or Secret: each file is a symlink
/// into `..data`, itself a symlink to a timestamped directory. An update writes a new
/// timestamped directory and renames a new `..data` link over the old one (one atomic step).
struct Mount {
    dir: tempfile::TempDir,
    generation: u32,
}

impl Mount {
    fn new(files: &[(&str, &[u8])]) -> Self {
        let mut mount = Self {
            dir: tempfile::tempdir().unwrap(),
            generation: 0,
        };
        mount.update(files);
        for (name, _) in files {
            symlink(Path::new("..data").join(name), mount.path(name)).unwrap();
        }
        mount
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn update(&mut self, files: &[(&str, &[u8])]) {
        self.generation += 1;
        let previous = std::fs::read_link(self.path("..data")).ok();
        let data = format!("..2026_11_22_06_00_00.{}", self.generation);
        std::fs::create_dir(self.path(&data)).unwrap();
        for (name, content) in files {
            std::fs::write(self.path(&data).join(name), content).unwrap();
        }
        symlink(&data, self.path("..data_tmp")).unwrap();
        std::fs::rename(self.path("..data_tmp"), self.path("..data")).unwrap();
        if let Some(previous) = previous {
            std::fs::remove_dir_all(self.path(&previous.to_string_lossy())).unwrap();
        }
    }
}

/// A config with the mock provider and the roles `roles`, which any mock token may assume.
fn mock_config(roles: &[&str]) -> String {
    let roles: Vec<Value> = roles
        .iter()
        .map(|role| {
            json!({"roleName": role, "attachedPolicies": [],
                   "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                       "Principal": {"Federated": "mock"},
                       "Action": "sts:AssumeRoleWithWebIdentity"}]}})
        })
        .collect();
    common::iam::iam_json(json!({
        "providers": [{"name": "mock", "type": "mock",
                       "config": {"issuer": "https://mock.example", "clientId": "c"}}],
        "roles": roles
    }))
    .to_string()
}

/// AssumeRoleWithWebIdentity for `role` with the mock token: "OK" or the error code.
async fn assume_mock(client: &reqwest::Client, base: &str, role: &str) -> String {
    let response = client
        .post(format!("{base}/sts/assume-role-with-web-identity"))
        .json(&json!({
            "RoleArn": format!("arn:aws:iam::role/{role}"),
            "RoleSessionName": "reload-test",
            "WebIdentityToken": "valid_test_token",
        }))
        .send()
        .await
        .unwrap();
    if response.status().is_success() {
        return "OK".to_owned();
    }
    let body: Value = response.json().await.unwrap();
    body["Error"]["Code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn reload_count(base: &str, result: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("stsd_config_reloads_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Polls until `role` can be assumed (or WAIT passes); returns the last answer.
async fn wait_until_assumable(base: &str, role: &str) -> String {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let code = assume_mock(&client, base, role).await;
        if code == "OK" || std::time::Instant::now() > deadline {
            return code;
        }
        tokio::time::sleep(STEP).await;
    }
}

async fn wait_for_count(base: &str, result: &str, expected: u64) -> u64 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let count = reload_count(base, result).await;
        if count >= expected || std::time::Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(STEP).await;
    }
}

fn base_url(addr: &str) -> String {
    format!("http://{addr}")
}

#[tokio::test]
async fn a_config_renamed_over_the_old_one_takes_effect_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iam.json");
    write(&path, &mock_config(&["First"]));
    let (server, addr) = Stsd::start(&[
        OsStr::new("--allow-mock-providers"),
        OsStr::new("--config"),
        path.as_os_str(),
    ]);
    let base = base_url(&addr);
    let client = reqwest::Client::new();
    assert_eq!(assume_mock(&client, &base, "First").await, "OK");
    assert_eq!(assume_mock(&client, &base, "Second").await, "AccessDenied");

    let staged = dir.path().join(".iam.json.new");
    write(&staged, &mock_config(&["Second"]));
    std::fs::rename(&staged, &path).unwrap();
    assert_eq!(wait_until_assumable(&base, "Second").await, "OK");
    assert_eq!(assume_mock(&client, &base, "First").await, "AccessDenied");
    assert!(reload_count(&server.1, "success").await >= 1);
    assert_eq!(reload_count(&server.1, "failure").await, 0);
    drop(server);
}

#[tokio::test]
async fn a_configmap_symlink_swap_takes_effect_and_an_invalid_update_is_refused() {
    let first = mock_config(&["First"]);
    let mut mount = Mount::new(&[("iam.json", first.as_bytes())]);
    let path = mount.path("iam.json");
    let (server, addr) = Stsd::start(&[
        OsStr::new("--allow-mock-providers"),
        OsStr::new("--config"),
        path.as_os_str(),
    ]);
    let base = base_url(&addr);
    let client = reqwest::Client::new();
    assert_eq!(assume_mock(&client, &base, "First").await, "OK");

    let second = mock_config(&["Second"]);
    mount.update(&[("iam.json", second.as_bytes())]);
    assert_eq!(wait_until_assumable(&base, "Second").await, "OK");
    assert_eq!(assume_mock(&client, &base, "First").await, "AccessDenied");
    let successes = reload_count(&server.1, "success").await;
    assert!(successes >= 1);

    // Valid JSON, invalid config: a provider type stsd does not have.
    let invalid = second.replace("\"type\":\"mock\"", "\"type\":\"saml\"");
    assert_ne!(invalid, second);
    mount.update(&[("iam.json", invalid.as_bytes())]);
    assert!(wait_for_count(&server.1, "failure", 1).await >= 1);
    assert_eq!(
        assume_mock(&client, &base, "Second").await,
        "OK",
        "the running config keeps serving"
    );
    assert_eq!(reload_count(&server.1, "success").await, successes);

    // Not JSON at all.
    mount.update(&[("iam.json", b"{ not json")]);
    assert!(wait_for_count(&server.1, "failure", 2).await >= 2);
    assert_eq!(assume_mock(&client, &base, "Second").await, "OK");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn requests_made_while_the_config_reloads_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iam.json");
    // Every version keeps `Stable`; the other role changes each time.
    let versions = [
        mock_config(&["Stable", "One"]),
        mock_config(&["Stable", "Two"]),
    ];
    write(&path, &versions[0]);
    let (server, addr) = Stsd::start(&[
        OsStr::new("--allow-mock-providers"),
        OsStr::new("--config"),
        path.as_os_str(),
    ]);
    let base = base_url(&addr);
    let server = Arc::new(server);

    let done = Arc::new(AtomicBool::new(false));
    let toggler = {
        let (done, server, path) = (done.clone(), server.clone(), path.clone());
        std::thread::spawn(move || {
            let mut toggles = 0usize;
            while !done.load(Ordering::SeqCst) {
                toggles += 1;
                let staged = path.with_extension("new");
                std::fs::write(&staged, &versions[toggles % 2]).unwrap();
                std::fs::rename(&staged, &path).unwrap();
                server.hangup();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            toggles
        })
    };

    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    let mut requests = 0;
    // At least 200 requests, and on until several reloads happened among them.
    while requests < 200 || (reload_count(&server.1, "success").await < 5 && requests < 5000) {
        requests += 1;
        let code = assume_mock(&client, &base, "Stable").await;
        if code != "OK" {
            failures.push(code);
        }
    }
    done.store(true, Ordering::SeqCst);
    let toggles = toggler.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {requests}: {failures:?}",
        failures.len()
    );
    let reloads = reload_count(&server.1, "success").await;
    assert!(reloads >= 5, "{reloads} reloads for {toggles} toggles");
    assert_eq!(reload_count(&server.1, "failure").await, 0);
}

/// The subject common name of the certificate the server at `addr` presents to a new
/// connection, verified against `ca_pem`.
fn presented_cn(addr: &str, ca_pem: &[u8]) -> String {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    use openssl::x509::X509;

    let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
    connector
        .cert_store_mut()
        .add_cert(X509::from_pem(ca_pem).unwrap())
        .unwrap();
    connector.set_verify(SslVerifyMode::PEER);
    let mut config = connector.build().configure().unwrap();
    config.set_use_server_name_indication(false);
    config
        .param_mut()
        .set_ip("127.0.0.1".parse().unwrap())
        .unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let tls = config.connect("127.0.0.1", tcp).unwrap();
    let cert = tls.ssl().peer_certificate().unwrap();
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .unwrap()
        .data()
        .to_string()
        .unwrap()
}

#[tokio::test]
async fn a_renewed_certificate_in_a_secret_mount_is_served_to_new_connections() {
    let ca = TestCa::generate("stsd test CA");
    let (cert_a, key_a) = ca.issue("stsd-a");
    let (cert_b, key_b) = ca.issue("stsd-b");
    let mut mount = Mount::new(&[("tls.crt", &cert_a), ("tls.key", &key_a)]);
    let (_server, addr) = Stsd::start(&[
        OsStr::new("--dev"),
        OsStr::new("--tls-cert"),
        mount.path("tls.crt").as_os_str(),
        OsStr::new("--tls-key"),
        mount.path("tls.key").as_os_str(),
    ]);
    let ca_pem = ca.cert_pem();
    assert_eq!(presented_cn(&addr, &ca_pem), "stsd-a");

    mount.update(&[("tls.crt", &cert_b), ("tls.key", &key_b)]);
    let deadline = std::time::Instant::now() + WAIT;
    let mut cn = presented_cn(&addr, &ca_pem);
    while cn != "stsd-b" && std::time::Instant::now() < deadline {
        tokio::time::sleep(STEP).await;
        cn = presented_cn(&addr, &ca_pem);
    }
    assert_eq!(cn, "stsd-b");

    // The service answers over the new certificate.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
        .build()
        .unwrap();
    let health = client
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
