//! Identity providers (oidc, kubernetes, mock) behind one trait, and the registry that picks one by `iss`.

pub mod jwt;

pub use jwt::JwsAlgorithm;
