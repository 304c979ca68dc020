//! STS query-API response bodies (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html).
//!
//! The documents are fixed shapes of a few elements, so they are written straight into one
//! pre-sized string; every text value goes through quick-xml's escaping (quotes included, so no
//! message text can be read as markup by a lax parser).

use std::borrow::Cow;

use quick_xml::escape::escape;

use crate::api::ApiError;
use crate::service::caller::CallerIdentity;
use crate::service::AssumeRoleOutput;
use crate::timestamp::rfc3339;

pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const CONTENT_TYPE: &str = "text/xml";
const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// An XML document being written. Elements are written around a closure, so every element
/// opened is closed, in order, by construction; nothing is kept but the output string.
struct Document {
    out: String,
}

impl Document {
    /// The declaration and a root element in the STS namespace holding what `body` writes.
    fn write(root: &'static str, capacity: usize, body: impl FnOnce(&mut Self)) -> String {
        let mut doc = Self {
            out: String::with_capacity(capacity + 256),
        };
        doc.out.push_str(DECLARATION);
        doc.out.push('<');
        doc.out.push_str(root);
        doc.out.push_str(" xmlns=\"");
        doc.out.push_str(NAMESPACE);
        doc.out.push_str("\">");
        body(&mut doc);
        doc.end(root);
        doc.out
    }

