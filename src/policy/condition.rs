//! Condition operators and policy variables (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::OffsetDateTime;

use super::context::Context;
use super::model::{ConditionBlock, ConditionEntry, Operator, OperatorKind, SetQualifier};
use super::wildcard::{matches_pattern, Token};

/// Why a condition block did not pass: the first failing key, what the context held and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionFailure {
    /// The operator as written, e.g. `ForAnyValue:StringLike`.
    pub operator: String,
    pub key: String,
    /// The context values of `key`; `None` when the key was missing.
    pub seen: Option<Vec<String>>,
    /// The values in the policy, before variable substitution.
    pub expected: Vec<String>,
    pub reason: FailureReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    NotSatisfied,
    UnsupportedOperator,
}

/// Evaluates one block: every key must pass (AND); within a key any value may match (OR).
pub(crate) fn check_block(
    block: &ConditionBlock,
    context: &Context,
) -> Result<(), ConditionFailure> {
    let (set, kind, if_exists) = match &block.operator {
        Operator::Known {
            set,
            kind,
            if_exists,
        } => (*set, *kind, *if_exists),
        // An operator we do not understand must never grant access: fail the statement.
        Operator::Unknown(_) => {
            let entry = block.entries.first();
            return Err(ConditionFailure {
                operator: block.operator.to_string(),
                key: entry.map(|e| e.key.clone()).unwrap_or_default(),
                seen: entry.and_then(|e| context.values(&e.key).map(<[String]>::to_vec)),
                expected: entry.map(expected_texts).unwrap_or_default(),
                reason: FailureReason::UnsupportedOperator,
            });
        }
    };
    for entry in &block.entries {
        if !entry_passes(set, kind, if_exists, entry, context) {
            return Err(ConditionFailure {
                operator: block.operator.to_string(),
                key: entry.key.clone(),
                seen: context.values(&entry.key).map(<[String]>::to_vec),
                expected: expected_texts(entry),
                reason: FailureReason::NotSatisfied,
            });
        }
    }
    Ok(())
}

fn expected_texts(entry: &ConditionEntry) -> Vec<String> {
    entry.values.iter().map(|v| v.text.clone()).collect()
}

fn entry_passes(
    set: Option<SetQualifier>,
    kind: OperatorKind,
    if_exists: bool,
    entry: &ConditionEntry,
    context: &Context,
) -> bool {
    let present = context.values(&entry.key);
    if kind == OperatorKind::Null {
        // `"Null": {"k": "true"}` asks for k to be absent, `"false"` for it to be present.
        let missing = present.is_none();
        return entry
            .values
            .iter()
            .any(|value| parse_bool(&value.text) == Some(missing));
    }
    let Some(values) = present else {
        return match (if_exists, set) {
            (true, _) => true,
            (false, Some(SetQualifier::ForAllValues)) => true,
            (false, Some(SetQualifier::ForAnyValue)) => false,
            // IAM: a missing key fails a positive operator and satisfies a negated one.
            (false, None) => kind.is_negated(),
        };
    };
    let negated = kind.is_negated();
    let hits = |value: &String| {
        entry
            .values
            .iter()
            .any(|expected| value_hits(kind, &expected.text, value, context))
    };
    match set {
        // Without a qualifier a negated operator must hold for every value: none may match.
        None => values.iter().any(hits) != negated,
        Some(SetQualifier::ForAnyValue) => values.iter().any(|v| hits(v) != negated),
        Some(SetQualifier::ForAllValues) => values.iter().all(|v| hits(v) != negated),
    }
}

