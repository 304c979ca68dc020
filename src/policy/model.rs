//! The IAM policy grammar as Rust types (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html).

use std::fmt;

use serde::Serialize;

/// A parsed policy document. Element order inside the document is kept as written.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// `Version`; empty when the document has none (validation reports it).
    pub version: String,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
    /// Whether `Statement` was a single object rather than an array; error paths follow the form written.
    pub(crate) single_statement: bool,
}

impl PolicyDocument {
    /// A document with the given statements, `Version` 2012-10-17 and no `Id`.
    pub fn new(statements: Vec<Statement>) -> Self {
        Self {
            version: super::VERSION_2012.to_owned(),
            id: None,
            statements,
            single_statement: false,
        }
    }

    /// The path of statement `index` as written: `Statement[index]`, or `Statement` for a single object.
    /// Whether some statement's `Action` list names `action` (wildcards included): the
    /// document then decides that action rather than leaving it unmentioned.
    pub fn may_allow_action(&self, action: &str) -> bool {
        self.statements.iter().any(|s| {
            s.action.as_ref().is_some_and(|list| {
                list.iter()
                    .any(|p| super::wildcard::matches(p, action, true))
            })
        })
    }

    pub fn statement_path(&self, index: usize) -> String {
        if self.single_statement {
            "Statement".to_owned()
        } else {
            format!("Statement[{index}]")
        }
    }
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Principal>,
    pub not_principal: Option<Principal>,
    pub action: Option<OneOrMany<String>>,
    pub not_action: Option<OneOrMany<String>>,
    pub resource: Option<OneOrMany<String>>,
    pub not_resource: Option<OneOrMany<String>>,
    /// Condition blocks in document order; all must pass.
    pub condition: Vec<ConditionBlock>,
}

impl Statement {
    /// A statement with the given effect and nothing else.
    pub fn new(effect: Effect) -> Self {
        Self {
            sid: None,
            effect,
            principal: None,
            not_principal: None,
            action: None,
            not_action: None,
            resource: None,
            not_resource: None,
            condition: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value written either as a single item or as an array; the form is kept for normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(item) => std::slice::from_ref(item),
            OneOrMany::Many(items) => items,
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl<'a, T> IntoIterator for &'a OneOrMany<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// `Principal` / `NotPrincipal`: the string `"*"` or a map of principal type to values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Any,
    /// Entries in document order; AWS treats the types as alternatives (OR).
    Map(Vec<(PrincipalType, OneOrMany<String>)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalType {
    Aws,
    CanonicalUser,
    Federated,
    Service,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::CanonicalUser => "CanonicalUser",
            PrincipalType::Federated => "Federated",
            PrincipalType::Service => "Service",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "AWS" => Some(PrincipalType::Aws),
            "CanonicalUser" => Some(PrincipalType::CanonicalUser),
            "Federated" => Some(PrincipalType::Federated),
            "Service" => Some(PrincipalType::Service),
            _ => None,
        }
    }
}

/// One condition block: an operator and its keys (`"StringEquals": {"oidc:sub": "…"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionBlock {
    pub operator: Operator,
    pub entries: Vec<ConditionEntry>,
}

/// One key of a condition block and the values it is compared with (any value may match).
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionEntry {
    pub key: String,
    pub values: OneOrMany<ConditionValue>,
}

/// A condition value: its text (numbers and booleans as their JSON text) and its JSON type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionValue {
    pub text: String,
    pub kind: ValueKind,
}

impl ConditionValue {
    pub fn string(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            kind: ValueKind::String,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    String,
    Number,
    Bool,
}

/// A condition operator as written; unknown names are kept so they can be reported and fail closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Known {
        set: Option<SetQualifier>,
        kind: OperatorKind,
        if_exists: bool,
    },
    Unknown(String),
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorKind {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    StringLikeIgnoreCase,
    StringNotLikeIgnoreCase,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    Null,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
}

const ALL_KINDS: [OperatorKind; 28] = [
    OperatorKind::StringEquals,
    OperatorKind::StringNotEquals,
    OperatorKind::StringEqualsIgnoreCase,
    OperatorKind::StringNotEqualsIgnoreCase,
    OperatorKind::StringLike,
    OperatorKind::StringNotLike,
    OperatorKind::StringLikeIgnoreCase,
    OperatorKind::StringNotLikeIgnoreCase,
    OperatorKind::NumericEquals,
    OperatorKind::NumericNotEquals,
    OperatorKind::NumericLessThan,
    OperatorKind::NumericLessThanEquals,
    OperatorKind::NumericGreaterThan,
    OperatorKind::NumericGreaterThanEquals,
    OperatorKind::DateEquals,
    OperatorKind::DateNotEquals,
    OperatorKind::DateLessThan,
    OperatorKind::DateLessThanEquals,
    OperatorKind::DateGreaterThan,
    OperatorKind::DateGreaterThanEquals,
    OperatorKind::Bool,
    OperatorKind::Null,
    OperatorKind::IpAddress,
    OperatorKind::NotIpAddress,
    OperatorKind::ArnEquals,
    OperatorKind::ArnNotEquals,
    OperatorKind::ArnLike,
    OperatorKind::ArnNotLike,
];

