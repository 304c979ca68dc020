//! The normalised policy JSON SeaweedFS produces (Go `json.Marshal` of its `PolicyDocument`), so `spol` and `PackedPolicySize` agree byte for byte.

use std::fmt::Write;

use super::model::{ConditionValue, OneOrMany, PolicyDocument, Principal, Statement, ValueKind};

pub(super) fn normalized_json(doc: &PolicyDocument) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"Version\":");
    go_string(&mut out, &doc.version);
    if let Some(id) = doc.id.as_deref().filter(|id| !id.is_empty()) {
        out.push_str(",\"Id\":");
        go_string(&mut out, id);
    }
    out.push_str(",\"Statement\":[");
    for (i, statement) in doc.statements.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_statement(&mut out, statement);
    }
    out.push_str("]}");
    out
}

fn write_statement(out: &mut String, statement: &Statement) {
    out.push('{');
    if let Some(sid) = statement.sid.as_deref().filter(|sid| !sid.is_empty()) {
        out.push_str("\"Sid\":");
        go_string(out, sid);
        out.push(',');
    }
    out.push_str("\"Effect\":");
    go_string(out, statement.effect.as_str());
    if let Some(principal) = &statement.principal {
        out.push_str(",\"Principal\":");
        write_principal(out, principal);
    }
    if let Some(principal) = &statement.not_principal {
        out.push_str(",\"NotPrincipal\":");
        write_principal(out, principal);
    }
    // Go's struct has no `omitempty` on Action and Resource: an absent one is `null`.
    out.push_str(",\"Action\":");
    write_list(out, statement.action.as_ref());
    if let Some(list) = statement.not_action.as_ref().filter(|l| !l.is_empty()) {
        out.push_str(",\"NotAction\":");
        write_list(out, Some(list));
    }
    out.push_str(",\"Resource\":");
    write_list(out, statement.resource.as_ref());
    if let Some(list) = statement.not_resource.as_ref().filter(|l| !l.is_empty()) {
        out.push_str(",\"NotResource\":");
        write_list(out, Some(list));
    }
    if !statement.condition.is_empty() {
        out.push_str(",\"Condition\":");
        write_condition(out, statement);
    }
    out.push('}');
}

fn write_list(out: &mut String, list: Option<&OneOrMany<String>>) {
    let Some(list) = list else {
        out.push_str("null");
        return;
    };
    out.push('[');
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_string(out, item);
    }
    out.push(']');
}

/// Principals are an untyped value in Go: a map is re-emitted with sorted keys and each value in
/// its written form (string or array).
fn write_principal(out: &mut String, principal: &Principal) {
    match principal {
        Principal::Any => out.push_str("\"*\""),
        Principal::Map(entries) => {
            let mut sorted: Vec<_> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            // Duplicate types cannot come from JSON (the later key wins), so no dedup is needed.
            out.push('{');
            for (i, (kind, values)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(out, kind.as_str());
                out.push(':');
                match values {
                    OneOrMany::One(value) => go_string(out, value),
                    OneOrMany::Many(_) => write_list(out, Some(values)),
                }
            }
            out.push('}');
        }
    }
}

/// Go maps marshal with keys sorted by bytes, at both levels.
fn write_condition(out: &mut String, statement: &Statement) {
    let mut blocks: Vec<_> = statement
        .condition
        .iter()
        .map(|block| (block.operator.to_string(), block))
        .collect();
    blocks.sort_by(|a, b| a.0.cmp(&b.0));
    out.push('{');
    for (i, (name, block)) in blocks.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_string(out, &name);
        out.push_str(":{");
        let mut entries: Vec<_> = block.entries.iter().collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        for (j, entry) in entries.into_iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            go_string(out, &entry.key);
            out.push(':');
            match &entry.values {
                OneOrMany::One(value) => write_scalar(out, value),
                OneOrMany::Many(values) => {
                    out.push('[');
                    for (k, value) in values.iter().enumerate() {
                        if k > 0 {
                            out.push(',');
                        }
                        write_scalar(out, value);
                    }
                    out.push(']');
                }
            }
        }
        out.push('}');
    }
    out.push('}');
}

