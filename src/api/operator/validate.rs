//! `POST /sts/validate-token`: the verdict on a session token, or a dry run of
//! AssumeRoleWithWebIdentity for a web identity token (DESIGN.md §3). A verdict is HTTP 200 either
//! way; only a request that cannot be understood is an error.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use time::OffsetDateTime;

use crate::api::json_body::{malformed, JsonFields};
use crate::api::AppState;
use crate::api::{self, ApiError, Format};
use crate::service::operator::DryRun;
use crate::service::{AssumeRoleRequest, RawAssumeRoleParams, ServiceError};

const SESSION_TOKEN: &str = "sessionToken";
const WEB_IDENTITY_TOKEN: &str = "webIdentityToken";
const ROLE_ARN: &str = "roleArn";
const ROLE_SESSION_NAME: &str = "roleSessionName";
const FIELDS: [&str; 4] = [
    SESSION_TOKEN,
    WEB_IDENTITY_TOKEN,
    ROLE_ARN,
    ROLE_SESSION_NAME,
];

/// The session name of a dry run that names none: the real call requires one, and the trust
/// policy may look at it.
pub const DEFAULT_SESSION_NAME: &str = "validate-token";

/// What the body asks for.
#[derive(Debug)]
enum ValidateRequest {
    Session(String),
    WebIdentity(RawAssumeRoleParams),
}

/// The dry-run answer: `valid` is whether the real call would issue credentials.
#[derive(Serialize)]
struct DryRunResponse<'a> {
    valid: bool,
    #[serde(flatten)]
    run: &'a DryRun,
}

/// Which requests a listener answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// The admin listener: session-token verdicts and the dry run.
    Operator,
    /// The main listener: session-token verdicts only, which gateways need and which tell a
    /// holder of the token nothing its claims do not already say. The dry run shows the trust
    /// policy's conditions and tells existing roles from missing ones.
    Gateway,
}

/// The admin listener's `/sts/validate-token`.
pub async fn validate_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match handle(&req, payload, &state, Audience::Operator).await {
        Ok(response) => response,
        Err(err) => api::error_response(&req, &err, Format::Json),
    }
}

/// The main listener's `/sts/validate-token`: a dry run is refused with `AccessDenied`.
pub async fn validate_session_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match handle(&req, payload, &state, Audience::Gateway).await {
        Ok(response) => response,
        Err(err) => api::error_response(&req, &err, Format::Json),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    audience: Audience,
) -> Result<HttpResponse, ApiError> {
    let body = api::read_body(req, payload, state.body).await?;
    let now = OffsetDateTime::now_utc();
    match parse_request(&body)? {
        ValidateRequest::Session(token) => {
            let verdict = state.service().inspect_session_token(&token, now);
            Ok(api::json_response(req, &verdict))
        }
        ValidateRequest::WebIdentity(_) if audience == Audience::Gateway => {
            Err(ApiError::Service(ServiceError::AccessDenied {
                message: "The dry run of AssumeRoleWithWebIdentity ('webIdentityToken') is served \
                          only on the admin listener"
                    .into(),
            }))
        }
        ValidateRequest::WebIdentity(raw) => {
            let mut request = AssumeRoleRequest::validate(raw)?;
            request.source_ip = api::source_ip(req);
            let run = state.service().explain(&request, now).await;
            Ok(api::json_response(
                req,
                &DryRunResponse {
                    valid: run.allowed,
                    run: &run,
                },
            ))
        }
    }
}

