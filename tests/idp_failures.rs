//! Failing identity providers: down at start, rotating keys, unknown-kid floods, slow or broken
//! JWKS endpoints. Service-level cases pin the clock; HTTP cases drive the real server.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use common::clock::now;
use common::iam::iam_json;
use common::idp::TestIdp;
use stsd::config::{self, IamConfig};
use stsd::service::{
    AssumeRoleOutput, AssumeRoleRequest, RawAssumeRoleParams, ServiceError, StsService,
};

const NOW: i64 = 1_800_000_000;
const CLIENT: &str = "sts-client";
const ROLE_ARN: &str = "arn:aws:iam::role/Reader";

fn at(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).expect("timestamp")
}

/// An `oidc` provider entry as it appears in iam.json.
fn provider(name: &str, issuer: &str, http_timeout: &str) -> Value {
    json!({"name": name, "type": "oidc",
           "config": {"issuer": issuer, "clientId": CLIENT, "httpTimeout": http_timeout}})
}

fn config(providers: Vec<Value>) -> IamConfig {
    let file = iam_json(json!({
        "sts": {"issuer": "test-sts"},
        "providers": providers,
        "policies": [{"name": "S3Read", "document": {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}],
        "roles": [{"roleName": "Reader", "attachedPolicies": ["S3Read"],
            "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "*"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
    }));
    config::load_str(&file.to_string(), "test.json", &|_| None)
        .expect("valid config")
        .config
}

fn service(providers: Vec<Value>) -> StsService {
    StsService::new(config(providers)).expect("service")
}

fn claims(issuer: &str, now: i64) -> Value {
    json!({"iss": issuer, "sub": "user-1", "aud": CLIENT, "exp": now + 3600, "iat": now - 5})
}

fn request(token: &str) -> AssumeRoleRequest {
    AssumeRoleRequest::validate(RawAssumeRoleParams {
        role_arn: Some(ROLE_ARN.into()),
        role_session_name: Some("session-1".into()),
        web_identity_token: Some(token.into()),
        duration_seconds: None,
        policy: None,
    })
    .expect("valid parameters")
}

async fn assume(svc: &StsService, token: &str, now: i64) -> Result<AssumeRoleOutput, ServiceError> {
    svc.assume_role_with_web_identity(request(token), at(now))
        .await
}

/// The AWS code of a refusal (panics on success: every caller expects a refusal).
async fn refused(svc: &StsService, token: &str, now: i64) -> ServiceError {
    match assume(svc, token, now).await {
        Ok(_) => panic!("expected a refusal at {now}"),
        Err(e) => e,
    }
}

/// A loopback port nothing listens on (reserved, then released).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

#[tokio::test]
async fn idp_down_at_start_is_a_communication_error_until_it_answers() {
    let idp = TestIdp::start().await;
    idp.set_down(true);
    let svc = service(vec![provider("corp", idp.issuer(), "2s")]);
    let token = idp.sign(&claims(idp.issuer(), NOW));

    let err = refused(&svc, &token, NOW).await;
    assert_eq!(err.aws_code(), "IDPCommunicationError");
    assert!(err.to_string().contains("corp"), "{err}");
    assert!(
        !err.to_string().contains("127.0.0.1"),
        "the IdP URL stays in the log: {err}"
    );
    assert_eq!(idp.discovery_requests(), 1);

    // Back-off: within 30 s of the failure the IdP is not asked again.
    let err = refused(&svc, &token, NOW + 10).await;
    assert_eq!(err.aws_code(), "IDPCommunicationError");
    assert_eq!(idp.discovery_requests(), 1);

    idp.set_down(false);
    let err = refused(&svc, &token, NOW + 29).await;
    assert_eq!(err.aws_code(), "IDPCommunicationError");
    assert_eq!(idp.discovery_requests(), 1);

    // Same service, no restart: once the window has passed, the next request fetches and succeeds.
    let out = assume(&svc, &token, NOW + 30).await.expect("IdP is back");
    assert_eq!(out.subject, "user-1");
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (2, 1));
}

#[tokio::test]
async fn idp_not_listening_at_start_is_picked_up_when_it_appears() {
    let addr = free_port();
    let issuer = format!("http://{addr}");
    let svc = service(vec![provider("corp", &issuer, "1s")]);
    // Before the IdP exists nobody can sign for it; a token from another key with the same kid
    // gets as far as the key lookup.
    let forger = TestIdp::start().await;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}).to_string();
    let forged = forger.sign_raw(&header, &claims(&issuer, NOW).to_string(), "RS256");

    let err = refused(&svc, &forged, NOW).await;
    assert_eq!(err.aws_code(), "IDPCommunicationError");

    let idp = TestIdp::start_on(addr).await;
    assert_eq!(idp.issuer(), issuer);
    let err = refused(&svc, &forged, NOW + 5).await;
    assert_eq!(err.aws_code(), "IDPCommunicationError", "still backing off");
    assert_eq!(idp.discovery_requests(), 0);

    let token = idp.sign(&claims(&issuer, NOW + 30));
    assume(&svc, &token, NOW + 30)
        .await
        .expect("keys fetched once the IdP is up");
    assert_eq!(idp.jwks_requests(), 1);
    // The forged token now meets the real key and fails its signature check.
    let err = refused(&svc, &forged, NOW + 31).await;
    assert_eq!(err.aws_code(), "InvalidIdentityToken");
    assert_eq!(err.to_string(), "token signature is invalid");
}