impl OperatorKind {
    pub fn name(self) -> &'static str {
        match self {
            OperatorKind::StringEquals => "StringEquals",
            OperatorKind::StringNotEquals => "StringNotEquals",
            OperatorKind::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            OperatorKind::StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            OperatorKind::StringLike => "StringLike",
            OperatorKind::StringNotLike => "StringNotLike",
            OperatorKind::StringLikeIgnoreCase => "StringLikeIgnoreCase",
            OperatorKind::StringNotLikeIgnoreCase => "StringNotLikeIgnoreCase",
            OperatorKind::NumericEquals => "NumericEquals",
            OperatorKind::NumericNotEquals => "NumericNotEquals",
            OperatorKind::NumericLessThan => "NumericLessThan",
            OperatorKind::NumericLessThanEquals => "NumericLessThanEquals",
            OperatorKind::NumericGreaterThan => "NumericGreaterThan",
            OperatorKind::NumericGreaterThanEquals => "NumericGreaterThanEquals",
            OperatorKind::DateEquals => "DateEquals",
            OperatorKind::DateNotEquals => "DateNotEquals",
            OperatorKind::DateLessThan => "DateLessThan",
            OperatorKind::DateLessThanEquals => "DateLessThanEquals",
            OperatorKind::DateGreaterThan => "DateGreaterThan",
            OperatorKind::DateGreaterThanEquals => "DateGreaterThanEquals",
            OperatorKind::Bool => "Bool",
            OperatorKind::Null => "Null",
            OperatorKind::IpAddress => "IpAddress",
            OperatorKind::NotIpAddress => "NotIpAddress",
            OperatorKind::ArnEquals => "ArnEquals",
            OperatorKind::ArnNotEquals => "ArnNotEquals",
            OperatorKind::ArnLike => "ArnLike",
            OperatorKind::ArnNotLike => "ArnNotLike",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        ALL_KINDS.into_iter().find(|kind| kind.name() == name)
    }

    /// Negated operators pass when no value matches, and pass on a missing key.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            OperatorKind::StringNotEquals
                | OperatorKind::StringNotEqualsIgnoreCase
                | OperatorKind::StringNotLike
                | OperatorKind::StringNotLikeIgnoreCase
                | OperatorKind::NumericNotEquals
                | OperatorKind::DateNotEquals
                | OperatorKind::NotIpAddress
                | OperatorKind::ArnNotEquals
                | OperatorKind::ArnNotLike
        )
    }
}

impl Operator {
    /// Parses an operator name; names are case-sensitive, as in IAM.
    pub fn parse(name: &str) -> Self {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        match OperatorKind::from_name(base) {
            // IAM does not allow IfExists on Null: the operator already tests for existence.
            Some(OperatorKind::Null) if if_exists => Operator::Unknown(name.to_owned()),
            Some(kind) => Operator::Known {
                set,
                kind,
                if_exists,
            },
            None => Operator::Unknown(name.to_owned()),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operator::Known {
                set,
                kind,
                if_exists,
            } => {
                match set {
                    Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
                    Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
                    None => {}
                }
                f.write_str(kind.name())?;
                if *if_exists {
                    f.write_str("IfExists")?;
                }
                Ok(())
            }
            Operator::Unknown(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_round_trip() {
        for name in [
            "StringEquals",
            "ForAnyValue:StringLike",
            "ForAllValues:StringEqualsIfExists",
            "NumericLessThanEqualsIfExists",
            "DateGreaterThan",
            "Null",
            "ArnNotLike",
            "NotIpAddress",
        ] {
            let op = Operator::parse(name);
            assert!(matches!(op, Operator::Known { .. }), "{name}");
            assert_eq!(op.to_string(), name);
        }
    }

    #[test]
    fn unknown_operators_are_kept_verbatim() {
        for name in [
            "BinaryEquals",
            "stringequals",
            "NullIfExists",
            "ForSomeValues:StringEquals",
            "",
        ] {
            assert_eq!(Operator::parse(name), Operator::Unknown(name.to_owned()));
            assert_eq!(Operator::parse(name).to_string(), name);
        }
    }

    #[test]
    fn qualifiers_and_if_exists_are_parsed() {
        assert_eq!(
            Operator::parse("ForAnyValue:StringNotEqualsIfExists"),
            Operator::Known {
                set: Some(SetQualifier::ForAnyValue),
                kind: OperatorKind::StringNotEquals,
                if_exists: true
            }
        );
        assert!(OperatorKind::StringNotEquals.is_negated());
        assert!(!OperatorKind::StringEquals.is_negated());
    }
}
