//! Starts stsd on ephemeral loopback ports for tests: the main listener and the admin listener.

use std::net::SocketAddr;
use std::sync::mpsc;

use actix_web::{web, App, HttpServer};
use stsd::api::{configure, configure_admin, AppState};
use stsd::app::HttpSettings;
use stsd::service::StsService;
use stsd::telemetry::Metrics;

use super::iam::{load, TEST_SIGNING_KEY};

/// A running stsd, stopped when dropped. It runs on its own thread with its own actix system, so
/// tests can use any async runtime (or none) to talk to it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base_url: String,
    /// The admin listener: `/metrics` and the operator endpoints.
    pub admin_addr: SocketAddr,
    system: actix_web::rt::System,
}

impl TestServer {
    /// The embedded development configuration (mock provider, `DevRole`) with a fixed key.
    pub fn start() -> Self {
        Self::start_with(dev_service(), HttpSettings::default())
    }

    /// A service built from an `iam.json` document.
    pub fn start_with_config(iam_json: &serde_json::Value) -> Self {
        Self::start_reloadable(iam_json).0
    }

    /// [`Self::start_with_config`], with a handle on the service for reloads.
    pub fn start_reloadable(iam_json: &serde_json::Value) -> (Self, StsService) {
        let service = StsService::new(load(iam_json)).expect("service");
        let server = Self::start_with(service.clone(), HttpSettings::default());
        (server, service)
    }

    pub fn start_with(service: StsService, settings: HttpSettings) -> Self {
        Self::start_on(service, settings, "127.0.0.1:0")
    }

    /// [`Self::start_with`], the main listener bound to `bind` (e.g. `[::]:0`).
    pub fn start_on(service: StsService, settings: HttpSettings, bind: &str) -> Self {
        let bind = bind.to_owned();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            let result = system.block_on(async move {
                let metrics = Metrics::new().map_err(std::io::Error::other)?;
                let state = web::Data::new(AppState::new(service, settings.body_limits(), metrics));
                state.set_ready(true);
                let admin_state = state.clone();
                let server = HttpServer::new(move || {
                    let state = state.clone();
                    App::new().configure(move |cfg| configure(cfg, state))
                })
                .workers(1)
                .disable_signals()
                .bind(bind.as_str())?;
                let admin = HttpServer::new(move || {
                    let state = admin_state.clone();
                    App::new().configure(move |cfg| configure_admin(cfg, state))
                })
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))?;
                let addr = server.addrs()[0];
                let admin_addr = admin.addrs()[0];
                let running = server.run();
                let admin_running = admin.run();
                let _ = tx.send((addr, admin_addr, actix_web::rt::System::current()));
                let (main, admin) = tokio::join!(running, admin_running);
                main.and(admin)
            });
            if let Err(e) = result {
                eprintln!("test server failed: {e}");
            }
        });
        let (addr, admin_addr, system) = rx.recv().expect("test server did not start");
        let base_url = if addr.is_ipv6() {
            format!("http://127.0.0.1:{}", addr.port())
        } else {
            format!("http://{addr}")
        };
        Self {
            addr,
            base_url,
            admin_addr,
            system,
        }
    }

    /// A URL on the main listener (the STS API).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A URL on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// The text of `/metrics` on the admin listener.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.admin_url("/metrics"))
            .await
            .unwrap_or_else(|e| panic!("GET /metrics: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("/metrics body: {e}"))
    }
}

/// The embedded development configuration signed with [`TEST_SIGNING_KEY`].
pub fn dev_service() -> StsService {
    StsService::new(stsd::config::dev_config(TEST_SIGNING_KEY).config).expect("dev service")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.system.stop();
    }
}
