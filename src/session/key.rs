//! The HS256 session-token signing key, decoded from standard padded base64, with a derived key id.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::secret::SecretBytes;

/// Minimum decoded length accepted for a signing key (DESIGN.md §4; SeaweedFS itself accepts 16).
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningKeyError {
    #[error("not standard padded base64 (RFC 4648 §4)")]
    NotBase64,
    #[error("decodes to {0} bytes; at least {MIN_SIGNING_KEY_BYTES} are required")]
    TooShort(usize),
}

/// A signing key plus its public key id. The id is derived from the key so that every replica
/// that shares the key agrees on it without configuration, and it reveals nothing about the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    kid: String,
    key: SecretBytes,
}

impl SigningKey {
    /// Decode a key as written in `iam.json` (`sts.signingKey`): standard base64 with padding.
    pub fn from_base64(text: &str) -> Result<Self, SigningKeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| SigningKeyError::NotBase64)?;
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SigningKeyError> {
        if bytes.len() < MIN_SIGNING_KEY_BYTES {
            return Err(SigningKeyError::TooShort(bytes.len()));
        }
        let digest = Sha256::new()
            .chain_update(b"stsd-kid:")
            .chain_update(&bytes)
            .finalize();
        let kid = hex::encode(&digest[..8]);
        Ok(Self {
            kid,
            key: SecretBytes::new(bytes),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn bytes(&self) -> &[u8] {
        self.key.expose()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_seaweedfs_example_key() {
        let k =
            SigningKey::from_base64("dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=").unwrap();
        assert_eq!(k.bytes(), b"test-signing-key-32-characters-long");
        assert_eq!(k.kid().len(), 16);
    }

    #[test]
    fn rejects_unpadded_raw_and_short_keys() {
        assert_eq!(
            SigningKey::from_base64("dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc"),
            Err(SigningKeyError::NotBase64)
        );
        assert_eq!(
            SigningKey::from_base64("test-signing-key-32-characters-long"),
            Err(SigningKeyError::NotBase64)
        );
        assert_eq!(
            SigningKey::from_base64("c2hvcnQ="),
            Err(SigningKeyError::TooShort(5))
        );
    }

    #[test]
    fn kid_differs_per_key_and_hides_it() {
        let a = SigningKey::from_bytes(vec![1; 32]).unwrap();
        let b = SigningKey::from_bytes(vec![2; 32]).unwrap();
        assert_ne!(a.kid(), b.kid());
        assert!(!format!("{a:?}").contains("1, 1, 1"));
    }
}
