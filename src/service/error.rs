//! The service-level error: one variant per AWS error code the service can produce.

use crate::limits::Throttled;
use crate::providers::TokenError;

/// Messages are safe to show to the caller: they never contain a token, a secret or internal
/// detail. `Internal::detail` is for the log only and is never rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("{message}")]
    MissingParameter { message: String },
    #[error("{message}")]
    Validation { message: String },
    #[error("{message}")]
    InvalidParameterValue { message: String },
    #[error("{message}")]
    InvalidIdentityToken { message: String },
    #[error("{message}")]
    ExpiredToken { message: String },
    #[error("{message}")]
    IdpRejectedClaim { message: String },
    #[error("{message}")]
    IdpCommunication { message: String },
    #[error("{message}")]
    AccessDenied { message: String },
    #[error("{message}")]
    MalformedPolicyDocument { message: String },
    #[error("{message}")]
    PackedPolicyTooLarge { message: String },
    #[error("Rate exceeded")]
    Throttling,
    #[error("{message}")]
    MissingAuthenticationToken { message: String },
    #[error("{message}")]
    InvalidClientTokenId { message: String },
    #[error("{message}")]
    SignatureDoesNotMatch { message: String },
    #[error("{message}")]
    IncompleteSignature { message: String },
    /// A session token stsd issued has expired (GetCallerIdentity), as opposed to an expired
    /// web identity token.
    #[error("{message}")]
    ExpiredSessionToken { message: String },
    #[error("{message}")]
    RequestExpired { message: String },
    #[error("internal failure")]
    Internal { detail: String },
}

impl ServiceError {
    /// The AWS error code this error is reported as (DESIGN.md §7).
    pub fn aws_code(&self) -> &'static str {
        match self {
            Self::MissingParameter { .. } => "MissingParameter",
            Self::Validation { .. } => "ValidationError",
            Self::InvalidParameterValue { .. } => "InvalidParameterValue",
            Self::InvalidIdentityToken { .. } => "InvalidIdentityToken",
            Self::ExpiredToken { .. } => "ExpiredTokenException",
            Self::IdpRejectedClaim { .. } => "IDPRejectedClaim",
            Self::IdpCommunication { .. } => "IDPCommunicationError",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::MalformedPolicyDocument { .. } => "MalformedPolicyDocument",
            Self::PackedPolicyTooLarge { .. } => "PackedPolicyTooLarge",
            Self::Throttling => "Throttling",
            Self::MissingAuthenticationToken { .. } => "MissingAuthenticationToken",
            Self::InvalidClientTokenId { .. } => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            Self::IncompleteSignature { .. } => "IncompleteSignature",
            Self::ExpiredSessionToken { .. } => "ExpiredToken",
            Self::RequestExpired { .. } => "RequestExpired",
            Self::Internal { .. } => "InternalFailure",
        }
    }
}

impl From<Throttled> for ServiceError {
    fn from(_: Throttled) -> Self {
        Self::Throttling
    }
}

impl From<TokenError> for ServiceError {
    /// DESIGN.md §7: which AWS code each token failure surfaces as. The messages come from
    /// `TokenError`, which never echoes the token.
    fn from(e: TokenError) -> Self {
        let message = e.to_string();
        match e {
            TokenError::TooLarge
            | TokenError::Malformed(_)
            | TokenError::UnknownIssuer
            | TokenError::AlgorithmNotAllowed { .. }
            | TokenError::KeyTypeMismatch { .. }
            | TokenError::UnknownKey { .. }
            | TokenError::BadSignature
            | TokenError::WrongIssuer
            | TokenError::WrongAudience
            | TokenError::NotYetValid
            | TokenError::IssuedInFuture => Self::InvalidIdentityToken { message },
            TokenError::Expired => Self::ExpiredToken { message },
            TokenError::ProviderDisabled { .. }
            | TokenError::MissingClaim { .. }
            | TokenError::InvalidClaim { .. } => Self::IdpRejectedClaim { message },
            TokenError::IdpUnavailable { provider, reason } => {
                // The reason names the IdP's URL: useful in the log, not in a response.
                tracing::warn!(provider = %provider, reason = %reason, "identity provider unreachable");
                Self::IdpCommunication {
                    message: format!(
                        "Couldn't retrieve verification key from your identity provider ({provider})"
                    ),
                }
            }
        }
    }
}
