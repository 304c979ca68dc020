//! Hostile and malformed requests against the real HTTP server: forged tokens, claim type
//! confusion, broken encodings, oversize and slow bodies. Each gets its AWS error, the server keeps
//! answering, and the process's memory returns to its baseline afterwards.

mod common;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::clock::now;
use common::iam::iam_json;
use common::idp::{Family, TestIdp};
use common::server::TestServer;
use stsd::app::HttpSettings;
use stsd::config;
use stsd::service::StsService;

const CLIENT: &str = "sts-client";
const ROLE_ARN: &str = "arn:aws:iam::role/Reader";
/// Bound on any single exchange; a hostile request must never hang the server.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(20);

fn service(idp: &TestIdp) -> StsService {
    let file = iam_json(json!({
        "sts": {"issuer": "test-sts"},
        "providers": [{"name": "corp", "type": "oidc",
                       "config": {"issuer": idp.issuer(), "clientId": CLIENT, "httpTimeout": "2s"}}],
        "policies": [{"name": "S3Read", "document": {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}],
        "roles": [{"roleName": "Reader", "attachedPolicies": ["S3Read"],
            "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "corp"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
    }));
    let loaded = config::load_str(&file.to_string(), "hostile.json", &|_| None).expect("config");
    StsService::new(loaded.config).expect("service")
}

fn settings() -> HttpSettings {
    HttpSettings {
        body_timeout: Duration::from_secs(2),
        ..HttpSettings::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Requests as bytes

fn http(method: &str, target: &[u8], headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

fn post_form(body: &[u8]) -> Vec<u8> {
    http(
        "POST",
        b"/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
    )
}

fn get_query(query: &[u8]) -> Vec<u8> {
    let mut target = b"/?".to_vec();
    target.extend_from_slice(query);
    http("GET", &target, &[], b"")
}

fn post_json(body: &[u8]) -> Vec<u8> {
    http(
        "POST",
        b"/sts/assume-role-with-web-identity",
        &[("Content-Type", "application/json")],
        body,
    )
}

fn post_validate(body: &[u8]) -> Vec<u8> {
    http(
        "POST",
        b"/sts/validate-token",
        &[("Content-Type", "application/json")],
        body,
    )
}

fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

/// AssumeRoleWithWebIdentity with valid parameters around `token`.
fn assume(token: &str) -> Vec<u8> {
    assume_with(token, &[])
}

/// AssumeRoleWithWebIdentity with `overrides` replacing (or, when new, adding to) the defaults.
fn assume_with(token: &str, overrides: &[(&str, &str)]) -> Vec<u8> {
    let mut pairs = vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE_ARN),
        ("RoleSessionName", "hostile"),
        ("WebIdentityToken", token),
    ];
    for (k, v) in overrides {
        match pairs.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v,
            None => pairs.push((k, v)),
        }
    }
    post_form(&encode(&pairs))
}

/// The same without `RoleSessionName`, plus one already-encoded pair appended verbatim (usually
/// a hostile `RoleSessionName`).
fn assume_raw(token: &str, raw_pair: &[u8]) -> Vec<u8> {
    let mut body = encode(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE_ARN),
        ("WebIdentityToken", token),
    ]);
    body.push(b'&');
    body.extend_from_slice(raw_pair);
    post_form(&body)
}

// ---------------------------------------------------------------------------------------------
// Tokens

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims(idp: &TestIdp) -> Value {
    let now = now();
    json!({"iss": idp.issuer(), "sub": "user-1", "aud": CLIENT, "exp": now + 3600, "iat": now - 5})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().expect("object").remove(key);
    claims
}

/// Claims as JSON text with one raw `"key": value` member appended (duplicates, odd numbers).
fn claims_text_plus(idp: &TestIdp, member: &str) -> String {
    let text = claims(idp).to_string();
    format!("{},{member}}}", &text[..text.len() - 1])
}

fn rs256_header(kid: &str) -> String {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid}).to_string()
}

fn unsigned(header: &str, claims: &str, signature: &str) -> String {
    format!("{}.{}.{signature}", b64(header), b64(claims))
}

/// Nested arrays `depth` deep.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

// ---------------------------------------------------------------------------------------------
// The table

struct Case {
    name: &'static str,
    request: Vec<u8>,
    status: u16,
    /// The AWS `Code`; `""` for a success, `"valid:false"` for the operator endpoint's verdict,
    /// `"-"` for a refusal by the HTTP parser itself (the request never reaches stsd's
    /// handlers, so there is no AWS body to check).
    code: &'static str,
    /// Sent to the admin listener instead of the main one.
    admin: bool,
}

fn case(name: &'static str, request: Vec<u8>, status: u16, code: &'static str) -> Case {
    Case {
        name,
        request,
        status,
        code,
        admin: false,
    }
}

/// A [`case`] for the admin listener (the operator's dry run).
fn admin_case(name: &'static str, request: Vec<u8>, status: u16, code: &'static str) -> Case {
    Case {
        admin: true,
        ..case(name, request, status, code)
    }
}

/// A token refused before any claim is trusted.
const BAD_TOKEN: u16 = 400;

/// A web identity token refused as `InvalidIdentityToken`.
fn invalid_token(name: &'static str, request: Vec<u8>) -> Case {
    case(name, request, BAD_TOKEN, "InvalidIdentityToken")
}

