use sha2::{Digest, Sha256};

use super::*;
use crate::session::vectors::{vector_key, ISSUER, SID, VECTOR_TOKEN};
use crate::session::{derive_credentials, SecretDerivation, SessionKeys};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const VECTOR_SIGNATURE: &str = "6127272857bc157cf7289141eb5d517a467b114811ae41459b81617d421577a1";
const VECTOR_SIGNED_HEADERS: &str = "host;x-amz-content-sha256;x-amz-date;x-amz-security-token";
/// 2026-01-01T00:05:00Z, the vector's X-Amz-Date.
const VECTOR_TIME: i64 = 1_767_225_900;

fn vector_authorization(signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=ASIAa80cb9b4919860c6/20260101/us-east-1/s3/aws4_request, \
         SignedHeaders={VECTOR_SIGNED_HEADERS}, Signature={signature}"
    )
}

/// The S3 request of seaweedfs-sts.md §10.4.
fn vector_request() -> SignedRequest {
    SignedRequest {
        method: "GET".into(),
        path: "/test-bucket/hello.txt".into(),
        query: Vec::new(),
        headers: vec![
            ("host".into(), "localhost:8333".into()),
            ("x-amz-date".into(), "20260101T000500Z".into()),
            ("x-amz-content-sha256".into(), EMPTY_SHA256.into()),
            ("x-amz-security-token".into(), VECTOR_TOKEN.into()),
            (
                "authorization".into(),
                vector_authorization(VECTOR_SIGNATURE),
            ),
            ("user-agent".into(), "test".into()),
        ],
        payload_sha256: EMPTY_SHA256.into(),
    }
}

fn vector_secret() -> String {
    derive_credentials(SID, SecretDerivation::SeaweedFsLegacy, &vector_key())
        .secret_access_key
        .expose()
        .to_owned()
}

fn set_header(request: &mut SignedRequest, name: &str, value: &str) {
    request.headers.retain(|(n, _)| n != name);
    request.headers.push((name.into(), value.into()));
}