/// Parses `{"sessionToken"}` or `{"webIdentityToken","roleArn"?,"roleSessionName"?}`; `null`
/// means absent. Like the JSON twin, unknown fields are refused and no message quotes a value.
fn parse_request(body: &[u8]) -> Result<ValidateRequest, ApiError> {
    let mut fields = JsonFields::parse(body, &FIELDS)?;
    let session_token = fields.string(SESSION_TOKEN)?;
    let web_identity_token = fields.string(WEB_IDENTITY_TOKEN)?;
    let role_arn = fields.string(ROLE_ARN)?;
    let role_session_name = fields.string(ROLE_SESSION_NAME)?;
    match (session_token, web_identity_token) {
        (Some(token), None) => {
            if role_arn.is_some() || role_session_name.is_some() {
                return Err(malformed(format!(
                    "'{ROLE_ARN}' and '{ROLE_SESSION_NAME}' apply only to '{WEB_IDENTITY_TOKEN}'"
                )));
            }
            Ok(ValidateRequest::Session(token.trim().to_owned()))
        }
        (None, Some(token)) => Ok(ValidateRequest::WebIdentity(RawAssumeRoleParams {
            role_arn,
            role_session_name: Some(
                role_session_name.unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned()),
            ),
            web_identity_token: Some(token),
            duration_seconds: None,
            policy: None,
        })),
        (Some(_), Some(_)) => Err(malformed(format!(
            "Give either '{SESSION_TOKEN}' or '{WEB_IDENTITY_TOKEN}', not both"
        ))),
        (None, None) => Err(malformed(format!(
            "The request body needs '{SESSION_TOKEN}' or '{WEB_IDENTITY_TOKEN}'"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> String {
        match parse_request(body.as_bytes()).unwrap_err() {
            ApiError::MalformedJson { message } => message,
            other => panic!("expected MalformedJson, got {other:?}"),
        }
    }

    #[test]
    fn session_token_request() {
        let ValidateRequest::Session(token) =
            parse_request(br#"{"sessionToken":" abc.def.ghi\n"}"#).unwrap()
        else {
            panic!("expected a session request")
        };
        assert_eq!(token, "abc.def.ghi");
    }

    #[test]
    fn web_identity_request_gets_a_default_session_name() {
        let ValidateRequest::WebIdentity(raw) =
            parse_request(br#"{"webIdentityToken":"t0k3n","roleArn":"arn:aws:iam::role/R"}"#)
                .unwrap()
        else {
            panic!("expected a dry run")
        };
        assert_eq!(raw.web_identity_token.as_deref(), Some("t0k3n"));
        assert_eq!(raw.role_arn.as_deref(), Some("arn:aws:iam::role/R"));
        assert_eq!(raw.role_session_name.as_deref(), Some(DEFAULT_SESSION_NAME));
        assert!(raw.duration_seconds.is_none() && raw.policy.is_none());

        let ValidateRequest::WebIdentity(raw) =
            parse_request(br#"{"webIdentityToken":"t","roleSessionName":"me","roleArn":null}"#)
                .unwrap()
        else {
            panic!("expected a dry run")
        };
        assert_eq!(raw.role_session_name.as_deref(), Some("me"));
        assert!(raw.role_arn.is_none());
    }

    #[test]
    fn neither_or_both_tokens_are_refused() {
        assert!(refusal("{}").contains("needs"));
        assert!(refusal(r#"{"sessionToken":null,"roleArn":"x"}"#).contains("needs"));
        assert!(refusal(r#"{"sessionToken":"a","webIdentityToken":"b"}"#).contains("not both"));
    }

    #[test]
    fn role_fields_do_not_go_with_a_session_token() {
        assert!(refusal(r#"{"sessionToken":"a","roleArn":"x"}"#).contains("apply only"));
        assert!(refusal(r#"{"sessionToken":"a","roleSessionName":"x"}"#).contains("apply only"));
    }

    #[test]
    fn syntax_errors_and_non_objects_are_refused() {
        assert!(refusal(r#"{"sessionToken":"#).contains("not valid JSON"));
        assert!(refusal("").contains("not valid JSON"));
        assert!(refusal(r#"["sessionToken"]"#).contains("JSON object"));
        assert!(refusal(r#""secret-token""#).contains("JSON object"));
    }

    #[test]
    fn wrong_types_are_refused_without_the_value() {
        let message = refusal(r#"{"sessionToken":12345678}"#);
        assert!(
            message.contains("'sessionToken' must be a string"),
            "{message}"
        );
        assert!(!message.contains("12345678"));
        assert!(refusal(r#"{"webIdentityToken":["x"]}"#).contains("must be a string"));
        assert!(refusal(r#"{"webIdentityToken":"x","roleArn":{}}"#).contains("'roleArn'"));
    }

    #[test]
    fn unknown_fields_are_named_only_when_harmless() {
        assert!(refusal(r#"{"SessionToken":"a"}"#).contains("'SessionToken'"));
        let pasted =
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiaXNzIjoiaHR0cHM6Ly9pZHAifQ.c2lnbmF0dXJlLXZhbHVl";
        let message = refusal(&format!(r#"{{"{pasted}":"a"}}"#));
        assert!(!message.contains(pasted), "{message}");
    }

    #[test]
    fn repeated_fields_are_refused() {
        assert_eq!(
            refusal(r#"{"sessionToken":"a","sessionToken":"b"}"#),
            "The request body gives a field more than once"
        );
        assert_eq!(
            refusal(r#"{"webIdentityToken":"t","roleArn":"x","roleArn":null}"#),
            "The request body gives a field more than once"
        );
    }

    #[test]
    fn syntax_errors_do_not_quote_the_body() {
        let message = refusal(r#"{"sessionToken":"eyJ.secret.value" "#);
        assert!(!message.contains("eyJ"), "{message}");
    }
}
