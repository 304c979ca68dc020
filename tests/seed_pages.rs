//! The examples of SeaweedFS's distributed-STS page and of WEKA's S3 OIDC guide, as their users
//! paste them (only hosts and keys adapted): their iam.json files through `stsd check-config`,
//! their flags on the command line, and their curl / aws calls over HTTP (reqwest stands in for
//! curl, the AWS SDK for the AWS CLI: the requests on the wire are the same).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use aws_sdk_sts::error::ProvideErrorMetadata;
use serde_json::{json, Value};

use common::clock::now;
use common::http::{get_json, post_json};
use common::iam::{iam_json, TEST_SIGNING_KEY};
use common::idp::TestIdp;
use common::sdk::{anonymous_client, exchange, session_client};
use common::server::TestServer;

const STSD: &str = env!("CARGO_BIN_EXE_stsd");

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn check_config(path: &std::path::Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let out: Output = Command::new(STSD)
        .arg("check-config")
        .arg(path)
        .env_remove("STSD_SIGNING_KEY")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// SeaweedFS: "STS distributed deployment"
// ---------------------------------------------------------------------------------------------

/// The page's first example, with its placeholder signing key.
const SEAWEEDFS_MULTI_PROVIDER: &str = r#"{
"sts": {
"tokenDuration": "1h",
"maxSessionLength": "12h",
"issuer": "seaweedfs-sts",
"signingKey": "base64-encoded-signing-key",
"providers": [
{
"name": "keycloak-oidc",
"type": "oidc",
"enabled": true,
"config": {
"issuer": "https://keycloak.company.com/realms/seaweedfs",
"clientId": "seaweedfs-s3",
"clientSecret": "super-secret-key",
"jwksUri": "https://keycloak.company.com/realms/seaweedfs/protocol/openid-connect/certs",
"scopes": ["openid", "profile", "email", "roles"],
"claimsMapping": {
"usernameClaim": "preferred_username",
"groupsClaim": "roles"
}
}
},
{
"name": "backup-oidc",
"type": "oidc",
"enabled": false,
"config": {
"issuer": "https://backup-oidc.company.com",
"clientId": "seaweedfs-backup"
}
},
{
"name": "dev-mock-provider",
"type": "mock",
"enabled": true,
"config": {
"issuer": "http://localhost:9999",
"clientId": "mock-client"
}
}
]
}
}"#;

/// The page's development configuration, as printed.
const SEAWEEDFS_DEV: &str = r#"{
"sts": {
"tokenDuration": "1h",
"maxSessionLength": "12h",
"issuer": "seaweedfs-dev-sts",
"signingKey": "ZGV2LXNpZ25pbmcta2V5LTMyLWNoYXJhY3RlcnMtbG9uZw==",
"providers": [
{
"name": "dev-mock",
"type": "mock",
"enabled": true,
"config": {
"issuer": "http://localhost:9999",
"clientId": "dev-mock-client"
}
}
]
}
}"#;

/// The page's production configuration, as printed.
const SEAWEEDFS_PROD: &str = r#"{
"sts": {
"tokenDuration": "1h",
"maxSessionLength": "12h",
"issuer": "seaweedfs-prod-sts",
"signingKey": "cHJvZC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmctcmFuZG9t",
"providers": [
{
"name": "corporate-sso",
"type": "oidc",
"enabled": true,
"config": {
"issuer": "https://sso.company.com/realms/production",
"clientId": "seaweedfs-prod",
"clientSecret": "${SSO_CLIENT_SECRET}",
"scopes": ["openid", "profile", "email", "groups"],
"claimsMapping": {
"usernameClaim": "preferred_username",
"groupsClaim": "groups"
}
}
},
{
"name": "backup-auth",
"type": "oidc",
"enabled": false,
"config": {
"issuer": "https://backup-sso.company.com",
"clientId": "seaweedfs-backup"
}
}
]
}
}"#;

