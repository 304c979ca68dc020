//! Turning JSON into a `PolicyDocument`: structural checks with paths, and limits for hostile input.

use serde_json::{Map, Value};

use super::model::{
    ConditionBlock, ConditionEntry, ConditionValue, Effect, OneOrMany, Operator, PolicyDocument,
    Principal, PrincipalType, Statement, ValueKind,
};
use super::PolicyError;

/// Largest policy text `parse` accepts; IAM's own limits are a few KiB.
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024;
/// Deepest bracket nesting `parse` accepts; a valid policy needs six levels.
pub const MAX_DEPTH: usize = 32;
/// Most strings, numbers and booleans a document may hold.
pub const MAX_ELEMENTS: usize = 20_000;

pub(super) fn parse_text(text: &str) -> Result<PolicyDocument, PolicyError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(PolicyError::new(
            "",
            format!("policy document is larger than {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    // Checked before serde_json so hostile nesting gets a clear message, whatever the parser's limits.
    check_depth(text)?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| PolicyError::new("", format!("invalid JSON: {e}")))?;
    // `Value` keeps the last of repeated keys, which would silently drop e.g. a first
    // condition block; a second pass refuses such documents instead.
    if repeats_a_key(text) {
        return Err(PolicyError::new(
            "",
            "invalid JSON: an object names the same key twice",
        ));
    }
    parse_document(&value)
}

/// Whether any object in the JSON `text` names a key twice (or `text` is not JSON). `Value`
/// keeps the last of repeated keys, which in a policy can silently drop a condition.
pub fn repeats_a_key(text: &str) -> bool {
    serde_json::from_str::<UniqueKeys>(text).is_err()
}

/// Deserializes any JSON and fails on an object that repeats a key.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON without repeated object keys")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(serde::de::Error::custom("repeated key"));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

/// Rejects text whose brackets nest deeper than [`MAX_DEPTH`], without recursion.
fn check_depth(text: &str) -> Result<(), PolicyError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(PolicyError::new(
                        "",
                        format!("policy document is nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Counts elements so an enormous document is refused before it is copied into the model.
struct Budget(usize);

impl Budget {
    fn take(&mut self, path: &str) -> Result<(), PolicyError> {
        if self.0 == 0 {
            return Err(PolicyError::new(
                path,
                format!("policy document has more than {MAX_ELEMENTS} elements"),
            ));
        }
        self.0 -= 1;
        Ok(())
    }
}

/// `parent.key`, or `parent["key"]` when the key would make the path ambiguous.
pub(crate) fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'));
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", Value::String(key.to_owned())),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: &str, expected: &str, found: &Value) -> PolicyError {
    PolicyError::new(
        path,
        format!("must be {expected}, found {}", type_name(found)),
    )
}

fn string(value: &Value, path: &str, budget: &mut Budget) -> Result<String, PolicyError> {
    budget.take(path)?;
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(wrong_type(path, "a string", other)),
    }
}

fn string_list(
    value: &Value,
    path: &str,
    budget: &mut Budget,
) -> Result<OneOrMany<String>, PolicyError> {
    match value {
        Value::String(_) => Ok(OneOrMany::One(string(value, path, budget)?)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| string(item, &format!("{path}[{i}]"), budget))
            .collect::<Result<_, _>>()
            .map(OneOrMany::Many),
        other => Err(wrong_type(path, "a string or an array of strings", other)),
    }
}

pub(super) fn parse_document(value: &Value) -> Result<PolicyDocument, PolicyError> {
    let object = match value {
        Value::Object(object) => object,
        other => return Err(wrong_type("", "a JSON object", other)),
    };
    let mut budget = Budget(MAX_ELEMENTS);
    let mut document = PolicyDocument {
        version: String::new(),
        id: None,
        statements: Vec::new(),
        single_statement: false,
    };
    for (key, value) in object {
        match key.as_str() {
            "Version" => document.version = string(value, "Version", &mut budget)?,
            "Id" => document.id = Some(string(value, "Id", &mut budget)?),
            "Statement" => match value {
                Value::Object(statement) => {
                    document.single_statement = true;
                    document.statements =
                        vec![parse_statement(statement, "Statement", &mut budget)?];
                }
                Value::Array(items) => {
                    document.statements = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let path = format!("Statement[{i}]");
                            match item {
                                Value::Object(statement) => {
                                    parse_statement(statement, &path, &mut budget)
                                }
                                other => Err(wrong_type(&path, "an object", other)),
                            }
                        })
                        .collect::<Result<_, _>>()?;
                }
                other => {
                    return Err(wrong_type(
                        "Statement",
                        "an object or an array of objects",
                        other,
                    ))
                }
            },
            other => return Err(unknown_element(&child_path("", other), "policy element")),
        }
    }
    Ok(document)
}

