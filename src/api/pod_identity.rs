//! `GET /v1/credentials`: the container-credentials endpoint the AWS SDKs call with
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
//! (https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use time::OffsetDateTime;

use crate::api::AppState;
use crate::api::{self, ApiError, RequestId, REQUEST_ID_HEADER};
use crate::service::pod_identity::PodIdentityOutput;
use crate::service::{PodIdentityRequest, ServiceError};
use crate::telemetry::metrics;
use crate::timestamp::rfc3339;

/// The `action` label of this endpoint's metrics and log lines.
pub const ACTION: &str = "PodIdentity";

/// The handler: header → one service call → JSON.
pub async fn credentials(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    api::record_action(&req, ACTION);
    match handle(&req, &state).await {
        Ok(response) => response,
        Err(err) => error_response(&req, &err),
    }
}

async fn handle(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, ApiError> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let mut request = PodIdentityRequest::from_authorization(authorization)?;
    request.source_ip = api::source_ip(req);
    let output = state
        .service()
        .pod_identity_credentials(request, OffsetDateTime::now_utc())
        .await?;
    state
        .metrics
        .credentials_issued(&output.assumed.provider_name);
    api::record_code(req, metrics::CODE_OK);
    Ok(HttpResponse::Ok()
        .insert_header((REQUEST_ID_HEADER, RequestId::of(req).header_value()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ContainerCredentials::new(&output)))
}

/// Any method but GET.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    api::record_action(&req, ACTION);
    error_response(&req, &ApiError::MethodNotAllowed)
}

/// The body the SDKs parse (field names as the ECS and EKS agents send them).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCredentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

impl<'a> ContainerCredentials<'a> {
    pub fn new(output: &'a PodIdentityOutput) -> Self {
        let c = &output.assumed.credentials;
        Self {
            access_key_id: &c.access_key_id,
            secret_access_key: c.secret_access_key.expose(),
            token: &c.session_token,
            expiration: rfc3339(c.expiration),
            account_id: output.account_id.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: String,
    #[serde(rename = "requestId")]
    request_id: &'a str,
}

/// Errors keep the AWS codes of AssumeRoleWithWebIdentity; the status follows HTTP's rules for
/// a bearer credential: a missing or unusable token is 401, a refusal 403.
pub fn status(err: &ApiError) -> StatusCode {
    match err {
        ApiError::Service(
            ServiceError::MissingAuthenticationToken { .. }
            | ServiceError::InvalidIdentityToken { .. }
            | ServiceError::ExpiredToken { .. },
        ) => StatusCode::UNAUTHORIZED,
        other => other.status(),
    }
}

fn error_response(req: &HttpRequest, err: &ApiError) -> HttpResponse {
    err.log();
    api::record_code(req, err.aws_code());
    let request_id = RequestId::of(req);
    HttpResponse::build(status(err))
        .insert_header((REQUEST_ID_HEADER, request_id.header_value()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ErrorBody {
            code: err.aws_code(),
            message: err.public_message(),
            request_id: request_id.as_str(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::secret::SecretString;
    use crate::service::{AssumeRoleOutput, AssumedRoleUser, IssuedCredentials};

    fn output(account_id: Option<&str>) -> PodIdentityOutput {
        PodIdentityOutput {
            assumed: AssumeRoleOutput {
                credentials: IssuedCredentials {
                    access_key_id: "ASIA1".into(),
                    secret_access_key: SecretString::new("sec".into()),
                    session_token: "tok".into(),
                    expiration: datetime!(2026-01-01 01:00:00 UTC),
                },
                subject: "system:serviceaccount:a:b".into(),
                assumed_role_user: AssumedRoleUser {
                    arn: "arn:aws:sts::assumed-role/R/p".into(),
                    assumed_role_id: "R:p".into(),
                },
                provider: "https://k8s".into(),
                provider_name: "k8s".into(),
                audience: "stsd".into(),
                packed_policy_size: None,
                source_identity: None,
            },
            account_id: account_id.map(str::to_owned),
        }
    }

    #[test]
    fn response_shape() {
        let o = output(Some("123456789012"));
        assert_eq!(
            serde_json::to_string(&ContainerCredentials::new(&o)).unwrap(),
            r#"{"AccessKeyId":"ASIA1","SecretAccessKey":"sec","Token":"tok","Expiration":"2026-01-01T01:00:00Z","AccountId":"123456789012"}"#
        );
        let o = output(None);
        assert_eq!(
            serde_json::to_string(&ContainerCredentials::new(&o)).unwrap(),
            r#"{"AccessKeyId":"ASIA1","SecretAccessKey":"sec","Token":"tok","Expiration":"2026-01-01T01:00:00Z"}"#
        );
    }

    #[test]
    fn token_failures_are_401_and_refusals_403() {
        let m = || "m".to_owned();
        let cases: [(ApiError, u16); 7] = [
            (
                ServiceError::MissingAuthenticationToken { message: m() }.into(),
                401,
            ),
            (
                ServiceError::InvalidIdentityToken { message: m() }.into(),
                401,
            ),
            (ServiceError::ExpiredToken { message: m() }.into(), 401),
            (ServiceError::AccessDenied { message: m() }.into(), 403),
            (ServiceError::IdpRejectedClaim { message: m() }.into(), 403),
            (ServiceError::Validation { message: m() }.into(), 400),
            (ApiError::MethodNotAllowed, 405),
        ];
        for (err, expected) in cases {
            assert_eq!(status(&err).as_u16(), expected, "{}", err.aws_code());
        }
    }
}
