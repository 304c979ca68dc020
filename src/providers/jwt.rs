//! Parsing of untrusted compact JWS web identity tokens.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::error::TokenError;
pub use crate::jwks::JwsAlgorithm;

/// Upper bound on a web identity token, the AWS limit for `WebIdentityToken`.
pub const MAX_TOKEN_LEN: usize = 20_000;

/// A compact JWS split and decoded, but not yet verified: every field is attacker-controlled.
pub struct Jws<'a> {
    header: Map<String, Value>,
    alg: String,
    kid: Option<String>,
    claims: Map<String, Value>,
    signature: Vec<u8>,
    signing_input: &'a str,
}

impl<'a> Jws<'a> {
    /// Splits and decodes `token` (surrounding whitespace ignored: SDKs pass the token file's
    /// trailing newline through). Checks shape only; no key is consulted.
    pub fn parse(token: &'a str) -> Result<Self, TokenError> {
        let token = token.trim();
        // Length in bytes: a multi-byte character can never be part of a valid token anyway.
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLarge);
        }
        if token.is_empty() {
            return Err(TokenError::Malformed("empty token"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated segments"));
        };
        let signing_input = &token[..h.len() + 1 + c.len()];
        let header_bytes = decode_segment(h, "header is not base64url")?;
        let claims_bytes = decode_segment(c, "payload is not base64url")?;
        // An empty signature is allowed through here so that `alg: none` is reported as a
        // refused algorithm rather than as a shape problem.
        let signature = if s.is_empty() {
            Vec::new()
        } else {
            decode_segment(s, "signature is not base64url")?
        };
        let header = parse_object(
            &header_bytes,
            "header is not a JSON object without duplicate keys",
        )?;
        let claims = parse_object(
            &claims_bytes,
            "payload is not a JSON object without duplicate keys",
        )?;
        let alg = match header.get("alg") {
            Some(Value::String(a)) => a.clone(),
            Some(_) => return Err(TokenError::Malformed("header alg is not a string")),
            None => return Err(TokenError::Malformed("header has no alg")),
        };
        let kid = match header.get("kid") {
            Some(Value::String(k)) => Some(k.clone()),
            None => None,
            Some(_) => return Err(TokenError::Malformed("header kid is not a string")),
        };
        // RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not implement,
        // and stsd implements none (this also refuses unencoded payloads, `b64: false`).
        if header.contains_key("crit") {
            return Err(TokenError::Malformed(
                "header carries unsupported crit extensions",
            ));
        }
        Ok(Self {
            header,
            alg,
            kid,
            claims,
            signature,
            signing_input,
        })
    }

    /// The header's `alg`, as written (possibly `none` or `HS256`).
    pub fn alg(&self) -> &str {
        &self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// `base64url(header) "." base64url(payload)`, the bytes the signature covers.
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The unverified `iss`, used only to pick the provider that will verify the token.
    pub fn unverified_issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }
}

/// Never shows claims or signature: a `Debug` of a token must not leak it into logs.
impl fmt::Debug for Jws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jws")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn decode_segment(segment: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed(what))
}

fn parse_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, TokenError> {
    serde_json::from_slice::<UniqueKeys>(bytes)
        .map(|o| o.0)
        .map_err(|_| TokenError::Malformed(what))
}

