//! The JSON twin of AssumeRoleWithWebIdentity: request body parsing and response shape
//! (DESIGN.md §3).

use serde::Serialize;

use crate::api::json_body::JsonFields;
use crate::api::ApiError;
use crate::service::{AssumeRoleOutput, RawAssumeRoleParams};
use crate::timestamp::rfc3339;

const FIELDS: [&str; 5] = [
    "RoleArn",
    "WebIdentityToken",
    "RoleSessionName",
    "DurationSeconds",
    "Policy",
];

/// Parses `{"RoleArn","WebIdentityToken","RoleSessionName","DurationSeconds"?,"Policy"?}`.
/// `DurationSeconds` may be a number or a string; `null` means absent. Unknown fields are refused
/// so that a misspelt one (`roleArn`) is not silently ignored. Messages never quote a value:
/// serde's own messages can, so they are not passed through.
pub fn parse_request(body: &[u8]) -> Result<RawAssumeRoleParams, ApiError> {
    let mut fields = JsonFields::parse(body, &FIELDS)?;
    let role_arn = fields.string("RoleArn")?;
    let web_identity_token = fields.string("WebIdentityToken")?;
    let role_session_name = fields.string("RoleSessionName")?;
    let policy = fields.string("Policy")?;
    let duration_seconds = fields.number_or_string("DurationSeconds")?;
    Ok(RawAssumeRoleParams {
        role_arn,
        role_session_name,
        web_identity_token,
        duration_seconds,
        policy,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleResponse<'a> {
    credentials: Credentials<'a>,
    assumed_role_user: AssumedRoleUser<'a>,
    subject_from_web_identity_token: &'a str,
    provider: &'a str,
    audience: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    packed_policy_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_identity: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumedRoleUser<'a> {
    arn: &'a str,
    assumed_role_id: &'a str,
}

impl<'a> AssumeRoleResponse<'a> {
    pub fn new(output: &'a AssumeRoleOutput) -> Self {
        let creds = &output.credentials;
        Self {
            credentials: Credentials {
                access_key_id: &creds.access_key_id,
                secret_access_key: creds.secret_access_key.expose(),
                session_token: &creds.session_token,
                expiration: rfc3339(creds.expiration),
            },
            assumed_role_user: AssumedRoleUser {
                arn: &output.assumed_role_user.arn,
                assumed_role_id: &output.assumed_role_user.assumed_role_id,
            },
            subject_from_web_identity_token: &output.subject,
            provider: &output.provider,
            audience: &output.audience,
            packed_policy_size: output.packed_policy_size,
            source_identity: output.source_identity.as_deref(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::secret::SecretString;
    use crate::service::{AssumedRoleUser as OutUser, IssuedCredentials};
    use time::macros::datetime;

    fn message(body: &str) -> String {
        match parse_request(body.as_bytes()) {
            Err(ApiError::MalformedJson { message }) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_all_fields() {
        let raw = parse_request(
            br#"{"RoleArn":"arn:aws:iam::role/R","WebIdentityToken":"t","RoleSessionName":"s","DurationSeconds":900,"Policy":"{}"}"#,
        )
        .unwrap();
        assert_eq!(raw.role_arn.as_deref(), Some("arn:aws:iam::role/R"));
        assert_eq!(raw.web_identity_token.as_deref(), Some("t"));
        assert_eq!(raw.role_session_name.as_deref(), Some("s"));
        assert_eq!(raw.duration_seconds.as_deref(), Some("900"));
        assert_eq!(raw.policy.as_deref(), Some("{}"));
    }

    #[test]
    fn duration_as_string_or_null() {
        let raw = parse_request(br#"{"DurationSeconds":"3600"}"#).unwrap();
        assert_eq!(raw.duration_seconds.as_deref(), Some("3600"));
        let raw = parse_request(br#"{"DurationSeconds":null,"RoleArn":null}"#).unwrap();
        assert_eq!(raw.duration_seconds, None);
        assert_eq!(raw.role_arn, None);
        // A fraction reaches validation as text and fails there as not an integer.
        let raw = parse_request(br#"{"DurationSeconds":900.5}"#).unwrap();
        assert_eq!(raw.duration_seconds.as_deref(), Some("900.5"));
    }

    #[test]
    fn syntax_errors_do_not_quote_the_body() {
        let m = message(r#"{"WebIdentityToken":"secret-token-value""#);
        assert!(m.starts_with("The request body is not valid JSON"), "{m}");
        assert!(!m.contains("secret"));
        assert!(message("").contains("not valid JSON"));
    }

    #[test]
    fn non_objects_are_refused() {
        assert!(message("[]").contains("JSON object"));
        assert!(message("\"eyJ\"").contains("JSON object"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(message(r#"{"roleArn":"x"}"#).contains("'roleArn'"));
        let m = message(r#"{"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln<>":1}"#);
        assert!(m.starts_with("The request body has an unknown field; expected RoleArn"));
        assert!(!m.contains("eyJ"));
    }

    #[test]
    fn repeated_fields_are_refused_like_repeated_form_parameters() {
        let m = message(r#"{"RoleSessionName":"a","RoleSessionName":"admin"}"#);
        assert_eq!(m, "The request body gives a field more than once");
    }

    #[test]
    fn wrong_types_are_refused_without_values() {
        let m = message(r#"{"WebIdentityToken":12345678}"#);
        assert_eq!(m, "The field 'WebIdentityToken' must be a string");
        let m = message(r#"{"DurationSeconds":[1]}"#);
        assert!(m.contains("'DurationSeconds'"));
    }

    #[test]
    fn response_shape() {
        let output = AssumeRoleOutput {
            credentials: IssuedCredentials {
                access_key_id: "ASIA1".into(),
                secret_access_key: SecretString::new("sec".into()),
                session_token: "tok".into(),
                expiration: datetime!(2026-01-01 01:00:00 UTC),
            },
            subject: "alice".into(),
            assumed_role_user: OutUser {
                arn: "arn:aws:sts::assumed-role/R/s".into(),
                assumed_role_id: "R:s".into(),
            },
            provider: "https://idp".into(),
            provider_name: "idp".into(),
            audience: "aud".into(),
            packed_policy_size: None,
            source_identity: None,
        };
        assert_eq!(
            serde_json::to_string(&AssumeRoleResponse::new(&output)).unwrap(),
            concat!(
                r#"{"Credentials":{"AccessKeyId":"ASIA1","SecretAccessKey":"sec","SessionToken":"tok","Expiration":"2026-01-01T01:00:00Z"},"#,
                r#""AssumedRoleUser":{"Arn":"arn:aws:sts::assumed-role/R/s","AssumedRoleId":"R:s"},"#,
                r#""SubjectFromWebIdentityToken":"alice","Provider":"https://idp","Audience":"aud"}"#
            )
        );
    }
}
