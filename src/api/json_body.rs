//! The one reader of JSON request bodies (the JSON twin, `/sts/validate-token`): one object of
//! known fields, each given once, read without any message quoting a value.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::sts::form::displayable_name;
use super::ApiError;

/// A request body's top-level fields, checked against the endpoint's list.
#[derive(Debug)]
pub struct JsonFields(Map<String, Value>);

impl JsonFields {
    /// Parses `body` as a JSON object whose keys are all in `fields` and each appear once (`Value`
    /// would keep the last of repeated keys; the form parser refuses repeats, and so does this).
    /// serde's own messages can quote the body, so they are not passed through.
    pub fn parse(body: &[u8], fields: &[&str]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            malformed(format!(
                "The request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(object) = value else {
            return Err(malformed(
                "The request body must be a JSON object".to_owned(),
            ));
        };
        if let Some(unknown) = object.keys().find(|k| !fields.contains(&k.as_str())) {
            let shown = if displayable_name(unknown) {
                format!(" '{unknown}'")
            } else {
                String::new()
            };
            return Err(malformed(format!(
                "The request body has an unknown field{shown}; expected {}",
                fields.join(", ")
            )));
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        if de.deserialize_map(KeysOnce).is_err() {
            return Err(malformed(
                "The request body gives a field more than once".to_owned(),
            ));
        }
        Ok(Self(object))
    }

    /// A string field; absent and `null` are `None`.
    pub fn string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(malformed(format!("The field '{name}' must be a string"))),
        }
    }

    /// A field that may be a number or a string, as its text; absent and `null` are `None`.
    pub fn number_or_string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(malformed(format!(
                "The field '{name}' must be a number or a string"
            ))),
        }
    }
}

/// The JSON endpoints' refusal of a body they cannot read.
pub fn malformed(message: String) -> ApiError {
    ApiError::MalformedJson { message }
}

/// Walks the top-level object, failing on the second occurrence of a key.
struct KeysOnce;

impl<'de> Visitor<'de> for KeysOnce {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object whose keys appear once")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(serde::de::Error::custom("repeated key"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> String {
        match JsonFields::parse(body.as_bytes(), &["a", "b"]).unwrap_err() {
            ApiError::MalformedJson { message } => message,
            other => panic!("expected MalformedJson, got {other:?}"),
        }
    }

    #[test]
    fn repeated_keys_are_refused_wherever_they_are() {
        let m = "The request body gives a field more than once";
        assert_eq!(refusal(r#"{"a":"x","a":"y"}"#), m);
        assert_eq!(refusal(r#"{"a":"x","b":null,"a":null}"#), m);
        assert_eq!(refusal(r#"{"a":"x","a":{"nested":[1,2]}}"#), m);
        let mut ok = JsonFields::parse(br#"{"a":"x","b":{"b":1,"b":2}}"#, &["a", "b"]).unwrap();
        assert_eq!(ok.string("a").unwrap().as_deref(), Some("x"));
    }

    #[test]
    fn fields_are_typed_without_quoting_values() {
        let mut f = JsonFields::parse(br#"{"a":12,"b":"900"}"#, &["a", "b"]).unwrap();
        let ApiError::MalformedJson { message } = f.string("a").unwrap_err() else {
            panic!("expected MalformedJson")
        };
        assert_eq!(message, "The field 'a' must be a string");
        assert_eq!(f.number_or_string("b").unwrap().as_deref(), Some("900"));
        assert_eq!(f.string("b").unwrap(), None);
    }
}
