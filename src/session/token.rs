//! Minting and verifying session tokens: compact HS256 JWS (RFC 7515) as SeaweedFS gateways check them.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

use super::claims::{decode_claims, ClaimsError, SessionClaims};
use super::credentials::{derive_credentials, DerivedCredentials, SecretDerivation};
use super::key::SigningKey;

/// Tokens longer than this are refused before any decoding. Minted tokens are about 1–3 KiB.
pub const MAX_SESSION_TOKEN_BYTES: usize = 16 * 1024;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a session token was refused. Messages never contain the token or any claim value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionTokenError {
    #[error("malformed session token: {0}")]
    Malformed(String),
    #[error("session token signature does not verify")]
    BadSignature,
    #[error("session token names a key id this service does not hold")]
    UnknownKey,
    #[error("session token was issued by another issuer")]
    WrongIssuer,
    #[error("session token has expired")]
    Expired,
    #[error("session token is not valid yet")]
    NotYetValid,
    #[error("session token lacks the `{0}` claim")]
    MissingClaim(&'static str),
}

impl SessionTokenError {
    /// The `reason` reported by `/sts/validate-token`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::BadSignature => "bad-signature",
            Self::UnknownKey => "unknown-key",
            Self::WrongIssuer => "wrong-issuer",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::MissingClaim(_) => "missing-claim",
        }
    }
}

/// A verified session token and the credentials that belong to it.
#[derive(Debug)]
pub struct OpenSession {
    pub claims: SessionClaims,
    pub credentials: DerivedCredentials,
}

/// The issuer and the keys that sign (current) and still verify (current and previous) session tokens.
#[derive(Debug, Clone)]
pub struct SessionKeys {
    pub issuer: String,
    pub current: SigningKey,
    /// Keys rotated out that still verify tokens minted before the rotation.
    pub previous: Vec<SigningKey>,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    typ: &'static str,
}

#[derive(Clone, Copy)]
enum HmacAlg {
    Hs256,
    Hs384,
    Hs512,
}

impl HmacAlg {
    /// golang-jwt's keyfunc in SeaweedFS accepts every HMAC method, so this one does too.
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Self::Hs256),
            "HS384" => Some(Self::Hs384),
            "HS512" => Some(Self::Hs512),
            _ => None,
        }
    }

    fn sign(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length, so construction cannot fail.
            let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("HMAC accepts keys of any length");
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            Self::Hs256 => mac::<Hmac<Sha256>>(key, message),
            Self::Hs384 => mac::<Hmac<Sha384>>(key, message),
            Self::Hs512 => mac::<Hmac<Sha512>>(key, message),
        }
    }
}

impl SessionKeys {
    pub fn new(issuer: impl Into<String>, current: SigningKey, previous: Vec<SigningKey>) -> Self {
        Self {
            issuer: issuer.into(),
            current,
            previous,
        }
    }

    /// Signs `claims` with the current key; the header carries its `kid` so that verifiers can
    /// pick the right key after a rotation.
    pub fn mint(&self, claims: &SessionClaims) -> String {
        self.mint_with_header(claims, true)
    }

    /// Signs `claims` with the current key. Without `kid` the header is exactly golang-jwt's
    /// `{"alg":"HS256","typ":"JWT"}`, so the token is byte-identical to one SeaweedFS mints.
    pub fn mint_with_header(&self, claims: &SessionClaims, include_kid: bool) -> String {
        let header = Header {
            alg: "HS256",
            kid: include_kid.then(|| self.current.kid()),
            typ: "JWT",
        };
        // A struct of static strings and a hex kid always serializes.
        let header = serde_json::to_vec(&header).expect("the JWS header always serializes");
        let mut token = B64URL.encode(header);
        token.push('.');
        token.push_str(&B64URL.encode(claims.to_go_json()));
        let signature = HmacAlg::Hs256.sign(self.current.bytes(), token.as_bytes());
        token.push('.');
        token.push_str(&B64URL.encode(signature));
        token
    }

