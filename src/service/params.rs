//! AssumeRoleWithWebIdentity parameters, validated to the AWS limits before any cryptography.

use super::ServiceError;

/// Parameters as they arrive (query API or JSON twin), before validation.
#[derive(Debug, Default, Clone)]
pub struct RawAssumeRoleParams {
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub web_identity_token: Option<String>,
    pub duration_seconds: Option<String>,
    pub policy: Option<String>,
}

/// A request whose parameters passed validation (DESIGN.md §6.1).
#[derive(Debug, Clone)]
pub struct AssumeRoleRequest {
    pub role_arn: Option<String>,
    pub role_session_name: String,
    pub web_identity_token: String,
    pub duration_seconds: Option<u32>,
    pub policy: Option<String>,
}

impl AssumeRoleRequest {
    pub fn validate(_raw: RawAssumeRoleParams) -> Result<Self, ServiceError> {
        Err(ServiceError::Internal {
            detail: "validation not written yet".into(),
        })
    }
}
