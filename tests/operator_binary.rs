//! The operator surface of the real `stsd` binary: the admin listener split, and a full flow at
//! debug level whose output must never contain a token, a secret or the signing key.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::http::post_json;

const STSD: &str = env!("CARGO_BIN_EXE_stsd");
const SIGNING_KEY: &str = "bG9nLWxlYWstdGVzdC1zaWduaW5nLWtleS0zMi1ieXRlcyE=";
const ROLE: &str = "arn:aws:iam::role/LeakCheck";
const OPERATOR_PATHS: [&str; 4] = [
    "/metrics",
    "/sts/providers",
    "/sts/validate-token",
    "/sts/sessions/count",
];

/// A running `stsd serve`; killed when dropped. Its stdout and stderr are captured in full.
struct Server {
    child: Child,
    public: String,
    admin: Option<String>,
    stderr: Option<JoinHandle<String>>,
    stdout: Option<JoinHandle<String>>,
}

impl Server {
    /// Starts stsd with `args` (JSON logs, ephemeral ports) and waits for its listening lines.
    /// The admin listener goes to an ephemeral loopback port unless `args` or `env` place it.
    fn start(args: &[&str], env: &[(&str, &str)], expect_admin: bool) -> Self {
        let mut command = Command::new(STSD);
        command.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"]);
        let placed = args.contains(&"--admin-listen")
            || env.iter().any(|(name, _)| *name == "STSD_ADMIN_LISTEN");
        if !placed {
            command.args(["--admin-listen", "127.0.0.1:0"]);
        }
        command
            .env_remove("STSD_LISTEN")
            .env_remove("STSD_ADMIN_LISTEN")
            .env_remove("STSD_CONFIG")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let (tx, rx) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    let message = value["fields"]["message"].as_str().unwrap_or_default();
                    if matches!(message, "listening" | "admin listening") {
                        let addr = value["fields"]["addr"].as_str().unwrap_or_default();
                        let _ = tx.send((message.to_owned(), format!("http://{addr}")));
                    }
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let mut public = None;
        let mut admin = None;
        while public.is_none() || (expect_admin && admin.is_none()) {
            let Ok((message, url)) = rx.recv_timeout(std::time::Duration::from_secs(30)) else {
                // Not left running after the test fails.
                let _ = child.kill();
                let _ = child.wait();
                panic!("stsd did not report its listeners");
            };
            if message == "listening" {
                public = Some(url);
            } else {
                admin = Some(url);
            }
        }
        Self {
            child,
            public: public.unwrap(),
            admin,
            stderr: Some(stderr),
            stdout: Some(stdout),
        }
    }

    /// Stops the server and returns everything it wrote: (stdout, stderr).
    fn stop(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (stdout, stderr)
    }
}

impl Server {
    /// Sends SIGTERM and waits for the process to exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn status(url: String) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn admin_listener_takes_the_operator_endpoints() {
    let server = Server::start(&["--dev"], &[("STSD_ADMIN_LISTEN", "127.0.0.1:0")], true);
    let admin = server.admin.clone().unwrap();
    let public = server.public.clone();
    assert_ne!(admin, public);
    let client = reqwest::Client::new();
    for path in ["/metrics", "/sts/providers", "/sts/sessions/count"] {
        assert_eq!(
            status(format!("{public}{path}")).await,
            404,
            "public {path}"
        );
        assert_eq!(status(format!("{admin}{path}")).await, 200, "admin {path}");
    }
    // Session-token verdicts answer on both listeners (gateways call the public one) ...
    for base in [&public, &admin] {
        let verdict: Value = post_json(
            format!("{base}/sts/validate-token"),
            &json!({"sessionToken": "x"}),
        )
        .await
        .1;
        assert_eq!(verdict, json!({"valid": false, "reason": "malformed"}));
    }
    // ... the dry run only on the admin listener.
    let dry_run = || {
        client
            .post(format!("{public}/sts/validate-token"))
            .json(&json!({"webIdentityToken": "valid_test_token",
                          "roleArn": "arn:aws:iam::role/DevRole"}))
            .send()
    };
    let res = dry_run().await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Error"]["Code"], "AccessDenied", "{body}");
    assert_eq!(OPERATOR_PATHS.len(), 4);
    for base in [&public, &admin] {
        assert_eq!(status(format!("{base}/healthz")).await, 200, "{base}");
        assert_eq!(status(format!("{base}/readyz")).await, 200, "{base}");
    }
    // The STS API stays on the public listener only.
    assert_eq!(
        status(format!(
            "{public}/?Action=GetCallerIdentity&Version=2011-06-15"
        ))
        .await,
        403
    );
    assert_eq!(
        status(format!(
            "{admin}/?Action=GetCallerIdentity&Version=2011-06-15"
        ))
        .await,
        404
    );
    // Requests on the public listener are still counted by the admin listener's /metrics.
    let metrics = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"stsd_requests_total{action="GetCallerIdentity","#),
        "{metrics}"
    );
    // One SIGTERM stops both listeners.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn with_the_admin_listener_off_no_listener_serves_the_operator_endpoints() {
    let server = Server::start(&["--dev", "--admin-listen", "off"], &[], false);
    for path in ["/metrics", "/sts/providers", "/sts/sessions/count"] {
        assert_eq!(
            status(format!("{}{path}", server.public)).await,
            404,
            "{path}"
        );
    }
    let (_, stderr) = server.stop();
    assert!(!stderr.contains("admin listening"), "{stderr}");
}

