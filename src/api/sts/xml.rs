//! STS query-API response bodies, serialized from serde structs with quick-xml
//! (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html).

use std::borrow::Cow;

use quick_xml::se::{QuoteLevel, SeError, Serializer};
use serde::Serialize;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::error::ApiError;
use crate::service::caller::CallerIdentity;
use crate::service::AssumeRoleOutput;

pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const CONTENT_TYPE: &str = "text/xml";
const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

#[derive(Serialize)]
#[serde(rename = "AssumeRoleWithWebIdentityResponse")]
struct AssumeRoleWithWebIdentityResponse<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "AssumeRoleWithWebIdentityResult")]
    result: AssumeRoleWithWebIdentityResult<'a>,
    #[serde(rename = "ResponseMetadata")]
    metadata: ResponseMetadata<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleWithWebIdentityResult<'a> {
    credentials: Credentials<'a>,
    subject_from_web_identity_token: Cow<'a, str>,
    assumed_role_user: AssumedRoleUser<'a>,
    provider: Cow<'a, str>,
    audience: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packed_policy_size: Option<u32>,
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
    arn: Cow<'a, str>,
    assumed_role_id: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResponseMetadata<'a> {
    request_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename = "GetCallerIdentityResponse")]
struct GetCallerIdentityResponse<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "GetCallerIdentityResult")]
    result: GetCallerIdentityResult<'a>,
    #[serde(rename = "ResponseMetadata")]
    metadata: ResponseMetadata<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCallerIdentityResult<'a> {
    arn: Cow<'a, str>,
    user_id: Cow<'a, str>,
    account: Cow<'a, str>,
}

/// Note that AWS puts `RequestId` beside `Error`, not inside a `ResponseMetadata`.
#[derive(Serialize)]
#[serde(rename = "ErrorResponse")]
struct ErrorResponse<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Error")]
    error: ErrorBody,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(rename = "Type")]
    kind: &'static str,
    code: &'static str,
    message: String,
}

pub fn assume_role_with_web_identity(
    output: &AssumeRoleOutput,
    request_id: &str,
) -> Result<String, SeError> {
    let creds = &output.credentials;
    to_document(&AssumeRoleWithWebIdentityResponse {
        xmlns: NAMESPACE,
        result: AssumeRoleWithWebIdentityResult {
            credentials: Credentials {
                access_key_id: &creds.access_key_id,
                secret_access_key: creds.secret_access_key.expose(),
                session_token: &creds.session_token,
                expiration: timestamp(creds.expiration),
            },
            subject_from_web_identity_token: xml_safe(&output.subject),
            assumed_role_user: AssumedRoleUser {
                arn: xml_safe(&output.assumed_role_user.arn),
                assumed_role_id: xml_safe(&output.assumed_role_user.assumed_role_id),
            },
            provider: xml_safe(&output.provider),
            audience: xml_safe(&output.audience),
            packed_policy_size: output.packed_policy_size,
        },
        metadata: ResponseMetadata { request_id },
    })
}

pub fn get_caller_identity(identity: &CallerIdentity, request_id: &str) -> Result<String, SeError> {
    to_document(&GetCallerIdentityResponse {
        xmlns: NAMESPACE,
        result: GetCallerIdentityResult {
            arn: xml_safe(&identity.arn),
            user_id: xml_safe(&identity.user_id),
            account: xml_safe(&identity.account),
        },
        metadata: ResponseMetadata { request_id },
    })
}

pub fn error(err: &ApiError, request_id: &str) -> Result<String, SeError> {
    to_document(&ErrorResponse {
        xmlns: NAMESPACE,
        error: ErrorBody {
            kind: err.error_type().as_str(),
            code: err.aws_code(),
            message: xml_safe(&err.public_message()).into_owned(),
        },
        request_id,
    })
}

