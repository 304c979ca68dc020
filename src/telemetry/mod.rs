//! Logging setup and the request-completion log line.

pub mod logging;

pub use logging::{init_logging, LogFormat};