#[tokio::test]
async fn rotated_key_is_accepted_after_exactly_one_refetch() {
    let idp = TestIdp::start().await;
    let svc = service(vec![provider("corp", idp.issuer(), "2s")]);
    assume(&svc, &idp.sign(&claims(idp.issuer(), NOW)), NOW)
        .await
        .expect("first");
    assert_eq!(idp.jwks_requests(), 1);

    idp.rotate();
    let rotated = idp.sign(&claims(idp.issuer(), NOW));
    assume(&svc, &rotated, NOW + 1)
        .await
        .expect("new kid after one refetch");
    assert_eq!(idp.jwks_requests(), 2);
    assume(&svc, &rotated, NOW + 2).await.expect("cached");
    assert_eq!(idp.jwks_requests(), 2);
    assert_eq!(idp.discovery_requests(), 1);
}

#[tokio::test]
async fn rotated_kid_while_the_idp_is_down_is_a_communication_error() {
    let idp = TestIdp::start().await;
    let svc = service(vec![provider("corp", idp.issuer(), "2s")]);
    assume(&svc, &idp.sign(&claims(idp.issuer(), NOW)), NOW)
        .await
        .expect("keys cached");

    // The IdP rotates and becomes unreachable: the new kid is not cached and cannot be fetched.
    // That is the IdP's outage, not a bad token (SDKs retry IDPCommunicationError).
    idp.rotate();
    idp.set_down(true);
    let rotated = idp.sign(&claims(idp.issuer(), NOW));
    let err = refused(&svc, &rotated, NOW + 1).await;
    assert_eq!(err.aws_code(), "IDPCommunicationError", "{err}");
    assert_eq!(idp.jwks_requests(), 2);
    // Inside the back-off window, without asking the IdP again.
    let err = refused(&svc, &rotated, NOW + 10).await;
    assert_eq!(err.aws_code(), "IDPCommunicationError", "{err}");
    assert_eq!(idp.jwks_requests(), 2);

    idp.set_down(false);
    assume(&svc, &rotated, NOW + 31)
        .await
        .expect("fetched once the IdP is back");
    assert_eq!(idp.jwks_requests(), 3);
    // A kid the reachable IdP does not publish stays an invalid token.
    let bogus = idp.sign_with("RS256", Some("nobody"), &claims(idp.issuer(), NOW));
    let err = refused(&svc, &bogus, NOW + 70).await;
    assert_eq!(err.aws_code(), "InvalidIdentityToken", "{err}");
    let err = refused(&svc, &bogus, NOW + 75).await;
    assert_eq!(
        err.aws_code(),
        "InvalidIdentityToken",
        "rate-limited: {err}"
    );
}

