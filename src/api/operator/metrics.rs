//! `GET /metrics`: the Prometheus text exposition.

use actix_web::{web, HttpResponse};

use crate::app::AppState;
use crate::providers::ProviderInfo;
use crate::telemetry::metrics::{JwksSample, ProviderSample};

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let providers: Vec<ProviderSample> = state
        .service()
        .runtime()
        .registry
        .list()
        .iter()
        .map(sample)
        .collect();
    match state.metrics.render(&providers) {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "could not render metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn sample(info: &ProviderInfo) -> ProviderSample {
    ProviderSample {
        name: info.name.clone(),
        enabled: info.enabled,
        jwks: info.jwks.as_ref().map(|j| JwksSample {
            keys: u64::try_from(j.keys).unwrap_or(u64::MAX),
            fetches_ok: j.fetches_ok,
            fetches_failed: j.fetches_failed,
        }),
    }
}
