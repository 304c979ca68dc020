//! `GET /sts/providers`: every configured identity provider with its key-set state, never a secret.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::api;
use crate::api::AppState;
use crate::providers::ProviderInfo;
use crate::service::ProviderStatus;

#[derive(Serialize)]
struct ProvidersResponse {
    providers: Vec<ProviderEntry>,
}

/// A provider as listed, plus the claim its policies come from (WEKA's "Claim Name").
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderEntry {
    #[serde(flatten)]
    info: ProviderInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_claim: Option<String>,
}

pub async fn providers(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let providers = state
        .service()
        .provider_status()
        .into_iter()
        .map(|ProviderStatus { info, policy_claim }| ProviderEntry { info, policy_claim })
        .collect();
    api::json_response(&req, &ProvidersResponse { providers })
}
