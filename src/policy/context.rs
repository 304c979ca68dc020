//! The request context a policy is evaluated against; keys are case-insensitive as in IAM.

use std::collections::HashMap;

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
