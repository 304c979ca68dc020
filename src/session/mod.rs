//! Session tokens (the JWT a SeaweedFS gateway verifies) and the credentials derived from them.

pub mod key;

pub use key::SigningKey;
