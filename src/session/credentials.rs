//! Credential derivation from a session id (seaweedfs-sts.md §2, seaweedfs-4.48.md) and the
//! parent-user id.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::key::SigningKey;
use crate::secret::SecretString;

/// How the secret access key is derived from the session id, named for the SeaweedFS gateways
/// that recompute it (DESIGN.md §9). The access key id is the same in every mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretDerivation {
    /// SeaweedFS 4.48 and later: HMAC-SHA256 keyed by the signing key that signs (or verified)
    /// the session token, so only holders of that key can compute the secret.
    #[default]
    SeaweedFs,
    /// SeaweedFS 4.47 and earlier: unkeyed SHA-256, computable by anyone who sees the token.
    SeaweedFsLegacy,
}

impl SecretDerivation {
    /// The `sts.secretDerivation` value that selects this mode.
    pub fn name(self) -> &'static str {
        match self {
            Self::SeaweedFs => "seaweedfs",
            Self::SeaweedFsLegacy => "seaweedfs-legacy",
        }
    }

    /// Which SeaweedFS gateway releases accept credentials derived this way.
    pub fn gateways(self) -> &'static str {
        match self {
            Self::SeaweedFs => "SeaweedFS 4.48 and later",
            Self::SeaweedFsLegacy => "SeaweedFS 4.47 and earlier",
        }
    }
}

/// The temporary credentials that belong to a session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedCredentials {
    /// `"ASIA"` + 16 lowercase hex chars; gateways compare it as an exact string.
    pub access_key_id: String,
    /// Standard padded base64 of 32 bytes (44 chars).
    pub secret_access_key: SecretString,
}

/// Derives the access key id and secret of session `sid`. Deterministic: a gateway recomputes the
/// same values from the `sid` claim, so no per-session state exists anywhere. `key` must be the
/// key that signs the session token (when minting) or that verified it (afterwards): after a
/// rotation a live session's secret still comes from the key it was minted with.
pub fn derive_credentials(
    sid: &str,
    mode: SecretDerivation,
    key: &SigningKey,
) -> DerivedCredentials {
    let access = sha256(b"access-key:", sid);
    let secret = match mode {
        SecretDerivation::SeaweedFs => {
            // HMAC takes keys of any length, so construction cannot fail.
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(b"secret-key:");
            mac.update(sid.as_bytes());
            mac.finalize().into_bytes().into()
        }
        SecretDerivation::SeaweedFsLegacy => sha256(b"secret-key:", sid),
    };
    DerivedCredentials {
        access_key_id: format!("ASIA{}", hex::encode(&access[..8])),
        secret_access_key: SecretString::new(
            base64::engine::general_purpose::STANDARD.encode(secret),
        ),
    }
}

fn sha256(label: &[u8], sid: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(label)
        .chain_update(sid.as_bytes())
        .finalize()
        .into()
}

/// The parent-user id SeaweedFS puts in `puid` and `req_ctx["aws:userid"]`:
/// base64url without padding of SHA-256(`"openid:" + sub + ":" + iss`).
pub fn parent_user_id(sub: &str, iss: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"openid:")
        .chain_update(sub.as_bytes())
        .chain_update(b":")
        .chain_update(iss.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// A fresh session id: 16 random bytes from the thread-local CSPRNG as 32 lowercase hex chars.
pub fn new_session_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::session::vectors::vector_key;

    /// sid, access key id (every mode), secret ≤ 4.47 (seaweedfs-sts.md §10), secret ≥ 4.48.
    /// The first row's 4.48 secret is the one seaweedfs-4.48.md measured against the release.
    const VECTORS: [(&str, &str, &str, &str); 3] = [
        (
            "0123456789abcdef0123456789abcdef",
            "ASIAa80cb9b4919860c6",
            "w5uwawcgEtfBlW4iMNHZTmI2JvJC3ThkIouP26lSo9Y=",
            "hfUnts641mhmwA84DpYWQgh26RaZopVq4+bNA+vI3eY=",
        ),
        (
            "test-session-for-prefix",
            "ASIA930389695b2271c8",
            "xQ7aZwfnM5otds5ieE5Acs2jcUdnXCqQF8NzbchkzBY=",
            "5SqQl70c2cTuIQN8fOSTOTZAGWSkVS6i4M+OQk1f0dE=",
        ),
        (
            "format-test-session",
            "ASIAbe06e38806d045ec",
            "2zibpekvE6E3tGc9TrU7JGcmFohdd6gSHikAChGZJ8o=",
            "hRrUVWqdBZLfsZEnzmsqDS/Fm6iJaIU66pi/V5PVBoY=",
        ),
    ];

    #[test]
    fn legacy_mode_matches_every_vector() {
        let key = vector_key();
        for (sid, akid, legacy, _) in VECTORS {
            let creds = derive_credentials(sid, SecretDerivation::SeaweedFsLegacy, &key);
            assert_eq!(creds.access_key_id, akid);
            assert_eq!(creds.secret_access_key.expose(), legacy);
        }
    }

    #[test]
    fn default_mode_matches_every_vector() {
        let key = vector_key();
        for (sid, akid, _, keyed) in VECTORS {
            let creds = derive_credentials(sid, SecretDerivation::SeaweedFs, &key);
            assert_eq!(creds.access_key_id, akid);
            assert_eq!(creds.secret_access_key.expose(), keyed);
        }
    }

    #[test]
    fn legacy_mode_does_not_depend_on_the_key() {
        let a = derive_credentials("s", SecretDerivation::SeaweedFsLegacy, &vector_key());
        let other = SigningKey::from_bytes(vec![7; 32]).unwrap();
        assert_eq!(
            a,
            derive_credentials("s", SecretDerivation::SeaweedFsLegacy, &other)
        );
    }

    #[test]
    fn default_mode_keys_the_secret_but_not_the_access_key_id() {
        let (sid, akid, _, keyed) = VECTORS[0];
        let other = SigningKey::from_bytes(vec![7; 32]).unwrap();
        let with_other = derive_credentials(sid, SecretDerivation::SeaweedFs, &other);
        assert_eq!(with_other.access_key_id, akid);
        assert_ne!(with_other.secret_access_key.expose(), keyed);
        assert_eq!(with_other.secret_access_key.expose().len(), 44);
    }

    #[test]
    fn parent_user_ids_match_the_vectors() {
        assert_eq!(
            parent_user_id("alice", "https://idp.example/"),
            "psxK-aHxvNy0m73qqh2fdas58yFQcSNYPQdseqgUqak"
        );
        assert_eq!(
            parent_user_id("alice", "http://localhost:8080/realms/seaweedfs-test"),
            "VRgs2JdrrVqWdL8mLdBpbI2CX94plJHnHmN20RasL-Y"
        );
    }

    #[test]
    fn session_ids_are_32_lowercase_hex_and_unique() {
        let a = new_session_id();
        let b = new_session_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn debug_hides_the_secret() {
        for mode in [
            SecretDerivation::SeaweedFs,
            SecretDerivation::SeaweedFsLegacy,
        ] {
            let creds = derive_credentials(VECTORS[0].0, mode, &vector_key());
            let debug = format!("{creds:?}");
            assert!(!debug.contains(VECTORS[0].2) && !debug.contains(VECTORS[0].3));
        }
    }
}
