//! Building and serving: the listeners (plain or TLS), configuration reload and graceful
//! shutdown. The state, routes and middleware they serve live in `api`.

pub mod reload;
pub mod tls;
pub mod watch;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use crate::api::{configure, configure_admin, AppState, BodyLimits};
use crate::service::StsService;
use crate::telemetry::metrics::Metrics;
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
    pub const DEFAULT_BODY_LIMIT: usize = BodyLimits::DEFAULT_LIMIT;

    /// What the handlers need of these settings.
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            limit: self.body_limit,
            timeout: self.body_timeout,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: Self::DEFAULT_LISTEN.to_owned(),
            body_limit: Self::DEFAULT_BODY_LIMIT,
            body_timeout: BodyLimits::DEFAULT_TIMEOUT,
            shutdown_timeout: Duration::from_secs(30),
            tls: None,
            admin_listen: Some(Self::DEFAULT_ADMIN_LISTEN.to_owned()),
        }
    }
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
    let state = web::Data::new(AppState::new(service, settings.body_limits(), metrics));
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
mod tests {
    use super::*;

    #[test]
    fn the_operator_surface_is_private_by_default() {
        assert_eq!(
            HttpSettings::default().admin_listen.as_deref(),
            Some("127.0.0.1:9090")
        );
    }
}
