//! `${VAR}` / `${VAR:-default}` substitution in every string value of the `iam.json` tree.
//!
//! Rules:
//! - `VAR` must look like an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`). Anything else
//!   between `${` and `}` is left untouched, so IAM policy variables such as `${aws:username}`,
//!   `${oidc:sub}` or `${*}` inside policy documents survive.
//! - `${VAR:-default}` uses `default` when `VAR` is unset **or empty** (the shell's `:-`); the
//!   default is literal text up to the first `}` (no nesting).
//! - `$${` is an escape for a literal `${`; any other `$` is literal.
//! - Object keys are never substituted.

use serde_json::Value;

use super::Problem;

/// Look up an environment variable; injected so tests never touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Substitute in place, returning one problem per unresolvable reference.
pub fn substitute_tree(value: &mut Value, env: EnvLookup<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    walk(value, String::new(), env, &mut problems);
    problems
}

fn walk(value: &mut Value, path: String, env: EnvLookup<'_>, problems: &mut Vec<Problem>) {
    match value {
        Value::String(s) => match substitute(s, env) {
            Ok(Some(new)) => *s = new,
            Ok(None) => {}
            Err(message) => problems.push(Problem::new(path, message)),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{path}[{i}]"), env, problems);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                walk(item, super::join(&path, key), env, problems);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Returns `Ok(None)` when the string has nothing to substitute (the common case, no copy).
/// The error message names the variable, never a value.
pub fn substitute(input: &str, env: EnvLookup<'_>) -> Result<Option<String>, String> {
    if !input.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        let Some(body_start) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            // No closing brace: not a reference we own; keep the text as written.
            out.push_str(tail);
            rest = "";
            break;
        };
        let body = &body_start[..end];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        if !is_var_name(name) {
            out.push_str(&tail[..end + 3]);
        } else {
            match (
                env(name).filter(|v| !(default.is_some() && v.is_empty())),
                default,
            ) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(format!("environment variable {name} is not set")),
            }
        }
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "CLIENT_SECRET" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            "HOST" => Some("idp.example.com".into()),
            _ => None,
        }
    }

    fn sub(s: &str) -> Result<String, String> {
        substitute(s, &env).map(|o| o.unwrap_or_else(|| s.to_string()))
    }

    #[test]
    fn replaces_set_variables_and_defaults() {
        assert_eq!(sub("${CLIENT_SECRET}").unwrap(), "s3cr3t");
        assert_eq!(
            sub("https://${HOST}/realms/x").unwrap(),
            "https://idp.example.com/realms/x"
        );
        assert_eq!(sub("${MISSING:-fallback}").unwrap(), "fallback");
        assert_eq!(sub("${MISSING:-}").unwrap(), "");
        assert_eq!(sub("${HOST:-other}").unwrap(), "idp.example.com");
        assert_eq!(sub("${EMPTY:-dflt}").unwrap(), "dflt");
        assert_eq!(sub("${EMPTY}").unwrap(), "");
        assert_eq!(
            sub("${HOST}${HOST}").unwrap(),
            "idp.example.comidp.example.com"
        );
    }

    #[test]
    fn unset_variable_without_default_is_an_error_naming_it() {
        assert_eq!(
            sub("x-${NOPE}-y"),
            Err("environment variable NOPE is not set".to_string())
        );
    }

    #[test]
    fn escapes_and_policy_variables_stay_literal() {
        assert_eq!(sub("$${HOST}").unwrap(), "${HOST}");
        assert_eq!(sub("price $5").unwrap(), "price $5");
        assert_eq!(
            sub("arn:aws:s3:::bucket/${aws:username}/*").unwrap(),
            "arn:aws:s3:::bucket/${aws:username}/*"
        );
        assert_eq!(sub("${*}${?}${$}").unwrap(), "${*}${?}${$}");
        assert_eq!(sub("${oidc:sub}").unwrap(), "${oidc:sub}");
        assert_eq!(sub("unterminated ${HOST").unwrap(), "unterminated ${HOST");
        assert_eq!(substitute("plain", &env), Ok(None));
    }

    #[test]
    fn substitutes_values_not_keys_and_reports_paths() {
        let mut v = json!({
            "providers": [{"config": {"clientSecret": "${CLIENT_SECRET}", "${HOST}": "k"}},
                          {"config": {"clientSecret": "${CLIENT_SECRET_2}"}}],
            "n": 3
        });
        let problems = substitute_tree(&mut v, &env);
        assert_eq!(v["providers"][0]["config"]["clientSecret"], "s3cr3t");
        assert_eq!(v["providers"][0]["config"]["${HOST}"], "k");
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "providers[1].config.clientSecret: environment variable CLIENT_SECRET_2 is not set"
        );
    }
}
