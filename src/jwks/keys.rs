//! A JWKS document turned into ready-to-use signature verifiers, and key lookup by kid and alg
//! (RFC 7517: https://www.rfc-editor.org/rfc/rfc7517).

use std::collections::BTreeSet;
use std::fmt;

use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsVerifier, ES256, ES384, PS256, PS384, PS512, RS256, RS384, RS512};
use serde_json::Value;

use super::alg::{sanitize_header_value, JwsAlgorithm};

/// One published key with a verifier per algorithm it can check, built once at fetch time so
/// the request path only looks up and verifies.
pub struct VerificationKey {
    kid: Option<String>,
    kty: String,
    verifiers: Vec<(JwsAlgorithm, Box<dyn JwsVerifier>)>,
}

impl VerificationKey {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn kty(&self) -> &str {
        &self.kty
    }

    pub fn algorithms(&self) -> impl Iterator<Item = JwsAlgorithm> + '_ {
        self.verifiers.iter().map(|(a, _)| *a)
    }

    fn verifier(&self, alg: JwsAlgorithm) -> Option<&dyn JwsVerifier> {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.as_ref())
    }

    /// Checks `signature` over `message` with this key under `alg`. `false` also when the key
    /// cannot be used with `alg`.
    pub fn verify(&self, alg: JwsAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifier(alg)
            .is_some_and(|v| v.verify(message, signature).is_ok())
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("kty", &self.kty)
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .finish()
    }
}

/// Why no key was found for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMiss {
    /// No key carries the token's kid (or, without a kid, no key fits the algorithm at all).
    Unknown,
    /// A key with that kid exists but cannot verify this algorithm (e.g. ES256 on an RSA key).
    TypeMismatch,
    /// The token has no kid and several keys fit its algorithm.
    Ambiguous,
}

/// The usable signing keys of one provider's JWKS.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
    /// Keys left out, with why (kid and reason only).
    skipped: Vec<String>,
}

impl KeySet {
    /// Parses a JWKS document. Keys that cannot be used (encryption keys, unknown types or
    /// curves, RSA shorter than 2048 bits, malformed members) are skipped and noted; only
    /// algorithms in `allowed` get a verifier.
    pub fn from_json(body: &[u8], allowed: &[JwsAlgorithm]) -> Result<Self, String> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|_| "JWKS is not valid JSON".to_owned())?;
        let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
            return Err("JWKS has no keys array".to_owned());
        };
        let mut set = KeySet::default();
        for (i, entry) in entries.iter().enumerate() {
            let label = entry
                .get("kid")
                .and_then(Value::as_str)
                .map(|k| format!("kid {}", sanitize_header_value(k)))
                .unwrap_or_else(|| format!("key #{i}"));
            match VerificationKey::from_entry(entry, allowed) {
                Ok(key) => set.keys.push(key),
                Err(why) => set.skipped.push(format!("{label}: {why}")),
            }
        }
        Ok(set)
    }

    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().filter_map(|k| k.kid.clone()).collect()
    }

    pub fn algorithms(&self) -> BTreeSet<&'static str> {
        self.keys
            .iter()
            .flat_map(|k| k.algorithms().map(JwsAlgorithm::name))
            .collect()
    }

    /// The key that should verify a token with this `kid` and `alg`.
    ///
    /// With a kid, the key carrying it; a token kid that no key carries still finds a lone
    /// kid-less key of the fitting type (kid is only a hint when the JWKS gives none). Without
    /// a kid, the only key that fits `alg`.
    pub fn find(&self, kid: Option<&str>, alg: JwsAlgorithm) -> Result<&VerificationKey, KeyMiss> {
        let mut fitting = self.keys.iter().filter(|k| k.verifier(alg).is_some());
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid() == Some(kid)).peekable();
                if named.peek().is_some() {
                    return named
                        .find(|k| k.verifier(alg).is_some())
                        .ok_or(KeyMiss::TypeMismatch);
                }
                let first = fitting.next();
                match (first, fitting.next()) {
                    (Some(only), None) if only.kid.is_none() => Ok(only),
                    _ => Err(KeyMiss::Unknown),
                }
            }
            None => {
                let first = fitting.next();
                match (first, fitting.next()) {
                    (Some(only), None) => Ok(only),
                    (Some(_), Some(_)) => Err(KeyMiss::Ambiguous),
                    (None, _) => Err(KeyMiss::Unknown),
                }
            }
        }
    }
}