/// A verified token whose claims are refused as `IDPRejectedClaim`.
fn rejected_claim(name: &'static str, request: Vec<u8>) -> Case {
    case(name, request, 403, "IDPRejectedClaim")
}

/// Input refused as `ValidationError` (400).
fn validation_error(name: &'static str, request: Vec<u8>) -> Case {
    case(name, request, 400, "ValidationError")
}

/// A form or query string refused as `MalformedQueryString`, with AWS's 404.
fn malformed_query(name: &'static str, request: Vec<u8>) -> Case {
    case(name, request, 404, "MalformedQueryString")
}

/// Credentials stsd issued, for GetCallerIdentity cases.
struct Session {
    access_key: String,
    token: String,
}

fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml.find(&open).map_or(0, |i| i + open.len());
    let end = xml[start..].find('<').map_or(xml.len(), |i| start + i);
    &xml[start..end]
}

async fn issue_session(server: &TestServer, idp: &TestIdp) -> Session {
    let answer = exchange(server, &assume(&idp.sign(&claims(idp)))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    Session {
        access_key: element(&answer.body, "AccessKeyId").to_owned(),
        token: element(&answer.body, "SessionToken").to_owned(),
    }
}

fn amz_date(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A well-formed SigV4 header whose signature is made up.
fn authorization(access_key: &str, amz_date: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{}/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature={}",
        &amz_date[..8.min(amz_date.len())],
        "ab".repeat(32)
    )
}

fn caller(authorization: &str, session_token: &str, amz_date: &str) -> Vec<u8> {
    http(
        "POST",
        b"/",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", authorization),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Security-Token", session_token),
        ],
        b"Action=GetCallerIdentity&Version=2011-06-15",
    )
}

fn unsigned_hs256(header: &str, claims: &str, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let input = format!("{}.{}", b64(header), b64(claims));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac key");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(mac.finalize().into_bytes()))
}

/// What the case classes build on: the identities, a valid token and its parts, the clock.
#[derive(Clone)]
struct Ctx<'a> {
    idp: &'a TestIdp,
    attacker: &'a TestIdp,
    session: &'a Session,
    good: Value,
    good_text: String,
    rsa: String,
    ec: String,
    valid: String,
    now: i64,
    amz_now: String,
}

impl Ctx<'_> {
    /// The header, payload and signature segments of the valid token.
    fn parts(&self) -> (&str, &str, &str) {
        let mut parts = self.valid.split('.');
        let mut next = || parts.next().unwrap_or_default();
        (next(), next(), next())
    }
}

/// Every class in order, between two controls that prove nothing in between poisoned the cache.
fn cases(idp: &TestIdp, attacker: &TestIdp, session: &Session) -> Vec<Case> {
    let good = claims(idp);
    let valid = idp.sign(&good);
    let t = Ctx {
        idp,
        attacker,
        session,
        good_text: good.to_string(),
        rsa: idp.kid(Family::Rsa),
        ec: idp.kid(Family::Ec),
        valid: valid.clone(),
        good,
        now: now(),
        amz_now: amz_date(time::OffsetDateTime::now_utc()),
    };
    let mut list = vec![case("valid token (control)", assume(&valid), 200, "")];
    list.extend(forged_algorithms(&t));
    list.extend(claim_types(&t));
    list.extend(token_shape(&t));
    list.extend(parameters(&t));
    list.extend(encodings());
    list.extend(body_limits());
    list.extend(json_twin(&t));
    list.extend(operator_endpoints(&t));
    list.extend(routing());
    list.extend(sigv4(&t));
    list.extend(http_framing());
    // Requests the table reuses with the valid token, to prove nothing above poisoned the cache.
    list.push(case("valid token again (control)", assume(&valid), 200, ""));
    list
}

