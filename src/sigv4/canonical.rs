//! SigV4 canonical request, string to sign and signing key (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The only algorithm Signature Version 4 names in headers and query parameters.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The payload hash presigned URLs sign instead of a body digest.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Percent-encodes every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`) as
/// `%XX` with upper-case hex; `/` is kept only when `keep_slash` (path segments).
pub fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// The canonical URI of a path as received (still percent-encoded): decoded once, then each
/// segment encoded again, so `%7E` and `~` or `%20` and a raw space sign alike. This is S3's
/// rule (no dot-segment normalisation, single encoding).
pub fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw_path).collect();
    uri_encode(&decoded, true)
}

/// Query parameters (already percent-decoded) encoded, sorted by encoded name then value, and
/// joined as `name=value&…`.
pub fn canonical_query<'a, I>(pairs: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut encoded: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| {
            (
                uri_encode(k.as_bytes(), false),
                uri_encode(v.as_bytes(), false),
            )
        })
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value as SigV4 canonicalises it: trimmed, inner whitespace runs collapsed to one space.
pub fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request. `headers` are the signed headers, lowercase and in signing order,
/// each with its canonical value (repeated headers already joined with `,`).
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(method);
    out.push('\n');
    out.push_str(canonical_uri);
    out.push('\n');
    out.push_str(canonical_query);
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// `<date>/<region>/<service>/aws4_request`.
pub fn credential_scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hash}")
}

/// The HMAC chain `"AWS4"+secret` → date → region → service → `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> [u8; 32] {
    hmac_sha256(signing_key, string_to_sign.as_bytes())
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so construction cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn encodes_everything_but_unreserved_characters() {
        assert_eq!(uri_encode(b"aZ09-._~", false), "aZ09-._~");
        assert_eq!(uri_encode(b"a b/c+d=e*", false), "a%20b%2Fc%2Bd%3De%2A");
        assert_eq!(uri_encode(b"a b/c", true), "a%20b/c");
        assert_eq!(uri_encode("é".as_bytes(), false), "%C3%A9");
    }

    #[test]
    fn canonical_uri_decodes_once_and_reencodes() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/bucket/a%20b~c"), "/bucket/a%20b~c");
        assert_eq!(canonical_uri("/bucket/a b%7Ec"), "/bucket/a%20b~c");
        assert_eq!(canonical_uri("/bucket/100%"), "/bucket/100%25");
        assert_eq!(canonical_uri("/a/./b//c"), "/a/./b//c");
    }

    #[test]
    fn canonical_query_sorts_by_encoded_name_then_value() {
        let q = canonical_query([
            ("b", "2"),
            ("a", "z"),
            ("a", "y"),
            ("A", "1"),
            ("c d", "e/f"),
        ]);
        assert_eq!(q, "A=1&a=y&a=z&b=2&c%20d=e%2Ff");
        assert_eq!(canonical_query([("acl", "")]), "acl=");
        assert_eq!(canonical_query(std::iter::empty()), "");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(canonical_header_value("  a   b \t c  "), "a b c");
    }

    /// AWS's documented example signing key (IAM user guide, "Examples of how to derive a signing key").
    #[test]
    fn derives_the_documented_signing_key() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