impl VerificationKey {
    fn from_entry(entry: &Value, allowed: &[JwsAlgorithm]) -> Result<Self, String> {
        let Value::Object(map) = entry else {
            return Err("not a JSON object".to_owned());
        };
        let jwk = Jwk::from_map(map.clone()).map_err(|_| "not a valid JWK".to_owned())?;
        if jwk.key_use() == Some("enc") {
            return Err("encryption key (use: enc)".to_owned());
        }
        let candidates: &[JwsAlgorithm] = match (jwk.key_type(), jwk.curve()) {
            ("RSA", _) => &[
                JwsAlgorithm::Rs256,
                JwsAlgorithm::Rs384,
                JwsAlgorithm::Rs512,
                JwsAlgorithm::Ps256,
                JwsAlgorithm::Ps384,
                JwsAlgorithm::Ps512,
            ],
            ("EC", Some("P-256")) => &[JwsAlgorithm::Es256],
            ("EC", Some("P-384")) => &[JwsAlgorithm::Es384],
            ("OKP", Some("Ed25519")) => &[JwsAlgorithm::EdDsa],
            ("EC" | "OKP", _) => return Err("unsupported curve".to_owned()),
            _ => return Err("unsupported key type".to_owned()),
        };
        let mut verifiers = Vec::new();
        let mut last_error = None;
        for &alg in candidates.iter().filter(|a| allowed.contains(a)) {
            // A JWK `alg` member restricts the key to that one algorithm (RFC 7517 §4.4).
            if jwk.algorithm().is_some_and(|a| a != alg.name()) {
                continue;
            }
            match build_verifier(alg, &jwk) {
                Ok(v) => verifiers.push((alg, v)),
                Err(e) => last_error = Some(e),
            }
        }
        if verifiers.is_empty() {
            return Err(
                last_error.unwrap_or_else(|| "no allowed algorithm fits this key".to_owned())
            );
        }
        Ok(Self {
            kid: jwk.key_id().map(str::to_owned),
            kty: jwk.key_type().to_owned(),
            verifiers,
        })
    }
}

