//! Fuzzes the untrusted compact-JWS parser that every web identity token goes through first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd::providers::{Jws, JwsAlgorithm};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jws) = Jws::parse(text) {
        // What was accepted must be what verification signs over: header and payload of the
        // trimmed token, with exactly one more segment after them.
        let trimmed = text.trim();
        let input = jws.signing_input();
        assert!(trimmed.starts_with(input));
        assert_eq!(trimmed[input.len()..].matches('.').count(), 1);
        assert_eq!(jws.header().get("alg").and_then(|v| v.as_str()), Some(jws.alg()));
        assert!(!jws.header().contains_key("crit"));
        let _ = jws.alg().parse::<JwsAlgorithm>();
        let _ = jws.kid();
        let _ = jws.unverified_issuer();
        let _ = format!("{jws:?}");
    }
});
