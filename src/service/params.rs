//! AssumeRoleWithWebIdentity parameters, validated to the AWS limits before any cryptography
//! (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html).

use super::ServiceError;
use crate::arn::{self, Partition, CLAIM_BASED_ROLE_ARN};

/// Parameters as they arrive (query API or JSON twin), before validation.
#[derive(Debug, Default, Clone)]
pub struct RawAssumeRoleParams {
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub web_identity_token: Option<String>,
    pub duration_seconds: Option<String>,
    pub policy: Option<String>,
}

/// What `RoleArn` asks for, parsed once by the one role-ARN parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleTarget {
    /// An empty or absent `RoleArn`, or `arn:aws:iam:::role/sts-claim-based` (either partition):
    /// the policies come from the provider's `policyClaim` (seaweedfs-sts.md §8.3).
    ClaimBased {
        /// The ARN as sent, or the sentinel when none was.
        arn: String,
        partition: Partition,
    },
    /// A role by name: a configured role, or a value of the token's policy claim naming a policy.
    Named {
        arn: String,
        partition: Partition,
        name: String,
    },
}

impl RoleTarget {
    /// The ARN as the caller sent it (the sentinel for an empty one).
    pub fn arn(&self) -> &str {
        match self {
            Self::ClaimBased { arn, .. } | Self::Named { arn, .. } => arn,
        }
    }

    pub fn is_claim_based(&self) -> bool {
        matches!(self, Self::ClaimBased { .. })
    }

    /// A role ARN (in either partition) as a target; `None` when it is not an IAM role ARN.
    pub fn parse(text: String) -> Option<Self> {
        let parsed = arn::parse_role_arn(&text)?;
        Some(if parsed.is_claim_based() {
            Self::ClaimBased {
                partition: parsed.partition,
                arn: text,
            }
        } else {
            Self::Named {
                partition: parsed.partition,
                name: parsed.name.to_owned(),
                arn: text,
            }
        })
    }

    fn claim_based_default() -> Self {
        Self::ClaimBased {
            arn: CLAIM_BASED_ROLE_ARN.to_owned(),
            partition: Partition::Aws,
        }
    }
}

/// A request whose parameters passed validation (DESIGN.md §6.1).
#[derive(Debug, Clone)]
pub struct AssumeRoleRequest {
    pub role: RoleTarget,
    pub role_session_name: String,
    pub web_identity_token: String,
    pub duration_seconds: Option<u32>,
    pub policy: Option<String>,
    /// The caller's address, for `aws:SourceIp` conditions (set by the transport).
    pub source_ip: Option<std::net::IpAddr>,
}

pub(super) const TOKEN_LEN: (usize, usize) = (4, 20_000);
pub(super) const SESSION_NAME_LEN: (usize, usize) = (2, 64);
const ROLE_ARN_LEN: (usize, usize) = (20, 2048);
const DURATION_RANGE: (u32, u32) = (900, 43_200);
const POLICY_LEN: (usize, usize) = (1, 2048);

const SESSION_NAME_PATTERN: &str = r"[\w+=,.@-]*";
const ROLE_ARN_PATTERN: &str =
    r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+";
const POLICY_PATTERN: &str = r"[\u0009\u000A\u000D\u0020-\u00FF]+";

