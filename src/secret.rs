//! Wrappers for secret material: zeroized on drop, redacted in `Debug`, compared in constant time.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes (signing keys). Never printed, never serialized.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(***)")
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

/// A secret string (client secrets, derived secret access keys).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = SecretString::new("hunter2-very-secret".into());
        let b = SecretBytes::new(b"key-material".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{b:?}").contains("key-material"));
    }

    #[test]
    fn equality_compares_content() {
        assert_eq!(
            SecretBytes::new(vec![1, 2, 3]),
            SecretBytes::new(vec![1, 2, 3])
        );
        assert_ne!(
            SecretBytes::new(vec![1, 2, 3]),
            SecretBytes::new(vec![1, 2, 4])
        );
        assert_ne!(
            SecretString::new("a".into()),
            SecretString::new("ab".into())
        );
    }
}
