//! The session-token claim set, encoded and decoded exactly as SeaweedFS does (seaweedfs-sts.md §1.2, §1.3).

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::timestamp::rfc3339_nano;

/// The `typ` claim SeaweedFS gives session tokens; without it the gateway takes the token for an
/// OIDC token and skips the explicit-deny session-policy check.
pub const SESSION_TOKEN_TYPE: &str = "session";

/// The claims of a session token, in the order Go's `encoding/json` writes `STSSessionClaims`, so
/// that a token minted here is byte-identical to one minted by SeaweedFS from the same values.
///
/// `sid` (and `sub`/`jti`, which carry the same value) is the only input of the SeaweedFS credential
/// derivation, so `Debug` redacts it.
#[derive(Clone, PartialEq, Serialize)]
pub struct SessionClaims {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub iss: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub: String,
    /// Never set by SeaweedFS; kept so that a decoded token re-encodes faithfully.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jti: String,
    pub sid: String,
    pub snam: String,
    pub typ: String,
    pub role: String,
    pub assumed: String,
    pub principal: String,
    pub idp: String,
    pub ext_uid: String,
    pub prov_iss: String,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "serialize_sorted_map"
    )]
    pub req_ctx: BTreeMap<String, Value>,
    /// Go always writes this field; a token decoded with `null` (or without it) keeps `None`.
    #[serde(serialize_with = "serialize_assumed_at")]
    pub assumed_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "is_zero_duration")]
    pub max_dur: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub puid: String,
    #[serde(skip_serializing_if = "is_empty_policy")]
    pub spol: Option<String>,
    #[serde(skip_serializing_if = "is_empty_policy_list")]
    pub pol: Option<Vec<String>>,
}

impl SessionClaims {
    /// Claims for a new session: the registered claims SeaweedFS sets (`sub` = `jti` = `sid`,
    /// `nbf` = `iat` = `assumed_at` = issue time) and `typ: "session"`. The caller fills in the
    /// role, identity and request context.
    pub fn new(issuer: &str, sid: &str, issued_at: i64, expires_at: i64) -> Self {
        Self {
            iss: issuer.to_owned(),
            sub: sid.to_owned(),
            aud: Vec::new(),
            exp: expires_at,
            nbf: Some(issued_at),
            iat: Some(issued_at),
            jti: sid.to_owned(),
            sid: sid.to_owned(),
            snam: String::new(),
            typ: SESSION_TOKEN_TYPE.to_owned(),
            role: String::new(),
            assumed: String::new(),
            principal: String::new(),
            idp: String::new(),
            ext_uid: String::new(),
            prov_iss: String::new(),
            req_ctx: BTreeMap::new(),
            assumed_at: OffsetDateTime::from_unix_timestamp(issued_at).ok(),
            max_dur: None,
            puid: String::new(),
            spol: None,
            pol: None,
        }
    }

    /// The JSON payload as Go's `json.Marshal` writes it: fields in struct order, map keys sorted,
    /// and `<`, `>`, `&`, U+2028, U+2029 escaped as `\u003c`-style sequences.
    pub fn to_go_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
        // Every field is a string, an integer, a string-keyed map or a JSON value: none of them
        // can fail to serialize, and writing into a Vec cannot fail either.
        self.serialize(&mut serializer)
            .expect("session claims always serialize to JSON");
        out
    }

    /// Decodes a claims object with the tolerance and the strictness of SeaweedFS's gateway
    /// (golang-jwt `MapClaims` validation, then a JSON round trip into `STSSessionClaims`).
    ///
    /// A missing (or zero) `exp` is reported as [`ClaimsError::Missing`]; callers that need to
    /// check other claims first use [`decode_claims`].
    pub fn from_json_map(map: &Map<String, Value>) -> Result<Self, ClaimsError> {
        let decoded = decode_claims(map)?;
        if decoded.has_exp {
            Ok(decoded.claims)
        } else {
            Err(ClaimsError::Missing("exp"))
        }
    }
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("iss", &self.iss)
            .field("sub", &"***")
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("iat", &self.iat)
            .field("jti", &"***")
            .field("sid", &"***")
            .field("snam", &self.snam)
            .field("typ", &self.typ)
            .field("role", &self.role)
            .field("assumed", &self.assumed)
            .field("principal", &self.principal)
            .field("idp", &self.idp)
            .field("ext_uid", &self.ext_uid)
            .field("prov_iss", &self.prov_iss)
            .field("req_ctx", &self.req_ctx.keys().collect::<Vec<_>>())
            .field("assumed_at", &self.assumed_at)
            .field("max_dur", &self.max_dur)
            .field("puid", &self.puid)
            .field("spol", &self.spol.as_ref().map(|_| "…"))
            .field("pol", &self.pol)
            .finish()
    }
}

