//! The request context a policy is evaluated against; keys are case-insensitive as in IAM.

use std::collections::HashMap;

use serde_json::Value;

/// A context value: one string, or a set of strings (`oidc:aud` from an array `aud`, `:amr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    Single(String),
    Multi(Vec<String>),
}

impl ContextValue {
    pub fn as_slice(&self) -> &[String] {
        match self {
            ContextValue::Single(value) => std::slice::from_ref(value),
            ContextValue::Multi(values) => values,
        }
    }
}

impl ContextValue {
    /// A token claim as a context value: strings as they are, numbers and booleans as their JSON
    /// text, arrays as sets of their scalar elements. Objects and nulls have no context value.
    pub fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Array(items) => Some(ContextValue::Multi(
                items.iter().filter_map(scalar_text).collect(),
            )),
            other => scalar_text(other).map(ContextValue::Single),
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl From<String> for ContextValue {
    fn from(value: String) -> Self {
        ContextValue::Single(value)
    }
}

impl From<&str> for ContextValue {
    fn from(value: &str) -> Self {
        ContextValue::Single(value.to_owned())
    }
}

impl From<Vec<String>> for ContextValue {
    fn from(values: Vec<String>) -> Self {
        ContextValue::Multi(values)
    }
}

impl From<Vec<&str>> for ContextValue {
    fn from(values: Vec<&str>) -> Self {
        ContextValue::Multi(values.into_iter().map(str::to_owned).collect())
    }
}

/// The condition keys a policy can read: the keys its conditions name and the `${…}` variables
/// in its condition values, lower-cased. A context built for a policy needs only these, so a
/// token's claims that no condition mentions are never turned into context entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextKeys {
    /// Every key: the context as it was built before narrowing, kept so tests and benchmarks
    /// can compare against it.
    All,
    /// Sorted, de-duplicated, lower-cased.
    Only(Vec<String>),
}

impl ContextKeys {
    pub fn only<I: IntoIterator<Item = S>, S: AsRef<str>>(keys: I) -> Self {
        let mut keys: Vec<String> = keys
            .into_iter()
            .map(|k| k.as_ref().to_lowercase())
            .collect();
        keys.sort();
        keys.dedup();
        ContextKeys::Only(keys)
    }

    /// Whether `key` (any spelling) may be read.
    pub fn wants(&self, key: &str) -> bool {
        self.any(key, |rest| rest.is_empty())
    }

    /// Whether `key` or a key below it (`key/…`, a flattened claim object) may be read.
    pub fn wants_within(&self, key: &str) -> bool {
        self.any(key, |rest| rest.is_empty() || rest[0] == b'/')
    }

    /// Compares without allocating for ASCII keys. A non-ASCII key is always wanted: Unicode
    /// lower-casing is context-sensitive (final sigma), so a piece of a key cannot be folded on
    /// its own, and an extra context entry is harmless where a missing one is not.
    fn any(&self, key: &str, rest_ok: impl Fn(&[u8]) -> bool) -> bool {
        let ContextKeys::Only(keys) = self else {
            return true;
        };
        if !key.is_ascii() {
            return true;
        }
        let key = key.as_bytes();
        keys.iter().any(|k| {
            let k = k.as_bytes();
            k.len() >= key.len()
                && k[..key.len()].eq_ignore_ascii_case(key)
                && rest_ok(&k[key.len()..])
        })
    }
}

/// Condition keys and their values. Keys are stored lower-cased; the spelling first inserted is
/// kept for display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: HashMap<String, (String, ContextValue)>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (replacing any value under any spelling of it).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<ContextValue>) {
        let key = key.into();
        let folded = key.to_lowercase();
        let value = value.into();
        match self.entries.get_mut(&folded) {
            Some(entry) => entry.1 = value,
            None => {
                self.entries.insert(folded, (key, value));
            }
        }
    }

    /// Builder form of [`Context::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<ContextValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key` from a JSON value (see [`ContextValue::from_json`]); objects and nulls are skipped.
    pub fn insert_json(&mut self, key: impl Into<String>, value: &Value) {
        if let Some(value) = ContextValue::from_json(value) {
            self.insert(key, value);
        }
    }

    /// Sets the request-time keys `aws:CurrentTime` (RFC 3339) and `aws:EpochTime` from `now`
    /// (Unix seconds), so date conditions compare against the caller's clock.
    pub fn insert_request_time(&mut self, now: i64) {
        self.insert("aws:EpochTime", now.to_string());
        if let Some(current) = crate::timestamp::rfc3339_from_unix(now) {
            self.insert("aws:CurrentTime", current);
        }
    }

    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.entries
            .get(&key.to_lowercase())
            .map(|(_, value)| value)
    }

    /// The values of `key`; `None` when the key is absent or holds an empty set, which IAM treats alike.
    pub(crate) fn values(&self, key: &str) -> Option<&[String]> {
        self.get(key)
            .map(ContextValue::as_slice)
            .filter(|values| !values.is_empty())
    }

    /// The single value of `key`, for policy variables; a set does not substitute.
    pub(crate) fn single(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            ContextValue::Single(value) => Some(value),
            ContextValue::Multi(_) => None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys (as first inserted) and values, sorted by key for stable output.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        let mut entries: Vec<_> = self.entries.values().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
            .into_iter()
            .map(|(key, value)| (key.as_str(), value))
    }
}

