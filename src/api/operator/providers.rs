//! `GET /sts/providers`: every configured identity provider with its key-set state, never a secret.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::api;
use crate::app::AppState;
use crate::providers::ProviderInfo;

#[derive(Serialize)]
struct ProvidersResponse {
    providers: Vec<ProviderInfo>,
}

pub async fn providers(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let providers = state.service().runtime().registry.list();
    api::json_response(&req, &ProvidersResponse { providers })
}
