//! Strict `application/x-www-form-urlencoded` parsing of the query string and the POST body
//! (https://url.spec.whatwg.org/#application/x-www-form-urlencoded), merged into one parameter set.

use std::collections::BTreeMap;

/// Why a query string or form body was refused. Never carries a parameter value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("a '%' escape is not followed by two hexadecimal digits")]
    BadEscape,
    #[error("a parameter does not decode to valid UTF-8")]
    NotUtf8,
    #[error("a parameter has an empty name")]
    EmptyName,
    /// `name` is `None` when the name itself is not safe to show back.
    #[error("duplicate parameter")]
    Duplicate { name: Option<String> },
}

/// The parameters of one query-API request, each given exactly once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses the raw query string and, for a form POST, the raw body. A parameter given twice —
    /// in either part or across both — is refused rather than silently picking one.
    pub fn parse(query: &[u8], body: &[u8]) -> Result<Self, FormError> {
        let mut params = Self::default();
        for part in [query, body] {
            for pair in part.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
                let (name, value) = match pair.iter().position(|&b| b == b'=') {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &[][..]),
                };
                let name = decode(name)?;
                if name.is_empty() {
                    return Err(FormError::EmptyName);
                }
                let value = decode(value)?;
                params.insert(name, value)?;
            }
        }
        Ok(params)
    }

    fn insert(&mut self, name: String, value: String) -> Result<(), FormError> {
        if self.0.contains_key(&name) {
            let name = displayable_name(&name).then_some(name);
            return Err(FormError::Duplicate { name });
        }
        self.0.insert(name, value);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Removes and returns a parameter, so that the caller can see what is left over.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Only short names made of the characters AWS parameter names use are echoed in an error:
/// a pasted token in the name position must not come back in the response.
pub fn displayable_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Percent-decodes one name or value, `+` meaning space. Unlike lenient decoders, a `%` that does
/// not start a valid escape is an error, not a literal.
fn decode(input: &[u8]) -> Result<String, FormError> {
    // Most values (a JWT, an ARN) have nothing to decode. The scan has no early exit, so that
    // it vectorises.
    if !input
        .iter()
        .fold(false, |seen, &b| seen | (b == b'+') | (b == b'%'))
    {
        return std::str::from_utf8(input)
            .map(str::to_owned)
            .map_err(|_| FormError::NotUtf8);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = input.get(i + 1).and_then(|&b| hex_value(b));
                let lo = input.get(i + 2).and_then(|&b| hex_value(b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(FormError::BadEscape),
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(query: &str, body: &str) -> Result<Params, FormError> {
        Params::parse(query.as_bytes(), body.as_bytes())
    }

    #[test]
    fn decodes_plus_and_escapes_in_names_and_values() {
        let p = parse("Action=Assume%52ole&A+b=x+y%2By", "").unwrap();
        assert_eq!(p.get("Action"), Some("AssumeRole"));
        assert_eq!(p.get("A b"), Some("x y+y"));
    }

    #[test]
    fn merges_query_and_body() {
        let p = parse("Action=GetCallerIdentity", "Version=2011-06-15").unwrap();
        assert_eq!(p.get("Action"), Some("GetCallerIdentity"));
        assert_eq!(p.get("Version"), Some("2011-06-15"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn empty_segments_and_missing_equals() {
        let p = parse("&&Flag&Empty=&", "").unwrap();
        assert_eq!(p.get("Flag"), Some(""));
        assert_eq!(p.get("Empty"), Some(""));
        assert_eq!(p.len(), 2);
        assert!(parse("", "").unwrap().is_empty());
    }

    #[test]
    fn value_may_contain_equals() {
        let p = parse("Policy=a=b==", "").unwrap();
        assert_eq!(p.get("Policy"), Some("a=b=="));
    }

    #[test]
    fn duplicates_are_refused_within_and_across_parts() {
        assert_eq!(
            parse("Action=A&Action=B", ""),
            Err(FormError::Duplicate {
                name: Some("Action".into())
            })
        );
        assert_eq!(
            parse("RoleArn=a", "RoleArn=b"),
            Err(FormError::Duplicate {
                name: Some("RoleArn".into())
            })
        );
        // Same name once encoded, once not.
        assert!(matches!(
            parse("Action=A", "%41ction=A"),
            Err(FormError::Duplicate { .. })
        ));
    }

    #[test]
    fn long_or_odd_duplicate_names_are_not_echoed() {
        let name = "eyJhbGciOiJSUzI1NiJ9.".repeat(5);
        assert_eq!(
            parse(&format!("{name}&{name}"), ""),
            Err(FormError::Duplicate { name: None })
        );
        assert_eq!(
            parse("a<b&a<b", ""),
            Err(FormError::Duplicate { name: None })
        );
    }

    #[test]
    fn bad_escapes_are_refused() {
        for q in ["a=%", "a=%4", "a=%zz", "a=%4g", "%=x", "a=100%"] {
            assert_eq!(parse(q, ""), Err(FormError::BadEscape), "{q}");
        }
        assert_eq!(parse("", "a=%G1"), Err(FormError::BadEscape));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(parse("a=%ff", ""), Err(FormError::NotUtf8));
        assert_eq!(parse("%c3=x", ""), Err(FormError::NotUtf8));
        assert_eq!(Params::parse(b"a=\xff", b""), Err(FormError::NotUtf8));
        assert_eq!(parse("a=%c3%a9", "").unwrap().get("a"), Some("é"));
    }

    #[test]
    fn empty_name_is_refused() {
        assert_eq!(parse("=value", ""), Err(FormError::EmptyName));
    }

    fn encode(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(q in proptest::collection::vec(any::<u8>(), 0..256),
                                       b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Params::parse(&q, &b);
        }

        #[test]
        fn encode_then_parse_round_trips(
            pairs in proptest::collection::btree_map("\\PC{1,12}", "\\PC{0,40}", 0..8),
            split in 0usize..8,
        ) {
            let encoded: Vec<String> =
                pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            let split = split.min(encoded.len());
            let query = encoded[..split].join("&");
            let body = encoded[split..].join("&");
            let parsed = Params::parse(query.as_bytes(), body.as_bytes()).unwrap();
            prop_assert_eq!(parsed.len(), pairs.len());
            for (k, v) in &pairs {
                prop_assert_eq!(parsed.get(k), Some(v.as_str()));
            }
        }
    }
}