impl<'de> Deserialize<'de> for SessionClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_json_map(&map).map_err(serde::de::Error::custom)
    }
}

/// Why a claims object does not decode. Messages name the claim, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("claim `{0}` has the wrong type")]
    WrongType(&'static str),
    #[error("claim `{0}` is missing")]
    Missing(&'static str),
}

/// Decoded claims plus whether `exp` was present, for verifiers that must check `iss` before
/// reporting a missing expiry (the order golang-jwt and the gateway use).
#[derive(Debug, Clone)]
pub struct DecodedClaims {
    pub claims: SessionClaims,
    pub has_exp: bool,
}

/// Decodes a claims object without requiring `exp` (it is left at 0 when absent).
pub fn decode_claims(map: &Map<String, Value>) -> Result<DecodedClaims, ClaimsError> {
    // golang-jwt treats an `exp` of exactly 0 as absent.
    let exp = registered_date(map, "exp")?.filter(|&v| v != 0);
    let claims = SessionClaims {
        iss: string_claim(map, "iss")?,
        sub: string_claim(map, "sub")?,
        aud: audience(map)?,
        exp: exp.unwrap_or(0),
        nbf: registered_date(map, "nbf")?,
        iat: issued_at(map)?,
        jti: string_claim(map, "jti")?,
        sid: string_claim(map, "sid")?,
        snam: string_claim(map, "snam")?,
        typ: string_claim(map, "typ")?,
        role: string_claim(map, "role")?,
        assumed: string_claim(map, "assumed")?,
        principal: string_claim(map, "principal")?,
        idp: string_claim(map, "idp")?,
        ext_uid: string_claim(map, "ext_uid")?,
        prov_iss: string_claim(map, "prov_iss")?,
        req_ctx: request_context(map)?,
        assumed_at: assumed_at(map)?,
        max_dur: max_duration(map)?,
        puid: string_claim(map, "puid")?,
        spol: Some(string_claim(map, "spol")?).filter(|s| !s.is_empty()),
        pol: policy_names(map)?,
    };
    Ok(DecodedClaims {
        claims,
        has_exp: exp.is_some(),
    })
}

/// A string claim: Go leaves a `null` at the zero value and rejects every other non-string.
fn string_claim(map: &Map<String, Value>, name: &'static str) -> Result<String, ClaimsError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ClaimsError::WrongType(name)),
    }
}

/// `exp`/`nbf` as golang-jwt's `MapClaims` reads them: any JSON number, fractions truncated;
/// `null` and non-numbers are type errors.
fn registered_date(
    map: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, ClaimsError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|f| Some(seconds(f)))
            .ok_or(ClaimsError::WrongType(name)),
        Some(_) => Err(ClaimsError::WrongType(name)),
    }
}

/// `iat` is not validated by golang-jwt, only decoded into a `*NumericDate`: a number, `null`, or
/// a string holding a number (Go's `json.Number` accepts one).
fn issued_at(map: &Map<String, Value>) -> Result<Option<i64>, ClaimsError> {
    let number = match map.get("iat") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s
            .parse::<serde_json::Number>()
            .ok()
            .and_then(|n| n.as_f64()),
        Some(_) => None,
    };
    number
        .map(|f| Some(seconds(f)))
        .ok_or(ClaimsError::WrongType("iat"))
}

/// NumericDate keeps whole seconds (golang-jwt's default `TimePrecision`).
fn seconds(f: f64) -> i64 {
    // `as` saturates out-of-range values and maps NaN to 0, which then reads as "absent".
    f.trunc() as i64
}

/// golang-jwt's `ClaimStrings`: one string or an array of strings.
fn audience(map: &Map<String, Value>) -> Result<Vec<String>, ClaimsError> {
    match map.get("aud") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ClaimsError::WrongType("aud")),
            })
            .collect(),
        Some(_) => Err(ClaimsError::WrongType("aud")),
    }
}

fn request_context(map: &Map<String, Value>) -> Result<BTreeMap<String, Value>, ClaimsError> {
    match map.get("req_ctx") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(ctx)) => Ok(ctx.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Some(_) => Err(ClaimsError::WrongType("req_ctx")),
    }
}

