//! Application wiring: shared state, routes, the request-context middleware, and the HTTP server
//! with graceful shutdown and configuration reload.

pub mod reload;
pub mod tls;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage, HttpServer};
use tracing::Instrument;

use crate::api::sts::handlers;
use crate::api::{self, operator, Outcome, RequestId, REQUEST_ID_HEADER};
use crate::service::StsService;
use crate::telemetry::metrics::{self, Metrics};
use reload::Reloader;

/// The HTTP server's own settings (everything but `iam.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `host:port`, resolved at bind time.
    pub listen: String,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a client may take to send its body once the headers are in.
    pub body_timeout: Duration,
    /// How long in-flight requests may run after SIGTERM/SIGINT before the workers stop.
    pub shutdown_timeout: Duration,
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<tls::TlsFiles>,
    /// The listener for `/metrics` and the `/sts/…` operator endpoints, which the main listener
    /// never serves (its `/sts/validate-token` gives session-token verdicts only). `None`: no
    /// operator surface at all.
    pub admin_listen: Option<String>,
}

impl HttpSettings {
    pub const DEFAULT_LISTEN: &'static str = "0.0.0.0:8090";
    pub const DEV_LISTEN: &'static str = "127.0.0.1:8090";
    /// Loopback: the operator surface is private unless an address is chosen for it.
    pub const DEFAULT_ADMIN_LISTEN: &'static str = "127.0.0.1:9090";
    pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: Self::DEFAULT_LISTEN.to_owned(),
            body_limit: Self::DEFAULT_BODY_LIMIT,
            body_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            tls: None,
            admin_listen: Some(Self::DEFAULT_ADMIN_LISTEN.to_owned()),
        }
    }
}

/// What every handler shares, passed as `web::Data` (no globals).
pub struct AppState {
    /// Reloads swap the configuration inside the service; a request keeps the configuration it
    /// started with.
    service: StsService,
    pub settings: HttpSettings,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl AppState {
    /// Not ready until [`AppState::set_ready`]: `serve` flips it once the listener is bound.
    pub fn new(service: StsService, settings: HttpSettings, metrics: Metrics) -> Self {
        Self {
            service,
            settings,
            metrics,
            ready: AtomicBool::new(false),
        }
    }

    pub fn service(&self) -> &StsService {
        &self.service
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// Registers the routes of the main listener: the STS API, session-token verdicts for gateways
/// and the probes. Used by [`serve`] and by the integration tests, so both run the same app.
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
                    .default_service(web::to(api::method_not_allowed_json)),
            )
            .configure(health_routes)
            .default_service(web::to(api::not_found)),
    );
}

/// The routes of the admin listener (`--admin-listen`): the operator endpoints and the probes.
pub fn configure_admin(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    cfg.app_data(state).service(
        web::scope("")
            .wrap(from_fn(request_context))
            .configure(operator_routes)
            .configure(health_routes)
            .default_service(web::to(api::not_found)),
    );
}

fn sts_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .name("query")
            .route(web::post().to(handlers::query))
            .route(web::get().to(handlers::query))
            .default_service(web::to(api::method_not_allowed)),
    )
    .service(
        web::resource("/sts/assume-role-with-web-identity")
            .name("assume-role-json")
            .route(web::post().to(handlers::assume_role_json))
            .default_service(web::to(api::method_not_allowed_json)),
    )
    .service(
        web::resource("/v1/credentials")
            .name("pod-identity")
            .route(web::get().to(api::pod_identity::credentials))
            .default_service(web::to(api::pod_identity::method_not_allowed)),
    );
}

/// What only operators may see: metrics, the provider listing, the session count and the dry run
/// (which shows trust-policy conditions and tells existing roles from missing ones).
fn operator_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .name("metrics")
            .route(web::get().to(operator::metrics::metrics))
            .default_service(web::to(api::method_not_allowed)),
    )
    .service(
        web::resource("/sts/providers")
            .name("providers")
            .route(web::get().to(operator::providers::providers))
            .default_service(web::to(api::method_not_allowed_json)),
    )
    .service(
        web::resource("/sts/validate-token")
            .name("validate-token")
            .route(web::post().to(operator::validate::validate_token))
            .default_service(web::to(api::method_not_allowed_json)),
    )
    .service(
        web::resource("/sts/sessions/count")
            .name("sessions-count")
            .route(web::get().to(operator::sessions::count))
            .default_service(web::to(api::method_not_allowed_json)),
    );
}

/// Probes answer on every listener: a kubelet may be pointed at either.
fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .name("healthz")
            .route(web::get().to(operator::health::healthz))
            .route(web::head().to(operator::health::healthz))
            .default_service(web::to(api::method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .name("readyz")
            .route(web::get().to(operator::health::readyz))
            .route(web::head().to(operator::health::readyz))
            .default_service(web::to(api::method_not_allowed)),
    );
}

