//! `GET /healthz` (the process answers) and `GET /readyz` (config loaded and listener up).

use actix_web::{web, HttpResponse};

use crate::api::AppState;

/// Always 200: a liveness probe must not depend on any identity provider.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// 200 once the service is ready to take requests; 503 before.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_ready() {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("not ready")
    }
}