fn write_scalar(out: &mut String, value: &ConditionValue) {
    match value.kind {
        ValueKind::String => go_string(out, &value.text),
        ValueKind::Bool => out.push_str(&value.text),
        // Go decodes every JSON number into a float64 and prints it back in its own format.
        ValueKind::Number => match value.text.parse::<f64>() {
            Ok(number) if number.is_finite() => go_float(out, number),
            _ => out.push_str(&value.text),
        },
    }
}

/// Go's `encoding/json` float64 format: shortest round-trip digits, plain notation unless the
/// magnitude is below 1e-6 or at least 1e21, where it uses an exponent like `1e+21` / `1e-7`.
fn go_float(out: &mut String, number: f64) {
    let magnitude = number.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let formatted = format!("{number:e}");
        match formatted.split_once('e') {
            Some((mantissa, exponent)) => {
                out.push_str(mantissa);
                out.push('e');
                if !exponent.starts_with('-') {
                    out.push('+');
                }
                out.push_str(exponent);
            }
            None => out.push_str(&formatted),
        }
    } else {
        // Rust's f64 Display is already Go's plain form: shortest digits, no exponent, no `.0`.
        let _ = write!(out, "{number}");
    }
}

/// A JSON string as Go's encoder writes it with HTML escaping on (the `json.Marshal` default).
pub(crate) fn go_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let code = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((code >> shift) & 0xf) as usize] as char);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(text: &str) -> String {
        let mut out = String::new();
        go_string(&mut out, text);
        out
    }

    fn float(number: f64) -> String {
        let mut out = String::new();
        go_float(&mut out, number);
        out
    }

    #[test]
    fn strings_are_escaped_like_go() {
        assert_eq!(go("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(go("q\"b\\"), r#""q\"b\\""#);
        assert_eq!(
            go("\n\r\t\u{8}\u{c}\u{1}\u{1f}"),
            r#""\n\r\t\b\f\u0001\u001f""#
        );
        assert_eq!(go("\u{2028}\u{2029}\u{7f}é"), "\"\\u2028\\u2029\u{7f}é\"");
    }

    #[test]
    fn numbers_are_printed_like_go_float64() {
        assert_eq!(float(1.0), "1");
        assert_eq!(float(0.0), "0");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(3600.0), "3600");
        assert_eq!(float(1e20), "100000000000000000000");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(1.5e-7), "1.5e-7");
        assert_eq!(float(0.000001), "0.000001");
        assert_eq!(float(12345678901234567890.0), "12345678901234567000");
    }

    #[test]
    fn numbers_keep_their_value_through_parse_and_normalise() {
        // Found by fuzzing: a best-effort float parser read 7.7777777e+94 one bit off, so the
        // normalised form changed on every round. Go's parser (and so SeaweedFS) rounds exactly.
        for number in [
            "7.7777777e+94",
            "0.1",
            "2.2250738585072014e-308",
            "1.7976931348623157e308",
        ] {
            let text = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":"*",
                    "Condition":{{"NumericLessThan":{{"s3:max-keys":{number}}}}}}}]}}"#
            );
            let once = crate::policy::PolicyDocument::parse(&text)
                .expect("policy")
                .normalized_json();
            let expected = format!("\"s3:max-keys\":{}", {
                let mut out = String::new();
                go_float(&mut out, number.parse::<f64>().expect("f64"));
                out
            });
            assert!(once.contains(&expected), "{once} lacks {expected}");
            let twice = crate::policy::PolicyDocument::parse(&once)
                .expect("normalised policy")
                .normalized_json();
            assert_eq!(once, twice);
        }
    }
}