/// Gives each request an id (response header `x-amzn-RequestId`, and a span so every log line
/// carries it) and writes one log line when it completes. The line holds only bounded values:
/// method, the matched route pattern (never the raw path), action, status, code, duration — no
/// query string, header or body.
async fn request_context(
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

/// Binds, marks the service ready and runs until SIGTERM/SIGINT, then drains in-flight requests
/// for up to `shutdown_timeout`. Must run inside an actix system (`actix_web::rt::System`).
pub async fn serve(settings: HttpSettings, service: StsService) -> io::Result<()> {
    serve_with(settings, service, None, |_| {}).await
}

/// [`serve`], with a reloader run beside the server, calling `on_listening` with the bound
/// addresses once the listener is up (the `--dev` banner prints the real port this way).
pub async fn serve_with(
    settings: HttpSettings,
    service: StsService,
    reloader: Option<Reloader>,
    on_listening: impl FnOnce(&[SocketAddr]),
) -> io::Result<()> {
    let metrics = Metrics::new().map_err(io::Error::other)?;
    let state = web::Data::new(AppState::new(service, settings.clone(), metrics));
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        let state = app_state.clone();
        App::new().configure(move |cfg| configure(cfg, state))
    })
    .shutdown_timeout(settings.shutdown_timeout.as_secs());
    let server = match &settings.tls {
        Some(files) => {
            let config = tls::server_config(files).map_err(io::Error::other)?;
            server.bind_rustls_0_23(&settings.listen, config)?
        }
        None => server.bind(&settings.listen)?,
    };
    if settings.admin_listen.is_none() {
        tracing::warn!("no admin listener: /metrics and the operator endpoints are not served");
    }
    let admin = match &settings.admin_listen {
        Some(listen) => {
            let admin_state = state.clone();
            // Scrapes and operator calls are light; one worker keeps the process small.
            let admin = HttpServer::new(move || {
                let state = admin_state.clone();
                App::new().configure(move |cfg| configure_admin(cfg, state))
            })
            .workers(1)
            .shutdown_timeout(settings.shutdown_timeout.as_secs());
            Some(match &settings.tls {
                Some(files) => {
                    let config = tls::server_config(files).map_err(io::Error::other)?;
                    admin.bind_rustls_0_23(listen, config)?
                }
                None => admin.bind(listen)?,
            })
        }
        None => None,
    };
    let addrs: Vec<SocketAddr> = server.addrs();
    let admin_addrs: Vec<SocketAddr> = admin.as_ref().map(HttpServer::addrs).unwrap_or_default();
    let server = server.run();
    let admin = admin.map(HttpServer::run);
    if let Some(reloader) = reloader {
        reload::spawn(state.clone(), reloader);
    }
    // Keys are fetched in the background so the first request does not wait for them; an
    // unreachable IdP only delays its own tokens, never readiness.
    state.service().start();
    state.set_ready(true);
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    for addr in &addrs {
        tracing::info!(%addr, scheme, "listening");
    }
    for addr in &admin_addrs {
        tracing::info!(%addr, scheme, "admin listening");
    }
    on_listening(&addrs);
    match admin {
        // Both servers stop on the same SIGTERM/SIGINT.
        Some(admin) => {
            let (public, admin) = tokio::join!(server, admin);
            public.and(admin)
        }
        None => server.await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use actix_web::test;

    /// A service on the embedded development configuration, with a fixed test key.
    pub(crate) fn test_service() -> StsService {
        let loaded = crate::config::dev_config("dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=");
        StsService::new(loaded.config).unwrap()
    }

    pub(super) fn state() -> web::Data<AppState> {
        web::Data::new(AppState::new(
            test_service(),
            HttpSettings::default(),
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
        let settings = HttpSettings {
            admin_listen: Some("127.0.0.1:0".into()),
            ..HttpSettings::default()
        };
        let state = web::Data::new(AppState::new(
            test_service(),
            settings,
            Metrics::new().unwrap(),
        ));
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
        let settings = HttpSettings {
            admin_listen: None,
            ..HttpSettings::default()
        };
        assert_eq!(
            HttpSettings::default().admin_listen.as_deref(),
            Some("127.0.0.1:9090")
        );
        let state = web::Data::new(AppState::new(
            test_service(),
            settings,
            Metrics::new().unwrap(),
        ));
        let app = test::init_service(App::new().configure(|cfg| configure(cfg, state))).await;
        for path in ["/metrics", "/sts/providers", "/sts/sessions/count"] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
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
    use actix_web::test as actix_test;
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