#[test]
fn reproduces_the_vector_canonical_request_and_signature() {
    let request = vector_request();
    let parsed = parse(&request).unwrap();
    let canonical = canonical_request_of(&request, &parsed, EMPTY_SHA256);
    assert_eq!(
        hex::encode(Sha256::digest(canonical.as_bytes())),
        "d6cf4db355bf0768cc5ff070ebaf03ea179e5170c30b27a5ff1c6c696654b235"
    );
    let header = authorization_header(
        &request,
        "ASIAa80cb9b4919860c6",
        &vector_secret(),
        "us-east-1",
        "s3",
        &VECTOR_SIGNED_HEADERS.split(';').collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(header, vector_authorization(VECTOR_SIGNATURE));
}

/// The gateway's whole path: read the token before verifying, verify it, derive the secret
/// from its `sid`, check the access key, then the signature.
#[test]
fn verifies_the_vector_with_credentials_derived_from_its_token() {
    let request = vector_request();
    let parsed = parse(&request).unwrap();
    assert_eq!(parsed.access_key_id(), "ASIAa80cb9b4919860c6");
    assert_eq!(parsed.security_token(), Some(VECTOR_TOKEN));

    let keys = SessionKeys::new(ISSUER, vector_key(), Vec::new());
    let claims = keys.verify(VECTOR_TOKEN, VECTOR_TIME).unwrap();
    let creds = derive_credentials(
        &claims.sid,
        SecretDerivation::SeaweedFsLegacy,
        &keys.current,
    );
    assert_eq!(creds.access_key_id, parsed.access_key_id());

    let verified = parsed
        .verify(&request, creds.secret_access_key.expose(), VECTOR_TIME)
        .unwrap();
    assert_eq!(verified.access_key_id, "ASIAa80cb9b4919860c6");
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(verified.service, "s3");
    assert_eq!(verified.timestamp, VECTOR_TIME);
    assert_eq!(verified.location, SignatureLocation::Header);
    assert_eq!(verified.signed_headers.join(";"), VECTOR_SIGNED_HEADERS);
    assert_eq!(verified.security_token.as_deref(), Some(VECTOR_TOKEN));
}

#[test]
fn one_changed_signature_byte_does_not_match() {
    let mut request = vector_request();
    let mut altered = VECTOR_SIGNATURE.to_owned();
    altered.replace_range(63.., "0");
    set_header(
        &mut request,
        "authorization",
        &vector_authorization(&altered),
    );
    assert_eq!(
        verify(&request, &vector_secret(), VECTOR_TIME),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn another_secret_or_a_changed_request_does_not_match() {
    assert_eq!(
        verify(&vector_request(), "not-the-secret", VECTOR_TIME),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    let mut other_path = vector_request();
    other_path.path = "/test-bucket/other.txt".into();
    let mut other_method = vector_request();
    other_method.method = "PUT".into();
    let mut other_query = vector_request();
    other_query.query.push(("versionId".into(), "1".into()));
    let mut other_host = vector_request();
    set_header(&mut other_host, "host", "evil:8333");
    for request in [other_path, other_method, other_query, other_host] {
        assert_eq!(
            verify(&request, &vector_secret(), VECTOR_TIME),
            Err(SigV4Error::SignatureDoesNotMatch),
            "{request:?}"
        );
    }
}

#[test]
fn an_unsigned_security_token_header_is_incomplete() {
    let mut request = vector_request();
    set_header(
        &mut request,
        "authorization",
        &vector_authorization(VECTOR_SIGNATURE).replace(
            VECTOR_SIGNED_HEADERS,
            "host;x-amz-content-sha256;x-amz-date",
        ),
    );
    assert!(matches!(
        parse(&request),
        Err(SigV4Error::IncompleteSignature(_))
    ));
    assert!(matches!(
        verify(&request, &vector_secret(), VECTOR_TIME),
        Err(SigV4Error::IncompleteSignature(_))
    ));
}

#[test]
fn host_and_x_amz_date_must_be_signed() {
    for signed in [
        "x-amz-content-sha256;x-amz-date;x-amz-security-token",
        "host;x-amz-content-sha256;x-amz-security-token",
    ] {
        let mut request = vector_request();
        set_header(
            &mut request,
            "authorization",
            &vector_authorization(VECTOR_SIGNATURE).replace(VECTOR_SIGNED_HEADERS, signed),
        );
        assert!(
            matches!(parse(&request), Err(SigV4Error::IncompleteSignature(_))),
            "{signed}"
        );
    }
}

#[test]
fn missing_or_ambiguous_parts_are_incomplete() {
    let mut no_date = vector_request();
    no_date.headers.retain(|(n, _)| n != "x-amz-date");
    let mut signed_but_absent = vector_request();
    signed_but_absent
        .headers
        .retain(|(n, _)| n != "x-amz-content-sha256");
    let mut two_auth = vector_request();
    two_auth.headers.push((
        "authorization".into(),
        vector_authorization(VECTOR_SIGNATURE),
    ));
    let mut scope_mismatch = vector_request();
    set_header(&mut scope_mismatch, "x-amz-date", "20260102T000500Z");
    let mut both = vector_request();
    both.query
        .push(("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()));
    let mut bad_date = vector_request();
    set_header(&mut bad_date, "x-amz-date", "2026-01-01T00:05:00Z");
    for request in [
        no_date,
        signed_but_absent,
        two_auth,
        scope_mismatch,
        both,
        bad_date,
    ] {
        assert!(
            matches!(parse(&request), Err(SigV4Error::IncompleteSignature(_))),
            "{request:?}"
        );
    }
}

#[test]
fn no_signature_at_all_is_missing_authentication() {
    let mut request = vector_request();
    request.headers.retain(|(n, _)| n != "authorization");
    assert_eq!(parse(&request), Err(SigV4Error::MissingAuthentication));
}

#[test]
fn dates_outside_fifteen_minutes_are_expired() {
    let request = vector_request();
    let secret = vector_secret();
    assert!(verify(&request, &secret, VECTOR_TIME + MAX_CLOCK_SKEW_SECS).is_ok());
    assert!(verify(&request, &secret, VECTOR_TIME - MAX_CLOCK_SKEW_SECS).is_ok());
    assert_eq!(
        verify(&request, &secret, VECTOR_TIME + MAX_CLOCK_SKEW_SECS + 1),
        Err(SigV4Error::RequestExpired)
    );
    assert_eq!(
        verify(&request, &secret, VECTOR_TIME - MAX_CLOCK_SKEW_SECS - 1),
        Err(SigV4Error::RequestExpired)
    );
}

/// AWS's presigned-URL example (S3 API reference, "Authenticating Requests: Using Query
/// Parameters"), signed with the documentation's example credentials.
fn aws_presigned_example() -> SignedRequest {
    SignedRequest {
        method: "GET".into(),
        path: "/test.txt".into(),
        query: parse_query(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        ),
        headers: vec![("host".into(), "examplebucket.s3.amazonaws.com".into())],
        payload_sha256: EMPTY_SHA256.into(),
    }
}

const AWS_EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2013-05-24T00:00:00Z.
const AWS_EXAMPLE_TIME: i64 = 1_369_353_600;

#[test]
fn verifies_the_aws_presigned_url_example_until_it_expires() {
    let request = aws_presigned_example();
    let verified = verify(&request, AWS_EXAMPLE_SECRET, AWS_EXAMPLE_TIME + 60).unwrap();
    assert_eq!(verified.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(
        verified.location,
        SignatureLocation::Query { expires: 86_400 }
    );
    assert_eq!(verified.security_token, None);
    assert!(verify(&request, AWS_EXAMPLE_SECRET, AWS_EXAMPLE_TIME + 86_400).is_ok());
    assert_eq!(
        verify(&request, AWS_EXAMPLE_SECRET, AWS_EXAMPLE_TIME + 86_401),
        Err(SigV4Error::RequestExpired)
    );
    assert_eq!(
        verify(
            &request,
            AWS_EXAMPLE_SECRET,
            AWS_EXAMPLE_TIME - MAX_CLOCK_SKEW_SECS - 1
        ),
        Err(SigV4Error::RequestExpired)
    );
}

/// AWS's header-signed GET example from the same reference ("Example: GET Object").
#[test]
fn verifies_the_aws_get_object_example() {
    let request = SignedRequest {
        method: "GET".into(),
        path: "/test.txt".into(),
        query: Vec::new(),
        headers: vec![
            ("host".into(), "examplebucket.s3.amazonaws.com".into()),
            ("range".into(), "bytes=0-9".into()),
            ("x-amz-content-sha256".into(), EMPTY_SHA256.into()),
            ("x-amz-date".into(), "20130524T000000Z".into()),
            (
                "authorization".into(),
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
                    .into(),
            ),
        ],
        payload_sha256: EMPTY_SHA256.into(),
    };
    assert!(verify(&request, AWS_EXAMPLE_SECRET, AWS_EXAMPLE_TIME).is_ok());
}

/// A presigned URL carrying a session token, signed the way botocore presigns (payload
/// `UNSIGNED-PAYLOAD`, token in the signed query).
fn presigned_with_token(payload_hash: &str) -> SignedRequest {
    let mut request = SignedRequest {
        method: "GET".into(),
        path: "/test-bucket/hello world.txt".into(),
        query: vec![
            ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
            (
                "X-Amz-Credential".into(),
                "ASIAa80cb9b4919860c6/20260101/us-east-1/s3/aws4_request".into(),
            ),
            ("X-Amz-Date".into(), "20260101T000500Z".into()),
            ("X-Amz-Expires".into(), "3600".into()),
            ("X-Amz-SignedHeaders".into(), "host".into()),
            ("X-Amz-Security-Token".into(), VECTOR_TOKEN.into()),
        ],
        headers: vec![("host".into(), "localhost:8333".into())],
        payload_sha256: EMPTY_SHA256.into(),
    };
    let parsed = ParsedSignature {
        location: SignatureLocation::Query { expires: 3600 },
        credential: parse::parse_credential(
            "ASIAa80cb9b4919860c6/20260101/us-east-1/s3/aws4_request",
        )
        .unwrap(),
        signed_headers: vec!["host".into()],
        signature: [0; 32],
        amz_date: "20260101T000500Z".into(),
        timestamp: VECTOR_TIME,
        security_token: None,
    };
    let signature = compute_signature(&request, &parsed, payload_hash, &vector_secret());
    request
        .query
        .push(("X-Amz-Signature".into(), hex::encode(signature)));
    request
}

#[test]
fn verifies_a_presigned_url_with_a_session_token() {
    for payload_hash in [canonical::UNSIGNED_PAYLOAD, EMPTY_SHA256] {
        let request = presigned_with_token(payload_hash);
        let parsed = parse(&request).unwrap();
        assert_eq!(parsed.security_token(), Some(VECTOR_TOKEN));
        let verified = parsed
            .verify(&request, &vector_secret(), VECTOR_TIME + 3000)
            .unwrap();
        assert_eq!(verified.security_token.as_deref(), Some(VECTOR_TOKEN));
        assert_eq!(
            parsed.verify(&request, &vector_secret(), VECTOR_TIME + 3601),
            Err(SigV4Error::RequestExpired)
        );
    }
}

#[test]
fn a_presigned_url_with_a_swapped_token_does_not_match() {
    let mut request = presigned_with_token(canonical::UNSIGNED_PAYLOAD);
    for (k, v) in &mut request.query {
        if k == "X-Amz-Security-Token" {
            v.push('x');
        }
    }
    assert_eq!(
        verify(&request, &vector_secret(), VECTOR_TIME),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn presigned_parameters_must_be_complete_and_sane() {
    let edits: [(&str, Option<&str>); 9] = [
        ("X-Amz-Algorithm", Some("AWS4-HMAC-SHA1")),
        ("X-Amz-Expires", Some("0")),
        ("X-Amz-Expires", Some("604801")),
        ("X-Amz-Expires", Some("-5")),
        ("X-Amz-Expires", None),
        ("X-Amz-Credential", None),
        ("X-Amz-Signature", None),
        ("X-Amz-SignedHeaders", Some("x-amz-date")),
        ("X-Amz-Date", Some("20260101")),
    ];
    for (name, value) in edits {
        let mut request = presigned_with_token(canonical::UNSIGNED_PAYLOAD);
        request.query.retain(|(k, _)| k != name);
        if let Some(v) = value {
            request.query.push((name.into(), v.into()));
        }
        assert!(
            matches!(parse(&request), Err(SigV4Error::IncompleteSignature(_))),
            "{name} = {value:?}"
        );
    }
    let mut repeated = presigned_with_token(canonical::UNSIGNED_PAYLOAD);
    repeated
        .query
        .push(("X-Amz-Signature".into(), VECTOR_SIGNATURE.into()));
    assert!(matches!(
        parse(&repeated),
        Err(SigV4Error::IncompleteSignature(_))
    ));

    let mut unsigned_header = presigned_with_token(canonical::UNSIGNED_PAYLOAD);
    unsigned_header
        .headers
        .push(("x-amz-security-token".into(), VECTOR_TOKEN.into()));
    assert!(matches!(
        parse(&unsigned_header),
        Err(SigV4Error::IncompleteSignature(_))
    ));
}

#[test]
fn parse_query_decodes_percent_and_plus() {
    assert_eq!(
        parse_query("a=b%2Fc&d+e=f+g&h"),
        [
            ("a".to_owned(), "b/c".to_owned()),
            ("d e".to_owned(), "f g".to_owned()),
            ("h".to_owned(), String::new())
        ]
    );
}

#[test]
fn debug_output_hides_tokens_and_signatures() {
    let request = vector_request();
    let parsed = parse(&request).unwrap();
    let verified = parsed
        .verify(&request, &vector_secret(), VECTOR_TIME)
        .unwrap();
    for text in [
        format!("{request:?}"),
        format!("{parsed:?}"),
        format!("{verified:?}"),
    ] {
        assert!(!text.contains(VECTOR_TOKEN), "{text}");
        assert!(!text.contains(VECTOR_SIGNATURE), "{text}");
    }
}

proptest::proptest! {
    #[test]
    fn parse_and_verify_never_panic(
        authorization in "\\PC{0,200}",
        amz_date in "[0-9TZ]{0,20}",
        query in proptest::collection::vec(("[A-Za-z-]{0,20}", "\\PC{0,40}"), 0..6),
        path in "\\PC{0,40}",
        now in proptest::num::i64::ANY,
    ) {
        let mut request = vector_request();
        set_header(&mut request, "authorization", &authorization);
        set_header(&mut request, "x-amz-date", &amz_date);
        request.query = query;
        request.path = path;
        let _ = verify(&request, "secret", now);
        request.headers.retain(|(n, _)| n != "authorization");
        request.query.push(("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()));
        let _ = verify(&request, "secret", now);
    }

    #[test]
    fn presigned_verification_never_panics_on_any_clock(now in proptest::num::i64::ANY) {
        let request = presigned_with_token(canonical::UNSIGNED_PAYLOAD);
        let _ = verify(&request, &vector_secret(), now);
        let _ = verify(&vector_request(), &vector_secret(), now);
    }
}
