//! The HTTP surface: the STS query API and its JSON twin (`sts/`), operator endpoints
//! (`operator/`), pod identity, the shared state and route tables (`state`, `routes`), and what
//! every handler shares: the request id, body reading, error rendering.

pub mod error;
pub mod json_body;
mod middleware;
pub mod operator;
pub mod pod_identity;
pub mod routes;
pub mod state;
pub mod sts;

use std::fmt;
use std::net::IpAddr;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use serde::Serialize;

pub use error::ApiError;
pub use routes::{configure, configure_admin};
pub use state::{AppState, BodyLimits};

/// The response header that carries the request id, as AWS names it.
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// A UUID identifying one request in the response and in every log line about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A version-4 UUID from the thread-local CSPRNG (`Uuid::new_v4` would make a `getrandom`
    /// system call for every request).
    pub fn generate() -> Self {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        Self(id.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id the request-context middleware stored; a fresh one if the handler runs without it
    /// (a unit test), so that a response always carries some id.
    pub fn of(req: &HttpRequest) -> Self {
        if let Some(id) = req.extensions().get::<RequestId>() {
            return id.clone();
        }
        let id = Self::generate();
        req.extensions_mut().insert(id.clone());
        id
    }

    pub fn header_value(&self) -> HeaderValue {
        // A UUID is always a valid header value.
        HeaderValue::from_str(&self.0).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the request-completion log line reports beyond method and status: the action (a bounded
/// name) and the error code or `OK`. Handlers record it in the request extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub action: Option<&'static str>,
    pub code: Option<&'static str>,
}

pub fn record_action(req: &HttpRequest, action: &'static str) {
    update_outcome(req, |o| o.action = Some(action));
    tracing::Span::current().record("action", action);
}

pub(crate) fn record_code(req: &HttpRequest, code: &'static str) {
    update_outcome(req, |o| o.code = Some(code));
}

fn update_outcome(req: &HttpRequest, update: impl FnOnce(&mut Outcome)) {
    let mut extensions = req.extensions_mut();
    let mut outcome = extensions.get::<Outcome>().copied().unwrap_or_default();
    update(&mut outcome);
    extensions.insert(outcome);
}

/// The address `aws:SourceIp` is matched against: the TCP peer, with an IPv4-mapped IPv6 address
/// (`::ffff:127.0.0.1`, how a dual-stack `[::]` listener sees IPv4 clients) turned back into the
/// IPv4 address, so that `IpAddress`/`NotIpAddress` conditions on IPv4 ranges apply to it.
/// Forwarded headers are not read: behind a proxy or load balancer this is the proxy's address.
pub fn source_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip().to_canonical())
}

/// How an error body is rendered: the query API speaks XML, the JSON endpoints JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

/// Renders `err` with the request's id and records its code for the completion log line.
pub fn error_response(req: &HttpRequest, err: &ApiError, format: Format) -> HttpResponse {
    err.log();
    record_code(req, err.aws_code());
    let request_id = RequestId::of(req);
    let mut builder = HttpResponse::build(err.status());
    builder.insert_header((REQUEST_ID_HEADER, request_id.header_value()));
    match format {
        Format::Xml => builder
            .content_type(sts::xml::CONTENT_TYPE)
            .body(sts::xml::error(err, request_id.as_str())),
        Format::Json => builder.json(JsonErrorResponse {
            error: JsonError {
                code: err.aws_code(),
                message: err.public_message(),
            },
            request_id: request_id.as_str(),
        }),
    }
}

/// A successful XML body.
pub fn xml_response(req: &HttpRequest, body: String) -> HttpResponse {
    record_code(req, "OK");
    HttpResponse::Ok()
        .insert_header((REQUEST_ID_HEADER, RequestId::of(req).header_value()))
        .content_type(sts::xml::CONTENT_TYPE)
        .body(body)
}

/// A successful JSON body.
pub fn json_response<T: Serialize>(req: &HttpRequest, body: &T) -> HttpResponse {
    record_code(req, "OK");
    HttpResponse::Ok()
        .insert_header((REQUEST_ID_HEADER, RequestId::of(req).header_value()))
        .json(body)
}

#[derive(Serialize)]
struct JsonErrorResponse<'a> {
    #[serde(rename = "Error")]
    error: JsonError,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonError {
    code: &'static str,
    message: String,
}

/// Reads the whole body, refusing more than `body.limit` bytes with an error of our own rather
/// than actix's plain-text payload error. A declared `Content-Length` over the limit is refused
/// before reading anything; a body that does not arrive within `body.timeout` is abandoned, so a
/// stalled client cannot hold a handler forever.
pub async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    body: BodyLimits,
) -> Result<Bytes, ApiError> {
    let BodyLimits { limit, timeout } = body;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    match actix_web::rt::time::timeout(timeout, payload.to_bytes_limited(limit)).await {
        Ok(Ok(Ok(body))) => Ok(body),
        Ok(Ok(Err(_))) => Err(ApiError::IncompleteBody),
        Ok(Err(_)) => Err(ApiError::BodyTooLarge { limit }),
        Err(_) => Err(ApiError::BodyTimeout),
    }
}

/// Fallback for paths nothing serves: the XML error shape, so that even a typo gets a request id.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error_response(&req, &ApiError::NotFound, Format::Xml)
}

/// Fallback for a known path with a method it does not serve.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    error_response(&req, &ApiError::MethodNotAllowed, Format::Xml)
}

/// [`method_not_allowed`] for the JSON endpoints, in their error shape.
pub async fn method_not_allowed_json(req: HttpRequest) -> HttpResponse {
    error_response(&req, &ApiError::MethodNotAllowed, Format::Json)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_peers_are_seen_as_ipv4() {
        let mapped = actix_web::test::TestRequest::default()
            .peer_addr("[::ffff:127.0.0.1]:40000".parse().unwrap())
            .to_http_request();
        assert_eq!(source_ip(&mapped), Some("127.0.0.1".parse().unwrap()));
        let v6 = actix_web::test::TestRequest::default()
            .peer_addr("[2001:db8::1]:40000".parse().unwrap())
            .to_http_request();
        assert_eq!(source_ip(&v6), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let ids: Vec<RequestId> = (0..64).map(|_| RequestId::generate()).collect();
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random));
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(id.as_str(), uuid.hyphenated().to_string());
        }
        let distinct: std::collections::HashSet<_> = ids.iter().map(RequestId::as_str).collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
