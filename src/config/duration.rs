//! Durations in `iam.json`: Go-style strings (https://pkg.go.dev/time#ParseDuration) or integer seconds.
//!
//! A bare JSON integer means **seconds** here. SeaweedFS reads a bare integer as nanoseconds
//! (`3600` is 3.6 µs there); that reading turns every plausible hand-written number into a
//! useless value, so stsd deliberately differs (DESIGN.md §4). A number written as a string
//! without a unit (`"3600"`), or an integer so large it can only be a SeaweedFS nanosecond count,
//! is refused rather than guessed at.

use std::time::Duration;

use serde::Deserialize;

/// The largest duration Go can represent (`math.MaxInt64` nanoseconds); larger values are errors
/// so that a file accepted here means the same thing to a Go gateway reading it.
const MAX_NANOS: u128 = i64::MAX as u128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("negative durations are not allowed")]
    Negative,
    #[error("duration is too large")]
    Overflow,
    #[error("{0:?} has no unit; write e.g. \"{0}s\" (a JSON integer is read as seconds)")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in {text:?}; use ns, us, µs, ms, s, m or h")]
    UnknownUnit { text: String, unit: String },
    #[error("{0:?} is not a duration such as \"90m\", \"1h30m\" or \"300ms\"")]
    Invalid(String),
    #[error("a numeric duration must be a whole number of seconds")]
    NotWholeSeconds,
    #[error(
        "{0} seconds is implausibly large; a JSON integer here means seconds, not nanoseconds \
         as in SeaweedFS: write a string such as \"1h\""
    )]
    LooksLikeNanoseconds(String),
}

/// Integers at or above this many seconds (about 31 years) are taken for SeaweedFS-style
/// nanosecond counts (1e9 is SeaweedFS's "1s") and refused instead of silently meaning decades.
const NANOSECOND_SUSPICION: u64 = 1_000_000_000;

/// A duration as written in the file, before interpretation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(serde_json::Number),
    Text(String),
}

impl RawDuration {
    pub fn to_duration(&self) -> Result<Duration, DurationError> {
        match self {
            Self::Seconds(n) => from_seconds(n),
            Self::Text(s) => parse(s),
        }
    }
}

fn from_seconds(n: &serde_json::Number) -> Result<Duration, DurationError> {
    if let Some(secs) = n.as_u64() {
        if secs >= NANOSECOND_SUSPICION {
            return Err(DurationError::LooksLikeNanoseconds(secs.to_string()));
        }
        return Ok(Duration::from_secs(secs));
    }
    if n.as_i64().is_some_and(|v| v < 0) {
        return Err(DurationError::Negative);
    }
    match n.as_f64() {
        Some(f) if f < 0.0 => Err(DurationError::Negative),
        Some(f) if f.fract() == 0.0 && f > 0.0 => {
            Err(DurationError::LooksLikeNanoseconds(n.to_string()))
        }
        _ => Err(DurationError::NotWholeSeconds),
    }
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parse a Go duration string. Signs other than a leading `+` are refused: stsd has no use for
/// negative durations and a `-` is always a mistake in this file.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative);
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let invalid = || DurationError::Invalid(text.to_string());
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
                DurationError::MissingUnit(text.trim().to_string())
            } else {
                invalid()
            });
        }
        let scale = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            text: text.to_string(),
            unit: unit.to_string(),
        })?;
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| DurationError::Overflow)?
        };
        let mut nanos = whole.checked_mul(scale).ok_or(DurationError::Overflow)?;
        // Fractions are exact up to nanosecond precision; further digits are dropped, as in Go.
        let mut place = scale;
        for digit in frac_part.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            nanos += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(nanos).ok_or(DurationError::Overflow)?;
        if total > MAX_NANOS {
            return Err(DurationError::Overflow);
        }
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    let sub = u32::try_from(total % 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    Ok(Duration::new(secs, sub))
}