fn random_kid() -> String {
    format!("kid-{:016x}", rand::random::<u64>())
}

#[tokio::test]
async fn unknown_kid_flood_fetches_at_most_once_per_window() {
    let idp = TestIdp::start().await;
    let svc = service(vec![provider("corp", idp.issuer(), "2s")]);
    let good = idp.sign(&claims(idp.issuer(), NOW));
    assume(&svc, &good, NOW).await.expect("first");
    assert_eq!(idp.jwks_requests(), 1);

    // 200 concurrent tokens naming random kids, all at the same instant.
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let svc = svc.clone();
        let token = idp.sign_with("RS256", Some(&random_kid()), &claims(idp.issuer(), NOW));
        tasks.push(tokio::spawn(async move {
            refused(&svc, &token, NOW + 1).await.aws_code()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), "InvalidIdentityToken");
    }
    assert_eq!(idp.jwks_requests(), 2, "one refetch for the whole burst");

    // A steady stream over 100 s: refetches at +1 (above), +31, +61, +91 at most.
    for t in NOW + 2..NOW + 101 {
        let token = idp.sign_with("RS256", Some(&random_kid()), &claims(idp.issuer(), NOW));
        assert_eq!(
            refused(&svc, &token, t).await.aws_code(),
            "InvalidIdentityToken"
        );
        // Legitimate tokens keep verifying from the cache during the flood.
        if t % 10 == 0 {
            assume(&svc, &good, t).await.expect("known kid");
        }
    }
    assert_eq!(idp.jwks_requests(), 5);
    assert_eq!(idp.discovery_requests(), 1);
}

#[tokio::test]
async fn hanging_jwks_times_out_while_other_providers_answer() {
    let slow = TestIdp::start().await;
    let other = TestIdp::start().await;
    let svc = service(vec![
        provider("slow", slow.issuer(), "1s"),
        provider("other", other.issuer(), "5s"),
    ]);
    slow.pause();

    let started = Instant::now();
    let hanging = {
        let svc = svc.clone();
        let token = slow.sign(&claims(slow.issuer(), NOW));
        tokio::spawn(async move { refused(&svc, &token, NOW).await })
    };
    // While the slow IdP holds its answer, the other provider verifies and mints.
    let out = assume(&svc, &other.sign(&claims(other.issuer(), NOW)), NOW)
        .await
        .expect("other provider");
    assert_eq!(out.provider_name, "other");
    assert!(!hanging.is_finished(), "the slow fetch is still in flight");

    let err = tokio::time::timeout(Duration::from_secs(15), hanging)
        .await
        .expect("bounded by httpTimeout")
        .expect("task");
    let elapsed = started.elapsed();
    assert_eq!(err.aws_code(), "IDPCommunicationError");
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    eprintln!("hanging IdP answered IDPCommunicationError after {elapsed:?} (httpTimeout 1s)");

    // The next request inside the back-off window does not wait for the IdP again.
    let token = slow.sign(&claims(slow.issuer(), NOW));
    let again = tokio::time::timeout(Duration::from_secs(15), refused(&svc, &token, NOW + 1))
        .await
        .expect("immediate");
    assert_eq!(again.aws_code(), "IDPCommunicationError");
    assert_eq!(slow.discovery_requests(), 1);
    slow.resume();
}

