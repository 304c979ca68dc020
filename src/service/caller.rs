//! GetCallerIdentity: authenticate a SigV4-signed request made with credentials stsd issued,
//! by verifying the session token and deriving the secret from it.

use time::OffsetDateTime;

use crate::session::{self, SessionTokenError};
use crate::sigv4::{self, SigV4Error, SignedRequest};

use super::{ServiceError, StsService};

/// Returned when `sts.accountId` is not configured (SeaweedFS's default).
const DEFAULT_ACCOUNT: &str = "000000000000";

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
        let claims = rt.keys.verify(token, now).map_err(|e| match e {
            SessionTokenError::Expired => expired_token(),
            _ => invalid_token(),
        })?;
        let derived = session::derive_credentials(
            &claims.sid,
            rt.config.sts.secret_derivation,
            &rt.config.sts.signing_key,
        );
        if derived.access_key_id != parsed.access_key_id() {
            return Err(invalid_token());
        }
        parsed
            .verify(request, derived.secret_access_key.expose(), now)
            .map_err(sigv4_error)?;
        // Checked only once the caller has proved it holds the secret. ExpiredToken tells a
        // client what to do, get new credentials, and is what it already handles.
        if self.is_session_revoked(&rt, &claims) {
            return Err(expired_token());
        }
        let role_name = role_name_of(&claims.principal).unwrap_or_default();
        Ok(CallerIdentity {
            user_id: format!("{role_name}:{}", claims.snam),
            arn: claims.principal,
            account: rt
                .config
                .sts
                .account_id
                .clone()
                .unwrap_or_else(|| DEFAULT_ACCOUNT.to_string()),
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
}
