//! Parsing of SigV4 `Authorization` headers and presigned query parameters, before any verification.

use std::fmt;

use super::canonical::ALGORITHM;
use super::{SigV4Error, SignedRequest};

/// Presigned URLs may live at most seven days (AWS's limit).
pub const MAX_PRESIGNED_EXPIRES: i64 = 7 * 24 * 3600;

/// `Credential=<access key>/<yyyymmdd>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

/// The three parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    pub credential: CredentialScope,
    pub signed_headers: Vec<String>,
    pub signature: [u8; 32],
}

/// Where the signature travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureLocation {
    Header,
    /// A presigned URL, valid for `expires` seconds from its `X-Amz-Date`.
    Query {
        expires: i64,
    },
}

/// Everything a verifier needs from a request, read without knowing the secret. The caller takes
/// the access key id and the session token from here to find (or derive) the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    pub location: SignatureLocation,
    pub credential: CredentialScope,
    pub signed_headers: Vec<String>,
    pub signature: [u8; 32],
    /// `X-Amz-Date` as sent (`yyyymmddThhmmssZ`).
    pub amz_date: String,
    /// `amz_date` in Unix seconds.
    pub timestamp: i64,
    /// `X-Amz-Security-Token` from the header, or from the query string.
    pub security_token: Option<String>,
}

impl ParsedSignature {
    pub fn access_key_id(&self) -> &str {
        &self.credential.access_key_id
    }

    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
}

impl fmt::Debug for ParsedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedSignature")
            .field("location", &self.location)
            .field("credential", &self.credential)
            .field("signed_headers", &self.signed_headers)
            .field("amz_date", &self.amz_date)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "***"),
            )
            .finish_non_exhaustive()
    }
}

fn incomplete(detail: &'static str) -> SigV4Error {
    SigV4Error::IncompleteSignature(detail)
}

/// Parses the value of an `Authorization` header. Parameters may come in any order, separated by
/// commas with optional spaces; each must appear exactly once.
pub fn parse_authorization_header(value: &str) -> Result<AuthorizationHeader, SigV4Error> {
    let rest = value
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or(incomplete("Authorization does not use AWS4-HMAC-SHA256"))?;
    if !rest.starts_with(' ') {
        return Err(incomplete("Authorization does not use AWS4-HMAC-SHA256"));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(incomplete("Authorization parameter without a value"))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(incomplete("unknown Authorization parameter")),
        };
        if slot.replace(value).is_some() {
            return Err(incomplete("repeated Authorization parameter"));
        }
    }
    Ok(AuthorizationHeader {
        credential: parse_credential(credential.ok_or(incomplete("Credential is missing"))?)?,
        signed_headers: parse_signed_headers(
            signed_headers.ok_or(incomplete("SignedHeaders is missing"))?,
        )?,
        signature: parse_signature(signature.ok_or(incomplete("Signature is missing"))?)?,
    })
}