#[tokio::test]
async fn hanging_refresh_falls_back_to_the_last_good_keys() {
    let idp = TestIdp::start().await;
    let svc = service(vec![provider("corp", idp.issuer(), "1s")]);
    assume(&svc, &idp.sign(&claims(idp.issuer(), NOW)), NOW)
        .await
        .expect("keys cached");
    idp.pause();

    // An hour later the keys are due for a refresh that hangs: after httpTimeout the stale keys
    // verify the token rather than failing it.
    let later = NOW + 3600;
    let token = idp.sign(&claims(idp.issuer(), later));
    let out = tokio::time::timeout(Duration::from_secs(15), assume(&svc, &token, later))
        .await
        .expect("bounded by httpTimeout")
        .expect("stale keys");
    assert_eq!(out.subject, "user-1");
    assert_eq!(idp.jwks_requests(), 2);
    // Within the back-off window nobody waits for the hanging IdP again.
    assume(&svc, &token, later + 1).await.expect("stale keys");
    assert_eq!(idp.jwks_requests(), 2);
    idp.resume();
}

/// What a hand-rolled IdP answers on every path.
#[derive(Clone, Copy, Debug)]
enum Broken {
    NotJson,
    EmptyKeySet,
    KeysNotAnArray,
    /// 2 MiB of JSON whitespace and a key set.
    Huge,
    /// Headers at once, then one body byte every 200 ms.
    Drip,
    /// Closes the connection after reading the request.
    Hangup,
    /// Redirects to itself forever.
    RedirectLoop,
    Status500,
}

