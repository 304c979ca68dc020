//! `GET /metrics`: the Prometheus text exposition.

use actix_web::{web, HttpResponse};

use crate::api::AppState;
use crate::limits::Limit;
use crate::providers::ProviderInfo;
use crate::service::guard::Revoked;
use crate::service::StsService;
use crate::telemetry::metrics::{GuardSample, JwksSample, ProviderSample};

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let providers: Vec<ProviderSample> = state
        .service()
        .provider_status()
        .iter()
        .map(|status| sample(&status.info))
        .collect();
    match state
        .metrics
        .render_with(&providers, &guard_sample(state.service()))
    {
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

fn guard_sample(service: &StsService) -> GuardSample {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    GuardSample {
        throttled: Limit::ALL
            .iter()
            .map(|&l| (l.name(), service.limit_refusals(l)))
            .collect(),
        tracked: Limit::ALL
            .iter()
            .filter_map(|&l| service.limit_tracked(l).map(|n| (l.name(), count(n))))
            .collect(),
        revoked: Revoked::ALL
            .iter()
            .map(|&k| (k.name(), service.revoked_refusals(k)))
            .collect(),
    }
}
