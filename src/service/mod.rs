//! AssumeRoleWithWebIdentity orchestration: verify the token, check the trust policy, cap the
//! duration, mint the session. No HTTP types here; the clock is an argument.

pub mod error;
pub mod params;

use time::OffsetDateTime;

use crate::secret::SecretString;

pub use error::ServiceError;
pub use params::{AssumeRoleRequest, RawAssumeRoleParams};

/// Temporary credentials as returned to the caller.
#[derive(Debug, Clone)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: String,
    pub expiration: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRoleUser {
    /// `arn:aws:sts::[account:]assumed-role/<RoleName>/<RoleSessionName>`
    pub arn: String,
    /// `<RoleName>:<RoleSessionName>`
    pub assumed_role_id: String,
}

/// Everything the AssumeRoleWithWebIdentity response carries.
#[derive(Debug, Clone)]
pub struct AssumeRoleOutput {
    pub credentials: IssuedCredentials,
    pub subject: String,
    pub assumed_role_user: AssumedRoleUser,
    /// The web identity token's issuer.
    pub provider: String,
    /// The audience value that matched the provider's client ids.
    pub audience: String,
    /// Present only when the request carried a session `Policy`.
    pub packed_policy_size: Option<u32>,
}

/// The STS service. Cheap to clone; all replicas built from the same file behave identically.
#[derive(Clone, Default)]
pub struct StsService {}

impl StsService {
    pub async fn assume_role_with_web_identity(
        &self,
        _request: AssumeRoleRequest,
        _now: OffsetDateTime,
    ) -> Result<AssumeRoleOutput, ServiceError> {
        Err(ServiceError::Internal {
            detail: "service not wired yet".into(),
        })
    }
}
