//! Helpers shared by the integration tests: an OIDC issuer on loopback, an stsd server, `iam.json`
//! documents with the test key, SDK clients and the clock.
#![allow(dead_code)]

pub mod clock;
pub mod http;
pub mod iam;
pub mod idp;
pub mod sdk;
pub mod server;
