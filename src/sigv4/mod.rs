//! AWS Signature Version 4 verification over a framework-free request view (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).

pub mod canonical;
pub mod parse;

use std::fmt;

use subtle::ConstantTimeEq;

pub use parse::{
    parse, parse_authorization_header, AuthorizationHeader, CredentialScope, ParsedSignature,
    SignatureLocation,
};

/// How far `X-Amz-Date` may be from the verifier's clock (AWS allows 15 minutes either way).
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// Why a SigV4 request is refused. Messages name the defect, never a header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("the request carries no AWS Signature Version 4 authentication")]
    MissingAuthentication,
    #[error("incomplete signature: {0}")]
    IncompleteSignature(&'static str),
    #[error("the request signature does not match the signature computed with the credentials")]
    SignatureDoesNotMatch,
    #[error("the request has expired or is outside the allowed clock skew")]
    RequestExpired,
}

/// The parts of an HTTP request that SigV4 signs, independent of any HTTP framework.
#[derive(Clone, Default)]
pub struct SignedRequest {
    pub method: String,
    /// The path as received on the wire, still percent-encoded, without the query string.
    pub path: String,
    /// Query parameters, percent-decoded (see [`parse_query`]), in request order.
    pub query: Vec<(String, String)>,
    /// Headers with lowercase names, one entry per value, in request order. `host` must be present
    /// (HTTP/2 callers put the `:authority` here).
    pub headers: Vec<(String, String)>,
    /// Lowercase hex SHA-256 of the body; used unless a signed `x-amz-content-sha256` says otherwise.
    pub payload_sha256: String,
}

impl SignedRequest {
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The header's value; a header that occurs twice is ambiguous and refused.
    fn single_header<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, SigV4Error> {
        let mut values = self.header_values(name);
        match (values.next(), values.next()) {
            (first, None) => Ok(first),
            (Some(_), Some(_)) | (None, Some(_)) => Err(SigV4Error::IncompleteSignature(
                "a signature header is repeated",
            )),
        }
    }

    /// The query parameter's value; a parameter that occurs twice is ambiguous and refused.
    fn single_query(&self, name: &str) -> Result<Option<&str>, SigV4Error> {
        let mut values = self
            .query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (first, None) => Ok(first),
            (Some(_), Some(_)) | (None, Some(_)) => Err(SigV4Error::IncompleteSignature(
                "a signature query parameter is repeated",
            )),
        }
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may hold a session token or a signature: only names are shown.
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field(
                "query",
                &self.query.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Splits a raw query string into percent-decoded pairs, `+` read as a space (as Go's
/// `url.ParseQuery`, which SeaweedFS uses, does).
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A request whose signature verified.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    /// Signing time in Unix seconds.
    pub timestamp: i64,
    pub security_token: Option<String>,
    pub location: SignatureLocation,
}

impl fmt::Debug for VerifiedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedSignature")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("signed_headers", &self.signed_headers)
            .field("timestamp", &self.timestamp)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "***"),
            )
            .field("location", &self.location)
            .finish()
    }
}

/// Parses and verifies `request` with `secret`, `now` in Unix seconds. Callers that must read the
/// access key id or session token first (to find the secret) call [`parse`] and then
/// [`ParsedSignature::verify`].
pub fn verify(
    request: &SignedRequest,
    secret: &str,
    now: i64,
) -> Result<VerifiedSignature, SigV4Error> {
    parse(request)?.verify(request, secret, now)
}

impl ParsedSignature {
    /// Checks the signing time against `now`, then the signature (in constant time).
    pub fn verify(
        &self,
        request: &SignedRequest,
        secret: &str,
        now: i64,
    ) -> Result<VerifiedSignature, SigV4Error> {
        self.verify_payload(request, secret, now, PayloadBinding::AsSigned)
    }

    /// [`Self::verify`] for a service whose parameters may travel in the body (STS): the signature
    /// must cover the body actually received. A signed `x-amz-content-sha256` must equal the
    /// body's digest, and `UNSIGNED-PAYLOAD` is refused (AWS STS computes the canonical request
    /// over the body it got, so neither would verify there either).
    pub fn verify_with_body(
        &self,
        request: &SignedRequest,
        secret: &str,
        now: i64,
    ) -> Result<VerifiedSignature, SigV4Error> {
        if let Some(declared) = request.header_values("x-amz-content-sha256").next() {
            let declared = declared.trim();
            if !declared.eq_ignore_ascii_case(&request.payload_sha256) {
                return Err(SigV4Error::SignatureDoesNotMatch);
            }
        }
        self.verify_payload(request, secret, now, PayloadBinding::Body)
    }

    fn verify_payload(
        &self,
        request: &SignedRequest,
        secret: &str,
        now: i64,
        binding: PayloadBinding,
    ) -> Result<VerifiedSignature, SigV4Error> {
        match self.location {
            SignatureLocation::Header => {
                if now.abs_diff(self.timestamp) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
                    return Err(SigV4Error::RequestExpired);
                }
            }
            SignatureLocation::Query { expires } => {
                // The timestamp is a four-digit-year date and `expires` at most a week, so
                // neither sum overflows; `now` is the caller's and may be anything.
                if now > self.timestamp + expires || now < self.timestamp - MAX_CLOCK_SKEW_SECS {
                    return Err(SigV4Error::RequestExpired);
                }
            }
        }