/// Render a duration compactly for `check-config` output (`1h30m`, `45s`, `300ms`).
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    if d.subsec_nanos() != 0 && d.as_secs() == 0 {
        let nanos = d.subsec_nanos();
        return if nanos % 1_000_000 == 0 {
            format!("{}ms", nanos / 1_000_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || d.subsec_nanos() != 0 {
        if d.subsec_nanos() != 0 {
            let frac = format!("{:09}", d.subsec_nanos());
            out.push_str(&format!("{s}.{}s", frac.trim_end_matches('0')));
        } else {
            out.push_str(&format!("{s}s"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_go_style_strings() {
        assert_eq!(parse("90m"), Ok(secs(5400)));
        assert_eq!(parse("1h30m"), Ok(secs(5400)));
        assert_eq!(parse("1.5h"), Ok(secs(5400)));
        assert_eq!(parse("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse("2h45m30s"), Ok(secs(2 * 3600 + 45 * 60 + 30)));
        assert_eq!(parse("1us"), Ok(Duration::from_micros(1)));
        assert_eq!(parse("1µs"), Ok(Duration::from_micros(1)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("+60s"), Ok(secs(60)));
        assert_eq!(parse("1h1h"), Ok(secs(7200)));
    }

    #[test]
    fn rejects_bad_strings() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("  "), Err(DurationError::Empty));
        assert_eq!(parse("-5m"), Err(DurationError::Negative));
        assert_eq!(
            parse("3600"),
            Err(DurationError::MissingUnit("3600".into()))
        );
        assert!(matches!(parse("5d"), Err(DurationError::UnknownUnit { unit, .. }) if unit == "d"));
        assert!(matches!(parse("h"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("1h30"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("1..5s"), Err(DurationError::Invalid(_))));
        assert_eq!(parse("3000000h"), Err(DurationError::Overflow));
        assert_eq!(
            parse("99999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn integers_are_seconds_not_nanoseconds() {
        let raw: RawDuration = serde_json::from_str("3600").unwrap();
        assert_eq!(raw.to_duration(), Ok(secs(3600)));
        let raw: RawDuration = serde_json::from_str("\"1h\"").unwrap();
        assert_eq!(raw.to_duration(), Ok(secs(3600)));
    }

    #[test]
    fn rejects_bad_numbers() {
        let neg: RawDuration = serde_json::from_str("-1").unwrap();
        assert_eq!(neg.to_duration(), Err(DurationError::Negative));
        let frac: RawDuration = serde_json::from_str("1.5").unwrap();
        assert_eq!(frac.to_duration(), Err(DurationError::NotWholeSeconds));
        let huge: RawDuration = serde_json::from_str("18446744073709551615").unwrap();
        assert!(matches!(
            huge.to_duration(),
            Err(DurationError::LooksLikeNanoseconds(_))
        ));
        let huger: RawDuration = serde_json::from_str("1e30").unwrap();
        assert!(matches!(
            huger.to_duration(),
            Err(DurationError::LooksLikeNanoseconds(_))
        ));
        // SeaweedFS's "1h" written as nanoseconds.
        let ns: RawDuration = serde_json::from_str("3600000000000").unwrap();
        assert_eq!(
            ns.to_duration(),
            Err(DurationError::LooksLikeNanoseconds("3600000000000".into()))
        );
        let just_below: RawDuration = serde_json::from_str("999999999").unwrap();
        assert_eq!(just_below.to_duration(), Ok(secs(999_999_999)));
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format(secs(5400)), "1h30m");
        assert_eq!(format(secs(60)), "1m");
        assert_eq!(format(secs(43200)), "12h");
        assert_eq!(format(Duration::from_millis(300)), "300ms");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::ZERO), "0s");
    }

    proptest::proptest! {
        #[test]
        fn format_round_trips(nanos in 0u64..(400 * 3600 * 1_000_000_000)) {
            let d = Duration::from_nanos(nanos);
            proptest::prop_assert_eq!(parse(&format(d)), Ok(d));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_digit_unit_soup_never_panics(s in "[0-9.+-]{0,12}(ns|us|µs|ms|s|m|h|x)?[0-9.]{0,6}") {
            let _ = parse(&s);
        }
    }
}
