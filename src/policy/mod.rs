//! IAM policy documents as types, their validation, and pure evaluation of trust policies (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies.html).

mod condition;
mod context;
mod eval;
mod model;
mod normalize;
mod parse;
mod validate;
pub mod wildcard;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use condition::{ConditionFailure, FailureReason};
pub use context::{Context, ContextKeys, ContextValue};
pub use eval::{
    evaluate, federated_identifiers, issuer_host_path, Decision, EvalRequest, Evaluation,
    StatementOutcome, StatementTrace,
};
pub use model::{
    ConditionBlock, ConditionEntry, ConditionValue, Effect, OneOrMany, Operator, OperatorKind,
    PolicyDocument, Principal, PrincipalType, SetQualifier, Statement, ValueKind,
};
pub use parse::{repeats_a_key, MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_ELEMENTS};
pub use validate::TRUST_ACTIONS;

/// The current policy language version.
pub const VERSION_2012: &str = "2012-10-17";
/// The previous policy language version, still accepted by IAM.
pub const VERSION_2008: &str = "2008-10-17";

/// A problem in a policy document; `path` is relative to the document (`Statement[0].Effect`,
/// `Statement.Effect` for a single statement object, empty for the document itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display(.path, .message))]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

fn display(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

impl PolicyError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl PolicyDocument {
    /// Builds the model, rejecting wrong JSON types, unknown elements and oversized documents.
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        parse::parse_document(value)
    }

    /// Parses policy text; size and nesting are bounded before any JSON is decoded.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        parse::parse_text(text)
    }

    /// Problems that make the document unusable as a role trust policy.
    pub fn validate_trust(&self) -> Vec<PolicyError> {
        validate::validate(self, validate::Use::Trust)
    }

    /// Problems that make the document unusable as an identity or session policy.
    pub fn validate_session(&self) -> Vec<PolicyError> {
        validate::validate(self, validate::Use::Session)
    }

    /// The condition keys evaluating this document can read: condition keys and the variables
    /// in condition values. Statements without conditions read none.
    pub fn context_keys(&self) -> ContextKeys {
        let entries = self
            .statements
            .iter()
            .flat_map(|statement| &statement.condition)
            .flat_map(|block| &block.entries);
        let mut keys = Vec::new();
        for entry in entries {
            keys.push(entry.key.as_str());
            for value in &entry.values {
                keys.extend(condition::variable_keys(&value.text));
            }
        }
        ContextKeys::only(keys)
    }

    /// The normalised JSON form (SeaweedFS's key order and Go escaping), embedded as `spol`; its
    /// length is the basis of `PackedPolicySize`.
    pub fn normalized_json(&self) -> String {
        normalize::normalized_json(self)
    }
}
