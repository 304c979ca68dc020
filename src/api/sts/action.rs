//! The query API's `Action`, parsed once from the request parameters
//! (https://docs.aws.amazon.com/STS/latest/APIReference/CommonParameters.html).

use super::form::{displayable_name, Params};
use crate::api::ApiError;
use crate::service::RawAssumeRoleParams;

pub const API_VERSION: &str = "2011-06-15";

/// A request of an action stsd serves, with its parameters.
#[derive(Debug, Clone)]
pub enum Action {
    AssumeRoleWithWebIdentity(RawAssumeRoleParams),
    GetCallerIdentity,
}

/// The action names, for spans and metric labels (a bounded set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionName {
    AssumeRoleWithWebIdentity,
    GetCallerIdentity,
}

impl ActionName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
            Self::GetCallerIdentity => "GetCallerIdentity",
        }
    }
}

impl Action {
    pub fn name(&self) -> &'static str {
        self.action_name().as_str()
    }

    pub fn action_name(&self) -> ActionName {
        match self {
            Self::AssumeRoleWithWebIdentity(_) => ActionName::AssumeRoleWithWebIdentity,
            Self::GetCallerIdentity => ActionName::GetCallerIdentity,
        }
    }

    /// `Action` first (missing → MissingAction, anything stsd does not serve → InvalidAction, even
    /// real AWS actions such as AssumeRole), then `Version`. A missing `Version` is accepted: every
    /// SDK sends it, and hand-written `curl` calls are easier without it; a wrong one is refused.
    pub fn parse(mut params: Params) -> Result<Self, ApiError> {
        let action = params.take("Action").ok_or(ApiError::MissingAction)?;
        let name = match action.as_str() {
            "AssumeRoleWithWebIdentity" => ActionName::AssumeRoleWithWebIdentity,
            "GetCallerIdentity" => ActionName::GetCallerIdentity,
            "" => return Err(ApiError::MissingAction),
            other => {
                return Err(ApiError::InvalidAction {
                    action: displayable_name(other).then(|| other.to_owned()),
                })
            }
        };
        if let Some(version) = params.take("Version") {
            if version != API_VERSION {
                return Err(ApiError::InvalidVersion);
            }
        }
        Ok(match name {
            ActionName::AssumeRoleWithWebIdentity => {
                // Managed session policies would narrow the session; ignoring them would hand out
                // broader credentials than the caller asked for, so they are refused instead.
                if params.names().any(|n| n.starts_with("PolicyArns.")) {
                    return Err(ApiError::UnsupportedParameter {
                        parameter: "PolicyArns",
                    });
                }
                Self::AssumeRoleWithWebIdentity(RawAssumeRoleParams {
                    role_arn: params.take("RoleArn"),
                    role_session_name: params.take("RoleSessionName"),
                    web_identity_token: params.take("WebIdentityToken"),
                    duration_seconds: params.take("DurationSeconds"),
                    policy: params.take("Policy"),
                })
            }
            ActionName::GetCallerIdentity => Self::GetCallerIdentity,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Action, ApiError> {
        Action::parse(Params::parse(q.as_bytes(), b"").unwrap())
    }

    #[test]
    fn assume_role_with_web_identity_carries_its_parameters() {
        let a = parse("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=r&RoleSessionName=s&WebIdentityToken=t&DurationSeconds=900&Policy=p&ProviderId=ignored").unwrap();
        assert_eq!(a.name(), "AssumeRoleWithWebIdentity");
        let Action::AssumeRoleWithWebIdentity(raw) = a else {
            panic!("wrong action")
        };
        assert_eq!(raw.role_arn.as_deref(), Some("r"));
        assert_eq!(raw.role_session_name.as_deref(), Some("s"));
        assert_eq!(raw.web_identity_token.as_deref(), Some("t"));
        assert_eq!(raw.duration_seconds.as_deref(), Some("900"));
        assert_eq!(raw.policy.as_deref(), Some("p"));
    }

    #[test]
    fn get_caller_identity() {
        assert_eq!(
            parse("Action=GetCallerIdentity&Version=2011-06-15")
                .unwrap()
                .name(),
            "GetCallerIdentity"
        );
    }

    #[test]
    fn missing_action() {
        assert_eq!(
            parse("Version=2011-06-15").unwrap_err(),
            ApiError::MissingAction
        );
        assert_eq!(parse("Action=").unwrap_err(), ApiError::MissingAction);
    }

    #[test]
    fn unknown_and_unserved_actions_are_invalid() {
        assert_eq!(
            parse("Action=AssumeRole&Version=2011-06-15").unwrap_err(),
            ApiError::InvalidAction {
                action: Some("AssumeRole".into())
            }
        );
        // Case matters, as on AWS.
        assert!(matches!(
            parse("Action=assumerolewithwebidentity").unwrap_err(),
            ApiError::InvalidAction { .. }
        ));
        assert_eq!(
            parse("Action=%3Cscript%3E").unwrap_err(),
            ApiError::InvalidAction { action: None }
        );
    }

    #[test]
    fn version_must_match_when_given() {
        assert_eq!(
            parse("Action=GetCallerIdentity&Version=2012-01-01").unwrap_err(),
            ApiError::InvalidVersion
        );
        assert_eq!(
            parse("Action=GetCallerIdentity&Version=").unwrap_err(),
            ApiError::InvalidVersion
        );
        assert!(parse("Action=GetCallerIdentity").is_ok());
    }

    #[test]
    fn action_is_checked_before_version() {
        assert_eq!(
            parse("Action=Nope&Version=bad").unwrap_err(),
            ApiError::InvalidAction {
                action: Some("Nope".into())
            }
        );
    }

    #[test]
    fn policy_arns_are_refused() {
        assert_eq!(
            parse("Action=AssumeRoleWithWebIdentity&PolicyArns.member.1.arn=arn:aws:iam::aws:policy/X")
                .unwrap_err(),
            ApiError::UnsupportedParameter {
                parameter: "PolicyArns"
            }
        );
    }
}