/// Serves `behaviour` on loopback; returns the base URL.
async fn broken_idp(behaviour: Broken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let location = format!("{base}/loop");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = |status: &str, len: usize| {
                    format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                };
                let reply = |body: &str| format!("{}{body}", head("200 OK", body.len()));
                let _ = match behaviour {
                    Broken::NotJson => {
                        stream
                            .write_all(reply("<html>oops</html>").as_bytes())
                            .await
                    }
                    Broken::EmptyKeySet => {
                        stream.write_all(reply(r#"{"keys":[]}"#).as_bytes()).await
                    }
                    Broken::KeysNotAnArray => {
                        stream
                            .write_all(reply(r#"{"keys":{"kty":"RSA"}}"#).as_bytes())
                            .await
                    }
                    Broken::Huge => {
                        let body = format!("{}{{\"keys\":[]}}", " ".repeat(2 << 20));
                        stream.write_all(reply(&body).as_bytes()).await
                    }
                    Broken::Drip => {
                        let body = r#"{"keys":[]}"#;
                        let _ = stream
                            .write_all(head("200 OK", body.len()).as_bytes())
                            .await;
                        for b in body.bytes() {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            if stream.write_all(&[b]).await.is_err() {
                                break;
                            }
                        }
                        Ok(())
                    }
                    Broken::Hangup => Ok(()),
                    Broken::RedirectLoop => {
                        let text = format!(
                            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        stream.write_all(text.as_bytes()).await
                    }
                    Broken::Status500 => {
                        stream
                            .write_all(head("500 Internal Server Error", 0).as_bytes())
                            .await
                    }
                };
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

#[tokio::test]
async fn broken_jwks_and_discovery_answers_are_communication_errors() {
    let signer = TestIdp::start().await;
    let cases = [
        Broken::NotJson,
        Broken::EmptyKeySet,
        Broken::KeysNotAnArray,
        Broken::Huge,
        Broken::Drip,
        Broken::Hangup,
        Broken::RedirectLoop,
        Broken::Status500,
    ];
    for behaviour in cases {
        for discovered in [false, true] {
            let base = broken_idp(behaviour).await;
            let mut entry = provider("broken", &base, "1s");
            if !discovered {
                entry["config"]["jwksUri"] = json!(format!("{base}/jwks"));
            }
            let svc = service(vec![entry]);
            let header = json!({"alg": "RS256", "kid": "rsa-1"}).to_string();
            let token = signer.sign_raw(&header, &claims(&base, NOW).to_string(), "RS256");
            let err = tokio::time::timeout(Duration::from_secs(15), refused(&svc, &token, NOW))
                .await
                .unwrap_or_else(|_| panic!("{behaviour:?} hung"));
            assert_eq!(
                err.aws_code(),
                "IDPCommunicationError",
                "{behaviour:?} (discovery: {discovered}): {err}"
            );
            assert!(!err.to_string().contains(&base), "{err}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Through the HTTP server (wall clock: the back-off window cannot be skipped here, so these
// cases stop at the outage itself; recovery is covered above with a pinned clock).

mod http {
    use super::*;

    use common::server::TestServer;
    use stsd::app::HttpSettings;

    pub struct Reply {
        pub status: u16,
        pub body: String,
    }

    impl Reply {
        /// The `<Code>` of an XML error body.
        pub fn code(&self) -> &str {
            let start = self.body.find("<Code>").map_or(0, |i| i + 6);
            let end = self.body[start..]
                .find("</Code>")
                .map_or(start, |i| start + i);
            &self.body[start..end]
        }
    }

    pub fn server(svc: StsService) -> TestServer {
        TestServer::start_with(svc, HttpSettings::default())
    }

    pub async fn assume(server: &TestServer, token: &str) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRoleWithWebIdentity")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", ROLE_ARN)
            .append_pair("RoleSessionName", "http-session")
            .append_pair("WebIdentityToken", token)
            .finish();
        let response = reqwest::Client::new()
            .post(server.url("/"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("request");
        Reply {
            status: response.status().as_u16(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(server: &TestServer, path: &str) -> Reply {
        let response = reqwest::get(server.url(path)).await.expect("request");
        Reply {
            status: response.status().as_u16(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn assert_probes_answer(server: &TestServer) {
        for path in ["/healthz", "/readyz"] {
            assert_eq!(get(server, path).await.status, 200, "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_idp_down_at_start_server_is_ready_and_answers_idp_communication_error() {
    let down = TestIdp::start().await;
    let other = TestIdp::start().await;
    down.set_down(true);
    let svc = service(vec![
        provider("corp", down.issuer(), "2s"),
        provider("other", other.issuer(), "2s"),
    ]);
    // As `stsd serve` does: prefetch in the background, then listen.
    svc.start();
    let server = http::server(svc);
    http::assert_probes_answer(&server).await;

    let token = down.sign(&claims(down.issuer(), now()));
    for _ in 0..3 {
        let reply = http::assume(&server, &token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "IDPCommunicationError"),
            "{}",
            reply.body
        );
        assert!(!reply.body.contains("127.0.0.1"), "{}", reply.body);
        assert!(reply.body.contains("<RequestId>"), "{}", reply.body);
        http::assert_probes_answer(&server).await;
    }
    // The back-off keeps the down IdP from being asked on every request.
    assert!(
        down.discovery_requests() <= 2,
        "{} discovery requests",
        down.discovery_requests()
    );

    // The other provider is unaffected.
    let reply = http::assume(&server, &other.sign(&claims(other.issuer(), now()))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_hanging_jwks_times_out_while_the_server_answers_others() {
    let slow = TestIdp::start().await;
    let other = TestIdp::start().await;
    slow.pause();
    let svc = service(vec![
        provider("slow", slow.issuer(), "1s"),
        provider("other", other.issuer(), "5s"),
    ]);
    let server = std::sync::Arc::new(http::server(svc));

    let started = Instant::now();
    let hanging = {
        let server = server.clone();
        let token = slow.sign(&claims(slow.issuer(), now()));
        tokio::spawn(async move { http::assume(&server, &token).await })
    };
    // While that request waits on the IdP, the same worker serves everything else.
    let reply = http::assume(&server, &other.sign(&claims(other.issuer(), now()))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    http::assert_probes_answer(&server).await;
    assert!(!hanging.is_finished(), "the slow fetch is still in flight");

    let reply = tokio::time::timeout(Duration::from_secs(15), hanging)
        .await
        .expect("bounded by httpTimeout")
        .expect("task");
    let elapsed = started.elapsed();
    eprintln!("hanging JWKS over HTTP: {} after {elapsed:?}", reply.code());
    assert_eq!(
        (reply.status, reply.code()),
        (400, "IDPCommunicationError"),
        "{}",
        reply.body
    );
    slow.resume();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_unknown_kid_flood_costs_one_jwks_fetch() {
    let idp = TestIdp::start().await;
    let svc = service(vec![provider("corp", idp.issuer(), "2s")]);
    let server = std::sync::Arc::new(http::server(svc));
    let reply = http::assume(&server, &idp.sign(&claims(idp.issuer(), now()))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(idp.jwks_requests(), 1);

    let mut tasks = Vec::new();
    for _ in 0..100 {
        let server = server.clone();
        let token = idp.sign_with("RS256", Some(&random_kid()), &claims(idp.issuer(), now()));
        tasks.push(tokio::spawn(
            async move { http::assume(&server, &token).await },
        ));
    }
    for task in tasks {
        let reply = task.await.expect("task");
        assert_eq!(
            (reply.status, reply.code()),
            (400, "InvalidIdentityToken"),
            "{}",
            reply.body
        );
    }
    assert_eq!(idp.jwks_requests(), 2, "one refetch for 100 unknown kids");
    let reply = http::assume(&server, &idp.sign(&claims(idp.issuer(), now()))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

// ---------------------------------------------------------------------------------------------
// The `stsd serve` binary itself.

/// `stsd serve` on an ephemeral port, killed when dropped.
struct Binary(std::process::Child);

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on `providers` and returns it with its base URL, read from the JSON
/// "listening" log line.
fn serve_binary(dir: &std::path::Path, providers: Vec<Value>) -> (Binary, String) {
    use std::io::BufRead;
    let file = iam_json(json!({
        "sts": {"issuer": "test-sts"},
        "providers": providers,
        "roles": [{"roleName": "Reader", "attachedPolicies": [],
            "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "*"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
    }));
    let path = dir.join("iam.json");
    std::fs::write(&path, file.to_string()).expect("write config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stsd"))
        .env_remove("STSD_LISTEN")
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn stsd");
    let stderr = child.stderr.take().expect("stderr");
    let binary = Binary(child);
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        let Ok(line) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if line["fields"]["message"] == "listening" {
            addr = line["fields"]["addr"].as_str().map(str::to_owned);
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    (
        binary,
        format!("http://{}", addr.expect("a listening line")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_starts_ready_with_the_idp_down_and_prefetches_keys_of_those_up() {
    let down = TestIdp::start().await;
    let up = TestIdp::start().await;
    down.set_down(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_stsd, base) = serve_binary(
        dir.path(),
        vec![
            provider("corp", down.issuer(), "1s"),
            provider("other", up.issuer(), "1s"),
        ],
    );
    for path in ["/healthz", "/readyz"] {
        let status = reqwest::get(format!("{base}{path}"))
            .await
            .expect("probe")
            .status();
        assert_eq!(status, 200, "{path} with an IdP down");
    }

    // Keys are fetched at start, before any request needs them. Bounded wait: the assertion
    // is on the count, the loop only gives the background fetch time to happen.
    for _ in 0..200 {
        if up.jwks_requests() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(up.jwks_requests(), 1, "prefetched at start");
    assert_eq!(down.discovery_requests(), 1, "tried once at start");

    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("RoleArn", ROLE_ARN)
        .append_pair("RoleSessionName", "binary")
        .append_pair(
            "WebIdentityToken",
            &down.sign(&claims(down.issuer(), now())),
        )
        .finish();
    let response = reqwest::Client::new()
        .post(&base)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let text = response.text().await.expect("body");
    assert!(
        text.contains("<Code>IDPCommunicationError</Code>"),
        "{text}"
    );
    // Inside the back-off window the down IdP is not asked again.
    assert_eq!(down.discovery_requests(), 1);
    assert_eq!(up.jwks_requests(), 1);
}
