//! stsd: a standalone AWS-compatible Security Token Service whose session tokens any S3 gateway
//! sharing the signing key can verify. See `docs/architecture.md` for the layout.

pub mod api;
pub mod app;
pub mod arn;
pub mod cli;
pub mod config;
pub mod jwks;
pub mod limits;
pub mod policy;
pub mod providers;
pub mod revocation;
pub mod secret;
pub mod service;
pub mod session;
pub mod sigv4;
pub mod telemetry;
pub mod timestamp;
