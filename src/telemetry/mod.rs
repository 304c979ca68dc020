//! Logging setup and Prometheus metrics.

pub mod logging;
pub mod metrics;

pub use logging::{init_logging, LogFormat};
pub use metrics::Metrics;
