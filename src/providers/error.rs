//! Why a web identity token was refused, and why a provider registry could not be built.

use thiserror::Error;

/// A refused web identity token. Messages name the failed check and never echo the token, a
/// signature or key material; the few token-derived values shown (alg, kid) are shortened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("token is longer than {} characters", super::jwt::MAX_TOKEN_LEN)]
    TooLarge,
    #[error("token is not a well-formed JWS: {0}")]
    Malformed(&'static str),
    #[error("no identity provider is configured for the token's issuer")]
    UnknownIssuer,
    #[error("identity provider {provider} is disabled")]
    ProviderDisabled { provider: String },
    #[error("signature algorithm {alg} is not allowed")]
    AlgorithmNotAllowed { alg: String },
    #[error("signature algorithm {alg} does not fit the key's type")]
    KeyTypeMismatch { alg: String },
    #[error("{}", unknown_key_message(.kid))]
    UnknownKey { kid: Option<String> },
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token issuer does not match the provider")]
    WrongIssuer,
    #[error("token audience is not one of the provider's client ids")]
    WrongAudience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token has no {claim} claim")]
    MissingClaim { claim: &'static str },
    #[error("token claim {claim} is invalid: {reason}")]
    InvalidClaim {
        claim: &'static str,
        reason: &'static str,
    },
    #[error("identity provider {provider} could not be reached and no cached key fits: {reason}")]
    IdpUnavailable { provider: String, reason: String },
}

fn unknown_key_message(kid: &Option<String>) -> String {
    match kid {
        Some(kid) => format!("no signing key with kid {kid} is published by the provider"),
        None => "the token names no kid and no single key of its type is published".to_owned(),
    }
}

impl TokenError {
    /// A stable, bounded label for metrics, logs and the operator dry run.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge => "too-large",
            Self::Malformed(_) => "malformed",
            Self::UnknownIssuer => "unknown-issuer",
            Self::ProviderDisabled { .. } => "provider-disabled",
            Self::AlgorithmNotAllowed { .. } => "algorithm-not-allowed",
            Self::KeyTypeMismatch { .. } => "key-type-mismatch",
            Self::UnknownKey { .. } => "unknown-key",
            Self::BadSignature => "bad-signature",
            Self::WrongIssuer => "wrong-issuer",
            Self::WrongAudience => "wrong-audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::IssuedInFuture => "issued-in-future",
            Self::MissingClaim { .. } => "missing-claim",
            Self::InvalidClaim { .. } => "invalid-claim",
            Self::IdpUnavailable { .. } => "idp-unavailable",
        }
    }
}

/// A provider list that cannot be turned into working verifiers.
#[derive(Debug, Error)]
pub enum ProviderError {
    #[error("provider {provider}: {reason}")]
    Invalid { provider: String, reason: String },
    #[error("provider {provider}: cannot use tlsCaCert {path}: {reason}")]
    TlsCa {
        provider: String,
        path: String,
        reason: String,
    },
    #[error("provider {provider}: cannot build the HTTP client: {reason}")]
    HttpClient { provider: String, reason: String },
    #[error("providers {first} and {second} have the same {what}")]
    Duplicate {
        first: String,
        second: String,
        what: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_distinct() {
        let all = [
            TokenError::TooLarge,
            TokenError::Malformed("x"),
            TokenError::UnknownIssuer,
            TokenError::ProviderDisabled {
                provider: "p".into(),
            },
            TokenError::AlgorithmNotAllowed { alg: "a".into() },
            TokenError::KeyTypeMismatch { alg: "a".into() },
            TokenError::UnknownKey { kid: None },
            TokenError::BadSignature,
            TokenError::WrongIssuer,
            TokenError::WrongAudience,
            TokenError::Expired,
            TokenError::NotYetValid,
            TokenError::IssuedInFuture,
            TokenError::MissingClaim { claim: "sub" },
            TokenError::InvalidClaim {
                claim: "sub",
                reason: "r",
            },
            TokenError::IdpUnavailable {
                provider: "p".into(),
                reason: "r".into(),
            },
        ];
        let kinds: std::collections::HashSet<_> = all.iter().map(TokenError::kind).collect();
        assert_eq!(kinds.len(), all.len());
    }
}
