//! Handlers of the STS endpoints: parse → validate → one service call → render.

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::action::Action;
use super::form::Params;
use super::{json, xml};
use crate::api::ApiError;
use crate::api::AppState;
use crate::api::{self, Format, RequestId};
use crate::service::AssumeRoleRequest;
use crate::sigv4::{self, SignedRequest};

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
        api::read_body(req, payload, state.body).await?
    } else {
        web::Bytes::new()
    };
    let params = Params::parse(req.query_string().as_bytes(), &body).map_err(ApiError::Form)?;
    let action = Action::parse(params)?;
    api::record_action(req, action.name());
    match action {
        Action::AssumeRoleWithWebIdentity(raw) => {
            let mut request = AssumeRoleRequest::validate(raw)?;
            request.source_ip = api::source_ip(req);
            let output = state
                .service()
                .assume_role_with_web_identity(request, OffsetDateTime::now_utc())
                .await?;
            state.metrics.credentials_issued(&output.provider_name);
            let body = xml::assume_role_with_web_identity(&output, RequestId::of(req).as_str());
            Ok(api::xml_response(req, body))
        }
        Action::GetCallerIdentity => get_caller_identity(req, &body, state),
    }
}

/// GetCallerIdentity answers for credentials stsd issued: the service verifies the session token,
/// derives the secret from it and checks the SigV4 signature over this request.
fn get_caller_identity(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let identity = state
        .service()
        .get_caller_identity(&signed_request(req, body), OffsetDateTime::now_utc())?;
    let body = xml::get_caller_identity(&identity, RequestId::of(req).as_str());
    Ok(api::xml_response(req, body))
}

/// The parts of the request SigV4 signs, as the framework-free view `sigv4` verifies.
fn signed_request(req: &HttpRequest, body: &[u8]) -> SignedRequest {
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            // A header that is not visible ASCII cannot have been signed as sent; leave it out
            // and let verification fail on it if it was named as signed.
            let value = value.to_str().ok()?;
            Some((name.as_str().to_ascii_lowercase(), value.to_owned()))
        })
        .collect();
    if !headers.iter().any(|(n, _)| n == "host") {
        // HTTP/2 carries the host as :authority.
        headers.push(("host".into(), req.connection_info().host().to_owned()));
    }
    SignedRequest {
        method: req.method().as_str().to_owned(),
        path: req.uri().path().to_owned(),
        query: sigv4::parse_query(req.query_string()),
        headers,
        payload_sha256: hex::encode(Sha256::digest(body)),
    }
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
    let body = api::read_body(req, payload, state.body).await?;
    let raw = json::parse_request(&body)?;
    let mut request = AssumeRoleRequest::validate(raw)?;
    request.source_ip = api::source_ip(req);
    let output = state
        .service()
        .assume_role_with_web_identity(request, OffsetDateTime::now_utc())
        .await?;
    state.metrics.credentials_issued(&output.provider_name);
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
