//! The request-context middleware: a request id on every response and log line, one completion
//! line per request, and the request metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use super::{AppState, Outcome, RequestId, REQUEST_ID_HEADER};
use crate::telemetry::metrics;

/// Gives each request an id (response header `x-amzn-RequestId`, and a span so every log line
/// carries it) and writes one log line when it completes. The line holds only bounded values:
/// method, the matched route pattern (never the raw path), action, status, code, duration — no
/// query string, header or body.
pub(super) async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = RequestId::generate();
    req.extensions_mut().insert(request_id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        action = tracing::field::Empty
    );
    let method = req.method().clone();
    let started = Instant::now();

    // Handlers and the fallbacks render their own errors, so an `Err` here can only come from
    // actix itself; it is passed on for actix to render. (The request cannot be cloned before
    // routing to build a response of our own: the router needs it unshared.)
    let mut res = next
        .call(req)
        .instrument(span.clone())
        .await?
        .map_into_boxed_body();
    res.headers_mut().insert(
        HeaderName::from_static(REQUEST_ID_HEADER),
        request_id.header_value(),
    );

    let outcome = res
        .request()
        .extensions()
        .get::<Outcome>()
        .copied()
        .unwrap_or_default();
    let route = res.request().match_name().unwrap_or("unmatched");
    let elapsed = started.elapsed().as_secs_f64();
    let duration_ms = elapsed * 1000.0;
    if matches!(route, "query" | "assume-role-json" | "pod-identity") {
        if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
            state.metrics.observe_request(
                outcome.action.unwrap_or(metrics::NO_ACTION),
                outcome.code.unwrap_or("-"),
                elapsed,
            );
        }
    }
    span.in_scope(|| {
        // Probes arrive every few seconds from every kubelet; they are logged only at debug.
        if matches!(route, "healthz" | "readyz") && res.status().is_success() {
            tracing::debug!(method = %method, route, status = res.status().as_u16(), "probe answered");
            return;
        }
        let pattern = res.request().match_pattern();
        tracing::info!(
            method = %method,
            path = pattern.as_deref().unwrap_or("(unmatched)"),
            action = outcome.action.unwrap_or("-"),
            status = res.status().as_u16(),
            code = outcome.code.unwrap_or("-"),
            duration_ms = %format_args!("{duration_ms:.3}"),
            request_id = %request_id,
            "request completed"
        );
    });
    Ok(res)
}
