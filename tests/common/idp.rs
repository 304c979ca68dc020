//! A real OIDC issuer (discovery + JWKS) on 127.0.0.1 for tests.
//!
//! `TestIdp::start().await` serves `/.well-known/openid-configuration` and `/jwks` over plain
//! HTTP/1.1 on an ephemeral port, signs tokens with keys generated at start (RSA 2048 for
//! RS*/PS*, EC P-256 for ES256, Ed25519 for EdDSA), and lets a test rotate keys, count requests,
//! require a bearer token, slow responses down or answer 503 as if down.
//!
//! `TestIdp::start_https().await` serves the same over TLS with a certificate for 127.0.0.1
//! signed by a test CA generated at start; [`TestIdp::ca_cert_path`] is that CA as a PEM file.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair as _};
use josekit::jws::{EdDSA, JwsSigner, ES256, HS256, PS256, PS384, PS512, RS256, RS384, RS512};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use stsd::config::{OidcSettings, ProviderKind, ProviderSpec};

/// The key families the issuer publishes one key of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Rsa,
    Ec,
    Ed,
}

impl Family {
    /// The family whose key signs `alg` (HS* and unknown names have none).
    pub fn for_alg(alg: &str) -> Option<Self> {
        match alg {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some(Self::Rsa),
            "ES256" => Some(Self::Ec),
            "EdDSA" => Some(Self::Ed),
            _ => None,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ec => "ec",
            Self::Ed => "ed",
        }
    }
}

struct TestKey {
    family: Family,
    kid: String,
    private: Jwk,
    public: Jwk,
}

impl TestKey {
    fn generate(family: Family, generation: u32) -> Self {
        let private = match family {
            Family::Rsa => Jwk::generate_rsa_key(2048),
            Family::Ec => Jwk::generate_ec_key(EcCurve::P256),
            Family::Ed => Jwk::generate_ed_key(EdCurve::Ed25519),
        }
        .expect("generate key");
        let kid = format!("{}-{generation}", family.prefix());
        let mut public = private.to_public_key().expect("public key");
        public.set_key_id(&kid);
        public.set_key_use("sig");
        Self {
            family,
            kid,
            private,
            public,
        }
    }
}

struct State {
    generation: u32,
    keys: Vec<TestKey>,
    /// Published in addition to the generated keys (raw JWK JSON).
    extra_jwks: Vec<Value>,
    discovery_issuer: Option<String>,
    /// The `jwks_uri` of the discovery document, when not this issuer's own `/jwks`.
    discovery_jwks_uri: Option<String>,
    required_bearer: Option<String>,
    authorizations: Vec<Option<String>>,
}

struct Shared {
    state: Mutex<State>,
    jwks_requests: AtomicUsize,
    discovery_requests: AtomicUsize,
    down: AtomicBool,
    delay_ms: AtomicU64,
    /// While `true`, requests wait before being answered.
    paused: tokio::sync::watch::Sender<bool>,
}

