//! The official AWS SDK for Rust against a running stsd: what it sends is understood, and what stsd
//! answers is parsed into the SDK's own error types.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::operation::RequestId;
use common::sdk::{anonymous_client, exchange, exchange_with, signed_client};
use common::server::TestServer;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";
/// Long-term-looking credentials stsd never issued.
const EXAMPLE_KEY_ID: &str = "ASIAEXAMPLEEXAMPLE00";
const EXAMPLE_SECRET: &str = "secret/example+key";

#[tokio::test]
async fn sdk_parses_a_service_error() {
    let server = TestServer::start();
    let sdk = anonymous_client(&server.base_url).await;
    let err = exchange(&sdk, "arn:aws:iam::role/DevRole", "sdk-test", TOKEN)
        .await
        .unwrap_err();
    let service_err = err
        .as_service_error()
        .expect("a service error, not transport");
    // No configured provider issues this token.
    assert_eq!(service_err.code(), Some("InvalidIdentityToken"));
    assert!(service_err.message().is_some());
    let request_id = service_err.request_id().expect("request id parsed");
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
}

#[tokio::test]
async fn sdk_parses_a_validation_error() {
    let server = TestServer::start();
    let sdk = anonymous_client(&server.base_url).await;
    let err = exchange_with(&sdk, "arn:aws:iam::role/DevRole", "x", TOKEN, |r| {
        r.duration_seconds(3600)
    })
    .await
    .unwrap_err();
    let service_err = err.as_service_error().expect("a service error");
    assert_eq!(service_err.code(), Some("ValidationError"));
    assert!(service_err.message().unwrap().contains("'roleSessionName'"));
}

#[tokio::test]
async fn sdk_surfaces_unmodelled_codes() {
    // InvalidParameterValue is not in the STS model; the SDK must still expose its code.
    let server = TestServer::start();
    let sdk = anonymous_client(&server.base_url).await;
    let err = exchange(
        &sdk,
        "arn:aws:iam::123456789012:user/alice",
        "sdk-test",
        TOKEN,
    )
    .await
    .unwrap_err();
    let service_err = err.into_service_error();
    assert_eq!(service_err.code(), Some("InvalidParameterValue"));
}

#[tokio::test]
async fn get_caller_identity_without_a_session_token_is_refused() {
    let server = TestServer::start();
    let err = signed_client(&server.base_url, EXAMPLE_KEY_ID, EXAMPLE_SECRET, None)
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    let service_err = err.as_service_error().expect("a service error");
    assert_eq!(service_err.code(), Some("InvalidClientTokenId"));
    assert_eq!(
        service_err.message(),
        Some("The security token included in the request is invalid")
    );
}

#[tokio::test]
async fn get_caller_identity_with_an_unverifiable_session_token_is_refused() {
    let server = TestServer::start();
    let err = signed_client(
        &server.base_url,
        EXAMPLE_KEY_ID,
        EXAMPLE_SECRET,
        Some("not-a-session-token"),
    )
    .await
    .get_caller_identity()
    .send()
    .await
    .unwrap_err();
    let service_err = err.as_service_error().expect("a service error");
    assert_eq!(service_err.code(), Some("InvalidClientTokenId"));
}

/// Serves fixed bodies rendered by stsd's own XML module, so the SDK's deserializer checks every
/// element name of the success shapes even before a service answers with them.
mod rendered_bodies {
    use super::*;
    use actix_web::{web, App, HttpResponse, HttpServer};
    use stsd::api::sts::xml;
    use stsd::secret::SecretString;
    use stsd::service::{AssumeRoleOutput, AssumedRoleUser, IssuedCredentials};
    use time::macros::datetime;

