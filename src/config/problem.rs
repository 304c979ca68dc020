//! A configuration problem (error or warning) located by its path in the file.

use std::fmt;

/// One problem, located by a path such as `roles[1].trustPolicy.Statement[0].Effect`.
/// Messages never carry secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Append a key to a path: `join("sts", "issuer")` is `sts.issuer`; `join("", "sts")` is `sts`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Prefix a path relative to a nested document (a policy's `Statement[0].Effect`).
pub fn nest(prefix: &str, relative: &str) -> String {
    if relative.is_empty() {
        prefix.to_string()
    } else if relative.starts_with('[') {
        format!("{prefix}{relative}")
    } else {
        join(prefix, relative)
    }
}

/// Why loading failed: every problem found, plus the warnings gathered on the way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration problem(s); first: {}", .problems.len(), first(.problems))]
pub struct ConfigErrors {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

fn first(problems: &[Problem]) -> String {
    problems
        .first()
        .map(ToString::to_string)
        .unwrap_or_default()
}

impl ConfigErrors {
    pub fn single(problem: Problem) -> Self {
        Self {
            problems: vec![problem],
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn display_and_paths() {
        assert_eq!(
            Problem::new("sts.issuer", "bad").to_string(),
            "sts.issuer: bad"
        );
        assert_eq!(Problem::new("", "bad").to_string(), "bad");
        assert_eq!(
            nest("roles[0].trustPolicy", "Statement[0].Effect"),
            "roles[0].trustPolicy.Statement[0].Effect"
        );
        assert_eq!(
            nest("roles[0].trustPolicy", "[0]"),
            "roles[0].trustPolicy[0]"
        );
        assert_eq!(nest("roles[0].trustPolicy", ""), "roles[0].trustPolicy");
    }
}