/// Forged algorithms and key confusion: every one is `InvalidIdentityToken`.
fn forged_algorithms(t: &Ctx) -> Vec<Case> {
    let Ctx {
        idp,
        attacker,
        good,
        good_text,
        rsa,
        ec,
        ..
    } = t.clone();
    let (_, p, s) = t.parts();
    vec![
        invalid_token(
            "alg none, empty signature",
            assume(&unsigned(
                &json!({"alg": "none"}).to_string(),
                &good_text,
                "",
            )),
        ),
        invalid_token(
            "alg none with the original signature",
            assume(&unsigned(
                &json!({"alg": "none", "kid": rsa}).to_string(),
                &good_text,
                s,
            )),
        ),
        invalid_token(
            "alg NoNe (case games)",
            assume(&unsigned(
                &json!({"alg": "NoNe"}).to_string(),
                &good_text,
                "",
            )),
        ),
        invalid_token(
            "HS256 keyed with the RSA public key PEM",
            assume(&idp.sign_hs256(&idp.rsa_public_pem(), Some(&rsa), &good)),
        ),
        invalid_token(
            "HS256 keyed with the PEM, no kid",
            assume(&idp.sign_hs256(&idp.rsa_public_pem(), None, &good)),
        ),
        invalid_token(
            "HS256 keyed with the RSA modulus",
            assume(
                &idp.sign_hs256(
                    idp.jwks()["keys"][0]["n"]
                        .as_str()
                        .unwrap_or("n")
                        .as_bytes(),
                    Some(&rsa),
                    &good,
                ),
            ),
        ),
        invalid_token(
            "RS256 signature under the EC key's kid",
            assume(&idp.sign_with("RS256", Some(&ec), &good)),
        ),
        invalid_token(
            "ES256 signature under the RSA key's kid",
            assume(&idp.sign_with("ES256", Some(&rsa), &good)),
        ),
        invalid_token(
            "PS256 header over an RS256 signature",
            assume(&format!(
                "{}.{p}.{s}",
                b64(json!({"alg": "PS256", "kid": rsa}).to_string())
            )),
        ),
        invalid_token(
            "attacker key with the victim's kid",
            assume(&attacker.sign_with("RS256", Some(&rsa), &good)),
        ),
        invalid_token(
            "embedded jwk header with the attacker's key",
            assume(&attacker.sign_raw(
                &json!({"alg": "RS256", "kid": rsa, "jwk": attacker.jwks()["keys"][0]}).to_string(),
                &good_text,
                "RS256",
            )),
        ),
        invalid_token(
            "jku header pointing at the attacker",
            assume(&attacker.sign_raw(
                &json!({"alg": "RS256", "kid": rsa, "jku": attacker.jwks_uri()}).to_string(),
                &good_text,
                "RS256",
            )),
        ),
        invalid_token(
            "x5u header pointing at the attacker",
            assume(&attacker.sign_raw(
                &json!({"alg": "RS256", "kid": rsa, "x5u": attacker.jwks_uri()}).to_string(),
                &good_text,
                "RS256",
            )),
        ),
        invalid_token(
            "unknown kid",
            assume(&idp.sign_with("RS256", Some("nobody"), &good)),
        ),
        invalid_token(
            "kid with path traversal",
            assume(&idp.sign_with("RS256", Some("../../../etc/passwd"), &good)),
        ),
        invalid_token(
            "kid of 5000 characters",
            assume(&idp.sign_with("RS256", Some(&"k".repeat(5000)), &good)),
        ),
        invalid_token(
            "kid is a number",
            assume(&idp.sign_raw(r#"{"alg":"RS256","kid":1}"#, &good_text, "RS256")),
        ),
        invalid_token(
            "alg is an array",
            assume(&idp.sign_raw(r#"{"alg":["RS256"]}"#, &good_text, "RS256")),
        ),
        invalid_token(
            "crit header",
            assume(&idp.sign_raw(
                &json!({"alg": "RS256", "kid": rsa, "crit": ["exp"], "exp": 1}).to_string(),
                &good_text,
                "RS256",
            )),
        ),
        invalid_token(
            "unencoded payload (b64 false)",
            assume(&idp.sign_raw(
                &json!({"alg": "RS256", "kid": rsa, "b64": false, "crit": ["b64"]}).to_string(),
                &good_text,
                "RS256",
            )),
        ),
        invalid_token(
            "duplicated alg in the header",
            assume(&idp.sign_raw(
                &format!(r#"{{"alg":"RS256","kid":"{rsa}","alg":"none"}}"#),
                &good_text,
                "RS256",
            )),
        ),
        invalid_token(
            "duplicated kid in the header",
            assume(&idp.sign_raw(
                &format!(r#"{{"alg":"RS256","kid":"{rsa}","kid":"other"}}"#),
                &good_text,
                "RS256",
            )),
        ),
        invalid_token(
            "duplicated sub in the payload",
            assume(&idp.sign_raw(
                &rs256_header(&rsa),
                &claims_text_plus(idp, r#""sub":"admin""#),
                "RS256",
            )),
        ),
    ]
}

/// Claims of the wrong JSON type, missing or out of range.
fn claim_types(t: &Ctx) -> Vec<Case> {
    let Ctx {
        idp,
        good,
        rsa,
        now,
        ..
    } = t.clone();
    vec![
        rejected_claim(
            "numeric sub",
            assume(&idp.sign(&with(good.clone(), "sub", json!(42)))),
        ),
        rejected_claim(
            "array sub",
            assume(&idp.sign(&with(good.clone(), "sub", json!(["user-1"])))),
        ),
        rejected_claim(
            "object sub",
            assume(&idp.sign(&with(good.clone(), "sub", json!({"id": "user-1"})))),
        ),
        rejected_claim(
            "empty sub",
            assume(&idp.sign(&with(good.clone(), "sub", json!("")))),
        ),
        rejected_claim(
            "missing sub",
            assume(&idp.sign(&without(good.clone(), "sub"))),
        ),
        rejected_claim(
            "object aud",
            assume(&idp.sign(&with(good.clone(), "aud", json!({"aud": CLIENT})))),
        ),
        rejected_claim(
            "numeric aud",
            assume(&idp.sign(&with(good.clone(), "aud", json!(7)))),
        ),
        rejected_claim(
            "aud array holding an object",
            assume(&idp.sign(&with(good.clone(), "aud", json!([CLIENT, {"x": 1}])))),
        ),
        invalid_token(
            "aud of another client",
            assume(&idp.sign(&with(good.clone(), "aud", json!("someone-else")))),
        ),
        rejected_claim(
            "exp as a string",
            assume(&idp.sign(&with(good.clone(), "exp", json!((now + 3600).to_string())))),
        ),
        rejected_claim(
            "exp missing",
            assume(&idp.sign(&without(good.clone(), "exp"))),
        ),
        case(
            "exp in the past",
            assume(&idp.sign(&with(good.clone(), "exp", json!(now - 3600)))),
            BAD_TOKEN,
            "ExpiredTokenException",
        ),
        case(
            "negative exp",
            assume(&idp.sign(&with(good.clone(), "exp", json!(-1)))),
            BAD_TOKEN,
            "ExpiredTokenException",
        ),
        invalid_token(
            "exp of 1e400 (overflows f64)",
            assume(&idp.sign_raw(
                &rs256_header(&rsa),
                &format!(
                    r#"{{"iss":"{}","sub":"u","aud":"{CLIENT}","exp":1e400}}"#,
                    idp.issuer()
                ),
                "RS256",
            )),
        ),
        case(
            "huge exp (u64::MAX), capped session",
            assume(&idp.sign(&with(good.clone(), "exp", json!(u64::MAX)))),
            200,
            "",
        ),
        case(
            "negative iat",
            assume(&idp.sign(&with(good.clone(), "iat", json!(-1_000_000)))),
            200,
            "",
        ),
        invalid_token(
            "iat an hour ahead",
            assume(&idp.sign(&with(good.clone(), "iat", json!(now + 3600)))),
        ),
        invalid_token(
            "nbf an hour ahead",
            assume(&idp.sign(&with(good.clone(), "nbf", json!(now + 3600)))),
        ),
        rejected_claim(
            "nbf as an object",
            assume(&idp.sign(&with(good.clone(), "nbf", json!({"t": 0})))),
        ),
        invalid_token(
            "iss with a trailing slash",
            assume(&idp.sign(&with(
                good.clone(),
                "iss",
                json!(format!("{}/", idp.issuer())),
            ))),
        ),
        invalid_token(
            "iss as a number",
            assume(&idp.sign(&with(good.clone(), "iss", json!(1)))),
        ),
        invalid_token(
            "payload nested 5000 deep",
            assume(&idp.sign_raw(
                &rs256_header(&rsa),
                &format!(r#"{{"iss":"{}","x":{}}}"#, idp.issuer(), nested(5000)),
                "RS256",
            )),
        ),
    ]
}

/// Tokens that are not a well-formed compact JWS.
fn token_shape(t: &Ctx) -> Vec<Case> {
    let Ctx { valid, .. } = t.clone();
    let (h, p, s) = t.parts();
    vec![
        validation_error("token of 20 001 characters", assume(&"a".repeat(20_001))),
        validation_error("token of 3 characters", assume("a.b")),
        invalid_token("header segment not base64", assume(&format!("!!!.{p}.{s}"))),
        invalid_token(
            "payload segment not base64",
            assume(&format!("{h}.%%%.{s}")),
        ),
        invalid_token("padded base64 segments", assume(&format!("{h}==.{p}.{s}"))),
        invalid_token("four segments", assume(&format!("{valid}.{s}"))),
        invalid_token("two segments", assume(&format!("{h}.{p}"))),
        invalid_token("empty signature", assume(&format!("{h}.{p}."))),
        invalid_token(
            "JWE-shaped five segments",
            assume(&format!(
                "{}.{}.{}.{}.{}",
                b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
                b64("key"),
                b64("iv"),
                b64("ciphertext"),
                b64("tag")
            )),
        ),
        invalid_token(
            "signature with one bit flipped",
            assume(&{
                let mut sig = URL_SAFE_NO_PAD.decode(s).expect("signature");
                sig[10] ^= 1;
                format!("{h}.{p}.{}", b64(sig))
            }),
        ),
        invalid_token(
            "header is a JSON array",
            assume(&format!("{}.{p}.{s}", b64("[1,2]"))),
        ),
        invalid_token(
            "header is not JSON",
            assume(&format!("{}.{p}.{s}", b64("alg=RS256"))),
        ),
        invalid_token(
            "header JSON with invalid UTF-8",
            assume(&format!("{}.{p}.{s}", b64(b"{\"alg\":\"RS\xff256\"}"))),
        ),
        invalid_token(
            "token with an embedded NUL",
            assume(&format!("{h}\0.{p}.{s}")),
        ),
        invalid_token(
            "not a JWT at all",
            assume("hello world, this is not a token"),
        ),
    ]
}

/// Query API parameters: actions, versions, names, ARNs, durations, session policies.
fn parameters(t: &Ctx) -> Vec<Case> {
    let Ctx { valid, .. } = t.clone();
    vec![
        case(
            "no Action",
            post_form(&encode(&[("Version", "2011-06-15")])),
            400,
            "MissingAction",
        ),
        case(
            "unknown Action",
            post_form(&encode(&[("Action", "DeleteEverything")])),
            400,
            "InvalidAction",
        ),
        case(
            "Action with a NUL byte",
            post_form(b"Action=AssumeRoleWithWebIdentity%00"),
            400,
            "InvalidAction",
        ),
        case(
            "wrong Version",
            assume_with(&valid, &[("Version", "2099-01-01")]),
            400,
            "InvalidParameterValue",
        ),
        case(
            "duplicated WebIdentityToken",
            assume_raw(&valid, b"WebIdentityToken=other"),
            400,
            "InvalidParameterValue",
        ),
        case(
            "missing RoleSessionName",
            post_form(&encode(&[
                ("Action", "AssumeRoleWithWebIdentity"),
                ("RoleArn", ROLE_ARN),
                ("WebIdentityToken", &valid),
            ])),
            400,
            "MissingParameter",
        ),
        validation_error(
            "NUL in RoleSessionName",
            assume_raw(&valid, b"RoleSessionName=abc%00def"),
        ),
        validation_error(
            "CRLF header injection in RoleSessionName",
            assume_raw(
                &valid,
                b"RoleSessionName=abc%0D%0ASet-Cookie:%20injected%3D1%0D%0A",
            ),
        ),
        validation_error(
            "XML injection in RoleSessionName",
            assume_with(&valid, &[("RoleSessionName", "</Code><Code>OK")]),
        ),
        validation_error(
            "RoleSessionName of 65 characters",
            assume_with(&valid, &[("RoleSessionName", &"s".repeat(65))]),
        ),
        validation_error(
            "RoleSessionName with non-ASCII letters",
            assume_with(&valid, &[("RoleSessionName", "sessão")]),
        ),
        case(
            "RoleArn that is not an ARN",
            assume_with(&valid, &[("RoleArn", "this-is-not-an-arn-at-all")]),
            400,
            "InvalidParameterValue",
        ),
        validation_error(
            "RoleArn of 3000 characters",
            assume_with(&valid, &[("RoleArn", &"r".repeat(3000))]),
        ),
        case(
            "RoleArn of a role that does not exist",
            assume_with(&valid, &[("RoleArn", "arn:aws:iam::role/Administrator")]),
            403,
            "AccessDenied",
        ),
        validation_error(
            "DurationSeconds not a number",
            assume_with(&valid, &[("DurationSeconds", "1e9")]),
        ),
        validation_error(
            "DurationSeconds negative",
            assume_with(&valid, &[("DurationSeconds", "-900")]),
        ),
        validation_error(
            "DurationSeconds beyond u64",
            assume_with(&valid, &[("DurationSeconds", "99999999999999999999999")]),
        ),
        validation_error(
            "session Policy nested 10 000 deep",
            assume_with(&valid, &[("Policy", &nested(10_000))]),
        ),
        case(
            "session Policy nested 1000 deep (within the length limit)",
            assume_with(&valid, &[("Policy", &nested(1000))]),
            400,
            "MalformedPolicyDocument",
        ),
        case(
            "session Policy with a Statement nested 300 deep",
            assume_with(
                &valid,
                &[(
                    "Policy",
                    &format!(r#"{{"Version":"2012-10-17","Statement":{}}}"#, nested(300)),
                )],
            ),
            400,
            "MalformedPolicyDocument",
        ),
        case(
            "session Policy that is not JSON",
            assume_with(&valid, &[("Policy", "allow everything please")]),
            400,
            "MalformedPolicyDocument",
        ),
        case(
            "session Policy with duplicated keys",
            assume_with(
                &valid,
                &[(
                    "Policy",
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
                )],
            ),
            400,
            "MalformedPolicyDocument",
        ),
        validation_error(
            "session Policy with a NUL byte",
            assume_with(
                &valid,
                &[(
                    "Policy",
                    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:\0\",\"Resource\":\"*\"}]}",
                )],
            ),
        ),
        case(
            "PolicyArns (not supported)",
            assume_with(&valid, &[("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/Admin")]),
            400,
            "InvalidParameterValue",
        ),
    ]
}

/// Form and query-string encodings: percent escapes, UTF-8, NUL bytes.
fn encodings() -> Vec<Case> {
    vec![
        malformed_query(
            "bad percent escape in the body",
            post_form(b"Action=AssumeRoleWithWebIdentity&RoleSessionName=%zz"),
        ),
        malformed_query(
            "truncated percent escape",
            post_form(b"Action=AssumeRoleWithWebIdentity&RoleSessionName=%4"),
        ),
        malformed_query(
            "percent-encoded invalid UTF-8",
            post_form(b"Action=AssumeRoleWithWebIdentity&RoleSessionName=%FF%FE"),
        ),
        malformed_query(
            "overlong UTF-8 encoding of '/'",
            post_form(b"Action=AssumeRoleWithWebIdentity&RoleSessionName=%C0%AF"),
        ),
        malformed_query(
            "raw invalid UTF-8 in the body",
            post_form(b"Action=AssumeRoleWithWebIdentity&RoleSessionName=\xff\xfe\xfd"),
        ),
        case(
            "raw NUL bytes in the body",
            post_form(b"Action=AssumeRoleWithWebIdentity\0\0&Version=2011-06-15"),
            400,
            "InvalidAction",
        ),
        malformed_query(
            "empty parameter name",
            post_form(b"=x&Action=AssumeRoleWithWebIdentity"),
        ),
        malformed_query(
            "bad percent escape in the query string",
            get_query(b"Action=%GG"),
        ),
        malformed_query(
            "percent-encoded invalid UTF-8 in the query string",
            get_query(b"Action=%ED%A0%80"),
        ),
    ]
}

/// Bodies and parameter counts beyond the limits.
fn body_limits() -> Vec<Case> {
    vec![
        case(
            "10 000 distinct parameters",
            post_form(&{
                let mut body = b"Action=AssumeRoleWithWebIdentity".to_vec();
                for i in 0..10_000u32 {
                    body.extend_from_slice(format!("&{i:x}").as_bytes());
                }
                body
            }),
            400,
            "MissingParameter",
        ),
        case(
            "10 000 copies of one parameter",
            post_form(&b"&a=1".repeat(10_000)),
            400,
            "InvalidParameterValue",
        ),
        case(
            "1 MiB form body",
            post_form(&{
                let mut body = b"Action=AssumeRoleWithWebIdentity&Policy=".to_vec();
                body.resize(1 << 20, b'x');
                body
            }),
            413,
            "RequestEntityTooLarge",
        ),
        case(
            "1 MiB JSON body",
            post_json(&{
                let mut body = br#"{"RoleArn":""#.to_vec();
                body.resize(1 << 20, b'x');
                body
            }),
            413,
            "RequestEntityTooLarge",
        ),
        case(
            "1 MiB chunked body without a length",
            {
                let mut req = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for _ in 0..16 {
                    req.extend_from_slice(b"10000\r\n");
                    req.extend_from_slice(&[b'x'; 0x10000]);
                    req.extend_from_slice(b"\r\n");
                }
                req.extend_from_slice(b"0\r\n\r\n");
                req
            },
            413,
            "RequestEntityTooLarge",
        ),
        case(
            "Content-Length larger than the body",
            {
                let mut req = http(
                    "POST",
                    b"/",
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    b"Action=GetCallerIdentity",
                );
                let text = String::from_utf8(req.clone()).expect("ascii");
                req = text
                    .replace("Content-Length: 24", "Content-Length: 500")
                    .into_bytes();
                req
            },
            408,
            "RequestTimeout",
        ),
    ]
}

/// The JSON twin of AssumeRoleWithWebIdentity: shapes, types, duplicate keys.
fn json_twin(t: &Ctx) -> Vec<Case> {
    let Ctx { valid, .. } = t.clone();
    vec![
        validation_error(
            "JSON twin: nested 10 000 deep",
            post_json(nested(10_000).as_bytes()),
        ),
        validation_error("JSON twin: not an object", post_json(b"\"just a string\"")),
        validation_error(
            "JSON twin: invalid UTF-8",
            post_json(b"{\"RoleArn\":\"\xff\"}"),
        ),
        validation_error(
            "JSON twin: duplicated keys",
            post_json(
                json!({"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "WebIdentityToken": valid})
                    .to_string()
                    .replace(
                        "\"RoleSessionName\"",
                        "\"RoleSessionName\":\"x\",\"RoleSessionName\"",
                    )
                    .as_bytes(),
            ),
        ),
        validation_error(
            "JSON twin: numeric RoleArn",
            post_json(
                json!({"RoleArn": 5, "RoleSessionName": "s1", "WebIdentityToken": valid})
                    .to_string()
                    .as_bytes(),
            ),
        ),
        validation_error(
            "JSON twin: DurationSeconds as an object",
            post_json(
                json!({"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "WebIdentityToken": valid,
                       "DurationSeconds": {"a": 1}})
                .to_string()
                .as_bytes(),
            ),
        ),
    ]
}

/// `/sts/validate-token`: the operator's dry run and session-token inspection.
fn operator_endpoints(t: &Ctx) -> Vec<Case> {
    let Ctx {
        idp,
        session,
        good,
        rsa,
        valid,
        ..
    } = t.clone();
    vec![
        case(
            "validate-token: session token with alg none",
            post_validate(
                json!({"sessionToken": format!("{}.{}.", b64(r#"{"alg":"none"}"#),
                    session.token.split('.').nth(1).unwrap_or_default())})
                .to_string()
                .as_bytes(),
            ),
            200,
            "valid:false",
        ),
        admin_case(
            "validate-token: web identity token keyed with the public key",
            post_validate(
                json!({"webIdentityToken": idp.sign_hs256(&idp.rsa_public_pem(), Some(&rsa), &good),
                       "roleArn": ROLE_ARN})
                .to_string()
                .as_bytes(),
            ),
            200,
            "valid:false",
        ),
        case(
            "validate-token: a dry run on the main listener",
            post_validate(
                json!({"webIdentityToken": valid, "roleArn": ROLE_ARN})
                    .to_string()
                    .as_bytes(),
            ),
            403,
            "AccessDenied",
        ),
        case(
            "validate-token: 20 001-character session token",
            post_validate(json!({"sessionToken": "a".repeat(20_001)}).to_string().as_bytes()),
            200,
            "valid:false",
        ),
        validation_error(
            "validate-token: nested 10 000 deep",
            post_validate(nested(10_000).as_bytes()),
        ),
        validation_error(
            "validate-token: token as a number",
            post_validate(br#"{"sessionToken": 12345}"#),
        ),
        case(
            "validate-token: 1 MiB body",
            post_validate(&{
                let mut body = br#"{"sessionToken":""#.to_vec();
                body.resize(1 << 20, b'x');
                body
            }),
            413,
            "RequestEntityTooLarge",
        ),
    ]
}

/// Paths and methods stsd does not serve.
fn routing() -> Vec<Case> {
    vec![
        case(
            "unknown path with traversal",
            http("GET", b"/../../etc/passwd", &[], b""),
            404,
            "NotFound",
        ),
        case(
            "unsupported method",
            http("DELETE", b"/", &[], b""),
            405,
            "MethodNotAllowed",
        ),
    ]
}

/// GetCallerIdentity with missing, malformed, forged or stale SigV4 signatures.
fn sigv4(t: &Ctx) -> Vec<Case> {
    let Ctx {
        session,
        valid,
        amz_now,
        ..
    } = t.clone();
    vec![
        case(
            "GetCallerIdentity without any credentials",
            post_form(b"Action=GetCallerIdentity"),
            403,
            "MissingAuthenticationToken",
        ),
        case(
            "GetCallerIdentity with a garbage Authorization header",
            caller(
                "AWS4-HMAC-SHA256 Credential=../../;;,,==",
                &session.token,
                &amz_now,
            ),
            400,
            "IncompleteSignature",
        ),
        case(
            "GetCallerIdentity with a repeated Signature parameter",
            caller(
                &format!(
                    "{},Signature={}",
                    authorization(&session.access_key, &amz_now),
                    "0".repeat(64)
                ),
                &session.token,
                &amz_now,
            ),
            400,
            "IncompleteSignature",
        ),
        case(
            "GetCallerIdentity scoped to s3",
            caller(
                &authorization(&session.access_key, &amz_now).replace("/sts/", "/s3/"),
                &session.token,
                &amz_now,
            ),
            400,
            "IncompleteSignature",
        ),
        case(
            "GetCallerIdentity with a forged session token (alg none)",
            caller(
                &authorization(&session.access_key, &amz_now),
                &{
                    let parts: Vec<&str> = session.token.split('.').collect();
                    format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1])
                },
                &amz_now,
            ),
            403,
            "InvalidClientTokenId",
        ),
        case(
            "GetCallerIdentity with a session token re-signed by another key",
            caller(
                &authorization(&session.access_key, &amz_now),
                &{
                    let parts: Vec<&str> = session.token.split('.').collect();
                    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[0]).expect("b64"))
                        .expect("utf8");
                    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("b64"))
                        .expect("utf8");
                    unsigned_hs256(&header, &claims, b"not-the-signing-key-0123456789abcdef")
                },
                &amz_now,
            ),
            403,
            "InvalidClientTokenId",
        ),
        case(
            "GetCallerIdentity with a web identity token as session token",
            caller(
                &authorization(&session.access_key, &amz_now),
                &valid,
                &amz_now,
            ),
            403,
            "InvalidClientTokenId",
        ),
        case(
            "GetCallerIdentity with another session's access key",
            caller(
                &authorization("ASIA0000000000000000", &amz_now),
                &session.token,
                &amz_now,
            ),
            403,
            "InvalidClientTokenId",
        ),
        case(
            "GetCallerIdentity with a wrong signature",
            caller(
                &authorization(&session.access_key, &amz_now),
                &session.token,
                &amz_now,
            ),
            403,
            "SignatureDoesNotMatch",
        ),
        case(
            "GetCallerIdentity signed in the year 2000",
            caller(
                &authorization(&session.access_key, "20000101T000000Z"),
                &session.token,
                "20000101T000000Z",
            ),
            400,
            "RequestExpired",
        ),
        case(
            "GetCallerIdentity with an impossible date",
            caller(
                &authorization(&session.access_key, "20261399T256199Z"),
                &session.token,
                "20261399T256199Z",
            ),
            400,
            "IncompleteSignature",
        ),
    ]
}

/// Requests the HTTP layer refuses: header framing, sizes, counts, garbage.
fn http_framing() -> Vec<Case> {
    vec![
        case(
            "bare LF inside a header value",
            b"POST / HTTP/1.1\r\nHost: x\r\nX-A: a\nb\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
            400,
            "-",
        ),
        case(
            "bare CR inside a header value",
            b"POST / HTTP/1.1\r\nHost: x\r\nX-A: a\rInjected: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
            400,
            "-",
        ),
        case(
            "NUL in a header value",
            b"POST / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
            400,
            "-",
        ),
        case(
            "invalid UTF-8 in the request target",
            b"GET /?Action=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            400,
            "-",
        ),
        case(
            "two Content-Length headers that disagree",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nAction"
                .to_vec(),
            400,
            "-",
        ),
        case(
            "10 000 parameters in the query string",
            get_query(&{
                let mut query = b"Action=GetCallerIdentity".to_vec();
                for i in 0..10_000u32 {
                    query.extend_from_slice(format!("&{i:x}").as_bytes());
                }
                query
            }),
            403,
            "MissingAuthenticationToken",
        ),
        case(
            "one header of 1 MiB",
            http("GET", b"/healthz", &[("X-Big", &"b".repeat(1 << 20))], b""),
            431,
            "-",
        ),
        case(
            "500 headers",
            http(
                "GET",
                b"/healthz",
                &(0..500).map(|_| ("X-Many", "1")).collect::<Vec<_>>(),
                b"",
            ),
            431,
            "-",
        ),
        case(
            "garbage request line",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            400,
            "-",
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Exchange

struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends `request` on a fresh connection and reads the answer until the server closes.
async fn exchange(server: &TestServer, request: &[u8]) -> Answer {
    exchange_at(server.addr, request).await
}

async fn exchange_at(addr: std::net::SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before it has read an oversize request to the end.
    let _ = stream.write_all(request).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(EXCHANGE_LIMIT, stream.read_to_end(&mut raw))
        .await
        .expect("the server answered within the limit");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn aws_code(body: &str) -> Option<&str> {
    if let Some(start) = body.find("<Code>") {
        let rest = &body[start + 6..];
        return rest.find("</Code>").map(|end| &rest[..end]);
    }
    let start = body.find("\"Code\":\"")? + 8;
    let rest = &body[start..];
    rest.find('"').map(|end| &rest[..end])
}

async fn assert_healthy(server: &TestServer, after: &str) {
    for path in ["/healthz", "/readyz"] {
        let answer = exchange(server, &http("GET", path.as_bytes(), &[], b"")).await;
        assert_eq!(answer.status, 200, "{path} after {after:?}");
    }
}

/// Resident set size of this process (the server runs in it), in KiB.
fn rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("field");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS value")
}

async fn run_case(server: &TestServer, case: &Case, secrets: &[&str]) -> Result<(), String> {
    let addr = if case.admin {
        server.admin_addr
    } else {
        server.addr
    };
    let answer = exchange_at(addr, &case.request).await;
    let code = aws_code(&answer.body);
    let outcome = match case.code {
        "" => (answer.status == 200 && answer.body.contains("<Credentials>"))
            .then_some(())
            .ok_or_else(|| format!("expected success, got {} {code:?}", answer.status)),
        "valid:false" => (answer.status == 200
            && answer.body.replace(' ', "").contains("\"valid\":false"))
        .then_some(())
        .ok_or_else(|| {
            format!(
                "expected valid:false, got {} {}",
                answer.status, answer.body
            )
        }),
        "-" => (answer.status == case.status)
            .then_some(())
            .ok_or_else(|| format!("expected HTTP {}, got {}", case.status, answer.status)),
        expected => (answer.status == case.status && code == Some(expected))
            .then_some(())
            .ok_or_else(|| {
                format!(
                    "expected {} {expected}, got {} {code:?}",
                    case.status, answer.status
                )
            }),
    };
    outcome?;
    if case.code != "-"
        && !answer
            .head
            .to_ascii_lowercase()
            .contains("x-amzn-requestid")
    {
        return Err("no x-amzn-RequestId header".into());
    }
    if answer.head.to_ascii_lowercase().contains("injected") {
        return Err(format!("a header was injected: {}", answer.head));
    }
    for secret in secrets {
        if answer.body.contains(secret) {
            return Err("the response echoes a token".into());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_aws_errors_and_memory_returns_to_baseline() {
    let idp = TestIdp::start().await;
    let attacker = TestIdp::start().await;
    let server = TestServer::start_with(service(&idp), settings());

    let session = issue_session(&server, &idp).await;
    let warmup = cases(&idp, &attacker, &session);
    assert!(warmup.len() >= 60, "{} cases", warmup.len());
    // One pass to warm caches, allocator arenas and the JWKS, then the measured passes.
    for case in &warmup {
        let _ = exchange(&server, &case.request).await;
    }
    drop(warmup);
    let baseline = rss_kib();

    let mut failures = Vec::new();
    let mut count = 0;
    for round in 0..3 {
        let list = cases(&idp, &attacker, &session);
        let valid = idp.sign(&claims(&idp));
        let signature = valid.rsplit('.').next().unwrap_or_default().to_owned();
        for case in &list {
            if let Err(e) = run_case(&server, case, &[&signature, &session.token]).await {
                failures.push(format!("round {round}: {}: {e}", case.name));
            }
            assert_healthy(&server, case.name).await;
            count += 1;
        }
    }
    let after = rss_kib();
    eprintln!(
        "hostile: {count} requests; VmRSS baseline {baseline} KiB, after {after} KiB (delta {} KiB), peak VmHWM {} KiB",
        after as i64 - baseline as i64,
        proc_status_kib("VmHWM:")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        after < baseline + 64 * 1024,
        "memory grew from {baseline} KiB to {after} KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// Slow clients

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_is_cut_off_while_others_are_served() {
    let idp = TestIdp::start().await;
    let server = TestServer::start_with(service(&idp), settings());
    let started = Instant::now();

    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nAction=",
    )
    .await
    .expect("write head");
    let dripping = tokio::spawn(async move {
        // One byte every 300 ms: never finishes inside the 2 s body timeout.
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        for _ in 0..100 {
            if slow.write_all(b"x").await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_millis(300), slow.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut raw)).await;
        String::from_utf8_lossy(&raw).into_owned()
    });

    // Meanwhile ordinary requests are answered.
    for _ in 0..5 {
        assert_healthy(&server, "a slow body in flight").await;
        let answer = exchange(&server, &assume(&idp.sign(&claims(&idp)))).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    let text = tokio::time::timeout(Duration::from_secs(30), dripping)
        .await
        .expect("the slow connection ends")
        .expect("task");
    let elapsed = started.elapsed();
    eprintln!(
        "slow body answered after {elapsed:?}: {}",
        text.lines().next().unwrap_or("")
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(aws_code(&text), Some("RequestTimeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_from_many_connections_do_not_starve_the_server() {
    let idp = TestIdp::start().await;
    let server = TestServer::start_with(service(&idp), settings());
    let started = Instant::now();

    // 200 connections that send half a request line and then nothing.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(b"POST / HTT").await.expect("write");
        idle.push(stream);
    }
    assert_healthy(&server, "200 stalled connections").await;
    let answer = exchange(&server, &assume(&idp.sign(&claims(&idp)))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // The server gives up on them on its own (actix's client request timeout).
    let mut closed = 0;
    for mut stream in idle {
        let mut rest = Vec::new();
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest)).await
        {
            closed += 1;
        }
    }
    eprintln!(
        "stalled headers: {closed}/200 closed by the server after {:?}",
        started.elapsed()
    );
    assert_eq!(closed, 200);
}