    /// Verifies a session token the way a SeaweedFS gateway does (seaweedfs-sts.md §1.3), with
    /// `now` in Unix seconds: size, structure, header, key, signature, claim types, issuer,
    /// expiry (no leeway), not-before, then the claims the gateway needs to be non-empty.
    pub fn verify(&self, token: &str, now: i64) -> Result<SessionClaims, SessionTokenError> {
        self.verify_keyed(token, now).map(|(claims, _)| claims)
    }

    /// Verifies a session token and derives the credentials that belong to it, with the key
    /// that verified it: after a rotation, a session minted with a previous key keeps the
    /// secret it was issued with.
    pub fn open(
        &self,
        token: &str,
        now: i64,
        mode: SecretDerivation,
    ) -> Result<OpenSession, SessionTokenError> {
        let (claims, key) = self.verify_keyed(token, now)?;
        let credentials = derive_credentials(&claims.sid, mode, key);
        Ok(OpenSession {
            claims,
            credentials,
        })
    }

    /// The credentials of a session minted now: derived with the current key, which signs it.
    pub fn credentials_for(&self, sid: &str, mode: SecretDerivation) -> DerivedCredentials {
        derive_credentials(sid, mode, &self.current)
    }

    fn verify_keyed(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(SessionClaims, &SigningKey), SessionTokenError> {
        if token.len() > MAX_SESSION_TOKEN_BYTES {
            return Err(malformed("longer than 16 KiB"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated segments"));
        };
        let header = B64URL
            .decode(header_b64)
            .map_err(|_| malformed("header is not unpadded base64url"))?;
        let payload = B64URL
            .decode(payload_b64)
            .map_err(|_| malformed("payload is not unpadded base64url"))?;
        let signature = B64URL
            .decode(signature_b64)
            .map_err(|_| malformed("signature is not unpadded base64url"))?;

        let header: Map<String, Value> = serde_json::from_slice(&header)
            .map_err(|_| malformed("header is not a JSON object"))?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => HmacAlg::from_name(name),
            _ => None,
        }
        .ok_or_else(|| malformed("header alg is not HS256, HS384 or HS512"))?;
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(malformed("header kid is not a string")),
        };

        let candidates = self.keys_for(kid)?;
        let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        let Some(verified_by) = candidates.into_iter().find(|key| {
            let expected = alg.sign(key.bytes(), signed);
            bool::from(expected.ct_eq(&signature))
        }) else {
            return Err(SessionTokenError::BadSignature);
        };

        let payload: Map<String, Value> = serde_json::from_slice(&payload)
            .map_err(|_| malformed("payload is not a JSON object"))?;
        let decoded = decode_claims(&payload).map_err(|e| match e {
            ClaimsError::Missing(claim) => SessionTokenError::MissingClaim(claim),
            ClaimsError::WrongType(_) => SessionTokenError::Malformed(e.to_string()),
        })?;
        let claims = decoded.claims;
        if claims.iss != self.issuer {
            return Err(SessionTokenError::WrongIssuer);
        }
        if !decoded.has_exp {
            return Err(SessionTokenError::MissingClaim("exp"));
        }
        if now >= claims.exp {
            return Err(SessionTokenError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now) {
            return Err(SessionTokenError::NotYetValid);
        }
        for (name, value) in [
            ("sid", &claims.sid),
            ("role", &claims.role),
            ("principal", &claims.principal),
            ("assumed", &claims.assumed),
        ] {
            if value.is_empty() {
                return Err(SessionTokenError::MissingClaim(name));
            }
        }
        Ok((claims, verified_by))
    }

    /// A `kid` selects exactly one key; tokens without one (SeaweedFS mints none) are tried
    /// against the current key, then the previous ones.
    fn keys_for(&self, kid: Option<&str>) -> Result<Vec<&SigningKey>, SessionTokenError> {
        let mut all = std::iter::once(&self.current).chain(&self.previous);
        match kid {
            None => Ok(all.collect()),
            Some(kid) => all
                .find(|key| key.kid() == kid)
                .map(|key| vec![key])
                .ok_or(SessionTokenError::UnknownKey),
        }
    }
}

fn malformed(detail: &str) -> SessionTokenError {
    SessionTokenError::Malformed(detail.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::session::vectors::{vector_claims, vector_key, EXP, IAT, ISSUER, NOW, VECTOR_TOKEN};
    use proptest::strategy::Strategy;
    use serde_json::json;

    fn keys() -> SessionKeys {
        SessionKeys::new(ISSUER, vector_key(), Vec::new())
    }

    fn other_key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(vec![byte; 40]).unwrap()
    }

    /// Signs an arbitrary header and payload, for tokens this service would never mint.
    fn forge(alg: &str, header: &Value, payload: &Value, key: &[u8]) -> String {
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(serde_json::to_vec(header).unwrap()),
            B64URL.encode(serde_json::to_vec(payload).unwrap())
        );
        let sig = HmacAlg::from_name(alg)
            .unwrap()
            .sign(key, signing_input.as_bytes());
        format!("{signing_input}.{}", B64URL.encode(sig))
    }

    fn vector_payload() -> Map<String, Value> {
        serde_json::from_slice(&vector_claims().to_go_json()).unwrap()
    }

    /// The vector payload with one claim replaced (or removed when `value` is None), HS256-signed.
    fn with_claim(key: &str, value: Option<Value>) -> String {
        let mut payload = vector_payload();
        match value {
            Some(v) => payload.insert(key.into(), v),
            None => payload.remove(key),
        };
        forge(
            "HS256",
            &json!({"alg": "HS256", "typ": "JWT"}),
            &Value::Object(payload),
            vector_key().bytes(),
        )
    }

    #[test]
    fn reproduces_the_seaweedfs_token_byte_for_byte() {
        let token = keys().mint_with_header(&vector_claims(), false);
        assert_eq!(token, VECTOR_TOKEN);
        assert!(token.ends_with(".zaed-hXUWpN8PKyRr_kQ1l2QgjzOIA60HHBd9ngO8vo"));
    }

    #[test]
    fn verifies_the_seaweedfs_token_at_the_pinned_clock() {
        let claims = keys().verify(VECTOR_TOKEN, NOW).unwrap();
        assert_eq!(claims, vector_claims());
    }

    #[test]
    fn minted_header_carries_the_current_kid_and_verifies() {
        let keys = keys();
        let token = keys.mint(&vector_claims());
        let header = B64URL.decode(token.split('.').next().unwrap()).unwrap();
        let expected = format!(
            r#"{{"alg":"HS256","kid":"{}","typ":"JWT"}}"#,
            keys.current.kid()
        );
        assert_eq!(String::from_utf8(header).unwrap(), expected);
        assert_eq!(keys.verify(&token, NOW).unwrap(), vector_claims());
    }

    #[test]
    fn previous_keys_still_verify_after_a_rotation() {
        let old = keys();
        let with_kid = old.mint(&vector_claims());
        let rotated = SessionKeys::new(ISSUER, other_key(1), vec![other_key(2), vector_key()]);
        assert!(rotated.verify(&with_kid, NOW).is_ok());
        assert!(
            rotated.verify(VECTOR_TOKEN, NOW).is_ok(),
            "no kid: all keys are tried"
        );
    }

    #[test]
    fn a_dropped_key_no_longer_verifies() {
        let rotated = SessionKeys::new(ISSUER, other_key(1), vec![other_key(2)]);
        assert_eq!(
            rotated.verify(VECTOR_TOKEN, NOW),
            Err(SessionTokenError::BadSignature)
        );
        let with_kid = keys().mint(&vector_claims());
        assert_eq!(
            rotated.verify(&with_kid, NOW),
            Err(SessionTokenError::UnknownKey)
        );
    }

    #[test]
    fn a_kid_selects_only_its_own_key() {
        let keys = SessionKeys::new(ISSUER, vector_key(), vec![other_key(2)]);
        let header = json!({"alg": "HS256", "kid": other_key(2).kid(), "typ": "JWT"});
        let token = forge(
            "HS256",
            &header,
            &Value::Object(vector_payload()),
            vector_key().bytes(),
        );
        assert_eq!(
            keys.verify(&token, NOW),
            Err(SessionTokenError::BadSignature)
        );
    }

    #[test]
    fn accepts_hs384_and_hs512_signed_tokens() {
        for alg in ["HS384", "HS512"] {
            let token = forge(
                alg,
                &json!({"alg": alg, "typ": "JWT"}),
                &Value::Object(vector_payload()),
                vector_key().bytes(),
            );
            assert_eq!(
                keys().verify(&token, NOW).unwrap(),
                vector_claims(),
                "{alg}"
            );
        }
    }

    #[test]
    fn rejects_alg_none_and_asymmetric_algorithms() {
        let payload = B64URL.encode(vector_claims().to_go_json());
        for alg in ["none", "None", "RS256", "ES256", "hs256"] {
            let header = B64URL.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let token = format!("{header}.{payload}.");
            assert!(
                matches!(
                    keys().verify(&token, NOW),
                    Err(SessionTokenError::Malformed(_))
                ),
                "{alg}"
            );
        }
        let no_alg = format!("{}.{payload}.", B64URL.encode(r#"{"typ":"JWT"}"#));
        assert!(matches!(
            keys().verify(&no_alg, NOW),
            Err(SessionTokenError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_a_tampered_payload_or_signature() {
        let mut parts: Vec<String> = VECTOR_TOKEN.split('.').map(str::to_owned).collect();
        let mut payload = vector_payload();
        payload.insert("role".into(), json!("arn:aws:iam::role/Admin"));
        let original_payload = std::mem::replace(
            &mut parts[1],
            B64URL.encode(serde_json::to_vec(&payload).unwrap()),
        );
        assert_eq!(
            keys().verify(&parts.join("."), NOW),
            Err(SessionTokenError::BadSignature)
        );

        parts[1] = original_payload;
        parts[2] = parts[2].replacen('z', "y", 1);
        assert_eq!(
            keys().verify(&parts.join("."), NOW),
            Err(SessionTokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_garbage_with_malformed() {
        let padded = format!("{VECTOR_TOKEN}=");
        let oversized = "a".repeat(MAX_SESSION_TOKEN_BYTES + 1);
        let not_json = format!(
            "{}.{}.{}",
            B64URL.encode("not json"),
            B64URL.encode("{}"),
            B64URL.encode("sig")
        );
        let payload_not_object = forge(
            "HS256",
            &json!({"alg": "HS256"}),
            &json!(["array"]),
            vector_key().bytes(),
        );
        let bad_kid = forge(
            "HS256",
            &json!({"alg": "HS256", "kid": 7}),
            &Value::Object(vector_payload()),
            vector_key().bytes(),
        );
        for token in [
            "",
            "garbage",
            "a.b",
            "a.b.c.d",
            "!!!.???.***",
            "..",
            padded.as_str(),
            oversized.as_str(),
            not_json.as_str(),
            payload_not_object.as_str(),
            bad_kid.as_str(),
        ] {
            let result = keys().verify(token, NOW);
            assert!(
                matches!(result, Err(SessionTokenError::Malformed(_))),
                "{token:.40}: {result:?}"
            );
            assert_eq!(result.unwrap_err().reason(), "malformed");
        }
    }

    #[test]
    fn expiry_has_no_leeway() {
        assert!(keys().verify(VECTOR_TOKEN, EXP - 1).is_ok());
        assert_eq!(
            keys().verify(VECTOR_TOKEN, EXP),
            Err(SessionTokenError::Expired)
        );
        assert_eq!(
            keys().verify(VECTOR_TOKEN, EXP + 3600),
            Err(SessionTokenError::Expired)
        );
    }

    #[test]
    fn not_before_has_no_leeway() {
        assert!(keys().verify(VECTOR_TOKEN, IAT).is_ok());
        assert_eq!(
            keys().verify(VECTOR_TOKEN, IAT - 1),
            Err(SessionTokenError::NotYetValid)
        );
    }

    #[test]
    fn fractional_exp_is_truncated() {
        let token = with_claim("exp", Some(json!(1_767_229_200.9)));
        assert!(keys().verify(&token, EXP - 1).is_ok());
        assert_eq!(keys().verify(&token, EXP), Err(SessionTokenError::Expired));
    }

    #[test]
    fn rejects_a_foreign_issuer() {
        let other = SessionKeys::new("https://sts.example", vector_key(), Vec::new());
        assert_eq!(
            other.verify(VECTOR_TOKEN, NOW),
            Err(SessionTokenError::WrongIssuer)
        );
        let token = with_claim("iss", None);
        assert_eq!(
            keys().verify(&token, NOW),
            Err(SessionTokenError::WrongIssuer)
        );
    }

    #[test]
    fn go_decoding_rules_apply_to_verified_tokens() {
        for (claim, value) in [
            ("assumed_at", json!(1_767_225_600)),
            ("max_dur", json!(3600.5)),
            ("pol", json!("p1")),
            ("exp", json!("1767229200")),
        ] {
            let token = with_claim(claim, Some(value));
            let err = keys().verify(&token, NOW).unwrap_err();
            assert_eq!(
                err,
                SessionTokenError::Malformed(format!("claim `{claim}` has the wrong type"))
            );
        }
        for (claim, value) in [
            ("aud", json!("x")),
            ("aud", json!(["x"])),
            ("assumed_at", Value::Null),
            ("assumed_at", json!("2026-01-01T01:00:00+01:00")),
            ("pol", json!(["p1"])),
        ] {
            let token = with_claim(claim, Some(value.clone()));
            assert!(keys().verify(&token, NOW).is_ok(), "{claim} = {value}");
        }
    }

    #[test]
    fn claims_the_gateway_needs_must_be_present() {
        for claim in ["sid", "role", "principal", "assumed"] {
            let empty = with_claim(claim, Some(json!("")));
            assert_eq!(
                keys().verify(&empty, NOW),
                Err(SessionTokenError::MissingClaim(claim))
            );
            let absent = with_claim(claim, None);
            assert_eq!(
                keys().verify(&absent, NOW),
                Err(SessionTokenError::MissingClaim(claim))
            );
        }
        let no_exp = with_claim("exp", None);
        let err = keys().verify(&no_exp, NOW).unwrap_err();
        assert_eq!(err, SessionTokenError::MissingClaim("exp"));
        assert_eq!(err.reason(), "missing-claim");
    }

    #[test]
    fn reasons_are_the_operator_strings() {
        assert_eq!(SessionTokenError::BadSignature.reason(), "bad-signature");
        assert_eq!(SessionTokenError::UnknownKey.reason(), "unknown-key");
        assert_eq!(SessionTokenError::WrongIssuer.reason(), "wrong-issuer");
        assert_eq!(SessionTokenError::Expired.reason(), "expired");
        assert_eq!(SessionTokenError::NotYetValid.reason(), "not-yet-valid");
    }

    proptest::proptest! {
        #[test]
        fn verify_never_panics_on_arbitrary_text(token in "\\PC{0,300}") {
            let _ = keys().verify(&token, NOW);
        }

        #[test]
        fn verify_never_panics_on_arbitrary_segments(
            header in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            payload in "[ -~]{0,200}",
            signature in proptest::collection::vec(proptest::num::u8::ANY, 0..70),
            now in proptest::num::i64::ANY,
        ) {
            let token = format!(
                "{}.{}.{}",
                B64URL.encode(header),
                B64URL.encode(payload),
                B64URL.encode(signature)
            );
            let _ = keys().verify(&token, now);
        }

        #[test]
        fn verify_never_panics_on_signed_arbitrary_claims(
            value in proptest::prop_oneof![
                proptest::num::f64::ANY.prop_map(|f| json!(f)),
                proptest::num::i64::ANY.prop_map(|i| json!(i)),
                "\\PC{0,30}".prop_map(|s| json!(s)),
                proptest::strategy::Just(Value::Null),
                proptest::strategy::Just(json!([1, "a", null])),
            ],
            claim in proptest::sample::select(vec![
                "exp", "nbf", "iat", "aud", "assumed_at", "max_dur", "pol", "req_ctx", "sid", "iss",
            ]),
            now in proptest::num::i64::ANY,
        ) {
            let token = with_claim(claim, Some(value));
            let _ = keys().verify(&token, now);
        }
    }

    #[test]
    fn errors_never_echo_claim_values() {
        let token = with_claim("pol", Some(json!("secret-policy-name")));
        let err = keys().verify(&token, NOW).unwrap_err();
        assert!(!err.to_string().contains("secret-policy-name"));
    }
}