impl AssumeRoleRequest {
    /// Checks presence, then every length/pattern/range rule (all violations are reported together,
    /// as AWS does), then the shape of `RoleArn`. Messages name the parameter and the rule and never
    /// echo a value: the token is a credential and the others are caller-controlled text.
    pub fn validate(raw: RawAssumeRoleParams) -> Result<Self, ServiceError> {
        // SDKs read the token from a file and send its trailing newline along.
        let token = raw
            .web_identity_token
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| missing("WebIdentityToken"))?;
        let session_name = raw
            .role_session_name
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("RoleSessionName"))?;
        // SeaweedFS clients send an empty RoleArn to select claim-based mode; treat it as absent and
        // let the service decide whether the provider allows that.
        let role_arn = raw.role_arn.filter(|a| !a.is_empty());

        let mut violations = Vec::new();
        check_length(&mut violations, "webIdentityToken", &token, TOKEN_LEN);
        check_length(
            &mut violations,
            "roleSessionName",
            &session_name,
            SESSION_NAME_LEN,
        );
        if !session_name.bytes().all(is_session_name_byte) {
            violations.push(pattern_violation("roleSessionName", SESSION_NAME_PATTERN));
        }
        if let Some(arn) = &role_arn {
            check_length(&mut violations, "roleArn", arn, ROLE_ARN_LEN);
            if !arn.chars().all(is_arn_char) {
                violations.push(pattern_violation("roleArn", ROLE_ARN_PATTERN));
            }
        }
        let duration_seconds = match raw.duration_seconds.as_deref() {
            None => None,
            Some(text) => match text.parse::<u32>() {
                Ok(d) if d < DURATION_RANGE.0 => {
                    violations.push(format!(
                        "Value at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {}",
                        DURATION_RANGE.0
                    ));
                    None
                }
                Ok(d) if d > DURATION_RANGE.1 => {
                    violations.push(format!(
                        "Value at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {}",
                        DURATION_RANGE.1
                    ));
                    None
                }
                Ok(d) => Some(d),
                Err(_) => {
                    violations.push(
                        "Value at 'durationSeconds' failed to satisfy constraint: Member must be an integer between 900 and 43200"
                            .to_owned(),
                    );
                    None
                }
            },
        };
        if let Some(policy) = &raw.policy {
            check_length(&mut violations, "policy", policy, POLICY_LEN);
            if !policy.chars().all(is_policy_char) {
                violations.push(pattern_violation("policy", POLICY_PATTERN));
            }
        }
        if !violations.is_empty() {
            let count = violations.len();
            let noun = if count == 1 { "error" } else { "errors" };
            return Err(ServiceError::Validation {
                message: format!(
                    "{count} validation {noun} detected: {}",
                    violations.join("; ")
                ),
            });
        }

        let role = match role_arn {
            None => RoleTarget::claim_based_default(),
            Some(text) => RoleTarget::parse(text).ok_or_else(|| {
                ServiceError::InvalidParameterValue {
                    message: "RoleArn must be an IAM role ARN of the form arn:aws:iam::[account:]role/<name> (or arn:seaweed:iam::…)"
                        .to_owned(),
                }
            })?,
        };

        Ok(Self {
            role,
            role_session_name: session_name,
            web_identity_token: token,
            duration_seconds,
            policy: raw.policy,
            source_ip: None,
        })
    }
}

fn missing(parameter: &str) -> ServiceError {
    ServiceError::MissingParameter {
        message: format!("The request must contain the parameter {parameter}"),
    }
}