/// A `time.Time`: an RFC 3339 string or `null`; a number makes Go reject the whole token.
fn assumed_at(map: &Map<String, Value>) -> Result<Option<OffsetDateTime>, ClaimsError> {
    match map.get("assumed_at") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339)
            .map(Some)
            .map_err(|_| ClaimsError::WrongType("assumed_at")),
        Some(_) => Err(ClaimsError::WrongType("assumed_at")),
    }
}

/// An `int64` after Go's float64 round trip: `3600` and `3600.0` decode, `3600.5` does not, and
/// neither does anything Go would re-encode in exponent form (≥ 1e21) or that overflows.
fn max_duration(map: &Map<String, Value>) -> Result<Option<i64>, ClaimsError> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    match map.get("max_dur") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) => {
                Ok(Some(f as i64))
            }
            _ => Err(ClaimsError::WrongType("max_dur")),
        },
        Some(_) => Err(ClaimsError::WrongType("max_dur")),
    }
}

/// A `[]string`: an array whose elements are strings (`null` elements become `""`, as in Go).
fn policy_names(map: &Map<String, Value>) -> Result<Option<Vec<String>>, ClaimsError> {
    match map.get("pol") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Null => Ok(String::new()),
                _ => Err(ClaimsError::WrongType("pol")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ClaimsError::WrongType("pol")),
    }
}

fn is_zero_duration(v: &Option<i64>) -> bool {
    matches!(v, None | Some(0))
}

fn is_empty_policy(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(str::is_empty)
}

fn is_empty_policy_list(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn serialize_assumed_at<S: Serializer>(
    v: &Option<OffsetDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.serialize_str(&rfc3339_nano(*t)),
        None => s.serialize_none(),
    }
}

fn serialize_sorted_map<S: Serializer>(
    m: &BTreeMap<String, Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut out = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        out.serialize_entry(k, &Sorted(v))?;
    }
    out.end()
}

/// Serializes a JSON value with object keys sorted at every depth, as Go marshals
/// `map[string]interface{}` (serde_json's map keeps insertion order in this build).
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    out.serialize_entry(k, &Sorted(v))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