/// RFC 3339 in UTC with whole seconds, the form AWS emits (`2014-10-24T23:00:23Z`).
pub fn timestamp(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

fn to_document<T: Serialize>(value: &T) -> Result<String, SeError> {
    let mut out = String::from(DECLARATION);
    let mut ser = Serializer::new(&mut out);
    // Escape quotes too, so that no message text can ever be read as markup by a lax parser.
    ser.set_quote_level(QuoteLevel::Full);
    value.serialize(ser)?;
    Ok(out)
}

/// XML 1.0 cannot carry most control characters, even escaped. Values that come from a token
/// (subject, issuer) are replaced character by character rather than producing a document the
/// SDK cannot parse.
fn xml_safe(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        !c.is_control() || matches!(c, '\t' | '\n' | '\r') || ('\u{80}'..='\u{9F}').contains(&c)
    };
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::secret::SecretString;
    use crate::service::{AssumedRoleUser as OutUser, IssuedCredentials, ServiceError};
    use time::macros::datetime;

    fn output(packed: Option<u32>) -> AssumeRoleOutput {
        AssumeRoleOutput {
            credentials: IssuedCredentials {
                access_key_id: "ASIAa80cb9b4919860c6".into(),
                secret_access_key: SecretString::new("w5uw/+a=".into()),
                session_token: "eyJ.a.b".into(),
                expiration: datetime!(2026-01-01 02:00:00.123 +01:00),
            },
            subject: "alice".into(),
            assumed_role_user: OutUser {
                arn: "arn:aws:sts::assumed-role/DevRole/s1".into(),
                assumed_role_id: "DevRole:s1".into(),
            },
            provider: "https://idp.example".into(),
            provider_name: "idp".into(),
            audience: "stsd".into(),
            packed_policy_size: packed,
        }
    }

    #[test]
    fn assume_role_golden() {
        let xml = assume_role_with_web_identity(&output(None), "req-1").unwrap();
        assert_eq!(
            xml,
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#,
                r#"<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAa80cb9b4919860c6</AccessKeyId>"#,
                r#"<SecretAccessKey>w5uw/+a=</SecretAccessKey><SessionToken>eyJ.a.b</SessionToken>"#,
                r#"<Expiration>2026-01-01T01:00:00Z</Expiration></Credentials>"#,
                r#"<SubjectFromWebIdentityToken>alice</SubjectFromWebIdentityToken>"#,
                r#"<AssumedRoleUser><Arn>arn:aws:sts::assumed-role/DevRole/s1</Arn><AssumedRoleId>DevRole:s1</AssumedRoleId></AssumedRoleUser>"#,
                r#"<Provider>https://idp.example</Provider><Audience>stsd</Audience>"#,
                r#"</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"#,
                r#"</AssumeRoleWithWebIdentityResponse>"#
            )
        );
    }

    #[test]
    fn packed_policy_size_only_when_present() {
        let xml = assume_role_with_web_identity(&output(Some(6)), "r").unwrap();
        assert!(xml.contains("<Audience>stsd</Audience><PackedPolicySize>6</PackedPolicySize></AssumeRoleWithWebIdentityResult>"));
    }

    #[test]
    fn get_caller_identity_golden() {
        let id = CallerIdentity {
            arn: "arn:aws:sts::assumed-role/DevRole/s1".into(),
            user_id: "DevRole:s1".into(),
            account: "000000000000".into(),
        };
        assert_eq!(
            get_caller_identity(&id, "req-2").unwrap(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#,
                r#"<GetCallerIdentityResult><Arn>arn:aws:sts::assumed-role/DevRole/s1</Arn>"#,
                r#"<UserId>DevRole:s1</UserId><Account>000000000000</Account></GetCallerIdentityResult>"#,
                r#"<ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
            )
        );
    }

    #[test]
    fn error_golden_with_escaping() {
        let err = ApiError::from(ServiceError::AccessDenied {
            message: r#"a<b>&"c'd"#.into(),
        });
        assert_eq!(
            error(&err, "req-3").unwrap(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#,
                r#"<Error><Type>Sender</Type><Code>AccessDenied</Code>"#,
                r#"<Message>a&lt;b&gt;&amp;&quot;c&apos;d</Message></Error>"#,
                r#"<RequestId>req-3</RequestId></ErrorResponse>"#
            )
        );
    }

    #[test]
    fn internal_failure_is_receiver_without_detail() {
        let err = ApiError::from(ServiceError::Internal {
            detail: "key file /run/secret unreadable".into(),
        });
        let xml = error(&err, "r").unwrap();
        assert!(xml.contains("<Type>Receiver</Type><Code>InternalFailure</Code>"));
        assert!(!xml.contains("/run/secret"));
    }

    #[test]
    fn control_characters_are_replaced() {
        let mut out = output(None);
        out.subject = "a\u{0}b\u{1b}c\td".into();
        let xml = assume_role_with_web_identity(&out, "r").unwrap();
        assert!(xml.contains(
            "<SubjectFromWebIdentityToken>a\u{FFFD}b\u{FFFD}c\td</SubjectFromWebIdentityToken>"
        ));
    }

    #[test]
    fn timestamps_are_utc_whole_seconds() {
        assert_eq!(
            timestamp(datetime!(2014-10-24 23:00:23.999 UTC)),
            "2014-10-24T23:00:23Z"
        );
    }
}