impl<K: Into<String>, V: Into<ContextValue>> FromIterator<(K, V)> for Context {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut context = Context::new();
        for (key, value) in iter {
            context.insert(key, value);
        }
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_keys_match_whole_keys_and_flattened_children_in_any_case() {
        let keys = ContextKeys::only(["oidc:Kubernetes.io/namespace", "aws:userid", "oidc:sub"]);
        assert!(keys.wants("OIDC:SUB"));
        assert!(keys.wants("aws:UserId"));
        assert!(!keys.wants("oidc:su"));
        assert!(!keys.wants("oidc:subject"));
        assert!(!keys.wants("oidc:kubernetes.io"));
        assert!(keys.wants_within("oidc:kubernetes.io"));
        assert!(keys.wants_within("oidc:KUBERNETES.IO/namespace"));
        assert!(!keys.wants_within("oidc:kubernetes"));
        assert!(!keys.wants_within("oidc:kubernetes.io/name"));
        assert!(!keys.wants_within("oidc:email"));
        // Non-ASCII keys cannot be folded piecewise, so they are always kept.
        assert!(keys.wants("oidc:größe"));
        assert!(ContextKeys::All.wants("anything"));
        assert!(!ContextKeys::only(Vec::<String>::new()).wants_within("oidc:sub"));
    }

    #[test]
    fn keys_are_case_insensitive() {
        let mut context = Context::new();
        context.insert("oidc:Sub", "alice");
        assert_eq!(
            context.get("OIDC:SUB"),
            Some(&ContextValue::Single("alice".into()))
        );
        context.insert("OIDC:sub", "bob");
        assert_eq!(context.len(), 1);
        assert_eq!(context.single("oidc:sub"), Some("bob"));
        assert_eq!(context.iter().next().map(|(k, _)| k), Some("oidc:Sub"));
    }

    #[test]
    fn json_claims_become_context_values() {
        let mut context = Context::new();
        context.insert_json("oidc:aud", &json!(["a", 1, true, null, {"x": 1}]));
        context.insert_json("oidc:exp", &json!(1700000000));
        context.insert_json("oidc:email_verified", &json!(true));
        context.insert_json("oidc:address", &json!({"country": "NL"}));
        context.insert_json("oidc:nothing", &Value::Null);
        assert_eq!(
            context.get("oidc:aud"),
            Some(&ContextValue::Multi(vec![
                "a".into(),
                "1".into(),
                "true".into()
            ]))
        );
        assert_eq!(context.single("oidc:exp"), Some("1700000000"));
        assert_eq!(context.single("oidc:email_verified"), Some("true"));
        assert_eq!(context.get("oidc:address"), None);
        assert_eq!(context.get("oidc:nothing"), None);
    }

    #[test]
    fn request_time_comes_from_the_given_clock() {
        let mut context = Context::new();
        context.insert_request_time(1_588_334_400);
        assert_eq!(
            context.single("aws:CurrentTime"),
            Some("2020-05-01T12:00:00Z")
        );
        assert_eq!(context.single("aws:epochtime"), Some("1588334400"));
    }

    #[test]
    fn empty_sets_count_as_missing() {
        let context = Context::new().with("oidc:aud", Vec::<String>::new());
        assert!(context.get("oidc:aud").is_some());
        assert_eq!(context.values("oidc:aud"), None);
        assert_eq!(context.values("absent"), None);
    }

    #[test]
    fn sets_do_not_substitute_as_single_values() {
        let context: Context = [("oidc:aud", vec!["a", "b"])].into_iter().collect();
        assert_eq!(context.single("oidc:aud"), None);
        assert_eq!(
            context.values("oidc:aud"),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
    }
}