fn leak_config() -> String {
    json!({
        "sts": {"signingKey": SIGNING_KEY, "issuer": "leak-check-sts"},
        "providers": [{"name": "mock", "type": "mock",
                       "config": {"issuer": "https://mock.example", "clientId": "c"}}],
        "roles": [{"roleName": "LeakCheck", "roleArn": ROLE, "attachedPolicies": [],
                   "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                       "Principal": {"Federated": "mock"},
                       "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
    })
    .to_string()
}

fn xml_field<'a>(xml: &'a str, tag: &str) -> &'a str {
    let start = xml.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    &xml[start..end]
}

/// GetCallerIdentity signed with `secret` the way an SDK signs it.
async fn caller_identity(base: &str, access_key: &str, secret: &str, token: &str) -> (u16, String) {
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let host = base.trim_start_matches("http://").to_owned();
    let amz_date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let request = stsd::sigv4::SignedRequest {
        method: "POST".into(),
        path: "/".into(),
        query: Vec::new(),
        headers: vec![
            ("host".into(), host),
            ("x-amz-date".into(), amz_date.clone()),
            ("x-amz-security-token".into(), token.into()),
        ],
        payload_sha256: hex::encode(Sha256::digest(body.as_bytes())),
    };
    let authorization = stsd::sigv4::authorization_header(
        &request,
        access_key,
        secret,
        "us-east-1",
        "sts",
        &["host", "x-amz-date", "x-amz-security-token"],
    )
    .unwrap();
    let res = reqwest::Client::new()
        .post(format!("{base}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-amz-date", amz_date)
        .header("x-amz-security-token", token)
        .header("authorization", authorization)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

#[tokio::test]
async fn a_full_flow_at_debug_level_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iam.json");
    std::fs::write(&path, leak_config()).unwrap();
    let server = Server::start(
        &["--allow-mock-providers", "--config", path.to_str().unwrap()],
        &[("RUST_LOG", "debug")],
        true,
    );
    let base = server.public.clone();
    let admin = server.admin.clone().unwrap();
    let client = reqwest::Client::new();

    // Assume the role through the query API and through the JSON twin.
    let xml = client
        .post(format!("{base}/"))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "leak-check"),
            ("WebIdentityToken", "valid_test_token"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let access_key = xml_field(&xml, "AccessKeyId").to_owned();
    let secret = xml_field(&xml, "SecretAccessKey").to_owned();
    let token = xml_field(&xml, "SessionToken").to_owned();
    let twin: Value = post_json(
        format!("{base}/sts/assume-role-with-web-identity"),
        &json!({"RoleArn": ROLE, "WebIdentityToken": "valid_test_token",
                      "RoleSessionName": "leak-check-json"}),
    )
    .await
    .1;
    let twin_secret = twin["Credentials"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let twin_token = twin["Credentials"]["SessionToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // The operator endpoints, with both kinds of token.
    let verdict: Value = post_json(
        format!("{base}/sts/validate-token"),
        &json!({"sessionToken": token}),
    )
    .await
    .1;
    assert_eq!(verdict["valid"], true, "{verdict}");
    let dry_run: Value = post_json(
        format!("{admin}/sts/validate-token"),
        &json!({"webIdentityToken": "valid_test_token", "roleArn": ROLE}),
    )
    .await
    .1;
    assert_eq!(dry_run["valid"], true, "{dry_run}");

    // Signed with the issued credentials.
    let (code, body) = caller_identity(&base, &access_key, &secret, &token).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("<Arn>arn:aws:sts::assumed-role/LeakCheck/leak-check</Arn>"),
        "{body}"
    );

    // Errors, each carrying a credential somewhere in the request.
    let (code, _) = caller_identity(&base, &access_key, "wrong-secret", &token).await;
    assert_eq!(code, 403);
    let tampered = format!("{}x", &token[..token.len() - 1]);
    let (code, _) = caller_identity(&base, &access_key, &secret, &tampered).await;
    assert_eq!(code, 403);
    for body in [
        format!(r#"{{"sessionToken": "{token}""#),
        format!(r#"{{"sessionToken": "{token}", "webIdentityToken": "{token}"}}"#),
        format!(r#"{{"{token}": 1}}"#),
    ] {
        let res = client
            .post(format!("{base}/sts/validate-token"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
    }
    let res = client
        .post(format!("{base}/"))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "leak-check"),
            ("WebIdentityToken", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let res = client
        .get(format!("{base}/?Action={token}&Version=2011-06-15"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);

    let (stdout, stderr) = server.stop();
    assert!(
        stderr.contains("request completed"),
        "logging was on: {stderr}"
    );
    assert!(
        stderr.contains(r#""level":"DEBUG""#),
        "at debug level: {stderr}"
    );
    let output = format!("{stdout}\n{stderr}");

    let payload = token.split('.').nth(1).unwrap();
    let claims_json = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let claims: Value = serde_json::from_str(&claims_json).unwrap();
    let sid = claims["sid"].as_str().unwrap();
    let key_hex = hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(SIGNING_KEY)
            .unwrap(),
    );
    for (what, secret_text) in [
        ("session token", token.as_str()),
        ("session token payload", payload),
        ("JSON twin session token", twin_token.as_str()),
        ("secret access key", secret.as_str()),
        ("JSON twin secret access key", twin_secret.as_str()),
        ("signing key", SIGNING_KEY),
        ("signing key (hex)", key_hex.as_str()),
        ("session claim set", claims_json.as_str()),
        ("session id", sid),
        ("web identity token", "valid_test_token"),
    ] {
        assert!(
            !output.contains(secret_text),
            "the {what} appears in the output"
        );
    }
}
