//! jwks
