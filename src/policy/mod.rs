//! IAM policy documents as types, their validation, and pure evaluation of trust policies.

use serde_json::Value;

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    raw: Value,
}

/// A problem in a policy document; `path` is relative to the document (`Statement[0].Effect`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

impl PolicyDocument {
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        Ok(Self { raw: value.clone() })
    }

    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|e| PolicyError {
            path: String::new(),
            message: e.to_string(),
        })?;
        Self::from_value(&value)
    }

    /// Problems that make the document unusable as a role trust policy.
    pub fn validate_trust(&self) -> Vec<PolicyError> {
        Vec::new()
    }

    /// Problems that make the document unusable as an identity or session policy.
    pub fn validate_session(&self) -> Vec<PolicyError> {
        Vec::new()
    }

    /// The normalised JSON form (SeaweedFS's key order), embedded as `spol`.
    pub fn normalized_json(&self) -> String {
        self.raw.to_string()
    }
}
