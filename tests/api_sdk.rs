//! The official AWS SDK for Rust against a running stsd: what it sends is understood, and what stsd
//! answers is parsed into the SDK's own error types.
#![allow(clippy::unwrap_used)]

mod common;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::operation::RequestId;
use common::server::TestServer;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";

/// A client configured the way a user points an SDK at stsd: endpoint URL, a region, no
/// credentials (AssumeRoleWithWebIdentity is unsigned), plain HTTP on loopback.
async fn client(server: &TestServer) -> aws_sdk_sts::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&server.base_url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(RetryConfig::disabled())
        .no_credentials()
        .load()
        .await;
    aws_sdk_sts::Client::new(&config)
}

#[tokio::test]
async fn sdk_parses_a_service_error() {
    let server = TestServer::start();
    let sdk = client(&server).await;
    let err = sdk
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::role/DevRole")
        .role_session_name("sdk-test")
        .web_identity_token(TOKEN)
        .send()
        .await
        .unwrap_err();
    let service_err = err
        .as_service_error()
        .expect("a service error, not transport");
    // The service is not connected in this build, so the request ends in InternalFailure.
    assert_eq!(service_err.code(), Some("InternalFailure"));
    assert!(service_err.message().is_some());
    let request_id = service_err.request_id().expect("request id parsed");
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
}

#[tokio::test]
async fn sdk_parses_a_validation_error() {
    let server = TestServer::start();
    let sdk = client(&server).await;
    let err = sdk
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::role/DevRole")
        .role_session_name("x")
        .web_identity_token(TOKEN)
        .duration_seconds(3600)
        .send()
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
    let sdk = client(&server).await;
    let err = sdk
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::123456789012:user/alice")
        .role_session_name("sdk-test")
        .web_identity_token(TOKEN)
        .send()
        .await
        .unwrap_err();
    let service_err = err.into_service_error();
    assert_eq!(service_err.code(), Some("InvalidParameterValue"));
}