    fn output() -> AssumeRoleOutput {
        AssumeRoleOutput {
            credentials: IssuedCredentials {
                access_key_id: "ASIAa80cb9b4919860c6".into(),
                secret_access_key: SecretString::new(
                    "w5uwawcgEtfBlW4iMNHZTmI2JvJC3ThkIouP26lSo9Y=".into(),
                ),
                session_token: "eyJhbGciOiJIUzI1NiJ9.e30.sig".into(),
                expiration: datetime!(2026-01-01 01:00:00 UTC),
            },
            subject: "system:serviceaccount:ns:app".into(),
            assumed_role_user: AssumedRoleUser {
                arn: "arn:aws:sts::assumed-role/DevRole/sdk".into(),
                assumed_role_id: "DevRole:sdk".into(),
            },
            provider: "https://kubernetes.default.svc.cluster.local".into(),
            provider_name: "idp".into(),
            audience: "sts.example".into(),
            packed_policy_size: Some(6),
            source_identity: Some("alice@example.com".into()),
        }
    }

    async fn body(form: web::Bytes) -> HttpResponse {
        let form = String::from_utf8_lossy(&form);
        let xml = if form.contains("Action=GetCallerIdentity") {
            xml::get_caller_identity(
                &stsd::service::caller::CallerIdentity {
                    arn: "arn:aws:sts::assumed-role/DevRole/sdk".into(),
                    user_id: "DevRole:sdk".into(),
                    account: "000000000000".into(),
                },
                "11111111-2222-3333-4444-555555555555",
            )
        } else {
            xml::assume_role_with_web_identity(&output(), "11111111-2222-3333-4444-555555555555")
        };
        HttpResponse::Ok()
            .content_type(xml::CONTENT_TYPE)
            .insert_header(("x-amzn-requestid", "11111111-2222-3333-4444-555555555555"))
            .body(xml)
    }

    fn start() -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(|| App::new().route("/", web::post().to(body)))
                    .workers(1)
                    .disable_signals()
                    .bind(("127.0.0.1", 0))
                    .unwrap();
                tx.send(server.addrs()[0]).unwrap();
                server.run().await
            })
        });
        format!("http://{}", rx.recv().unwrap())
    }

    #[tokio::test]
    async fn sdk_reads_every_assume_role_element() {
        let url = start();
        let sdk = anonymous_client(&url).await;
        let out = exchange(&sdk, "arn:aws:iam::role/DevRole", "sdk", TOKEN)
            .await
            .unwrap();
        let creds = out.credentials().unwrap();
        assert_eq!(creds.access_key_id(), "ASIAa80cb9b4919860c6");
        assert_eq!(
            creds.secret_access_key(),
            "w5uwawcgEtfBlW4iMNHZTmI2JvJC3ThkIouP26lSo9Y="
        );
        assert_eq!(creds.session_token(), "eyJhbGciOiJIUzI1NiJ9.e30.sig");
        assert_eq!(creds.expiration().secs(), 1_767_229_200);
        assert_eq!(
            out.subject_from_web_identity_token(),
            Some("system:serviceaccount:ns:app")
        );
        let user = out.assumed_role_user().unwrap();
        assert_eq!(user.arn(), "arn:aws:sts::assumed-role/DevRole/sdk");
        assert_eq!(user.assumed_role_id(), "DevRole:sdk");
        assert_eq!(
            out.provider(),
            Some("https://kubernetes.default.svc.cluster.local")
        );
        assert_eq!(out.audience(), Some("sts.example"));
        // Deprecated in the SDK model in favour of SessionTokenUtilization, but still parsed; the
        // design keeps AWS's long-standing element.
        #[allow(deprecated)]
        let packed = out.packed_policy_size();
        assert_eq!(packed, Some(6));
        assert_eq!(out.source_identity(), Some("alice@example.com"));
        assert_eq!(
            out.request_id(),
            Some("11111111-2222-3333-4444-555555555555")
        );
    }

    #[tokio::test]
    async fn sdk_reads_every_caller_identity_element() {
        let url = start();
        let out = signed_client(&url, EXAMPLE_KEY_ID, EXAMPLE_SECRET, Some("session"))
            .await
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(out.arn(), Some("arn:aws:sts::assumed-role/DevRole/sdk"));
        assert_eq!(out.user_id(), Some("DevRole:sdk"));
        assert_eq!(out.account(), Some("000000000000"));
    }
}
