//! The route tables of the two listeners: one `configure` used by the server and by the tests.

use actix_web::middleware::from_fn;
use actix_web::web;

use super::middleware::request_context;
use super::sts::handlers;
use super::{operator, AppState};

/// Registers the routes of the main listener: the STS API, session-token verdicts for gateways
/// and the probes. Used by the server and by the integration tests, so both run the same app.
/// Everything sits in one scope so that the request-context middleware also wraps the 404 and 405
/// fallbacks. The operator endpoints are served by [`configure_admin`] only.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    cfg.app_data(state).service(
        web::scope("")
            .wrap(from_fn(request_context))
            .configure(sts_routes)
            .service(
                web::resource("/sts/validate-token")
                    .name("validate-token")
                    .route(web::post().to(operator::validate::validate_session_token))
                    .default_service(web::to(super::method_not_allowed_json)),
            )
            .configure(health_routes)
            .default_service(web::to(super::not_found)),
    );
}

/// The routes of the admin listener (`--admin-listen`): the operator endpoints and the probes.
pub fn configure_admin(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    cfg.app_data(state).service(
        web::scope("")
            .wrap(from_fn(request_context))
            .configure(operator_routes)
            .configure(health_routes)
            .default_service(web::to(super::not_found)),
    );
}

fn sts_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .name("query")
            .route(web::post().to(handlers::query))
            .route(web::get().to(handlers::query))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/sts/assume-role-with-web-identity")
            .name("assume-role-json")
            .route(web::post().to(handlers::assume_role_json))
            .default_service(web::to(super::method_not_allowed_json)),
    )
    .service(
        web::resource("/v1/credentials")
            .name("pod-identity")
            .route(web::get().to(super::pod_identity::credentials))
            .default_service(web::to(super::pod_identity::method_not_allowed)),
    );
}

/// What only operators may see: metrics, the provider listing, the session count and the dry run
/// (which shows trust-policy conditions and tells existing roles from missing ones).
fn operator_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .name("metrics")
            .route(web::get().to(operator::metrics::metrics))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/sts/providers")
            .name("providers")
            .route(web::get().to(operator::providers::providers))
            .default_service(web::to(super::method_not_allowed_json)),
    )
    .service(
        web::resource("/sts/validate-token")
            .name("validate-token")
            .route(web::post().to(operator::validate::validate_token))
            .default_service(web::to(super::method_not_allowed_json)),
    )
    .service(
        web::resource("/sts/sessions/count")
            .name("sessions-count")
            .route(web::get().to(operator::sessions::count))
            .default_service(web::to(super::method_not_allowed_json)),
    );
}