/// Whether `actual` matches `expected` under the positive form of `kind` (StringNotEquals → equals).
fn value_hits(kind: OperatorKind, expected: &str, actual: &str, context: &Context) -> bool {
    use OperatorKind as K;
    match kind {
        K::StringEquals | K::StringNotEquals => {
            expand(expected, context).is_some_and(|e| e == actual)
        }
        K::StringEqualsIgnoreCase | K::StringNotEqualsIgnoreCase => {
            expand(expected, context).is_some_and(|e| eq_ignore_case(&e, actual))
        }
        K::StringLike | K::StringNotLike => {
            expand_pattern(expected, context).is_some_and(|p| p.matches(actual, false))
        }
        K::StringLikeIgnoreCase | K::StringNotLikeIgnoreCase => {
            expand_pattern(expected, context).is_some_and(|p| p.matches(actual, true))
        }
        K::NumericEquals
        | K::NumericNotEquals
        | K::NumericLessThan
        | K::NumericLessThanEquals
        | K::NumericGreaterThan
        | K::NumericGreaterThanEquals => {
            let (Some(expected), Some(actual)) = (
                expand(expected, context).and_then(|e| parse_number(&e)),
                parse_number(actual),
            ) else {
                return false;
            };
            actual
                .partial_cmp(&expected)
                .is_some_and(|ordering| ordering_satisfies(kind, ordering))
        }
        K::DateEquals
        | K::DateNotEquals
        | K::DateLessThan
        | K::DateLessThanEquals
        | K::DateGreaterThan
        | K::DateGreaterThanEquals => {
            let (Some(expected), Some(actual)) = (
                expand(expected, context).and_then(|e| parse_date(&e)),
                parse_date(actual),
            ) else {
                return false;
            };
            ordering_satisfies(kind, actual.cmp(&expected))
        }
        K::Bool => match (
            expand(expected, context).and_then(|e| parse_bool(&e)),
            parse_bool(actual),
        ) {
            (Some(expected), Some(actual)) => expected == actual,
            _ => false,
        },
        K::IpAddress | K::NotIpAddress => match (
            expand(expected, context).and_then(|e| parse_network(&e)),
            actual.trim().parse::<IpAddr>(),
        ) {
            (Some(network), Ok(address)) => network.contains(&address),
            _ => false,
        },
        K::ArnEquals | K::ArnNotEquals | K::ArnLike | K::ArnNotLike => {
            expand_tokens(expected, context).is_some_and(|p| arn_matches(&p, actual))
        }
        // Handled before any value is compared.
        K::Null => false,
    }
}

fn ordering_satisfies(kind: OperatorKind, ordering: Ordering) -> bool {
    use OperatorKind as K;
    match kind {
        K::NumericLessThan | K::DateLessThan => ordering == Ordering::Less,
        K::NumericLessThanEquals | K::DateLessThanEquals => ordering != Ordering::Greater,
        K::NumericGreaterThan | K::DateGreaterThan => ordering == Ordering::Greater,
        K::NumericGreaterThanEquals | K::DateGreaterThanEquals => ordering != Ordering::Less,
        _ => ordering == Ordering::Equal,
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

pub(crate) fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A date as nanoseconds since the epoch: RFC 3339, ISO 8601, a bare `YYYY-MM-DD` (midnight UTC),
/// or epoch seconds (as `aws:EpochTime` is written).
pub(crate) fn parse_date(text: &str) -> Option<i128> {
    let text = text.trim();
    if let Some(seconds) = parse_number(text) {
        if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            // Range-limited so the nanosecond product cannot overflow.
            return (seconds.abs() < 1e15).then_some((seconds * 1e9) as i128);
        }
    }
    if let Ok(datetime) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(datetime.unix_timestamp_nanos());
    }
    if let Ok(datetime) = OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(datetime.unix_timestamp_nanos());
    }
    let date_only = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &date_only)
        .ok()
        .map(|date| date.midnight().assume_utc().unix_timestamp_nanos())
}

/// A CIDR block, or a single address as a host network.
pub(crate) fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// ARN matching as IAM does it: the six colon-separated parts are compared one by one, each
/// with wildcards, so `*` never spans a colon before the resource part.
/// A pattern without any colon (such as `*`) is matched against the whole ARN.
fn arn_matches(pattern: &[Token], arn: &str) -> bool {
    if !pattern.contains(&Token::Literal(':')) {
        return matches_pattern(pattern, arn, false);
    }
    let mut pattern_parts = Vec::with_capacity(6);
    let mut rest = pattern;
    for _ in 0..5 {
        let Some(colon) = rest.iter().position(|t| *t == Token::Literal(':')) else {
            return false;
        };
        pattern_parts.push(&rest[..colon]);
        rest = &rest[colon + 1..];
    }
    pattern_parts.push(rest);
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    arn_parts.len() == 6
        && pattern_parts
            .iter()
            .zip(&arn_parts)
            .all(|(pattern, part)| matches_pattern(*pattern, part, false))
}

/// One piece of a condition value containing `${…}`.
enum Segment<'a> {
    Text(&'a str),
    /// `${*}`, `${?}`, `${$}`: a literal character, never a wildcard.
    Escaped(char),
    Variable {
        key: &'a str,
        default: Option<&'a str>,
    },
    /// A `${…}` we cannot read: the value cannot match.
    Invalid,
}

fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        if start > 0 {
            out.push(Segment::Text(&rest[..start]));
        }
        let inner = &rest[start + 2..start + 2 + len];
        out.push(match inner.trim() {
            "*" => Segment::Escaped('*'),
            "?" => Segment::Escaped('?'),
            "$" => Segment::Escaped('$'),
            inner => variable(inner),
        });
        rest = &rest[start + 3 + len..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    out
}

