//! GetCallerIdentity: authenticate a SigV4-signed request made with credentials stsd issued,
//! by verifying the session token and deriving the secret from it.

use time::OffsetDateTime;

use crate::arn::parse_role_arn;
use crate::session::SessionTokenError;
use crate::sigv4::{self, SigV4Error, SignedRequest};

use super::{ServiceError, StsService};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub arn: String,
    /// `<RoleName>:<RoleSessionName>`, as AWS's `<RoleId>:<RoleSessionName>`.
    pub user_id: String,
    pub account: String,
}

impl StsService {
    pub fn get_caller_identity(
        &self,
        request: &SignedRequest,
        now: OffsetDateTime,
    ) -> Result<CallerIdentity, ServiceError> {
        let now = now.unix_timestamp();
        let parsed = sigv4::parse(request).map_err(sigv4_error)?;
        if parsed.credential.service != "sts" {
            return Err(ServiceError::IncompleteSignature {
                message: "Credential should be scoped to correct service: 'sts'".into(),
            });
        }
        let token = parsed.security_token().ok_or_else(invalid_token)?;
        let rt = self.runtime();
        let session = rt
            .keys
            .open(token, now, rt.config.sts.secret_derivation)
            .map_err(|e| match e {
                SessionTokenError::Expired => expired_token(),
                _ => invalid_token(),
            })?;
        let (claims, derived) = (session.claims, session.credentials);
        if derived.access_key_id != parsed.access_key_id() {
            return Err(invalid_token());
        }
        parsed
            .verify_with_body(request, derived.secret_access_key.expose(), now)
            .map_err(sigv4_error)?;
        // Checked only once the caller has proved it holds the secret. ExpiredToken tells a
        // client what to do, get new credentials, and is what it already handles.
        if self.is_session_revoked(&rt, &claims) {
            return Err(expired_token());
        }
        let role_name = role_name_of(&claims.principal).unwrap_or_default();
        // Answer in the partition the role is configured with, as AssumeRoleWithWebIdentity did.
        let partition = rt
            .config
            .role_by_arn(&claims.role)
            .map(|r| r.partition)
            .or_else(|| parse_role_arn(&claims.role).map(|a| a.partition))
            .unwrap_or_default();
        Ok(CallerIdentity {
            user_id: format!("{role_name}:{}", claims.snam),
            // The account the ARN names, so the two always agree: empty when `sts.accountId`
            // was unset at minting, as the ARN then has no account either.
            account: account_of(&claims.principal).to_owned(),
            arn: partition.apply(&claims.principal),
        })
    }
}

fn expired_token() -> ServiceError {
    ServiceError::ExpiredSessionToken {
        message: "The security token included in the request is expired".into(),
    }
}

fn invalid_token() -> ServiceError {
    ServiceError::InvalidClientTokenId {
        message: "The security token included in the request is invalid".into(),
    }
}

fn sigv4_error(e: SigV4Error) -> ServiceError {
    match e {
        SigV4Error::MissingAuthentication => ServiceError::MissingAuthenticationToken {
            message: "Request is missing Authentication Token".into(),
        },
        SigV4Error::IncompleteSignature(_) => ServiceError::IncompleteSignature {
            message: e.to_string(),
        },
        SigV4Error::SignatureDoesNotMatch => ServiceError::SignatureDoesNotMatch {
            message:
                "The request signature we calculated does not match the signature you provided"
                    .into(),
        },
        SigV4Error::RequestExpired => ServiceError::RequestExpired {
            message: "Request has expired or its timestamp is outside the allowed window".into(),
        },
    }
}

/// `arn:aws:sts::[acct:]assumed-role/<Role>/<Session>` → `acct` (empty without one).
fn account_of(principal: &str) -> &str {
    principal
        .strip_prefix("arn:aws:sts::")
        .and_then(|rest| rest.split_once(':'))
        .map_or("", |(account, _)| account)
}

/// `arn:aws:sts::[acct:]assumed-role/<Role>/<Session>` → `<Role>`.
fn role_name_of(principal: &str) -> Option<&str> {
    let (_, rest) = principal.split_once(":assumed-role/")?;
    rest.split('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_name_comes_from_the_assumed_role_arn() {
        assert_eq!(
            role_name_of("arn:aws:sts::assumed-role/Reader/s"),
            Some("Reader")
        );
        assert_eq!(
            role_name_of("arn:aws:sts::123456789012:assumed-role/R/s"),
            Some("R")
        );
        assert_eq!(role_name_of("arn:aws:iam::user/x"), None);
    }

    #[test]
    fn account_comes_from_the_assumed_role_arn() {
        assert_eq!(account_of("arn:aws:sts::assumed-role/Reader/s"), "");
        assert_eq!(
            account_of("arn:aws:sts::123456789012:assumed-role/R/s"),
            "123456789012"
        );
    }
}
