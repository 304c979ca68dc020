//! The `stsd` binary end to end: `version`, `serve --dev` with its banner, `healthcheck`, and a
//! clean exit on SIGTERM.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::iam::iam_json;

const STSD: &str = env!("CARGO_BIN_EXE_stsd");

#[test]
fn version_prints_version_and_revision() {
    let out = Command::new(STSD).arg("version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!(
            "stsd {} (git revision ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}

#[test]
fn serve_without_a_config_explains_itself() {
    let out = Command::new(STSD)
        .env_remove("STSD_CONFIG")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("--config"), "{text}");
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    // Port 9 (discard) on loopback: nothing of ours listens there.
    let out = Command::new(STSD)
        .args(["healthcheck", "--url", "http://127.0.0.1:9/healthz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Kills the server if an assertion fails before it is stopped properly.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dev_server_prints_its_banner_answers_health_and_stops_on_sigterm() {
    let mut server = Server(
        Command::new(STSD)
            .env_remove("STSD_CONFIG")
            .env_remove("STSD_LISTEN")
            .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let mut port = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if let Some(addr) = line.strip_prefix("Listening on ") {
            port = addr.rsplit(':').next().map(str::to_owned);
        }
        if line.contains("--web-identity-token valid_test_token") {
            break;
        }
    }
    // Keep reading until the server exits, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let port = port.expect("banner names the address");
    assert!(banner.contains("random"), "{banner}");
    assert!(banner.contains(&format!("curl -s http://127.0.0.1:{port}/")));

    let health = Command::new(STSD)
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/healthz"),
        ])
        .output()
        .unwrap();
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );

    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Starts `stsd serve --config PATH` on ephemeral ports and returns it with the base URLs of its
/// main and admin listeners, read from the JSON "listening" and "admin listening" log lines.
fn serve_file(path: &std::path::Path) -> (Server, String, String) {
    let mut server = Server(
        Command::new(STSD)
            .env_remove("STSD_LISTEN")
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .arg("--allow-mock-providers")
            .arg("--config")
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(server.0.stderr.take().unwrap()).lines();
    let mut addr = None;
    let mut admin = None;
    for line in lines.by_ref() {
        let line: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let bound = line["fields"]["addr"].as_str().map(str::to_owned);
        if line["fields"]["message"] == "listening" {
            addr = bound;
        } else if line["fields"]["message"] == "admin listening" {
            admin = bound;
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let addr = addr.expect("a listening line");
    let admin = admin.expect("an admin listening line");
    (server, format!("http://{addr}"), format!("http://{admin}"))
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

async fn wait_for_reload(base: &str, result: &str, expected: u64) {
    // Bounded: the assertion is on the count, the loop only gives the server time to act.
    for _ in 0..200 {
        if reload_count(base, result).await >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // At least: the file watcher may notice a change before the SIGHUP does.
    let count = reload_count(base, result).await;
    assert!(count >= expected, "{result}: {count} < {expected}");
}

/// A config with the mock provider and one role, `role`, that any mock token may assume.
fn mock_config(role: &str) -> String {
    iam_json(serde_json::json!({
        "providers": [{"name": "mock", "type": "mock",
                       "config": {"issuer": "https://mock.example", "clientId": "c"}}],
        "roles": [{"roleName": role, "attachedPolicies": [],
                   "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                       "Principal": {"Federated": "mock"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
    }))
    .to_string()
}

/// The AWS error code of an AssumeRoleWithWebIdentity for `role`, or "OK".
async fn assume_code(base: &str, role: &str) -> String {
    let body = reqwest::Client::new()
        .post(format!("{base}/"))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", &format!("arn:aws:iam::role/{role}")),
            ("RoleSessionName", "reload-test"),
            ("WebIdentityToken", "valid_test_token"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    match body.split_once("<Code>") {
        Some((_, rest)) => rest.split('<').next().unwrap_or_default().to_owned(),
        None => "OK".to_owned(),
    }
}

#[tokio::test]
async fn sighup_reloads_and_a_bad_file_keeps_the_running_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iam.json");
    std::fs::write(&path, mock_config("First")).unwrap();
    let (server, base, admin) = serve_file(&path);
    let pid = server.0.id().to_string();
    let hup = || {
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success())
    };
    assert_eq!(assume_code(&base, "First").await, "OK");

    std::fs::write(&path, mock_config("Second")).unwrap();
    hup();
    wait_for_reload(&admin, "success", 1).await;
    assert_eq!(assume_code(&base, "Second").await, "OK");
    assert_eq!(assume_code(&base, "First").await, "AccessDenied");

    std::fs::write(&path, "{ not json").unwrap();
    hup();
    wait_for_reload(&admin, "failure", 1).await;
    assert_eq!(
        assume_code(&base, "Second").await,
        "OK",
        "the running config keeps serving"
    );
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// A self-signed certificate for 127.0.0.1, as (certificate PEM, private key PEM).
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "stsd test").unwrap();
    let name = name.build();
    let mut cert = X509Builder::new().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(None, None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (
        cert.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();

    let mut server = Server(
        Command::new(STSD)
            .env_remove("STSD_CONFIG")
            .env_remove("STSD_LISTEN")
            .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(&cert_path)
            .arg("--tls-key")
            .arg(&key_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("curl -s ") {
            url = rest.split('/').take(3).collect::<Vec<_>>().join("/").into();
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let url = url.expect("banner with a curl command");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap();
    let health = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let refused = client
        .post(format!("{url}/"))
        .form(&[("Version", "2011-06-15")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("<Code>MissingAction</Code>"));

    // The binary's own healthcheck, against the self-signed listener.
    let check = Command::new(STSD)
        .args([
            "healthcheck",
            "--insecure",
            "--url",
            &format!("{url}/healthz"),
        ])
        .output()
        .unwrap();
    assert!(check.status.success());
}

#[test]
fn unusable_tls_files_stop_the_start_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(STSD)
        .env_remove("STSD_CONFIG")
        .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(dir.path().join("missing-cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("missing-key.pem"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("missing-cert.pem"), "{text}");
}
