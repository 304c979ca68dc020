//! The edge error of every endpoint: each protocol and service failure mapped to an AWS error
//! code, HTTP status and `Type` (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).

use actix_web::http::StatusCode;

use super::sts::form::FormError;
use crate::service::ServiceError;

/// Everything a request to the STS endpoints can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("Could not find operation: the request must contain the parameter Action")]
    MissingAction,
    /// `action` is present only when it is safe to show back.
    #[error("{}", invalid_action_message(.action.as_deref()))]
    InvalidAction { action: Option<String> },
    #[error("The request must contain the parameter Version with the value 2011-06-15")]
    InvalidVersion,
    #[error("{}", form_message(.0))]
    Form(FormError),
    #[error("{parameter} is not supported by this service")]
    UnsupportedParameter { parameter: &'static str },
    #[error("The request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("The request body could not be read completely")]
    IncompleteBody,
    #[error("The request body did not arrive in time")]
    BodyTimeout,
    /// JSON twin only: a body that is not the expected JSON object.
    #[error("{message}")]
    MalformedJson { message: String },
    #[error("No such endpoint; the STS query API is served at /")]
    NotFound,
    #[error("This endpoint does not accept that HTTP method")]
    MethodNotAllowed,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// `Type` in the error body: who is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Sender,
    Receiver,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "Sender",
            Self::Receiver => "Receiver",
        }
    }
}

