//! Signing keys and Kubernetes-shaped web identity tokens for the benchmarks and the load test.

// Each includer uses a different part of this file.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsSigner, ES256, RS256};
use serde_json::{json, Map, Value};

/// The signature algorithms the benchmarks exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Rs256, Self::Es256, Self::EdDsa]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// A private key with its kid and a ready signer.
pub struct Signer {
    pub alg: Alg,
    pub kid: String,
    private: Jwk,
    signer: Box<dyn JwsSigner>,
}

impl Signer {
    pub fn generate(alg: Alg) -> Self {
        let private = match alg {
            Alg::Rs256 => Jwk::generate_rsa_key(2048),
            Alg::Es256 => Jwk::generate_ec_key(EcCurve::P256),
            Alg::EdDsa => Jwk::generate_ed_key(EdCurve::Ed25519),
        }
        .expect("key generation");
        let kid = format!("bench-{}", alg.name().to_ascii_lowercase());
        Self::from_private(alg, kid, private)
    }

    fn from_private(alg: Alg, kid: String, private: Jwk) -> Self {
        let signer: Box<dyn JwsSigner> = match alg {
            Alg::Rs256 => Box::new(RS256.signer_from_jwk(&private).expect("RS256 signer")),
            Alg::Es256 => Box::new(ES256.signer_from_jwk(&private).expect("ES256 signer")),
            Alg::EdDsa => Box::new(EdDSA.signer_from_jwk(&private).expect("EdDSA signer")),
        };
        Self {
            alg,
            kid,
            private,
            signer,
        }
    }

    /// The same key with its own signer (for signing on several threads).
    pub fn duplicate(&self) -> Self {
        Self::from_private(self.alg, self.kid.clone(), self.private.clone())
    }

    /// The public half as a JWKS entry.
    pub fn public_jwk(&self) -> Value {
        let mut public = self.private.to_public_key().expect("public key");
        public.set_key_id(&self.kid);
        public.set_key_use("sig");
        public.set_algorithm(self.alg.name());
        Value::Object(public.as_ref().clone())
    }

    /// A compact JWS over `claims`, header `{"alg","kid","typ"}` like a Kubernetes token's.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": self.alg.name(), "kid": self.kid, "typ": "JWT" });
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.signer.sign(token.as_bytes()).expect("sign");
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    }
}

/// A JWKS document publishing every signer's public key.
pub fn jwks(signers: &[&Signer]) -> Value {
    json!({ "keys": signers.iter().map(|s| s.public_jwk()).collect::<Vec<_>>() })
}

/// The payload of a projected ServiceAccount token for pod number `n` (distinct per `n`), as a
/// kubelet would request it: ~600 bytes of JSON, ~1.2 KB as an RS256 token.
pub fn k8s_claims(issuer: &str, audience: &str, n: u64, iat: i64, exp: i64) -> Value {
    let uid = |kind: u64| {
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            n,
            kind,
            n % 0xfff,
            kind,
            n.wrapping_mul(2_654_435_761)
        )
    };
    json!({
        "aud": [audience],
        "exp": exp,
        "iat": iat,
        "iss": issuer,
        "jti": uid(0),
        "kubernetes.io": {
            "namespace": "apps",
            "node": { "name": format!("node-{}", n % 64), "uid": uid(1) },
            "pod": { "name": format!("builder-7d9f8c6b5-{n:05}"), "uid": uid(2) },
            "serviceaccount": { "name": "builder", "uid": uid(3) },
        },
        "nbf": iat,
        "sub": "system:serviceaccount:apps:builder",
    })
}

/// The claims as a map (what a verifier hands on).
pub fn as_map(claims: &Value) -> Map<String, Value> {
    claims.as_object().cloned().unwrap_or_default()
}
