//! Session tokens (the JWT a SeaweedFS gateway verifies) and the credentials derived from them.

pub mod claims;
pub mod credentials;
pub mod key;
pub mod token;
#[cfg(test)]
pub(crate) mod vectors;

pub use claims::{ClaimsError, SessionClaims, SESSION_TOKEN_TYPE};
pub use credentials::{
    derive_credentials, new_session_id, parent_user_id, DerivedCredentials, SecretDerivation,
};
pub use key::SigningKey;
pub use token::{OpenSession, SessionKeys, SessionTokenError, MAX_SESSION_TOKEN_BYTES};