impl ApiError {
    /// The wire `Code` SDKs map on; spelled exactly as AWS spells it.
    pub fn aws_code(&self) -> &'static str {
        match self {
            Self::MissingAction => "MissingAction",
            Self::InvalidAction { .. } => "InvalidAction",
            Self::InvalidVersion => "InvalidParameterValue",
            Self::Form(FormError::Duplicate { .. }) => "InvalidParameterValue",
            Self::Form(FormError::BadEscape | FormError::NotUtf8 | FormError::EmptyName) => {
                "MalformedQueryString"
            }
            Self::UnsupportedParameter { .. } => "InvalidParameterValue",
            Self::BodyTooLarge { .. } => "RequestEntityTooLarge",
            Self::IncompleteBody => "IncompleteBody",
            Self::BodyTimeout => "RequestTimeout",
            Self::MalformedJson { .. } => "ValidationError",
            Self::NotFound => "NotFound",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::Service(e) => e.aws_code(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingAction
            | Self::InvalidAction { .. }
            | Self::InvalidVersion
            | Self::Form(FormError::Duplicate { .. })
            | Self::UnsupportedParameter { .. }
            | Self::IncompleteBody
            | Self::MalformedJson { .. } => StatusCode::BAD_REQUEST,
            // AWS's common-errors list gives MalformedQueryString as 404; SDKs key on the code,
            // so matching AWS costs nothing and keeps one table of truth.
            Self::Form(FormError::BadEscape | FormError::NotUtf8 | FormError::EmptyName) => {
                StatusCode::NOT_FOUND
            }
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Service(e) => match e {
                ServiceError::MissingParameter { .. }
                | ServiceError::Validation { .. }
                | ServiceError::InvalidParameterValue { .. }
                | ServiceError::InvalidIdentityToken { .. }
                | ServiceError::ExpiredToken { .. }
                | ServiceError::IdpCommunication { .. }
                | ServiceError::MalformedPolicyDocument { .. }
                | ServiceError::PackedPolicyTooLarge { .. }
                | ServiceError::Throttling
                | ServiceError::IncompleteSignature { .. }
                | ServiceError::RequestExpired { .. } => StatusCode::BAD_REQUEST,
                ServiceError::IdpRejectedClaim { .. }
                | ServiceError::AccessDenied { .. }
                | ServiceError::MissingAuthenticationToken { .. }
                | ServiceError::InvalidClientTokenId { .. }
                | ServiceError::SignatureDoesNotMatch { .. }
                | ServiceError::ExpiredSessionToken { .. } => StatusCode::FORBIDDEN,
                ServiceError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    pub fn error_type(&self) -> ErrorType {
        if self.status().is_server_error() {
            ErrorType::Receiver
        } else {
            ErrorType::Sender
        }
    }

    /// The text shown to the caller. A 5xx says nothing about its cause; the detail goes to the
    /// log (see [`ApiError::log`]).
    pub fn public_message(&self) -> String {
        match self {
            Self::Service(ServiceError::Internal { .. }) => {
                "An internal error occurred; the request id identifies it in the server log"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Records the failure in the request's span. Internal detail is logged here and nowhere else.
    pub fn log(&self) {
        match self {
            Self::Service(ServiceError::Internal { detail }) => {
                tracing::error!(code = self.aws_code(), detail = %detail, "request failed");
            }
            other => {
                tracing::debug!(code = other.aws_code(), "request refused");
            }
        }
    }
}

fn invalid_action_message(action: Option<&str>) -> String {
    match action {
        Some(a) => format!(
            "Could not find operation {a}; this service supports AssumeRoleWithWebIdentity and GetCallerIdentity"
        ),
        None => "Could not find operation; this service supports AssumeRoleWithWebIdentity and GetCallerIdentity".to_owned(),
    }
}

fn form_message(e: &FormError) -> String {
    match e {
        FormError::Duplicate { name: Some(name) } => {
            format!("The parameter {name} was given more than once")
        }
        FormError::Duplicate { name: None } => "A parameter was given more than once".to_owned(),
        FormError::BadEscape | FormError::NotUtf8 | FormError::EmptyName => {
            format!("The query string or form body is malformed: {e}")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all() -> Vec<ApiError> {
        let m = || "m".to_owned();
        vec![
            ApiError::MissingAction,
            ApiError::InvalidAction { action: None },
            ApiError::InvalidVersion,
            ApiError::Form(FormError::BadEscape),
            ApiError::Form(FormError::NotUtf8),
            ApiError::Form(FormError::EmptyName),
            ApiError::Form(FormError::Duplicate { name: None }),
            ApiError::UnsupportedParameter {
                parameter: "PolicyArns",
            },
            ApiError::BodyTooLarge { limit: 10 },
            ApiError::IncompleteBody,
            ApiError::BodyTimeout,
            ApiError::MalformedJson { message: m() },
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ServiceError::MissingParameter { message: m() }.into(),
            ServiceError::Validation { message: m() }.into(),
            ServiceError::InvalidParameterValue { message: m() }.into(),
            ServiceError::InvalidIdentityToken { message: m() }.into(),
            ServiceError::ExpiredToken { message: m() }.into(),
            ServiceError::IdpRejectedClaim { message: m() }.into(),
            ServiceError::IdpCommunication { message: m() }.into(),
            ServiceError::AccessDenied { message: m() }.into(),
            ServiceError::MalformedPolicyDocument { message: m() }.into(),
            ServiceError::PackedPolicyTooLarge { message: m() }.into(),
            ServiceError::Throttling.into(),
            ServiceError::MissingAuthenticationToken { message: m() }.into(),
            ServiceError::InvalidClientTokenId { message: m() }.into(),
            ServiceError::SignatureDoesNotMatch { message: m() }.into(),
            ServiceError::IncompleteSignature { message: m() }.into(),
            ServiceError::ExpiredSessionToken { message: m() }.into(),
            ServiceError::RequestExpired { message: m() }.into(),
            ServiceError::Internal { detail: m() }.into(),
        ]
    }

    #[test]
    fn design_table_codes_and_statuses() {
        let table: Vec<(&str, u16)> = all()
            .iter()
            .map(|e| (e.aws_code(), e.status().as_u16()))
            .collect();
        let expected = [
            ("MissingAction", 400),
            ("InvalidAction", 400),
            ("InvalidParameterValue", 400),
            ("MalformedQueryString", 404),
            ("MalformedQueryString", 404),
            ("MalformedQueryString", 404),
            ("InvalidParameterValue", 400),
            ("InvalidParameterValue", 400),
            ("RequestEntityTooLarge", 413),
            ("IncompleteBody", 400),
            ("RequestTimeout", 408),
            ("ValidationError", 400),
            ("NotFound", 404),
            ("MethodNotAllowed", 405),
            ("MissingParameter", 400),
            ("ValidationError", 400),
            ("InvalidParameterValue", 400),
            ("InvalidIdentityToken", 400),
            ("ExpiredTokenException", 400),
            ("IDPRejectedClaim", 403),
            ("IDPCommunicationError", 400),
            ("AccessDenied", 403),
            ("MalformedPolicyDocument", 400),
            ("PackedPolicyTooLarge", 400),
            ("Throttling", 400),
            ("MissingAuthenticationToken", 403),
            ("InvalidClientTokenId", 403),
            ("SignatureDoesNotMatch", 403),
            ("IncompleteSignature", 400),
            ("ExpiredToken", 403),
            ("RequestExpired", 400),
            ("InternalFailure", 500),
        ];
        assert_eq!(table, expected);
    }

    #[test]
    fn type_is_receiver_only_for_5xx() {
        for e in all() {
            let expected = if e.status().as_u16() >= 500 {
                ErrorType::Receiver
            } else {
                ErrorType::Sender
            };
            assert_eq!(e.error_type(), expected, "{}", e.aws_code());
        }
    }

    #[test]
    fn internal_detail_is_never_public() {
        let e = ApiError::from(ServiceError::Internal {
            detail: "db password wrong at /etc/secret".into(),
        });
        let m = e.public_message();
        assert!(!m.contains("secret") && !m.contains("password"), "{m}");
    }

    #[test]
    fn throttling_message_is_awss() {
        assert_eq!(
            ApiError::from(ServiceError::Throttling).public_message(),
            "Rate exceeded"
        );
    }

    #[test]
    fn form_messages() {
        assert_eq!(
            ApiError::Form(FormError::Duplicate {
                name: Some("RoleArn".into())
            })
            .public_message(),
            "The parameter RoleArn was given more than once"
        );
        assert!(ApiError::Form(FormError::BadEscape)
            .public_message()
            .contains("malformed"));
    }
}