        let mut matched = subtle::Choice::from(0);
        let hashes = match binding {
            PayloadBinding::AsSigned => payload_hashes(request, self.location),
            PayloadBinding::Body => vec![request.payload_sha256.as_str()],
        };
        for payload_hash in hashes {
            let computed = compute_signature(request, self, payload_hash, secret);
            matched |= computed.ct_eq(&self.signature);
        }
        if !bool::from(matched) {
            return Err(SigV4Error::SignatureDoesNotMatch);
        }
        Ok(VerifiedSignature {
            access_key_id: self.credential.access_key_id.clone(),
            region: self.credential.region.clone(),
            service: self.credential.service.clone(),
            signed_headers: self.signed_headers.clone(),
            timestamp: self.timestamp,
            security_token: self.security_token.clone(),
            location: self.location,
        })
    }
}

/// Which payload hashes a signature may have been computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayloadBinding {
    /// Whatever the request declares: a signed `x-amz-content-sha256` (which S3 clients may set to
    /// `UNSIGNED-PAYLOAD`), or for presigned URLs `UNSIGNED-PAYLOAD` or the body digest.
    AsSigned,
    /// Only the digest of the body received.
    Body,
}

/// The payload hashes a legitimate client may have signed: a signed `x-amz-content-sha256`
/// (S3 clients) wins; presigned URLs carry `UNSIGNED-PAYLOAD` (botocore) or the body digest
/// (AWS SDK for Go v1 outside S3).
fn payload_hashes(request: &SignedRequest, location: SignatureLocation) -> Vec<&str> {
    if let Some(value) = request.header_values("x-amz-content-sha256").next() {
        return vec![value.trim()];
    }
    match location {
        SignatureLocation::Header => vec![request.payload_sha256.as_str()],
        SignatureLocation::Query { .. } => {
            vec![canonical::UNSIGNED_PAYLOAD, request.payload_sha256.as_str()]
        }
    }
}

/// The canonical request of `request` as `parsed` describes its signing.
pub fn canonical_request_of(
    request: &SignedRequest,
    parsed: &ParsedSignature,
    payload_hash: &str,
) -> String {
    let presigned = matches!(parsed.location, SignatureLocation::Query { .. });
    let query = canonical::canonical_query(
        request
            .query
            .iter()
            .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let headers: Vec<(String, String)> = parsed
        .signed_headers
        .iter()
        .map(|name| {
            let values: Vec<String> = request
                .header_values(name)
                .map(canonical::canonical_header_value)
                .collect();
            (name.clone(), values.join(","))
        })
        .collect();
    canonical::canonical_request(
        &request.method,
        &canonical::canonical_uri(&request.path),
        &query,
        &headers,
        payload_hash,
    )
}

fn compute_signature(
    request: &SignedRequest,
    parsed: &ParsedSignature,
    payload_hash: &str,
    secret: &str,
) -> [u8; 32] {
    let scope = &parsed.credential;
    let canonical_request = canonical_request_of(request, parsed, payload_hash);
    let string_to_sign = canonical::string_to_sign(
        &parsed.amz_date,
        &canonical::credential_scope(&scope.date, &scope.region, &scope.service),
        &canonical_request,
    );
    let key = canonical::signing_key(secret, &scope.date, &scope.region, &scope.service);
    canonical::signature(&key, &string_to_sign)
}

/// Client side: the `Authorization` value for `request`, signed at its `x-amz-date` header with
/// the given headers (lowercase, sorted). For tests and tools that call stsd.
pub fn authorization_header(
    request: &SignedRequest,
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
    signed_headers: &[&str],
) -> Result<String, SigV4Error> {
    let amz_date = request
        .single_header("x-amz-date")?
        .ok_or(SigV4Error::IncompleteSignature(
            "x-amz-date header is missing",
        ))?
        .trim()
        .to_owned();
    let timestamp = parse::parse_amz_date(&amz_date)?;
    let parsed = ParsedSignature {
        location: SignatureLocation::Header,
        credential: CredentialScope {
            access_key_id: access_key_id.to_owned(),
            date: amz_date[..8].to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        },
        signed_headers: signed_headers.iter().map(|h| (*h).to_owned()).collect(),
        signature: [0; 32],
        amz_date,
        timestamp,
        security_token: None,
    };
    let payload_hash = payload_hashes(request, SignatureLocation::Header)[0];
    let signature = compute_signature(request, &parsed, payload_hash, secret);
    Ok(format!(
        "{} Credential={access_key_id}/{}, SignedHeaders={}, Signature={}",
        canonical::ALGORITHM,
        canonical::credential_scope(&parsed.credential.date, region, service),
        signed_headers.join(";"),
        hex::encode(signature)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
