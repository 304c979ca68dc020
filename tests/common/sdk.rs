//! The official AWS SDK for Rust pointed at a test server the way a user points it at stsd:
//! endpoint URL, a region, plain HTTP on loopback, no retries (each test sees the first answer).

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region};
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::assume_role_with_web_identity::builders::AssumeRoleWithWebIdentityFluentBuilder;
use aws_sdk_sts::operation::assume_role_with_web_identity::{
    AssumeRoleWithWebIdentityError, AssumeRoleWithWebIdentityOutput,
};
use aws_types::os_shim_internal::Env;

/// The loader every client starts from.
fn loader(endpoint: &str) -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(RetryConfig::disabled())
}

/// An unsigned client (AssumeRoleWithWebIdentity needs no credentials).
pub async fn anonymous_client(endpoint: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&loader(endpoint).no_credentials().load().await)
}

/// A client that signs with the given credentials (`session_token` for temporary ones).
pub async fn signed_client(
    endpoint: &str,
    access_key_id: &str,
    secret: &str,
    session_token: Option<&str>,
) -> aws_sdk_sts::Client {
    let credentials = aws_sdk_sts::config::Credentials::new(
        access_key_id,
        secret,
        session_token.map(str::to_owned),
        None,
        "stsd-test",
    );
    aws_sdk_sts::Client::new(
        &loader(endpoint)
            .credentials_provider(credentials)
            .load()
            .await,
    )
}

/// A client that signs with the temporary credentials an AssumeRoleWithWebIdentity returned.
pub async fn session_client(
    endpoint: &str,
    credentials: &aws_sdk_sts::types::Credentials,
) -> aws_sdk_sts::Client {
    signed_client(
        endpoint,
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token()),
    )
    .await
}

/// The SDK configuration a pod gets from its environment alone (`vars`: `AWS_ROLE_ARN`,
/// `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_CONTAINER_CREDENTIALS_FULL_URI`, …): the default
/// credentials chain, plain HTTP, no retries.
pub async fn environment_config(vars: &[(&str, &str)]) -> aws_types::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .env(Env::from_slice(vars))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// One AssumeRoleWithWebIdentity through the SDK with the three parameters most tests vary.
pub async fn exchange(
    sdk: &aws_sdk_sts::Client,
    role: &str,
    session: &str,
    token: impl Into<String>,
) -> Result<AssumeRoleWithWebIdentityOutput, SdkError<AssumeRoleWithWebIdentityError>> {
    exchange_with(sdk, role, session, token, |request| request).await
}

/// [`exchange`] with the further parameters `more` sets (`Policy`, `DurationSeconds`, …).
pub async fn exchange_with(
    sdk: &aws_sdk_sts::Client,
    role: &str,
    session: &str,
    token: impl Into<String>,
    more: impl FnOnce(AssumeRoleWithWebIdentityFluentBuilder) -> AssumeRoleWithWebIdentityFluentBuilder,
) -> Result<AssumeRoleWithWebIdentityOutput, SdkError<AssumeRoleWithWebIdentityError>> {
    more(
        sdk.assume_role_with_web_identity()
            .role_arn(role)
            .role_session_name(session)
            .web_identity_token(token),
    )
    .send()
    .await
}
