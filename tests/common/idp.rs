//! A real OIDC issuer (discovery + JWKS) on 127.0.0.1 for tests.