fn build_verifier(alg: JwsAlgorithm, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, String> {
    // josekit's messages describe the JWK's public parameters, never secret material, but they
    // can be long; a fixed phrase per failure is enough for an operator.
    let bad = |_| {
        format!(
            "unusable {} public key (malformed, or RSA below 2048 bits)",
            alg.name()
        )
    };
    Ok(match alg {
        JwsAlgorithm::Rs256 => Box::new(RS256.verifier_from_jwk(jwk).map_err(bad)?),
        JwsAlgorithm::Rs384 => Box::new(RS384.verifier_from_jwk(jwk).map_err(bad)?),
        JwsAlgorithm::Rs512 => Box::new(RS512.verifier_from_jwk(jwk).map_err(bad)?),
        JwsAlgorithm::Ps256 => Box::new(PS256.verifier_from_jwk(jwk).map_err(bad)?),
        JwsAlgorithm::Ps384 => Box::new(PS384.verifier_from_jwk(jwk).map_err(bad)?),
        JwsAlgorithm::Ps512 => Box::new(PS512.verifier_from_jwk(jwk).map_err(bad)?),
        JwsAlgorithm::Es256 => Box::new(ES256.verifier_from_jwk(jwk).map_err(bad)?),
        JwsAlgorithm::Es384 => Box::new(ES384.verifier_from_jwk(jwk).map_err(bad)?),
        JwsAlgorithm::EdDsa => Box::new(EdDSA.verifier_from_jwk(jwk).map_err(bad)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::alg::ec::EcCurve;
    use josekit::jwk::alg::ed::EdCurve;
    use josekit::jws::JwsSigner;

    fn public(jwk: Jwk, kid: Option<&str>) -> Value {
        let mut public = jwk.to_public_key().expect("public");
        if let Some(kid) = kid {
            public.set_key_id(kid);
        }
        Value::Object(public.as_ref().clone())
    }

    fn jwks(keys: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "keys": keys })).expect("json")
    }

    #[test]
    fn builds_verifiers_for_each_family_and_skips_enc_and_unknown_keys() {
        let rsa = Jwk::generate_rsa_key(2048).expect("rsa");
        let ec = Jwk::generate_ec_key(EcCurve::P256).expect("ec");
        let ed = Jwk::generate_ed_key(EdCurve::Ed25519).expect("ed");
        let mut enc = public(
            Jwk::generate_ec_key(EcCurve::P384).expect("ec"),
            Some("enc"),
        );
        enc["use"] = "enc".into();
        let body = jwks(vec![
            public(rsa.clone(), Some("r")),
            public(ec, Some("e")),
            public(ed, Some("d")),
            enc,
            serde_json::json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}),
            serde_json::json!("not an object"),
        ]);
        let set = KeySet::from_json(&body, &JwsAlgorithm::ALL).expect("parses");
        assert_eq!(set.kids(), vec!["r", "e", "d"]);
        assert_eq!(set.skipped().len(), 4, "{:?}", set.skipped());
        assert!(set.skipped()[0].contains("use: enc"));
        assert!(set.skipped()[1].contains("unsupported key type"));
        assert!(set.skipped()[2].contains("unsupported curve"));
        let algs: Vec<_> = set.algorithms().into_iter().collect();
        assert_eq!(
            algs,
            vec!["ES256", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"]
        );

        let signer = RS256.signer_from_jwk(&rsa).expect("signer");
        let sig = signer.sign(b"msg").expect("sign");
        let key = set.find(Some("r"), JwsAlgorithm::Rs256).expect("found");
        assert!(key.verify(JwsAlgorithm::Rs256, b"msg", &sig));
        assert!(!key.verify(JwsAlgorithm::Rs256, b"msg2", &sig));
        assert!(!key.verify(JwsAlgorithm::Ps256, b"msg", &sig));
    }

    #[test]
    fn respects_the_allow_list_and_the_jwk_alg_member() {
        let mut rsa = public(Jwk::generate_rsa_key(2048).expect("rsa"), Some("r"));
        rsa["alg"] = "RS256".into();
        let set = KeySet::from_json(&jwks(vec![rsa]), &JwsAlgorithm::ALL).expect("parses");
        assert_eq!(
            set.algorithms().into_iter().collect::<Vec<_>>(),
            vec!["RS256"]
        );
        assert_eq!(
            set.find(Some("r"), JwsAlgorithm::Ps256).err(),
            Some(KeyMiss::TypeMismatch)
        );

        let ec = public(Jwk::generate_ec_key(EcCurve::P256).expect("ec"), Some("e"));
        let set = KeySet::from_json(&jwks(vec![ec]), &[JwsAlgorithm::Rs256]).expect("parses");
        assert!(set.is_empty());
        assert_eq!(set.skipped().len(), 1);
    }

    #[test]
    fn lookup_by_kid_and_without_kid() {
        let a = public(Jwk::generate_ec_key(EcCurve::P256).expect("ec"), Some("a"));
        let b = public(Jwk::generate_ec_key(EcCurve::P256).expect("ec"), Some("b"));
        let r = public(Jwk::generate_rsa_key(2048).expect("rsa"), Some("r"));
        let set = KeySet::from_json(&jwks(vec![a, b, r]), &JwsAlgorithm::ALL).expect("parses");
        assert_eq!(
            set.find(Some("b"), JwsAlgorithm::Es256).map(|k| k.kid()),
            Ok(Some("b"))
        );
        assert_eq!(
            set.find(Some("zz"), JwsAlgorithm::Es256).err(),
            Some(KeyMiss::Unknown)
        );
        assert_eq!(
            set.find(Some("r"), JwsAlgorithm::Es256).err(),
            Some(KeyMiss::TypeMismatch)
        );
        assert_eq!(
            set.find(None, JwsAlgorithm::Es256).err(),
            Some(KeyMiss::Ambiguous)
        );
        assert_eq!(
            set.find(None, JwsAlgorithm::Rs256).map(|k| k.kid()),
            Ok(Some("r"))
        );
        assert_eq!(
            set.find(None, JwsAlgorithm::EdDsa).err(),
            Some(KeyMiss::Unknown)
        );
    }

    #[test]
    fn a_lone_kidless_key_serves_any_kid() {
        let e = public(Jwk::generate_ec_key(EcCurve::P256).expect("ec"), None);
        let set = KeySet::from_json(&jwks(vec![e]), &JwsAlgorithm::ALL).expect("parses");
        assert!(set.find(Some("whatever"), JwsAlgorithm::Es256).is_ok());
        assert!(set.find(None, JwsAlgorithm::Es256).is_ok());
    }

    #[test]
    fn p384_keys_verify_es384_only() {
        let ec = Jwk::generate_ec_key(EcCurve::P384).expect("ec");
        let set = KeySet::from_json(
            &jwks(vec![public(ec.clone(), Some("p384"))]),
            &JwsAlgorithm::ALL,
        )
        .expect("parses");
        assert_eq!(
            set.algorithms().into_iter().collect::<Vec<_>>(),
            vec!["ES384"]
        );
        let sig = ES384
            .signer_from_jwk(&ec)
            .expect("signer")
            .sign(b"m")
            .expect("sign");
        let key = set.find(Some("p384"), JwsAlgorithm::Es384).expect("found");
        assert!(key.verify(JwsAlgorithm::Es384, b"m", &sig));
        assert_eq!(
            set.find(Some("p384"), JwsAlgorithm::Es256).err(),
            Some(KeyMiss::TypeMismatch)
        );
    }

    #[test]
    fn refuses_documents_without_keys() {
        assert!(KeySet::from_json(b"nope", &JwsAlgorithm::ALL).is_err());
        assert!(KeySet::from_json(br#"{"keys":{}}"#, &JwsAlgorithm::ALL).is_err());
        let empty = KeySet::from_json(br#"{"keys":[]}"#, &JwsAlgorithm::ALL).expect("parses");
        assert!(empty.is_empty());
    }
}
