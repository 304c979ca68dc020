//! Fuzzes the query-string/form parser, the Action dispatch behind it, and the JSON twin's body
//! parser: everything a caller's bytes pass through before the service.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd::api::sts::action::Action;
use stsd::api::sts::form::Params;
use stsd::api::sts::json::parse_request;

fuzz_target!(|data: &[u8]| {
    // The first `\n` splits the input into query string and body.
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let _ = parse_request(body);
    let Ok(params) = Params::parse(query, body) else {
        return;
    };
    // What was accepted survives a strict re-encoding unchanged.
    let mut encoder = form_urlencoded::Serializer::new(String::new());
    let mut names = Vec::new();
    for name in params.names() {
        assert!(!name.is_empty());
        encoder.append_pair(name, params.get(name).unwrap_or_default());
        names.push(name.to_owned());
    }
    let again = Params::parse(encoder.finish().as_bytes(), b"").expect("re-encoded parameters");
    assert_eq!(again, params);
    assert_eq!(names.len(), params.len());
    let _ = Action::parse(params);
});
