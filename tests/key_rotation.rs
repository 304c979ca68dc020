//! Signing-key rotation seen from a client: credentials issued before the rotation keep working
//! while the old key is listed in `sts.previousSigningKeys`, in every derivation mode. A keyed
//! secret must come from the key that verified the session token, not from the current key.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_sts::error::ProvideErrorMetadata;
use common::http::post_json;
use common::iam::TEST_SIGNING_KEY;
use common::sdk::{anonymous_client, exchange, session_client};
use common::server::TestServer;
use serde_json::{json, Value};
use stsd::app::HttpSettings;
use stsd::config::model::IamConfig;
use stsd::service::StsService;
use stsd::session::{SecretDerivation, SigningKey};

/// The key the configuration rotates to.
const NEXT_KEY: &str = "bmV4dC1zaWduaW5nLWtleS1mb3ItdGhlLXJvdGF0aW9uLXRlc3Q=";

fn config(current: &str, previous: &[&str], mode: SecretDerivation) -> IamConfig {
    let mut config = stsd::config::dev_config(current).config;
    config.sts.previous_signing_keys = previous
        .iter()
        .map(|k| SigningKey::from_base64(k).unwrap())
        .collect();
    config.sts.secret_derivation = mode;
    config
}

async fn sdk(
    server: &TestServer,
    credentials: Option<aws_sdk_sts::types::Credentials>,
) -> aws_sdk_sts::Client {
    match credentials {
        Some(c) => session_client(&server.base_url, &c).await,
        None => anonymous_client(&server.base_url).await,
    }
}

async fn validate(server: &TestServer, token: &str) -> Value {
    post_json(
        server.url("/sts/validate-token"),
        &json!({ "sessionToken": token }),
    )
    .await
    .1
}

#[tokio::test]
async fn sessions_minted_before_a_rotation_keep_their_credentials() {
    for mode in [
        SecretDerivation::SeaweedFs,
        SecretDerivation::SeaweedFsLegacy,
    ] {
        let service = StsService::new(config(TEST_SIGNING_KEY, &[], mode)).unwrap();
        let server = TestServer::start_with(service.clone(), HttpSettings::default());
        let issued = exchange(
            &sdk(&server, None).await,
            "arn:aws:iam::role/DevRole",
            "before-rotation",
            "valid_test_token",
        )
        .await
        .unwrap()
        .credentials
        .unwrap();

        service
            .reload(config(NEXT_KEY, &[TEST_SIGNING_KEY], mode))
            .unwrap();
        let caller = sdk(&server, Some(issued.clone()))
            .await
            .get_caller_identity()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {:?}", e.code()));
        assert!(
            caller.arn().unwrap().ends_with("/before-rotation"),
            "{mode:?}"
        );
        let verdict = validate(&server, issued.session_token()).await;
        assert_eq!(verdict["valid"], true, "{mode:?}");
        assert_eq!(verdict["accessKeyId"], issued.access_key_id(), "{mode:?}");

        // Once the old key is dropped, the session is refused as a client would expect.
        service.reload(config(NEXT_KEY, &[], mode)).unwrap();
        let err = sdk(&server, Some(issued.clone()))
            .await
            .get_caller_identity()
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err.as_service_error().and_then(|e| e.code()),
            Some("InvalidClientTokenId"),
            "{mode:?}"
        );
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    }
}
