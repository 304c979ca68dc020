//! Fuzzes the IAM policy parser used for session `Policy` parameters and trust policies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stsd::policy::PolicyDocument;

/// Go writes an absent Action/Resource as `null`, which the parser (rightly) refuses as input.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = PolicyDocument::parse(text) else {
        return;
    };
    let _ = doc.validate_session();
    let _ = doc.validate_trust();
    // The normalised form is what goes into session tokens as `spol`: valid JSON that, read
    // back, normalises to itself.
    let normalized = doc.normalized_json();
    let mut value: Value = serde_json::from_str(&normalized)
        .unwrap_or_else(|e| panic!("normalised policy is not JSON: {e}\n{normalized}"));
    strip_nulls(&mut value);
    let again = PolicyDocument::from_value(&value)
        .unwrap_or_else(|e| panic!("normalised policy does not parse: {e}\n{normalized}"));
    assert_eq!(again.normalized_json(), normalized);
});