/// An OIDC issuer on loopback. Dropping it stops the server.
pub struct TestIdp {
    issuer: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    /// HTTPS mode: the CA that signed the server certificate, kept on disk while the IdP runs.
    ca: Option<(TestCa, tempfile::TempDir)>,
    /// HTTPS mode: the server certificate (DER).
    leaf: Option<Vec<u8>>,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIdp {
    pub async fn start() -> Self {
        Self::serve(Self::loopback(), None).await
    }

    /// Serves on a chosen address, e.g. a port reserved earlier so that a configuration can
    /// name the issuer before it is up.
    pub async fn start_on(addr: std::net::SocketAddr) -> Self {
        Self::serve(addr, None).await
    }

    /// The issuer over HTTPS, its certificate (for 127.0.0.1) signed by a fresh test CA.
    pub async fn start_https() -> Self {
        Self::serve(Self::loopback(), Some(TestCa::generate("stsd test CA"))).await
    }

    fn loopback() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], 0))
    }

    async fn serve(addr: std::net::SocketAddr, ca: Option<TestCa>) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let scheme = if ca.is_some() { "https" } else { "http" };
        let issuer = format!("{scheme}://{addr}");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                generation: 1,
                keys: [Family::Rsa, Family::Ec, Family::Ed]
                    .into_iter()
                    .map(|f| TestKey::generate(f, 1))
                    .collect(),
                extra_jwks: Vec::new(),
                discovery_issuer: None,
                discovery_jwks_uri: None,
                required_bearer: None,
                authorizations: Vec::new(),
            }),
            jwks_requests: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            paused: tokio::sync::watch::channel(false).0,
        });
        let mut leaf = None;
        let acceptor = ca.as_ref().map(|ca| {
            let (cert, key) = ca.issue_for_loopback();
            leaf = Some(
                openssl::x509::X509::from_pem(&cert)
                    .and_then(|c| c.to_der())
                    .expect("leaf DER"),
            );
            tls_acceptor(&cert, &key)
        });
        let server = tokio::spawn(serve(listener, acceptor, issuer.clone(), shared.clone()));
        let ca = ca.map(|ca| {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).expect("write CA");
            (ca, dir)
        });
        Self {
            issuer,
            shared,
            server,
            ca,
            leaf,
        }
    }

    /// HTTPS mode: the hex fingerprint of the server certificate with `digest` (SHA-1 or
    /// SHA-256), as a provider's `thumbprints` names it.
    pub fn leaf_fingerprint(&self, digest: openssl::hash::MessageDigest) -> String {
        let der = self.leaf.as_ref().expect("an HTTPS TestIdp");
        hex::encode(openssl::hash::hash(digest, der).expect("digest"))
    }

    /// HTTPS mode: the hex fingerprint of the CA certificate the server sends after its own.
    pub fn ca_fingerprint(&self, digest: openssl::hash::MessageDigest) -> String {
        let (ca, _) = self.ca.as_ref().expect("an HTTPS TestIdp");
        hex::encode(ca.cert.digest(digest).expect("digest"))
    }

    /// HTTPS mode: the PEM file of the CA that signed the server certificate.
    pub fn ca_cert_path(&self) -> std::path::PathBuf {
        let (_, dir) = self.ca.as_ref().expect("an HTTPS TestIdp");
        dir.path().join("ca.pem")
    }

    /// HTTPS mode: the CA certificate as PEM.
    pub fn ca_cert_pem(&self) -> Vec<u8> {
        self.ca.as_ref().expect("an HTTPS TestIdp").0.cert_pem()
    }

    /// `http://127.0.0.1:<port>`, the `iss` of the tokens it signs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// The current kid of a key family.
    pub fn kid(&self, family: Family) -> String {
        let state = self.shared.state.lock().expect("state");
        state
            .keys
            .iter()
            .find(|k| k.family == family)
            .map(|k| k.kid.clone())
            .expect("family key")
    }

    /// RS256 with the current RSA key, header `kid` set.
    pub fn sign(&self, claims: &Value) -> String {
        let kid = self.kid(Family::Rsa);
        self.sign_with("RS256", Some(&kid), claims)
    }

    /// Signs `claims` under `alg` with the current key of the fitting family; the header
    /// carries `kid` exactly as given (which need not be the signing key's).
    pub fn sign_with(&self, alg: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({ "alg": alg, "typ": "JWT" });
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        self.sign_raw(&header.to_string(), &claims.to_string(), alg)
    }

    /// Signs raw header and payload JSON text (for duplicate keys and other oddities) with the
    /// current key of the family that signs `signing_alg`.
    pub fn sign_raw(&self, header_json: &str, claims_json: &str, signing_alg: &str) -> String {
        let family = Family::for_alg(signing_alg).expect("an asymmetric algorithm");
        let state = self.shared.state.lock().expect("state");
        let key = state
            .keys
            .iter()
            .find(|k| k.family == family)
            .expect("family key");
        let signer: Box<dyn JwsSigner> = match signing_alg {
            "RS256" => Box::new(RS256.signer_from_jwk(&key.private).expect("signer")),
            "RS384" => Box::new(RS384.signer_from_jwk(&key.private).expect("signer")),
            "RS512" => Box::new(RS512.signer_from_jwk(&key.private).expect("signer")),
            "PS256" => Box::new(PS256.signer_from_jwk(&key.private).expect("signer")),
            "PS384" => Box::new(PS384.signer_from_jwk(&key.private).expect("signer")),
            "PS512" => Box::new(PS512.signer_from_jwk(&key.private).expect("signer")),
            "ES256" => Box::new(ES256.signer_from_jwk(&key.private).expect("signer")),
            "EdDSA" => Box::new(EdDSA.signer_from_jwk(&key.private).expect("signer")),
            other => panic!("no signer for {other}"),
        };
        compact(header_json, claims_json, |input| {
            signer.sign(input).expect("sign")
        })
    }

    /// HS256 over `secret` (the key-confusion attack: an HMAC keyed with public key bytes).
    pub fn sign_hs256(&self, secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({ "alg": "HS256", "typ": "JWT" });
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        let signer = HS256.signer_from_bytes(secret).expect("hmac signer");
        compact(&header.to_string(), &claims.to_string(), |input| {
            signer.sign(input).expect("sign")
        })
    }

    /// The current RSA public key as PEM, as an attacker would download it.
    pub fn rsa_public_pem(&self) -> Vec<u8> {
        let state = self.shared.state.lock().expect("state");
        let key = state
            .keys
            .iter()
            .find(|k| k.family == Family::Rsa)
            .expect("rsa key");
        RsaKeyPair::from_jwk(&key.private)
            .expect("rsa pair")
            .to_pem_public_key()
    }

    /// The current public JWK set as served.
    pub fn jwks(&self) -> Value {
        jwks_document(&self.shared.state.lock().expect("state"))
    }

    /// Replaces every key by a new one with a new kid (`rsa-2`, `ec-2`, …); old kids vanish.
    pub fn rotate(&self) {
        let mut state = self.shared.state.lock().expect("state");
        state.generation += 1;
        let generation = state.generation;
        state.keys = [Family::Rsa, Family::Ec, Family::Ed]
            .into_iter()
            .map(|f| TestKey::generate(f, generation))
            .collect();
    }

    /// Publishes an additional raw JWK (e.g. an encryption key or a malformed one).
    pub fn publish_extra(&self, jwk: Value) {
        self.shared
            .state
            .lock()
            .expect("state")
            .extra_jwks
            .push(jwk);
    }

    /// Makes the discovery document name another issuer.
    pub fn set_discovery_issuer(&self, issuer: Option<&str>) {
        self.shared.state.lock().expect("state").discovery_issuer = issuer.map(str::to_owned);
    }

    /// Makes the discovery document name another JWKS URL.
    pub fn set_discovery_jwks_uri(&self, uri: Option<&str>) {
        self.shared.state.lock().expect("state").discovery_jwks_uri = uri.map(str::to_owned);
    }

    /// Requires `Authorization: Bearer <token>` on every request (401 otherwise).
    pub fn require_bearer(&self, token: Option<&str>) {
        self.shared.state.lock().expect("state").required_bearer = token.map(str::to_owned);
    }

    /// The `Authorization` header of every request received, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.shared
            .state
            .lock()
            .expect("state")
            .authorizations
            .clone()
    }

    /// While down, every request gets 503.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Delays every response (to make concurrent requests overlap).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Holds every response until [`TestIdp::resume`], so a test can observe a fetch in flight
    /// without relying on timing.
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
    }

    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    pub fn discovery_requests(&self) -> usize {
        self.shared.discovery_requests.load(Ordering::SeqCst)
    }

    /// An `oidc` provider for this issuer with default settings (all algorithms, TTL 1 h,
    /// timeout 5 s) accepting `client_ids`.
    pub fn provider_spec(&self, name: &str, client_ids: &[&str]) -> ProviderSpec {
        oidc_spec(name, &self.issuer, client_ids)
    }
}