/// Probes answer on every listener: a kubelet may be pointed at either.
fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .name("healthz")
            .route(web::get().to(operator::health::healthz))
            .route(web::head().to(operator::health::healthz))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .name("readyz")
            .route(web::get().to(operator::health::readyz))
            .route(web::head().to(operator::health::readyz))
            .default_service(web::to(super::method_not_allowed)),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::{BodyLimits, REQUEST_ID_HEADER};
    use crate::service::StsService;
    use crate::telemetry::metrics::Metrics;
    use actix_web::http::StatusCode;
    use actix_web::{test, App};

    /// A service on the embedded development configuration, with a fixed test key.
    pub(crate) fn test_service() -> StsService {
        let loaded = crate::config::dev_config("dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=");
        StsService::new(loaded.config).unwrap()
    }

    pub(super) fn state() -> web::Data<AppState> {
        web::Data::new(AppState::new(
            test_service(),
            BodyLimits::default(),
            Metrics::new().unwrap(),
        ))
    }

    #[actix_web::test]
    async fn every_response_carries_a_request_id() {
        let app = test::init_service(App::new().configure(|cfg| configure(cfg, state()))).await;
        for (method, path) in [
            ("GET", "/healthz"),
            ("GET", "/nope"),
            ("DELETE", "/"),
            ("GET", "/?Action=Nope"),
        ] {
            let req = test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(path)
                .to_request();
            let res = test::call_service(&app, req).await;
            let id = res.headers().get(REQUEST_ID_HEADER).unwrap();
            assert_eq!(id.len(), 36, "{method} {path}");
        }
    }

    #[actix_web::test]
    async fn readiness_follows_the_flag() {
        let state = state();
        let app = {
            let state = state.clone();
            test::init_service(App::new().configure(move |cfg| configure(cfg, state))).await
        };
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        state.set_ready(true);
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[actix_web::test]
    async fn an_admin_listener_takes_the_operator_routes() {
        let state = state();
        state.set_ready(true);
        let public = {
            let state = state.clone();
            test::init_service(App::new().configure(move |cfg| configure(cfg, state))).await
        };
        let admin = {
            let state = state.clone();
            test::init_service(App::new().configure(move |cfg| configure_admin(cfg, state))).await
        };
        for path in ["/metrics", "/sts/providers", "/sts/sessions/count"] {
            let res =
                test::call_service(&public, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "public {path}");
            let res =
                test::call_service(&admin, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), StatusCode::OK, "admin {path}");
        }
        let validate = || {
            test::TestRequest::post()
                .uri("/sts/validate-token")
                .set_payload(r#"{"sessionToken":"x"}"#)
                .to_request()
        };
        for app in [&public, &admin] {
            let res = test::call_service(app, validate()).await;
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "session verdicts on both listeners"
            );
        }
        for path in ["/healthz", "/readyz"] {
            for app in [&public, &admin] {
                let res =
                    test::call_service(app, test::TestRequest::get().uri(path).to_request()).await;
                assert_eq!(res.status(), StatusCode::OK, "{path}");
            }
        }
        let res = test::call_service(&admin, test::TestRequest::get().uri("/").to_request()).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "no STS API on the admin listener"
        );
    }

    #[actix_web::test]
    async fn the_operator_surface_is_never_on_the_main_listener() {
        let app = test::init_service(App::new().configure(|cfg| configure(cfg, state()))).await;
        for path in ["/metrics", "/sts/providers", "/sts/sessions/count"] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[actix_web::test]
    async fn validate_token_refuses_repeated_keys_with_the_json_error() {
        let state = state();
        let public = {
            let state = state.clone();
            test::init_service(App::new().configure(move |cfg| configure(cfg, state))).await
        };
        let admin =
            test::init_service(App::new().configure(move |cfg| configure_admin(cfg, state))).await;
        for (app, body) in [
            (
                &public,
                r#"{"sessionToken":"a.b.c","sessionToken":"d.e.f"}"#,
            ),
            (&admin, r#"{"sessionToken":"a.b.c","sessionToken":"d.e.f"}"#),
            (
                &admin,
                r#"{"webIdentityToken":"t","roleArn":"x","roleArn":"y"}"#,
            ),
        ] {
            let req = test::TestRequest::post()
                .uri("/sts/validate-token")
                .insert_header(("content-type", "application/json"))
                .set_payload(body)
                .to_request();
            let res = test::call_service(app, req).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            let id = res.headers().get(REQUEST_ID_HEADER).unwrap().clone();
            let body: serde_json::Value = test::read_body_json(res).await;
            assert_eq!(
                body,
                serde_json::json!({
                    "Error": {
                        "Code": "ValidationError",
                        "Message": "The request body gives a field more than once",
                    },
                    "RequestId": id.to_str().unwrap(),
                })
            );
        }
    }

    #[actix_web::test]
    async fn fallbacks_are_xml_errors() {
        let app = test::init_service(App::new().configure(|cfg| configure(cfg, state()))).await;
        let res = test::call_service(&app, test::TestRequest::get().uri("/x/y").to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let id = res.headers().get(REQUEST_ID_HEADER).unwrap().clone();
        let body = test::read_body(res).await;
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.contains("<Code>NotFound</Code>"), "{body}");
        assert!(body.contains(&format!("<RequestId>{}</RequestId>", id.to_str().unwrap())));

        let res =
            test::call_service(&app, test::TestRequest::put().uri("/healthz").to_request()).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}

/// Kept apart from `tests`: there `test` names actix's module, which shadows the `#[test]` the
/// proptest macro emits.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod fuzz {
    use super::*;
    use crate::api::REQUEST_ID_HEADER;
    use actix_web::test as actix_test;
    use actix_web::App;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the query string and body, the answer is a well-formed XML error carrying
        /// the same request id as the header.
        #[test]
        fn arbitrary_requests_get_an_xml_answer(
            query in "[A-Za-z0-9%&=+._-]{0,64}",
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            actix_web::rt::System::new().block_on(async {
                let app = actix_test::init_service(
                    App::new().configure(|cfg| configure(cfg, tests::state())),
                )
                .await;
                let req = actix_test::TestRequest::post()
                    .uri(&format!("/?{query}"))
                    .insert_header(("content-type", "application/x-www-form-urlencoded"))
                    .set_payload(body)
                    .to_request();
                let res = actix_test::call_service(&app, req).await;
                let status = res.status().as_u16();
                let id = res.headers().get(REQUEST_ID_HEADER).unwrap().to_str().unwrap().to_owned();
                let body = actix_test::read_body(res).await;
                let text = std::str::from_utf8(&body).unwrap();
                assert!(
                    text.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><ErrorResponse"#),
                    "{text}"
                );
                assert!(text.contains(&format!("<RequestId>{id}</RequestId>")), "{text}");
                assert!(matches!(status, 400 | 403 | 404 | 500), "{status}");
                if status == 500 {
                    assert!(text.contains("<Code>InternalFailure</Code>"), "{text}");
                }
            });
        }
    }
}