fn unknown_element(path: &str, what: &str) -> PolicyError {
    PolicyError::new(path, format!("unknown {what}"))
}

fn parse_statement(
    object: &Map<String, Value>,
    path: &str,
    budget: &mut Budget,
) -> Result<Statement, PolicyError> {
    let mut effect = None;
    let mut statement = Statement::new(Effect::Deny);
    for (key, value) in object {
        let field = child_path(path, key);
        match key.as_str() {
            "Sid" => statement.sid = Some(string(value, &field, budget)?),
            "Effect" => {
                effect = Some(match string(value, &field, budget)?.as_str() {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    _ => return Err(PolicyError::new(&field, "must be \"Allow\" or \"Deny\"")),
                })
            }
            "Principal" => statement.principal = Some(parse_principal(value, &field, budget)?),
            "NotPrincipal" => {
                statement.not_principal = Some(parse_principal(value, &field, budget)?)
            }
            "Action" => statement.action = Some(string_list(value, &field, budget)?),
            "NotAction" => statement.not_action = Some(string_list(value, &field, budget)?),
            "Resource" => statement.resource = Some(string_list(value, &field, budget)?),
            "NotResource" => statement.not_resource = Some(string_list(value, &field, budget)?),
            "Condition" => statement.condition = parse_condition(value, &field, budget)?,
            _ => return Err(unknown_element(&field, "statement element")),
        }
    }
    statement.effect =
        effect.ok_or_else(|| PolicyError::new(child_path(path, "Effect"), "is required"))?;
    Ok(statement)
}

fn parse_principal(
    value: &Value,
    path: &str,
    budget: &mut Budget,
) -> Result<Principal, PolicyError> {
    match value {
        Value::String(s) if s == "*" => {
            budget.take(path)?;
            Ok(Principal::Any)
        }
        Value::String(_) => Err(PolicyError::new(
            path,
            "a principal string must be \"*\"; name principals in a map such as {\"Federated\": \"…\"}",
        )),
        Value::Object(map) => map
            .iter()
            .map(|(name, values)| {
                let field = child_path(path, name);
                let kind = PrincipalType::from_name(name).ok_or_else(|| {
                    PolicyError::new(
                        &field,
                        "unknown principal type (expected AWS, Federated, Service or CanonicalUser)",
                    )
                })?;
                Ok((kind, string_list(values, &field, budget)?))
            })
            .collect::<Result<_, _>>()
            .map(Principal::Map),
        other => Err(wrong_type(path, "\"*\" or an object", other)),
    }
}