/// An enabled `oidc` provider with the documented defaults.
pub fn oidc_spec(name: &str, issuer: &str, client_ids: &[&str]) -> ProviderSpec {
    ProviderSpec {
        name: name.to_owned(),
        kind: ProviderKind::Oidc,
        enabled: true,
        settings: OidcSettings::new(
            issuer.to_owned(),
            client_ids.iter().map(|s| s.to_string()).collect(),
        ),
    }
}

/// A `mock` provider (development only).
pub fn mock_spec(name: &str, issuer: &str, client_id: &str) -> ProviderSpec {
    let mut spec = oidc_spec(name, issuer, &[client_id]);
    spec.kind = ProviderKind::Mock;
    spec
}

/// `base64url(header).base64url(payload).base64url(sign(input))`.
pub fn compact(
    header_json: &str,
    claims_json: &str,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims_json)
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn jwks_document(state: &State) -> Value {
    let mut keys: Vec<Value> = state
        .keys
        .iter()
        .map(|k| Value::Object(k.public.as_ref().clone()))
        .collect();
    keys.extend(state.extra_jwks.iter().cloned());
    json!({ "keys": keys })
}

async fn serve(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    issuer: String,
    shared: Arc<Shared>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let issuer = issuer.clone();
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = match acceptor {
                // A client that rejects the certificate ends the handshake; nothing to answer.
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => handle(tls, &issuer, &shared).await,
                    Err(_) => Ok(()),
                },
                None => handle(stream, &issuer, &shared).await,
            };
        });
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    issuer: &str,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_owned());

    match path.as_str() {
        "/.well-known/openid-configuration" => {
            shared.discovery_requests.fetch_add(1, Ordering::SeqCst)
        }
        "/jwks" => shared.jwks_requests.fetch_add(1, Ordering::SeqCst),
        _ => 0,
    };
    let mut paused = shared.paused.subscribe();
    let _ = paused.wait_for(|p| !*p).await;
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    let (status, body) = {
        let mut state = shared.state.lock().expect("state");
        state.authorizations.push(authorization.clone());
        let authorized = match &state.required_bearer {
            Some(token) => authorization.as_deref() == Some(format!("Bearer {token}").as_str()),
            None => true,
        };
        if shared.down.load(Ordering::SeqCst) {
            ("503 Service Unavailable", json!({"error": "down"}))
        } else if !authorized {
            ("401 Unauthorized", json!({"error": "unauthorized"}))
        } else {
            match path.as_str() {
                "/.well-known/openid-configuration" => (
                    "200 OK",
                    json!({
                        "issuer": state.discovery_issuer.clone().unwrap_or_else(|| issuer.to_owned()),
                        "jwks_uri": state.discovery_jwks_uri.clone().unwrap_or_else(|| format!("{issuer}/jwks")),
                        "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
                    }),
                ),
                "/jwks" => ("200 OK", jwks_document(&state)),
                _ => ("404 Not Found", json!({"error": "not found"})),
            }
        }
    };
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// A certificate authority for tests: an EC P-256 key and a self-signed CA certificate, which
/// signs server certificates for 127.0.0.1.
pub struct TestCa {
    key: openssl::pkey::PKey<openssl::pkey::Private>,
    cert: openssl::x509::X509,
}

