//! Handlers of the STS endpoints: parse → validate → one service call → render.

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use time::OffsetDateTime;

use super::action::Action;
use super::error::ApiError;
use super::form::Params;
use super::{json, xml};
use crate::api::{self, Format, RequestId};
use crate::app::AppState;
use crate::service::AssumeRoleRequest;

/// `GET /` and `POST /`: the AWS query API.
pub async fn query(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match handle_query(&req, payload, &state).await {
        Ok(response) => response,
        Err(err) => api::error_response(&req, &err, Format::Xml),
    }
}

async fn handle_query(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let body = if req.method() == Method::POST && is_form(req) {
        api::read_body(
            req,
            payload,
            state.settings.body_limit,
            state.settings.body_timeout,
        )
        .await?
    } else {
        web::Bytes::new()
    };
    let params = Params::parse(req.query_string().as_bytes(), &body).map_err(ApiError::Form)?;
    let action = Action::parse(params)?;
    api::record_action(req, action.name());
    match action {
        Action::AssumeRoleWithWebIdentity(raw) => {
            let request = AssumeRoleRequest::validate(raw)?;
            let output = state
                .service()
                .assume_role_with_web_identity(request, OffsetDateTime::now_utc())
                .await?;
            let body = xml::assume_role_with_web_identity(&output, RequestId::of(req).as_str())
                .map_err(serialization_failure)?;
            Ok(api::xml_response(req, body))
        }
        Action::GetCallerIdentity { security_token } => {
            get_caller_identity(req, security_token.as_deref())
        }
    }
}

/// GetCallerIdentity answers only for credentials stsd issued, which always come with a session
/// token (header for a signed request, query parameter for a presigned one). Verifying the SigV4
/// signature with the secret derived from that token is the job of `crate::sigv4`; until it is
/// connected here every token is reported as unrecognised, which is what AWS says for a token
/// it cannot verify.
fn get_caller_identity(
    req: &HttpRequest,
    query_token: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let header_token = req
        .headers()
        .get("x-amz-security-token")
        .map(|v| !v.is_empty());
    let has_token = header_token.unwrap_or(false) || query_token.is_some_and(|t| !t.is_empty());
    if !has_token {
        return Err(ApiError::InvalidClientTokenId {
            message: "GetCallerIdentity requires credentials issued by stsd",
        });
    }
    Err(ApiError::InvalidClientTokenId {
        message: "The security token included in the request is invalid",
    })
}

/// `POST /sts/assume-role-with-web-identity`: the JSON twin.
pub async fn assume_role_json(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    api::record_action(&req, "AssumeRoleWithWebIdentity");
    match handle_json(&req, payload, &state).await {
        Ok(response) => response,
        Err(err) => api::error_response(&req, &err, Format::Json),
    }
}

async fn handle_json(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let body = api::read_body(
        req,
        payload,
        state.settings.body_limit,
        state.settings.body_timeout,
    )
    .await?;
    let raw = json::parse_request(&body)?;
    let request = AssumeRoleRequest::validate(raw)?;
    let output = state
        .service()
        .assume_role_with_web_identity(request, OffsetDateTime::now_utc())
        .await?;
    Ok(api::json_response(
        req,
        &json::AssumeRoleResponse::new(&output),
    ))
}

/// A form body is read only when it says it is one (or says nothing); Go's `FormValue`, which
/// SeaweedFS uses, ignores other bodies the same way.
fn is_form(req: &HttpRequest) -> bool {
    match req.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value.to_str().is_ok_and(|v| {
            v.split(';').next().is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        }),
    }
}

fn serialization_failure(e: quick_xml::se::SeError) -> ApiError {
    ApiError::Service(crate::service::ServiceError::Internal {
        detail: format!("response serialization failed: {e}"),
    })
}
