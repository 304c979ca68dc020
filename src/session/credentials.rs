//! Credential derivation from a session id (seaweedfs-sts.md §2) and the parent-user id.

/// How the secret access key is derived from the session id (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretDerivation {
    /// SHA-256, unkeyed: what SeaweedFS gateways recompute.
    #[default]
    SeaweedFs,
    /// HMAC-SHA256 keyed by the signing key.
    Hmac,
}
