//! Session tokens (the JWT a SeaweedFS gateway verifies) and the credentials derived from them.

pub mod credentials;
pub mod key;

pub use credentials::SecretDerivation;
pub use key::SigningKey;
