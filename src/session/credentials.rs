//! Credential derivation from a session id (seaweedfs-sts.md §2) and the parent-user id.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::key::SigningKey;
use crate::secret::SecretString;

/// How the secret access key is derived from the session id (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretDerivation {
    /// SHA-256, unkeyed: what SeaweedFS gateways recompute.
    #[default]
    SeaweedFs,
    /// HMAC-SHA256 keyed by the signing key.
    Hmac,
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
/// same values from the `sid` claim, so no per-session state exists anywhere.
pub fn derive_credentials(
    sid: &str,
    mode: SecretDerivation,
    key: &SigningKey,
) -> DerivedCredentials {
    let access = digest(mode, key, b"access-key:", sid);
    let secret = digest(mode, key, b"secret-key:", sid);
    DerivedCredentials {
        access_key_id: format!("ASIA{}", hex::encode(&access[..8])),
        secret_access_key: SecretString::new(
            base64::engine::general_purpose::STANDARD.encode(secret),
        ),
    }
}

fn digest(mode: SecretDerivation, key: &SigningKey, label: &[u8], sid: &str) -> [u8; 32] {
    match mode {
        SecretDerivation::SeaweedFs => Sha256::new()
            .chain_update(label)
            .chain_update(sid.as_bytes())
            .finalize()
            .into(),
        SecretDerivation::Hmac => {
            // HMAC takes keys of any length, so construction cannot fail.
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(label);
            mac.update(sid.as_bytes());
            mac.finalize().into_bytes().into()
        }
    }
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

    const VECTORS: [(&str, &str, &str); 3] = [
        (
            "0123456789abcdef0123456789abcdef",
            "ASIAa80cb9b4919860c6",
            "w5uwawcgEtfBlW4iMNHZTmI2JvJC3ThkIouP26lSo9Y=",
        ),
        (
            "test-session-for-prefix",
            "ASIA930389695b2271c8",
            "xQ7aZwfnM5otds5ieE5Acs2jcUdnXCqQF8NzbchkzBY=",
        ),
        (
            "format-test-session",
            "ASIAbe06e38806d045ec",
            "2zibpekvE6E3tGc9TrU7JGcmFohdd6gSHikAChGZJ8o=",
        ),
    ];

    #[test]
    fn seaweedfs_mode_matches_every_vector() {
        let key = vector_key();
        for (sid, akid, secret) in VECTORS {
            let creds = derive_credentials(sid, SecretDerivation::SeaweedFs, &key);
            assert_eq!(creds.access_key_id, akid);
            assert_eq!(creds.secret_access_key.expose(), secret);
        }
    }

    #[test]
    fn seaweedfs_mode_does_not_depend_on_the_key() {
        let a = derive_credentials("s", SecretDerivation::SeaweedFs, &vector_key());
        let other = SigningKey::from_bytes(vec![7; 32]).unwrap();
        assert_eq!(
            a,
            derive_credentials("s", SecretDerivation::SeaweedFs, &other)
        );
    }

    #[test]
    fn hmac_mode_has_the_same_shape_but_other_values_and_depends_on_the_key() {
        let key = vector_key();
        let (sid, akid, secret) = VECTORS[0];
        let creds = derive_credentials(sid, SecretDerivation::Hmac, &key);
        assert_ne!(creds.access_key_id, akid);
        assert_ne!(creds.secret_access_key.expose(), secret);
        assert_eq!(creds.access_key_id.len(), 20);
        assert!(creds.access_key_id.starts_with("ASIA"));
        assert!(creds.access_key_id[4..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_eq!(creds.secret_access_key.expose().len(), 44);

        let other = SigningKey::from_bytes(vec![7; 32]).unwrap();
        let with_other = derive_credentials(sid, SecretDerivation::Hmac, &other);
        assert_ne!(creds.access_key_id, with_other.access_key_id);
        assert_ne!(creds.secret_access_key, with_other.secret_access_key);
        assert_eq!(creds, derive_credentials(sid, SecretDerivation::Hmac, &key));
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
        let creds = derive_credentials(VECTORS[0].0, SecretDerivation::SeaweedFs, &vector_key());
        assert!(!format!("{creds:?}").contains(VECTORS[0].2));
    }
}