fn parse_condition(
    value: &Value,
    path: &str,
    budget: &mut Budget,
) -> Result<Vec<ConditionBlock>, PolicyError> {
    let blocks = match value {
        Value::Object(blocks) => blocks,
        other => return Err(wrong_type(path, "an object", other)),
    };
    blocks
        .iter()
        .map(|(operator, entries)| {
            let block_path = child_path(path, operator);
            let entries = match entries {
                Value::Object(entries) => entries,
                other => return Err(wrong_type(&block_path, "an object", other)),
            };
            let entries = entries
                .iter()
                .map(|(key, values)| {
                    let key_path = child_path(&block_path, key);
                    Ok(ConditionEntry {
                        key: key.clone(),
                        values: condition_values(values, &key_path, budget)?,
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(ConditionBlock {
                operator: Operator::parse(operator),
                entries,
            })
        })
        .collect()
}

fn condition_values(
    value: &Value,
    path: &str,
    budget: &mut Budget,
) -> Result<OneOrMany<ConditionValue>, PolicyError> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| condition_scalar(item, &format!("{path}[{i}]"), budget))
            .collect::<Result<_, _>>()
            .map(OneOrMany::Many),
        scalar => condition_scalar(scalar, path, budget).map(OneOrMany::One),
    }
}

fn condition_scalar(
    value: &Value,
    path: &str,
    budget: &mut Budget,
) -> Result<ConditionValue, PolicyError> {
    budget.take(path)?;
    match value {
        Value::String(s) => Ok(ConditionValue::string(s.clone())),
        Value::Number(n) => Ok(ConditionValue {
            text: n.to_string(),
            kind: ValueKind::Number,
        }),
        Value::Bool(b) => Ok(ConditionValue {
            text: b.to_string(),
            kind: ValueKind::Bool,
        }),
        other => Err(wrong_type(path, "a string, number or boolean", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_of(value: Value) -> PolicyError {
        match parse_document(&value) {
            Err(e) => e,
            Ok(doc) => panic!("expected an error, parsed {doc:?}"),
        }
    }

    #[test]
    fn parses_a_web_identity_trust_policy() {
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html
        let doc = parse_document(&json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/ABC"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    "oidc.example.com/id/ABC:sub": "system:serviceaccount:default:my-app",
                    "oidc.example.com/id/ABC:aud": ["sts.amazonaws.com", 42, true]
                }}
            }]
        }))
        .expect("valid");
        assert_eq!(doc.version, "2012-10-17");
        let statement = &doc.statements[0];
        assert_eq!(statement.effect, Effect::Allow);
        assert_eq!(
            statement.principal,
            Some(Principal::Map(vec![(
                PrincipalType::Federated,
                OneOrMany::One(
                    "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/ABC".into()
                )
            )]))
        );
        assert_eq!(
            statement.action,
            Some(OneOrMany::One("sts:AssumeRoleWithWebIdentity".into()))
        );
        let block = &statement.condition[0];
        assert_eq!(block.operator.to_string(), "StringEquals");
        assert_eq!(block.entries[0].key, "oidc.example.com/id/ABC:sub");
        let texts: Vec<_> = block.entries[1]
            .values
            .iter()
            .map(|v| (v.text.as_str(), v.kind))
            .collect();
        assert_eq!(
            texts,
            [
                ("sts.amazonaws.com", ValueKind::String),
                ("42", ValueKind::Number),
                ("true", ValueKind::Bool)
            ]
        );
    }

    #[test]
    fn a_single_statement_object_is_accepted() {
        let doc = parse_document(&json!({
            "Version": "2012-10-17",
            "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}
        }))
        .expect("valid");
        assert_eq!(doc.statements.len(), 1);
        assert_eq!(doc.statement_path(0), "Statement");
    }

    #[test]
    fn structural_errors_carry_paths() {
        let cases = [
            (json!([]), "", "must be a JSON object, found an array"),
            (json!({"Version": 1}), "Version", "must be a string, found a number"),
            (json!({"Versoin": "2012-10-17"}), "Versoin", "unknown policy element"),
            (json!({"Statement": "x"}), "Statement", "must be an object or an array of objects, found a string"),
            (json!({"Statement": [1]}), "Statement[0]", "must be an object, found a number"),
            (json!({"Statement": [{"Action": "*"}]}), "Statement[0].Effect", "is required"),
            (json!({"Statement": {"Action": "*"}}), "Statement.Effect", "is required"),
            (json!({"Statement": [{"Effect": "allow"}]}), "Statement[0].Effect", "must be \"Allow\" or \"Deny\""),
            (json!({"Statement": [{"Effect": "Allow", "Actions": "*"}]}), "Statement[0].Actions", "unknown statement element"),
            (json!({"Statement": [{"Effect": "Allow", "Action": ["a", 2]}]}), "Statement[0].Action[1]", "must be a string, found a number"),
            (json!({"Statement": [{"Effect": "Allow", "Resource": {}}]}), "Statement[0].Resource", "must be a string or an array of strings, found an object"),
            (json!({"Statement": [{"Effect": "Allow", "Principal": "alice"}]}), "Statement[0].Principal", "a principal string must be \"*\"; name principals in a map such as {\"Federated\": \"…\"}"),
            (json!({"Statement": [{"Effect": "Allow", "Principal": {"User": "x"}}]}), "Statement[0].Principal.User", "unknown principal type (expected AWS, Federated, Service or CanonicalUser)"),
            (json!({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": [null]}}]}), "Statement[0].NotPrincipal.AWS[0]", "must be a string, found null"),
            (json!({"Statement": [{"Effect": "Allow", "Condition": []}]}), "Statement[0].Condition", "must be an object, found an array"),
            (json!({"Statement": [{"Effect": "Allow", "Condition": {"StringEquals": "x"}}]}), "Statement[0].Condition.StringEquals", "must be an object, found a string"),
            (json!({"Statement": [{"Effect": "Allow", "Condition": {"StringEquals": {"a.b/c:sub": {"x": 1}}}}]}), "Statement[0].Condition.StringEquals[\"a.b/c:sub\"]", "must be a string, number or boolean, found an object"),
            (json!({"Statement": [{"Effect": "Allow", "Condition": {"StringEquals": {"k": ["a", ["b"]]}}}]}), "Statement[0].Condition.StringEquals.k[1]", "must be a string, number or boolean, found an array"),
        ];
        for (value, path, message) in cases {
            let error = error_of(value.clone());
            assert_eq!(error, PolicyError::new(path, message), "for {value}");
        }
    }

    #[test]
    fn unknown_operators_parse_and_are_kept() {
        let doc = parse_document(&json!({"Statement": [{"Effect": "Allow",
            "Condition": {"BinaryEquals": {"k": "dGVzdA=="}}}]}))
        .expect("structurally valid");
        assert_eq!(
            doc.statements[0].condition[0].operator,
            Operator::Unknown("BinaryEquals".into())
        );
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let error = parse_text(&deep).expect_err("too deep");
        assert_eq!(error.path, "");
        assert_eq!(
            error.message,
            format!("policy document is nested deeper than {MAX_DEPTH} levels")
        );
        let deep_in_condition = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Condition":{{"StringEquals":{{"k":{}{}}}}}}}]}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(parse_text(&deep_in_condition).is_err());
    }

    #[test]
    fn brackets_inside_strings_do_not_count_as_nesting() {
        let text = format!(
            r#"{{"Version":"2012-10-17","Id":"{}\"{}","Statement":[]}}"#,
            "[".repeat(100),
            "{".repeat(100)
        );
        let doc = parse_text(&text).expect("valid");
        assert_eq!(doc.id.as_deref().map(str::len), Some(201));
    }

    #[test]
    fn oversized_documents_are_refused() {
        let text = format!(r#"{{"Id":"{}"}}"#, "a".repeat(MAX_DOCUMENT_BYTES));
        assert_eq!(
            parse_text(&text).expect_err("too big").message,
            format!("policy document is larger than {MAX_DOCUMENT_BYTES} bytes")
        );
        let many: Vec<String> = (0..=MAX_ELEMENTS).map(|i| i.to_string()).collect();
        let error = parse_document(&json!({"Statement": [{"Effect": "Allow", "Action": many}]}))
            .expect_err("too many elements");
        assert_eq!(
            error.message,
            format!("policy document has more than {MAX_ELEMENTS} elements")
        );
    }

    #[test]
    fn invalid_json_is_a_policy_error() {
        let error = parse_text("{\"Version\": ").expect_err("invalid");
        assert_eq!(error.path, "");
        assert!(
            error.message.starts_with("invalid JSON: "),
            "{}",
            error.message
        );
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        // Last-one-wins would silently drop the first Effect or condition block.
        for text in [
            r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":[]}"#,
            r#"{"Statement":[{"Effect":"Deny","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":
                {"StringEquals":{"aws:username":"a"},"StringEquals":{"aws:username":"b"}}}]}"#,
        ] {
            let error = parse_text(text).expect_err("duplicate key");
            assert_eq!(error.path, "");
            assert_eq!(
                error.message,
                "invalid JSON: an object names the same key twice"
            );
        }
        // The same key in sibling objects is fine.
        parse_text(
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},
                             {"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
        )
        .expect("siblings");
    }
}