    fn start(&mut self, name: &'static str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    fn end(&mut self, name: &'static str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>…</name>` around what `body` writes.
    fn element(&mut self, name: &'static str, body: impl FnOnce(&mut Self)) -> &mut Self {
        self.start(name);
        body(self);
        self.end(name);
        self
    }

    /// `<name>text</name>`, with the text made XML-safe and escaped.
    fn text(&mut self, name: &'static str, text: &str) -> &mut Self {
        self.start(name);
        // Keys, tokens, ARNs and ids are plain printable ASCII: one scan (without an early
        // exit, so that it vectorises), then a copy.
        let plain = text.bytes().fold(true, |plain, b| {
            plain & (0x20..0x7f).contains(&b) & !matches!(b, b'<' | b'>' | b'&' | b'\'' | b'"')
        });
        if plain {
            self.out.push_str(text);
        } else {
            self.out.push_str(&escape(xml_safe(text)));
        }
        self.end(name);
        self
    }
}

pub fn assume_role_with_web_identity(output: &AssumeRoleOutput, request_id: &str) -> String {
    let creds = &output.credentials;
    let user = &output.assumed_role_user;
    let capacity = creds.session_token.len() + output.subject.len() + output.provider.len();
    Document::write("AssumeRoleWithWebIdentityResponse", capacity, |doc| {
        doc.element("AssumeRoleWithWebIdentityResult", |doc| {
            doc.element("Credentials", |doc| {
                doc.text("AccessKeyId", &creds.access_key_id)
                    .text("SecretAccessKey", creds.secret_access_key.expose())
                    .text("SessionToken", &creds.session_token)
                    .text("Expiration", &rfc3339(creds.expiration));
            })
            .text("SubjectFromWebIdentityToken", &output.subject)
            .element("AssumedRoleUser", |doc| {
                doc.text("Arn", &user.arn)
                    .text("AssumedRoleId", &user.assumed_role_id);
            })
            .text("Provider", &output.provider)
            .text("Audience", &output.audience);
            if let Some(size) = output.packed_policy_size {
                doc.text("PackedPolicySize", &size.to_string());
            }
            if let Some(source) = &output.source_identity {
                doc.text("SourceIdentity", source);
            }
        })
        .element("ResponseMetadata", |doc| {
            doc.text("RequestId", request_id);
        });
    })
}

pub fn get_caller_identity(identity: &CallerIdentity, request_id: &str) -> String {
    Document::write("GetCallerIdentityResponse", 0, |doc| {
        doc.element("GetCallerIdentityResult", |doc| {
            doc.text("Arn", &identity.arn)
                .text("UserId", &identity.user_id)
                .text("Account", &identity.account);
        })
        .element("ResponseMetadata", |doc| {
            doc.text("RequestId", request_id);
        });
    })
}

/// Note that AWS puts `RequestId` beside `Error`, not inside a `ResponseMetadata`.
pub fn error(err: &ApiError, request_id: &str) -> String {
    let message = err.public_message();
    Document::write("ErrorResponse", message.len(), |doc| {
        doc.element("Error", |doc| {
            doc.text("Type", err.error_type().as_str())
                .text("Code", err.aws_code())
                .text("Message", &message);
        })
        .text("RequestId", request_id);
    })
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
        output_with(packed, None)
    }

    fn output_with(packed: Option<u32>, source_identity: Option<&str>) -> AssumeRoleOutput {
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
            source_identity: source_identity.map(str::to_string),
        }
    }

    #[test]
    fn assume_role_golden() {
        let xml = assume_role_with_web_identity(&output(None), "req-1");
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
        let xml = assume_role_with_web_identity(&output(Some(6)), "r");
        assert!(xml.contains("<Audience>stsd</Audience><PackedPolicySize>6</PackedPolicySize></AssumeRoleWithWebIdentityResult>"));
    }

    #[test]
    fn source_identity_only_when_present() {
        let xml = assume_role_with_web_identity(&output_with(Some(6), Some("alice@corp")), "r");
        assert!(xml.contains(
            "<PackedPolicySize>6</PackedPolicySize><SourceIdentity>alice@corp</SourceIdentity></AssumeRoleWithWebIdentityResult>"
        ));
        assert!(!assume_role_with_web_identity(&output(None), "r").contains("SourceIdentity"));
    }

    #[test]
    fn get_caller_identity_golden() {
        let id = CallerIdentity {
            arn: "arn:aws:sts::assumed-role/DevRole/s1".into(),
            user_id: "DevRole:s1".into(),
            account: "000000000000".into(),
        };
        assert_eq!(
            get_caller_identity(&id, "req-2"),
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
            error(&err, "req-3"),
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
        let xml = error(&err, "r");
        assert!(xml.contains("<Type>Receiver</Type><Code>InternalFailure</Code>"));
        assert!(!xml.contains("/run/secret"));
    }

    #[test]
    fn control_characters_are_replaced() {
        let mut out = output(None);
        out.subject = "a\u{0}b\u{1b}c\td".into();
        let xml = assume_role_with_web_identity(&out, "r");
        assert!(xml.contains(
            "<SubjectFromWebIdentityToken>a\u{FFFD}b\u{FFFD}c\td</SubjectFromWebIdentityToken>"
        ));
    }

    /// The text of the first `<name>` element, read back by an XML parser.
    fn read_back(xml: &str, name: &str) -> String {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut inside = false;
        let mut text = String::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) if e.name().as_ref() == name.as_bytes() => inside = true,
                Event::End(e) if e.name().as_ref() == name.as_bytes() => return text,
                Event::Text(t) if inside => text.push_str(&t.decode().unwrap()),
                Event::GeneralRef(r) if inside => {
                    let entity = format!("&{};", String::from_utf8_lossy(&r));
                    text.push_str(&quick_xml::escape::unescape(&entity).unwrap());
                }
                Event::Eof => panic!("no <{name}> in {xml}"),
                _ => {}
            }
        }
    }

    proptest::proptest! {
        /// Whatever a token's subject holds, the document parses and gives it back (with the
        /// characters XML cannot carry replaced), whether it takes the plain or the escaping path.
        #[test]
        fn any_subject_reads_back(subject in "(?s).{0,40}", plain in "[ -~]{0,40}") {
            for value in [subject.as_str(), plain.as_str()] {
                let mut out = output(None);
                out.subject = value.to_owned();
                let xml = assume_role_with_web_identity(&out, "r");
                proptest::prop_assert_eq!(
                    read_back(&xml, "SubjectFromWebIdentityToken"),
                    xml_safe(value)
                );
            }
        }
    }

    #[test]
    fn timestamps_are_utc_whole_seconds() {
        assert_eq!(
            rfc3339(datetime!(2014-10-24 23:00:23.999 UTC)),
            "2014-10-24T23:00:23Z"
        );
    }
}
