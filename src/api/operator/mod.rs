//! Operator endpoints: liveness, readiness, Prometheus metrics, the provider listing, token
//! validation and the session count.

pub mod health;
pub mod metrics;
pub mod providers;
pub mod sessions;
pub mod validate;