#[test]
fn seaweedfs_page_files_pass_check_config_once_given_a_real_key() {
    let dir = tempfile::tempdir().unwrap();

    // As printed, the first example's key is a placeholder: refused, naming the key.
    let placeholder = write_file(&dir, "sts_config.json", SEAWEEDFS_MULTI_PROVIDER);
    let (ok, _, err) = check_config(&placeholder, &[]);
    assert!(!ok);
    assert!(err.contains("sts.signingKey:"), "{err}");
    assert!(
        !err.contains("super-secret-key"),
        "a secret was printed: {err}"
    );

    let with_key = SEAWEEDFS_MULTI_PROVIDER.replace("base64-encoded-signing-key", TEST_SIGNING_KEY);
    let path = write_file(&dir, "sts_distributed.json", &with_key);
    let (ok, out, err) = check_config(&path, &[]);
    assert!(ok, "{err}");
    assert!(out.contains("providers (3):"), "{out}");
    assert!(out.contains("clientSecret ***"), "{out}");
    assert!(!out.contains("super-secret-key"), "{out}");
    assert!(out.contains("dev-mock-provider: type mock"), "{out}");

    let dev = write_file(&dir, "dev.json", SEAWEEDFS_DEV);
    let (ok, out, err) = check_config(&dev, &[]);
    assert!(ok, "{err}");
    assert!(out.contains("issuer \"seaweedfs-dev-sts\""), "{out}");

    // `${SSO_CLIENT_SECRET}` comes from the environment; unset, the error names it.
    let prod = write_file(&dir, "prod.json", SEAWEEDFS_PROD);
    let (ok, _, err) = check_config(&prod, &[]);
    assert!(!ok);
    assert!(
        err.contains(
            "providers[0].config.clientSecret: environment variable SSO_CLIENT_SECRET is not set"
        ),
        "{err}"
    );
    let (ok, out, err) = check_config(&prod, &[("SSO_CLIENT_SECRET", "from-a-secret")]);
    assert!(ok, "{err}");
    assert!(!out.contains("from-a-secret"), "{out}");
}

#[test]
fn weed_s3_flags_name_the_stsd_flag_instead() {
    // `weed s3 -iam.config=/path/to/config.json -test.config`, with stsd in place of weed s3.
    for (args, expected) in [
        (
            vec!["serve", "-iam.config=/path/to/config.json", "-test.config"],
            "stsd uses --config /path/to/config.json",
        ),
        (vec!["-iam.config", "iam.json"], "stsd uses --config PATH"),
        (
            vec!["serve", "-s3.iam.config=iam.json"],
            "stsd uses --config iam.json",
        ),
        (
            vec!["serve", "--config", "iam.json", "-test.config"],
            "stsd check-config PATH",
        ),
        (
            vec!["serve", "--config", "iam.json", "-port=8333"],
            "--listen 0.0.0.0:8333",
        ),
    ] {
        let out = Command::new(STSD).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("SeaweedFS"), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn check_config_into_a_closed_pipe_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "dev.json", SEAWEEDFS_DEV);
    // `stsd check-config dev.json | head -1` where the reader is gone before stsd writes.
    let mut child = Command::new(STSD)
        .arg("check-config")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}