pub(super) fn check_length(
    out: &mut Vec<String>,
    member: &str,
    value: &str,
    (min, max): (usize, usize),
) {
    // AWS counts characters, not bytes.
    let len = value.chars().count();
    if len < min {
        out.push(format!(
            "Value at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        ));
    } else if len > max {
        out.push(format!(
            "Value at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        ));
    }
}

fn pattern_violation(member: &str, pattern: &str) -> String {
    format!(
        "Value at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
    )
}

/// `[\w+=,.@-]` with `\w` in its ASCII meaning, as the AWS model and SeaweedFS both read it.
pub(super) fn is_session_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'=' | b',' | b'.' | b'@' | b'-')
}

fn is_arn_char(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{7E}' | '\u{85}'
    ) || matches!(c, '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn is_policy_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{FF}')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw() -> RawAssumeRoleParams {
        RawAssumeRoleParams {
            role_arn: Some("arn:aws:iam::role/DevRole".into()),
            role_session_name: Some("session-1".into()),
            web_identity_token: Some("eyJhbGciOiJSUzI1NiJ9.e30.c2ln".into()),
            duration_seconds: None,
            policy: None,
        }
    }

    fn validation_message(raw: RawAssumeRoleParams) -> String {
        match AssumeRoleRequest::validate(raw) {
            Err(ServiceError::Validation { message }) => message,
            other => panic!("expected ValidationError, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_well_formed_request() {
        let mut r = raw();
        r.duration_seconds = Some("3600".into());
        r.policy = Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into());
        let req = AssumeRoleRequest::validate(r).unwrap();
        assert_eq!(
            req.role,
            RoleTarget::Named {
                arn: "arn:aws:iam::role/DevRole".into(),
                partition: Partition::Aws,
                name: "DevRole".into()
            }
        );
        assert_eq!(req.role_session_name, "session-1");
        assert_eq!(req.duration_seconds, Some(3600));
        assert!(req.policy.is_some());
    }

    #[test]
    fn trims_the_token_files_trailing_newline() {
        let mut r = raw();
        r.web_identity_token = Some("  abcd\n".into());
        assert_eq!(
            AssumeRoleRequest::validate(r).unwrap().web_identity_token,
            "abcd"
        );
    }

    #[test]
    fn missing_or_blank_token_is_missing_parameter() {
        for token in [None, Some(String::new()), Some(" \n".to_owned())] {
            let mut r = raw();
            r.web_identity_token = token;
            match AssumeRoleRequest::validate(r) {
                Err(ServiceError::MissingParameter { message }) => {
                    assert!(message.contains("WebIdentityToken"), "{message}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn missing_session_name_is_missing_parameter() {
        for name in [None, Some(String::new())] {
            let mut r = raw();
            r.role_session_name = name;
            match AssumeRoleRequest::validate(r) {
                Err(ServiceError::MissingParameter { message }) => {
                    assert!(message.contains("RoleSessionName"), "{message}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn token_length_limits() {
        let mut r = raw();
        r.web_identity_token = Some("abc".into());
        let m = validation_message(r);
        assert!(m.starts_with("1 validation error detected: Value at 'webIdentityToken'"));
        assert!(m.contains("greater than or equal to 4"));

        let mut r = raw();
        r.web_identity_token = Some("a".repeat(20_001));
        let m = validation_message(r);
        assert!(m.contains("less than or equal to 20000"));
        assert!(!m.contains("aaaa"), "token echoed");

        let mut r = raw();
        r.web_identity_token = Some("a".repeat(20_000));
        assert!(AssumeRoleRequest::validate(r).is_ok());
    }

    #[test]
    fn session_name_length_and_pattern() {
        let mut r = raw();
        r.role_session_name = Some("a".into());
        assert!(validation_message(r).contains("'roleSessionName'"));

        let mut r = raw();
        r.role_session_name = Some("a".repeat(65));
        assert!(validation_message(r).contains("less than or equal to 64"));

        let mut r = raw();
        r.role_session_name = Some("a".repeat(64));
        assert!(AssumeRoleRequest::validate(r).is_ok());

        for bad in ["has space", "slash/", "é-non-ascii", "colon:x", "<tag>"] {
            let mut r = raw();
            r.role_session_name = Some(bad.into());
            let m = validation_message(r);
            assert_eq!(
                m,
                r"1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*"
            );
        }
        let mut r = raw();
        r.role_session_name = Some("a_b+c=d,e.f@g-h".into());
        assert!(AssumeRoleRequest::validate(r).is_ok());
    }

    #[test]
    fn reports_every_violation_at_once() {
        let mut r = raw();
        r.role_session_name = Some("x".into());
        r.duration_seconds = Some("10".into());
        let m = validation_message(r);
        assert!(m.starts_with("2 validation errors detected: "), "{m}");
        assert!(m.contains("'roleSessionName'") && m.contains("'durationSeconds'"));
    }

    #[test]
    fn duration_range_and_type() {
        for (text, ok) in [
            ("899", false),
            ("900", true),
            ("43200", true),
            ("43201", false),
            ("-1", false),
            ("1e3", false),
            ("", false),
            ("99999999999999999999", false),
        ] {
            let mut r = raw();
            r.duration_seconds = Some(text.into());
            match AssumeRoleRequest::validate(r) {
                Ok(req) => {
                    assert!(ok, "{text} accepted");
                    assert_eq!(req.duration_seconds, text.parse().ok());
                }
                Err(ServiceError::Validation { message }) => {
                    assert!(!ok, "{text} rejected");
                    assert!(message.contains("'durationSeconds'"));
                }
                Err(other) => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn role_arn_is_optional_and_empty_means_absent() {
        let mut r = raw();
        r.role_arn = None;
        assert_eq!(
            AssumeRoleRequest::validate(r).unwrap().role,
            RoleTarget::claim_based_default()
        );
        let mut r = raw();
        r.role_arn = Some(String::new());
        assert_eq!(
            AssumeRoleRequest::validate(r).unwrap().role,
            RoleTarget::claim_based_default()
        );
    }

    #[test]
    fn role_arn_length() {
        let mut r = raw();
        r.role_arn = Some("arn:aws:iam::role/x".into()); // 19 chars
        assert!(validation_message(r).contains("'roleArn'"));
        let mut r = raw();
        r.role_arn = Some(format!("arn:aws:iam::role/{}", "x".repeat(2048)));
        assert!(validation_message(r).contains("less than or equal to 2048"));
    }

    #[test]
    fn role_arn_shapes() {
        for good in [
            "arn:aws:iam::role/DevRole",
            "arn:aws:iam::123456789012:role/S3Reader",
            "arn:aws:iam::123456789012:role/path/to/Role",
            "arn:seaweed:iam::role/S3AdminRole",
        ] {
            let mut r = raw();
            r.role_arn = Some(good.into());
            let req = AssumeRoleRequest::validate(r).unwrap();
            assert_eq!(req.role.arn(), good);
        }
        for sentinel in [
            "arn:aws:iam:::role/sts-claim-based",
            "arn:seaweed:iam:::role/sts-claim-based",
        ] {
            let mut r = raw();
            r.role_arn = Some(sentinel.into());
            assert!(AssumeRoleRequest::validate(r)
                .unwrap()
                .role
                .is_claim_based());
        }
        for bad in [
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws-cn:iam::123456789012:role/X",
            "arn:aws:sts::123456789012:role/X",
            "arn:aws:iam::123456789012:role/",
            "not-an-arn-at-all-but-long",
            "arn:aws:iam::12:34:role/Xyzzy",
        ] {
            let mut r = raw();
            r.role_arn = Some(bad.into());
            match AssumeRoleRequest::validate(r) {
                Err(ServiceError::InvalidParameterValue { message }) => {
                    assert!(message.contains("RoleArn"));
                    assert!(!message.contains(bad));
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn policy_limits() {
        let mut r = raw();
        r.policy = Some(String::new());
        assert!(validation_message(r).contains("'policy'"));
        let mut r = raw();
        r.policy = Some("x".repeat(2049));
        assert!(validation_message(r).contains("less than or equal to 2048"));
        let mut r = raw();
        r.policy = Some("{\"a\":\"\u{263A}\"}".into());
        assert!(validation_message(r).contains("regular expression"));
        // Not parsed here: that is the service's job (MalformedPolicyDocument).
        let mut r = raw();
        r.policy = Some("not json".into());
        assert!(AssumeRoleRequest::validate(r).is_ok());
    }

    #[test]
    fn missing_parameter_wins_over_validation() {
        let mut r = raw();
        r.web_identity_token = None;
        r.role_session_name = Some("x".into());
        assert!(matches!(
            AssumeRoleRequest::validate(r),
            Err(ServiceError::MissingParameter { .. })
        ));
    }
}
