//! Helpers shared by the integration tests: an OIDC issuer on loopback and an stsd server.
#![allow(dead_code)]

pub mod idp;
pub mod server;
