//! What every handler shares: the service, the request-body limits, the metrics and readiness.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::service::StsService;
use crate::telemetry::metrics::Metrics;

/// How much of a request body a handler reads, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest request body accepted, in bytes.
    pub limit: usize,
    /// How long a client may take to send its body once the headers are in.
    pub timeout: Duration,
}

impl BodyLimits {
    pub const DEFAULT_LIMIT: usize = 64 * 1024;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// What every handler shares, passed as `web::Data` (no globals).
pub struct AppState {
    /// Reloads swap the configuration inside the service; a request keeps the configuration it
    /// started with.
    service: StsService,
    pub body: BodyLimits,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl AppState {
    /// Not ready until [`AppState::set_ready`]: the server flips it once the listener is bound.
    pub fn new(service: StsService, body: BodyLimits, metrics: Metrics) -> Self {
        Self {
            service,
            body,
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