/// The dev file of the page plus the role its request names (`arn:seaweed:iam::role/S3AdminRole`;
/// the page shows no `roles` section), served in-process.
fn seaweedfs_dev_server() -> TestServer {
    let mut iam: Value = serde_json::from_str(SEAWEEDFS_DEV).unwrap();
    iam["policies"] = json!([{"name": "S3Admin", "document": {"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}]);
    iam["roles"] = json!([{
        "roleName": "S3AdminRole",
        "roleArn": "arn:seaweed:iam::role/S3AdminRole",
        "attachedPolicies": ["S3Admin"],
        "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "dev-mock"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
    }]);
    TestServer::start_with_config(&iam)
}

#[tokio::test]
async fn seaweedfs_page_flow_with_a_seaweed_partition_role() {
    let server = seaweedfs_dev_server();
    // Step 3 of the page's flow: POST /sts/assume-role-with-web-identity.
    let (status, body) = post_json(
        server.url("/sts/assume-role-with-web-identity"),
        &json!({
            "RoleArn": "arn:seaweed:iam::role/S3AdminRole",
            "WebIdentityToken": "valid_test_token",
            "RoleSessionName": "user-session"
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let creds = &body["Credentials"];
    for field in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            creds[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }
    assert_eq!(
        body["AssumedRoleUser"]["Arn"],
        "arn:seaweed:sts::assumed-role/S3AdminRole/user-session"
    );
    let session_token = creds["SessionToken"].as_str().unwrap().to_owned();

    // The query API takes the same ARN and answers in the same partition.
    let res = reqwest::Client::new()
        .post(server.url("/"))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:seaweed:iam::role/S3AdminRole"),
            ("RoleSessionName", "user-session"),
            ("WebIdentityToken", "valid_test_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let xml = res.text().await.unwrap();
    assert!(
        xml.contains("<Arn>arn:seaweed:sts::assumed-role/S3AdminRole/user-session</Arn>"),
        "{xml}"
    );

    // Troubleshooting commands of the page.
    let (status, verdict) = post_json(
        server.url("/sts/validate-token"),
        &json!({"sessionToken": session_token}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["role"], "arn:seaweed:iam::role/S3AdminRole");
    let providers = get_json(server.admin_url("/sts/providers")).await.1;
    assert_eq!(providers["providers"].as_array().unwrap().len(), 1);
    let count = get_json(server.admin_url("/sts/sessions/count")).await.1;
    assert_eq!(count["active"], 2);

    // The dry run agrees.
    let (_, run) = post_json(
        server.admin_url("/sts/validate-token"),
        &json!({"webIdentityToken": "valid_test_token",
                "roleArn": "arn:seaweed:iam::role/S3AdminRole"}),
    )
    .await;
    assert_eq!(run["valid"], true, "{run}");

    // Another partition is still not a role ARN.
    let (status, body) = post_json(
        server.url("/sts/assume-role-with-web-identity"),
        &json!({
            "RoleArn": "arn:aws-cn:iam::role/S3AdminRole",
            "WebIdentityToken": "valid_test_token",
            "RoleSessionName": "user-session"
        }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["Error"]["Code"], "InvalidParameterValue");
}

// ---------------------------------------------------------------------------------------------
// WEKA: "Configure S3 OIDC authentication"
// ---------------------------------------------------------------------------------------------

const WEKA_CLIENT: &str = "weka-s3";

/// WEKA configures the IdP by its discovery URL and reads role values from `roles`; each value
/// grants the policy of that name.
fn weka_iam(issuer: &str) -> Value {
    let policy = |actions: Value| {
        json!({"Version": "2012-10-17",
               "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    };
    iam_json(json!({
        "providers": [{"name": "entra", "type": "oidc",
            "config": {"issuer": issuer, "clientId": WEKA_CLIENT, "policyClaim": true}}],
        "policies": [
            {"name": "s3admin", "document": policy(json!("s3:*"))},
            {"name": "s3readonly", "document": policy(json!(["s3:GetObject", "s3:ListBucket"]))}
        ]
    }))
}

#[test]
fn a_discovery_url_as_issuer_is_refused_with_the_issuer_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let config_url =
        "https://login.microsoftonline.com/0000-tenant/v2.0/.well-known/openid-configuration";
    let path = write_file(&dir, "iam.json", &weka_iam(config_url).to_string());
    let (ok, _, err) = check_config(&path, &[]);
    assert!(!ok);
    assert!(
        err.contains(
            "providers[0].config.issuer: this is the discovery URL, not the issuer: write \
             \"issuer\": \"https://login.microsoftonline.com/0000-tenant/v2.0\""
        ),
        "{err}"
    );

    // Written as told, the file is valid and shows the claim, as WEKA shows "Claim Name: roles".
    let fixed = weka_iam("https://login.microsoftonline.com/0000-tenant/v2.0");
    let path = write_file(&dir, "fixed.json", &fixed.to_string());
    let (ok, out, err) = check_config(&path, &[]);
    assert!(ok, "{err}");
    assert!(out.contains("policyClaim roles"), "{out}");
}

#[tokio::test]
async fn weka_guide_exchange_grants_the_policy_named_by_the_role_value() {
    let idp = TestIdp::start().await;
    let server = TestServer::start_with_config(&weka_iam(idp.issuer()));
    let now = now();
    // A client-credentials token of a service principal: roles ["s3admin", "Reporting.Read"];
    // the second names no policy.
    let token = idp.sign(&json!({
        "iss": idp.issuer(), "aud": WEKA_CLIENT, "sub": "svc-pipeline",
        "iat": now, "nbf": now, "exp": now + 600,
        "roles": ["s3admin", "Reporting.Read"]
    }));
    // The token file of the guide, with the trailing newline an editor leaves.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.jwt");
    writeln!(std::fs::File::create(&token_file).unwrap(), "{token}").unwrap();
    let token_text = std::fs::read_to_string(&token_file).unwrap();

    // aws sts assume-role-with-web-identity --role-arn arn:aws:iam::role/s3admin
    //   --role-session-name weka-session --web-identity-token file://token.jwt
    let sdk = anonymous_client(&server.base_url).await;
    let assume = |role: &'static str| exchange(&sdk, role, "weka-session", token_text.clone());
    let out = assume("arn:aws:iam::role/s3admin").await.unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::assumed-role/s3admin/weka-session"
    );
    let creds = out.credentials().unwrap().clone();
    let (status, verdict) = post_json(
        server.url("/sts/validate-token"),
        &json!({"sessionToken": creds.session_token()}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["policies"], json!(["s3admin"]), "{verdict}");

    // GetCallerIdentity with those credentials: no sts.accountId, so no account anywhere.
    let who = session_client(&server.base_url, &creds)
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::assumed-role/s3admin/weka-session")
    );
    assert_eq!(who.account().unwrap_or_default(), "");

    // A policy the token's roles do not carry, and a role value naming no policy.
    for role in [
        "arn:aws:iam::role/s3readonly",
        "arn:aws:iam::role/Reporting.Read",
    ] {
        let err = assume(role).await.unwrap_err();
        let status = err.raw_response().map(|r| r.status().as_u16());
        assert_eq!(err.code(), Some("AccessDenied"), "{role}");
        assert_eq!(status, Some(403), "{role}");
    }

    // The claim-based ARN grants every matching value; the others are reported by the dry run.
    let out = assume("arn:aws:iam:::role/sts-claim-based").await.unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::assumed-role/sts-claim-based/weka-session"
    );
    let (_, run) = post_json(
        server.admin_url("/sts/validate-token"),
        &json!({"webIdentityToken": token, "roleArn": "arn:aws:iam:::role/sts-claim-based"}),
    )
    .await;
    assert_eq!(run["valid"], true, "{run}");
    assert!(
        run["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("Reporting.Read")),
        "{run}"
    );
    let (_, run) = post_json(
        server.admin_url("/sts/validate-token"),
        &json!({"webIdentityToken": token, "roleArn": "arn:aws:iam::role/s3readonly"}),
    )
    .await;
    assert_eq!(
        (run["valid"].clone(), run["code"].clone()),
        (json!(false), json!("AccessDenied"))
    );

    // /sts/providers shows the claim name.
    let providers = get_json(server.admin_url("/sts/providers")).await.1;
    assert_eq!(
        providers["providers"][0]["policyClaim"], "roles",
        "{providers}"
    );
}

#[test]
fn unknown_keys_are_warned_about_at_start_and_seaweedfs_keys_listed_as_such() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut iam: Value = serde_json::from_str(SEAWEEDFS_DEV).unwrap();
    iam["sts"]["tokenDuraton"] = json!("2h");
    iam["roleStore"] = json!({"storeType": "memory"});
    let path = write_file(&dir, "iam.json", &iam.to_string());

    let (ok, out, _) = check_config(&path, &[]);
    assert!(ok);
    assert!(
        out.contains("sts.tokenDuraton: unknown key; ignored (did you mean \"tokenDuration\"?)"),
        "{out}"
    );
    assert!(
        out.contains("SeaweedFS settings stsd does not use (1): roleStore"),
        "{out}"
    );

    let mut child = Command::new(STSD)
        .args([
            "serve",
            "--allow-mock-providers",
            "--listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&path)
        .env_remove("STSD_SIGNING_KEY")
        .env_remove("STSD_ADMIN_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Lines are read on a thread so that a server that never logs the warning fails the test
    // after a while instead of hanging it.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    while let Ok(line) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        let found = line.contains("sts.tokenDuraton: unknown key");
        seen.push(line);
        if found {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter()
            .any(|l| l.contains("sts.tokenDuraton: unknown key")),
        "{seen:?}"
    );
}
