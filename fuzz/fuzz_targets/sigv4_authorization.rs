//! Fuzzes the SigV4 `Authorization` header parser, the date parser, and parse-then-verify of a
//! whole request as GetCallerIdentity sees it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd::sigv4::parse::parse_amz_date;
use stsd::sigv4::{self, parse_authorization_header, SignedRequest};

/// Input: `METHOD path?query` on the first line, then `name: value` header lines.
fn request(text: &str) -> SignedRequest {
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or(("POST", first));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    SignedRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: sigv4::parse_query(query),
        headers,
        payload_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(header) = parse_authorization_header(text) {
        assert!(!header.credential.access_key_id.is_empty());
        assert!(header
            .signed_headers
            .iter()
            .all(|h| !h.is_empty() && *h == h.to_ascii_lowercase()));
    }
    if let Ok(t) = parse_amz_date(text) {
        assert_eq!(text.len(), 16);
        assert!(t > -62_167_219_201);
    }
    let req = request(text);
    if let Ok(parsed) = sigv4::parse(&req) {
        let _ = parsed.verify(&req, "fuzz-secret", parsed.timestamp);
    }
});
