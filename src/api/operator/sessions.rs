//! `GET /sts/sessions/count`: unexpired sessions issued by this instance.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use time::OffsetDateTime;

use crate::api;
use crate::api::AppState;

/// Sessions are stateless tokens with no shared store, so each replica can only count its own.
const SCOPE: &str = "instance";

#[derive(Debug, Serialize, PartialEq, Eq)]
struct SessionCount {
    active: u64,
    scope: &'static str,
}

pub async fn count(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let active = state.service().active_sessions(OffsetDateTime::now_utc());
    api::json_response(
        &req,
        &SessionCount {
            active,
            scope: SCOPE,
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let body = serde_json::to_string(&SessionCount {
            active: 3,
            scope: SCOPE,
        })
        .unwrap();
        assert_eq!(body, r#"{"active":3,"scope":"instance"}"#);
    }
}