/// `AK/yyyymmdd/region/service/aws4_request`. Split from the right so the scope stays exact.
pub fn parse_credential(value: &str) -> Result<CredentialScope, SigV4Error> {
    let mut parts = value.rsplitn(5, '/');
    let (Some(terminator), Some(service), Some(region), Some(date), Some(access_key_id)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(incomplete(
            "Credential is not AK/date/region/service/aws4_request",
        ));
    };
    if terminator != "aws4_request" {
        return Err(incomplete("Credential scope does not end in aws4_request"));
    }
    if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(incomplete("Credential has an empty part"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete("Credential date is not yyyymmdd"));
    }
    Ok(CredentialScope {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

/// `a;b;c`: non-empty names, lowercased (the canonical request uses lowercase names).
pub fn parse_signed_headers(value: &str) -> Result<Vec<String>, SigV4Error> {
    let names: Vec<String> = value.split(';').map(str::to_ascii_lowercase).collect();
    if names.iter().any(|n| n.is_empty() || n.trim() != n) {
        return Err(incomplete("SignedHeaders has an empty or padded name"));
    }
    Ok(names)
}

/// 64 hex digits.
pub fn parse_signature(value: &str) -> Result<[u8; 32], SigV4Error> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(value, &mut out)
        .map_err(|_| incomplete("Signature is not 64 hex digits"))?;
    Ok(out)
}

/// `yyyymmddThhmmssZ` to Unix seconds.
pub fn parse_amz_date(value: &str) -> Result<i64, SigV4Error> {
    let bad = || incomplete("X-Amz-Date is not yyyymmddThhmmssZ");
    let b = value.as_bytes();
    if !value.is_ascii() || b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let digits = |range: std::ops::Range<usize>| -> Result<u32, SigV4Error> {
        let s = &value[range];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let year = i32::try_from(digits(0..4)?).map_err(|_| bad())?;
    let month = u8::try_from(digits(4..6)?)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let day = u8::try_from(digits(6..8)?).map_err(|_| bad())?;
    let hour = u8::try_from(digits(9..11)?).map_err(|_| bad())?;
    let minute = u8::try_from(digits(11..13)?).map_err(|_| bad())?;
    let second = u8::try_from(digits(13..15)?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let time = time::Time::from_hms(hour, minute, second).map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp())
}

/// Reads the signature parameters of `request` from its `Authorization` header or, for a
/// presigned URL, its query string; checks that they are complete and that every `x-amz-*`
/// header is signed. Nothing here needs the secret.
pub fn parse(request: &SignedRequest) -> Result<ParsedSignature, SigV4Error> {
    let authorization = request.single_header("authorization")?;
    let presigned = request.query.iter().any(|(k, _)| k == "X-Amz-Algorithm");
    let parsed = match (authorization, presigned) {
        (Some(_), true) => {
            return Err(incomplete(
                "both an Authorization header and presigned query parameters",
            ))
        }
        (None, false) => return Err(SigV4Error::MissingAuthentication),
        (Some(value), false) => parse_header_signature(request, value)?,
        (None, true) => parse_query_signature(request)?,
    };

    if !parsed.signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("host is not a signed header"));
    }
    if parsed.credential.date != parsed.amz_date[..8] {
        return Err(incomplete("Credential date differs from X-Amz-Date"));
    }
    // An unsigned x-amz-* header (the session token above all) could be swapped by anyone who
    // sees the request; SeaweedFS refuses such requests and so does this parser.
    let unsigned_amz = request.headers.iter().any(|(name, _)| {
        name.starts_with("x-amz-") && !parsed.signed_headers.iter().any(|h| h == name)
    });
    if unsigned_amz {
        return Err(incomplete("an x-amz-* header is not signed"));
    }
    for name in &parsed.signed_headers {
        if request.header_values(name).next().is_none() {
            return Err(incomplete("a signed header is missing from the request"));
        }
    }
    Ok(parsed)
}

fn parse_header_signature(
    request: &SignedRequest,
    value: &str,
) -> Result<ParsedSignature, SigV4Error> {
    let header = parse_authorization_header(value)?;
    let amz_date = request
        .single_header("x-amz-date")?
        .ok_or(incomplete("x-amz-date header is missing"))?
        .trim()
        .to_owned();
    if !header.signed_headers.iter().any(|h| h == "x-amz-date") {
        return Err(incomplete("x-amz-date is not a signed header"));
    }
    let timestamp = parse_amz_date(&amz_date)?;
    let security_token = match request.single_header("x-amz-security-token")? {
        Some(token) => Some(token.trim().to_owned()),
        None => request
            .single_query("X-Amz-Security-Token")?
            .map(str::to_owned),
    };
    Ok(ParsedSignature {
        location: SignatureLocation::Header,
        credential: header.credential,
        signed_headers: header.signed_headers,
        signature: header.signature,
        amz_date,
        timestamp,
        security_token,
    })
}

fn parse_query_signature(request: &SignedRequest) -> Result<ParsedSignature, SigV4Error> {
    let required = |name: &'static str, missing: &'static str| {
        request.single_query(name)?.ok_or(incomplete(missing))
    };
    if required("X-Amz-Algorithm", "X-Amz-Algorithm is missing")? != ALGORITHM {
        return Err(incomplete("X-Amz-Algorithm is not AWS4-HMAC-SHA256"));
    }
    let credential =
        parse_credential(required("X-Amz-Credential", "X-Amz-Credential is missing")?)?;
    let amz_date = required("X-Amz-Date", "X-Amz-Date is missing")?.to_owned();
    let timestamp = parse_amz_date(&amz_date)?;
    let signed_headers = parse_signed_headers(required(
        "X-Amz-SignedHeaders",
        "X-Amz-SignedHeaders is missing",
    )?)?;
    let signature = parse_signature(required("X-Amz-Signature", "X-Amz-Signature is missing")?)?;
    let expires = required("X-Amz-Expires", "X-Amz-Expires is missing")?;
    let expires = if expires.bytes().all(|b| b.is_ascii_digit()) {
        expires.parse::<i64>().ok()
    } else {
        None
    }
    .filter(|e| (1..=MAX_PRESIGNED_EXPIRES).contains(e))
    .ok_or(incomplete("X-Amz-Expires is not between 1 and 604800"))?;
    let security_token = match request.single_query("X-Amz-Security-Token")? {
        Some(token) => Some(token.to_owned()),
        None => request
            .single_header("x-amz-security-token")?
            .map(|t| t.trim().to_owned()),
    };
    Ok(ParsedSignature {
        location: SignatureLocation::Query { expires },
        credential,
        signed_headers,
        signature,
        amz_date,
        timestamp,
        security_token,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIG: &str = "6127272857bc157cf7289141eb5d517a467b114811ae41459b81617d421577a1";

    #[test]
    fn parses_the_authorization_header_of_the_vector() {
        let value = format!(
            "AWS4-HMAC-SHA256 Credential=ASIAa80cb9b4919860c6/20260101/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature={SIG}"
        );
        let h = parse_authorization_header(&value).unwrap();
        assert_eq!(h.credential.access_key_id, "ASIAa80cb9b4919860c6");
        assert_eq!(h.credential.date, "20260101");
        assert_eq!(h.credential.region, "us-east-1");
        assert_eq!(h.credential.service, "s3");
        assert_eq!(
            h.signed_headers,
            [
                "host",
                "x-amz-content-sha256",
                "x-amz-date",
                "x-amz-security-token"
            ]
        );
        assert_eq!(hex::encode(h.signature), SIG);
    }

    #[test]
    fn tolerates_order_and_spacing() {
        let value = format!(
            "AWS4-HMAC-SHA256 Signature={SIG},SignedHeaders=host;x-amz-date,  Credential=AK/20260101/r/s/aws4_request"
        );
        assert!(parse_authorization_header(&value).is_ok());
    }

    #[test]
    fn rejects_incomplete_headers() {
        let good_cred = "Credential=AK/20260101/r/s/aws4_request";
        let cases = [
            String::new(),
            "AWS4-HMAC-SHA256".into(),
            format!("AWS AK:{SIG}"),
            format!("AWS4-HMAC-SHA256X {good_cred}, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 {good_cred}, SignedHeaders=host"),
            format!("AWS4-HMAC-SHA256 {good_cred}, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 {good_cred}, {good_cred}, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 {good_cred}, SignedHeaders=host, Signature={SIG}, Extra=1"),
            format!("AWS4-HMAC-SHA256 {good_cred}, SignedHeaders=host, Signature"),
            format!("AWS4-HMAC-SHA256 {good_cred}, SignedHeaders=host;;x, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 {good_cred}, SignedHeaders=host, Signature=abc"),
            format!("AWS4-HMAC-SHA256 {good_cred}, SignedHeaders=host, Signature={SIG}0"),
            format!("AWS4-HMAC-SHA256 Credential=AK/20260101/r/s/aws5_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=AK/2026011/r/s/aws4_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=/20260101/r/s/aws4_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=20260101/r/s/aws4_request, SignedHeaders=host, Signature={SIG}"),
        ];
        for value in cases {
            assert!(
                matches!(
                    parse_authorization_header(&value),
                    Err(SigV4Error::IncompleteSignature(_))
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn parses_amz_dates_strictly() {
        assert_eq!(parse_amz_date("20260101T000500Z").unwrap(), 1_767_225_900);
        for bad in [
            "",
            "20260101T000500",
            "20260101 000500Z",
            "20261301T000000Z",
            "20260230T000000Z",
            "20260101T250000Z",
            "2026010AT000000Z",
            "+2026010T000000Z",
            "20260101T000500Zé",
            "é0260101T00050Z",
        ] {
            assert!(
                matches!(parse_amz_date(bad), Err(SigV4Error::IncompleteSignature(_))),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn header_parser_never_panics(s in "\\PC*") {
            let _ = parse_authorization_header(&s);
            let _ = parse_amz_date(&s);
            let _ = parse_credential(&s);
        }

        #[test]
        fn header_parser_never_panics_on_near_misses(
            cred in "[A-Za-z0-9/_-]{0,60}",
            headers in "[a-z;-]{0,40}",
            sig in "[0-9a-fA-Fz]{0,70}",
            sep in "[ ,]{0,3}",
        ) {
            let value = format!("AWS4-HMAC-SHA256 Credential={cred}{sep}SignedHeaders={headers},Signature={sig}");
            let _ = parse_authorization_header(&value);
        }
    }
}