impl TestCa {
    pub fn generate(common_name: &str) -> Self {
        use openssl::x509::extension::{BasicConstraints, KeyUsage};

        let key = ec_key();
        let name = x509_name(common_name);
        let mut cert = cert_builder(&key, &name);
        cert.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
            .expect("basic constraints");
        cert.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .expect("ku"),
        )
        .expect("key usage");
        cert.sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("sign CA");
        Self {
            key,
            cert: cert.build(),
        }
    }

    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert.to_pem().expect("CA PEM")
    }

    /// A leaf certificate for IP 127.0.0.1 signed by this CA, as (certificate chain PEM with the
    /// leaf first, PKCS#8 private key PEM). `common_name` tells certificates apart in tests.
    pub fn issue(&self, common_name: &str) -> (Vec<u8>, Vec<u8>) {
        use openssl::x509::extension::{ExtendedKeyUsage, SubjectAlternativeName};

        let key = ec_key();
        let mut cert = cert_builder(&key, &x509_name(common_name));
        cert.set_issuer_name(self.cert.subject_name())
            .expect("issuer name");
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .build(&cert.x509v3_context(Some(&self.cert), None))
            .expect("san");
        cert.append_extension(san).expect("san");
        cert.append_extension(ExtendedKeyUsage::new().server_auth().build().expect("eku"))
            .expect("eku");
        cert.sign(&self.key, openssl::hash::MessageDigest::sha256())
            .expect("sign leaf");
        let mut chain = cert.build().to_pem().expect("leaf PEM");
        chain.extend_from_slice(&self.cert_pem());
        (chain, key.private_key_to_pem_pkcs8().expect("key PEM"))
    }

    fn issue_for_loopback(&self) -> (Vec<u8>, Vec<u8>) {
        self.issue("127.0.0.1")
    }
}

fn ec_key() -> openssl::pkey::PKey<openssl::pkey::Private> {
    use openssl::ec::{EcGroup, EcKey};
    let group = EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).expect("P-256");
    openssl::pkey::PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("pkey")
}

fn x509_name(common_name: &str) -> openssl::x509::X509Name {
    let mut name = openssl::x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", common_name).expect("CN");
    name.build()
}

/// A v3 certificate with a random serial, valid from yesterday for two days, subject and
/// issuer `name`; the caller adds extensions, may change the issuer, and signs.
fn cert_builder(
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    name: &openssl::x509::X509NameRef,
) -> openssl::x509::X509Builder {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};

    let mut cert = openssl::x509::X509Builder::new().expect("builder");
    cert.set_version(2).expect("v3");
    let mut serial = BigNum::new().expect("bn");
    serial
        .rand(120, MsbOption::MAYBE_ZERO, false)
        .expect("serial");
    cert.set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    cert.set_subject_name(name).expect("subject");
    cert.set_issuer_name(name).expect("issuer");
    cert.set_pubkey(key).expect("pubkey");
    let yesterday = Asn1Time::from_unix(super::clock::now() - 86_400).expect("not before");
    cert.set_not_before(&yesterday).expect("not before");
    cert.set_not_after(&Asn1Time::days_from_now(2).expect("days"))
        .expect("not after");
    cert
}

fn tls_acceptor(chain_pem: &[u8], key_pem: &[u8]) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem).expect("key PEM");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