/// A JSON object whose top-level keys are unique. serde_json keeps the last of duplicate keys,
/// while other JOSE libraries keep the first, so a token with two `alg` (or two `sub`) could be
/// read differently by two parties; such tokens are refused instead.
struct UniqueKeys(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique keys")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueKeys, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value = access.next_value::<Value>()?;
                    if map.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom("duplicate key"));
                    }
                }
                Ok(UniqueKeys(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, claims: &str, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    fn malformed(t: &str) -> &'static str {
        match Jws::parse(t) {
            Err(TokenError::Malformed(why)) => why,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_well_formed_token_and_keeps_the_signing_input() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"https://i","sub":"s"}"#,
            b"sig",
        );
        let padded = format!("  {t}\n");
        let jws = Jws::parse(&padded).expect("parses");
        assert_eq!(jws.alg(), "RS256");
        assert_eq!(jws.kid(), Some("k1"));
        assert_eq!(jws.unverified_issuer(), Some("https://i"));
        assert_eq!(jws.signature(), b"sig");
        let dot = t.rfind('.').expect("dot");
        assert_eq!(jws.signing_input(), &t[..dot]);
    }

    #[test]
    fn refuses_wrong_segment_counts_and_encodings() {
        let h = b64(r#"{"alg":"RS256"}"#);
        let c = b64(r#"{"sub":"x"}"#);
        assert_eq!(
            malformed(&format!("{h}.{c}")),
            "not three dot-separated segments"
        );
        assert_eq!(
            malformed(&format!("{h}.{c}.AA.AA")),
            "not three dot-separated segments"
        );
        assert_eq!(
            malformed(&format!("{h}=.{c}.AA")),
            "header is not base64url"
        );
        assert_eq!(
            malformed(&format!("{h}.{c}.A+/A")),
            "signature is not base64url"
        );
        assert_eq!(malformed(&format!("{h}.!!.AA")), "payload is not base64url");
        assert_eq!(malformed(""), "empty token");
        assert_eq!(malformed("   \n"), "empty token");
    }

    #[test]
    fn refuses_non_object_json_and_duplicate_keys() {
        assert_eq!(
            malformed(&token(r#"["alg"]"#, r#"{"sub":"x"}"#, b"s")),
            "header is not a JSON object without duplicate keys"
        );
        assert_eq!(
            malformed(&token(
                r#"{"alg":"RS256","alg":"none"}"#,
                r#"{"sub":"x"}"#,
                b"s"
            )),
            "header is not a JSON object without duplicate keys"
        );
        assert_eq!(
            malformed(&token(
                r#"{"alg":"RS256"}"#,
                r#"{"sub":"a","sub":"b"}"#,
                b"s"
            )),
            "payload is not a JSON object without duplicate keys"
        );
        assert_eq!(
            malformed(&token(r#"{"alg":"RS256"}"#, "42", b"s")),
            "payload is not a JSON object without duplicate keys"
        );
    }

    #[test]
    fn refuses_bad_alg_kid_and_crit() {
        assert_eq!(
            malformed(&token(r#"{"kid":"a"}"#, "{}", b"s")),
            "header has no alg"
        );
        assert_eq!(
            malformed(&token(r#"{"alg":7}"#, "{}", b"s")),
            "header alg is not a string"
        );
        assert_eq!(
            malformed(&token(r#"{"alg":"RS256","kid":1}"#, "{}", b"s")),
            "header kid is not a string"
        );
        assert_eq!(
            malformed(&token(
                r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
                "{}",
                b"s"
            )),
            "header carries unsupported crit extensions"
        );
    }

    #[test]
    fn alg_none_with_empty_signature_still_parses() {
        let t = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"sub":"x"}"#));
        let jws = Jws::parse(&t).expect("shape is fine");
        assert_eq!(jws.alg(), "none");
        assert!(jws.signature().is_empty());
    }

    #[test]
    fn size_cap_applies_after_trimming() {
        let at_cap = "a".repeat(MAX_TOKEN_LEN);
        assert!(matches!(Jws::parse(&at_cap), Err(TokenError::Malformed(_))));
        let over = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(Jws::parse(&over), Err(TokenError::TooLarge)));
        let padded = format!("\n{at_cap}\n");
        assert!(matches!(Jws::parse(&padded), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn debug_does_not_show_claims_or_signature() {
        let t = token(
            r#"{"alg":"RS256"}"#,
            r#"{"sub":"secret-subject"}"#,
            b"sigbytes",
        );
        let jws = Jws::parse(&t).expect("parses");
        let dbg = format!("{jws:?}");
        assert!(!dbg.contains("secret-subject"));
        assert!(!dbg.contains(&URL_SAFE_NO_PAD.encode(b"sigbytes")));
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,300}") {
            let _ = Jws::parse(&s);
        }

        #[test]
        fn arbitrary_segments_never_panic(h in "[A-Za-z0-9_-]{0,80}", c in "[A-Za-z0-9_-]{0,80}", sig in "[A-Za-z0-9_.-]{0,40}") {
            let _ = Jws::parse(&format!("{h}.{c}.{sig}"));
        }

        #[test]
        fn arbitrary_json_never_panics(h in "\\PC{0,60}", c in "\\PC{0,60}") {
            let _ = Jws::parse(&format!("{}.{}.AA", b64(&h), b64(&c)));
        }
    }
}
