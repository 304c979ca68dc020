//! Fuzzes the IAM policy parser used for session `Policy` parameters and trust policies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd::policy::PolicyDocument;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = PolicyDocument::parse(text) else {
        return;
    };
    let _ = doc.validate_session();
    let _ = doc.validate_trust();
    // The normalised form is what goes into session tokens as `spol`: it must parse again and
    // normalise to itself.
    let normalized = doc.normalized_json();
    let again = PolicyDocument::parse(&normalized)
        .unwrap_or_else(|e| panic!("normalised policy does not parse: {e}\n{normalized}"));
    assert_eq!(again.normalized_json(), normalized);
});