/// The keys of the `${…}` variables in a condition value.
pub(crate) fn variable_keys(text: &str) -> impl Iterator<Item = &str> {
    segments(text)
        .into_iter()
        .filter_map(|segment| match segment {
            Segment::Variable { key, .. } => Some(key),
            _ => None,
        })
}

/// `key` or `key, 'default'` (IAM's default-value syntax).
fn variable(inner: &str) -> Segment<'_> {
    let (key, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((key, default)) => {
            let default = default.trim();
            match default
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
            {
                Some(default) => (key.trim(), Some(default)),
                None => return Segment::Invalid,
            }
        }
    };
    if key.is_empty() {
        Segment::Invalid
    } else {
        Segment::Variable { key, default }
    }
}

fn resolve<'a>(key: &str, default: Option<&'a str>, context: &'a Context) -> Option<&'a str> {
    match context.get(key) {
        Some(_) => context.single(key),
        None => default,
    }
}

/// The value with variables substituted; `None` when a variable cannot be resolved.
pub(crate) fn expand<'a>(text: &'a str, context: &Context) -> Option<Cow<'a, str>> {
    if !text.contains("${") {
        return Some(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    for segment in segments(text) {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Escaped(c) => out.push(c),
            Segment::Variable { key, default } => out.push_str(resolve(key, default, context)?),
            Segment::Invalid => return None,
        }
    }
    Some(Cow::Owned(out))
}

/// A wildcard pattern after substitution.
enum ExpandedPattern<'a> {
    Plain(&'a str),
    Tokens(Vec<Token>),
}

impl ExpandedPattern<'_> {
    fn matches(&self, text: &str, ignore_case: bool) -> bool {
        match self {
            ExpandedPattern::Plain(pattern) => matches_pattern(*pattern, text, ignore_case),
            ExpandedPattern::Tokens(tokens) => matches_pattern(&tokens[..], text, ignore_case),
        }
    }
}

fn push_pattern_text(out: &mut Vec<Token>, text: &str) {
    out.extend(text.chars().map(|c| match c {
        '*' => Token::Any,
        '?' => Token::One,
        c => Token::Literal(c),
    }));
}

/// Substituted values and escapes are literal: a subject named `*` must not become a wildcard.
fn expand_tokens(text: &str, context: &Context) -> Option<Vec<Token>> {
    let mut out = Vec::with_capacity(text.len());
    if !text.contains("${") {
        push_pattern_text(&mut out, text);
        return Some(out);
    }
    for segment in segments(text) {
        match segment {
            Segment::Text(text) => push_pattern_text(&mut out, text),
            Segment::Escaped(c) => out.push(Token::Literal(c)),
            Segment::Variable { key, default } => {
                out.extend(resolve(key, default, context)?.chars().map(Token::Literal))
            }
            Segment::Invalid => return None,
        }
    }
    Some(out)
}

fn expand_pattern<'a>(text: &'a str, context: &Context) -> Option<ExpandedPattern<'a>> {
    if text.contains("${") {
        expand_tokens(text, context).map(ExpandedPattern::Tokens)
    } else {
        Some(ExpandedPattern::Plain(text))
    }
}

/// Whether a policy value can ever be compared by `kind`; used by validation.
pub(crate) fn value_is_well_formed(kind: OperatorKind, text: &str) -> bool {
    use OperatorKind as K;
    // A value built from variables is checked when it is evaluated.
    if text.contains("${") {
        return !segments(text)
            .iter()
            .any(|segment| matches!(segment, Segment::Invalid));
    }
    match kind {
        K::NumericEquals
        | K::NumericNotEquals
        | K::NumericLessThan
        | K::NumericLessThanEquals
        | K::NumericGreaterThan
        | K::NumericGreaterThanEquals => parse_number(text).is_some(),
        K::DateEquals
        | K::DateNotEquals
        | K::DateLessThan
        | K::DateLessThanEquals
        | K::DateGreaterThan
        | K::DateGreaterThanEquals => parse_date(text).is_some(),
        K::Bool | K::Null => parse_bool(text).is_some(),
        K::IpAddress | K::NotIpAddress => parse_network(text).is_some(),
        K::ArnEquals | K::ArnNotEquals | K::ArnLike | K::ArnNotLike => {
            text == "*" || text.splitn(6, ':').count() == 6
        }
        K::StringEquals
        | K::StringNotEquals
        | K::StringEqualsIgnoreCase
        | K::StringNotEqualsIgnoreCase
        | K::StringLike
        | K::StringNotLike
        | K::StringLikeIgnoreCase
        | K::StringNotLikeIgnoreCase => true,
    }
}