/// serde_json's compact output plus Go's HTML-safe escaping of string contents.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // U+2028 and U+2029 both start with the byte 0xE2. No early exit: the scan vectorises.
        if !fragment.bytes().fold(false, |seen, b| {
            seen | matches!(b, b'<' | b'>' | b'&' | 0xE2)
        }) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::session::vectors::{vector_claims, SID, VECTOR_PAYLOAD};
    use serde_json::json;

    fn decode(text: &str) -> Result<SessionClaims, ClaimsError> {
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        SessionClaims::from_json_map(&map)
    }

    fn mutated(key: &str, value: Value) -> Map<String, Value> {
        let mut map: Map<String, Value> = serde_json::from_str(VECTOR_PAYLOAD).unwrap();
        map.insert(key.into(), value);
        map
    }

    #[test]
    fn serializes_the_seaweedfs_vector_byte_for_byte() {
        let json = vector_claims().to_go_json();
        assert_eq!(std::str::from_utf8(&json).unwrap(), VECTOR_PAYLOAD);
    }

    #[test]
    fn decodes_the_vector_and_round_trips() {
        let claims = decode(VECTOR_PAYLOAD).unwrap();
        assert_eq!(claims, vector_claims());
        assert_eq!(claims.to_go_json(), VECTOR_PAYLOAD.as_bytes());
        let via_serde: SessionClaims = serde_json::from_str(VECTOR_PAYLOAD).unwrap();
        assert_eq!(via_serde, claims);
    }

    #[test]
    fn optional_claims_follow_go_field_order_and_omitempty() {
        let mut c = SessionClaims::new("i", "s", 10, 20);
        c.max_dur = Some(0);
        c.spol = Some(String::new());
        c.pol = Some(Vec::new());
        let text = String::from_utf8(c.to_go_json()).unwrap();
        assert!(!text.contains("max_dur") && !text.contains("spol") && !text.contains("pol"));
        assert!(!text.contains("req_ctx") && !text.contains("puid") && !text.contains("aud"));

        c.spol = Some(r#"{"Version":"2012-10-17"}"#.into());
        c.pol = Some(vec!["p1".into(), "p2".into()]);
        c.aud = vec!["a".into()];
        let text = String::from_utf8(c.to_go_json()).unwrap();
        assert!(text.starts_with(r#"{"iss":"i","sub":"s","aud":["a"],"exp":20,"#));
        assert!(text.ends_with(
            r#""assumed_at":"1970-01-01T00:00:10Z","spol":"{\"Version\":\"2012-10-17\"}","pol":["p1","p2"]}"#
        ));
    }

    #[test]
    fn escapes_html_characters_and_sorts_nested_maps_like_go() {
        let mut c = SessionClaims::new("i", "s", 10, 20);
        c.snam = "a<b>&c\u{2028}".into();
        c.req_ctx
            .insert("z".into(), json!({"b": 1, "a": ["x", {"d": 2, "c": 3}]}));
        let text = String::from_utf8(c.to_go_json()).unwrap();
        assert!(text.contains(r#""snam":"a\u003cb\u003e\u0026c\u2028""#));
        assert!(text.contains(r#""req_ctx":{"z":{"a":["x",{"c":3,"d":2}],"b":1}}"#));
        // Other characters starting with the byte 0xE2 stay as they are.
        c.snam = "€\u{2029}…".into();
        let text = String::from_utf8(c.to_go_json()).unwrap();
        assert!(text.contains(r#""snam":"€\u2029…""#), "{text}");
    }

    #[test]
    fn accepts_what_go_accepts() {
        let aud_string = mutated("aud", json!("x"));
        assert_eq!(
            SessionClaims::from_json_map(&aud_string).unwrap().aud,
            ["x"]
        );
        let aud_array = mutated("aud", json!(["x", "y"]));
        assert_eq!(
            SessionClaims::from_json_map(&aud_array).unwrap().aud,
            ["x", "y"]
        );
        let fractional = mutated("exp", json!(1_767_229_200.9));
        assert_eq!(
            SessionClaims::from_json_map(&fractional).unwrap().exp,
            1_767_229_200
        );
        let null_time = mutated("assumed_at", Value::Null);
        assert_eq!(
            SessionClaims::from_json_map(&null_time).unwrap().assumed_at,
            None
        );
        let offset = mutated("assumed_at", json!("2026-01-01T01:00:00+01:00"));
        let at = SessionClaims::from_json_map(&offset)
            .unwrap()
            .assumed_at
            .unwrap();
        assert_eq!(at.unix_timestamp(), 1_767_225_600);
        let whole_float = mutated("max_dur", json!(3600.0));
        assert_eq!(
            SessionClaims::from_json_map(&whole_float).unwrap().max_dur,
            Some(3600)
        );
        let iat_string = mutated("iat", json!("1767225600"));
        assert_eq!(
            SessionClaims::from_json_map(&iat_string).unwrap().iat,
            Some(1_767_225_600)
        );
        let null_string = mutated("snam", Value::Null);
        assert_eq!(SessionClaims::from_json_map(&null_string).unwrap().snam, "");
        let extra = mutated("custom", json!({"any": [1, 2]}));
        assert!(SessionClaims::from_json_map(&extra).is_ok());
    }

    #[test]
    fn rejects_what_go_rejects() {
        let cases = [
            ("assumed_at", json!(1_767_225_600), "assumed_at"),
            ("assumed_at", json!("yesterday"), "assumed_at"),
            ("max_dur", json!(3600.5), "max_dur"),
            ("max_dur", json!(1e21), "max_dur"),
            ("max_dur", json!("3600"), "max_dur"),
            ("pol", json!("p1"), "pol"),
            ("pol", json!(["p1", 2]), "pol"),
            ("aud", json!(5), "aud"),
            ("aud", json!(["x", 1]), "aud"),
            ("exp", json!("1767229200"), "exp"),
            ("exp", Value::Null, "exp"),
            ("nbf", json!(true), "nbf"),
            ("iat", json!(false), "iat"),
            ("sid", json!(7), "sid"),
            ("role", json!(["r"]), "role"),
            ("req_ctx", json!("x"), "req_ctx"),
        ];
        for (key, value, claim) in cases {
            let map = mutated(key, value.clone());
            assert_eq!(
                SessionClaims::from_json_map(&map),
                Err(ClaimsError::WrongType(claim)),
                "{key} = {value}"
            );
        }
    }

    #[test]
    fn missing_or_zero_exp_is_reported_as_missing() {
        let mut map: Map<String, Value> = serde_json::from_str(VECTOR_PAYLOAD).unwrap();
        map.remove("exp");
        assert_eq!(
            SessionClaims::from_json_map(&map),
            Err(ClaimsError::Missing("exp"))
        );
        let decoded = decode_claims(&map).unwrap();
        assert!(!decoded.has_exp);
        let zero = mutated("exp", json!(0));
        assert_eq!(
            SessionClaims::from_json_map(&zero),
            Err(ClaimsError::Missing("exp"))
        );
    }

    #[test]
    fn debug_hides_the_session_id() {
        let text = format!("{:?}", vector_claims());
        assert!(!text.contains(SID));
        assert!(text.contains("alice-session"));
    }
}
