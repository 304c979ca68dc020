//! Timestamps as AWS and SeaweedFS write them: RFC 3339 in UTC (Go's `time.RFC3339` and
//! `time.RFC3339Nano`). The one formatter for responses, session claims, policy context and status.

use time::{OffsetDateTime, UtcOffset};

/// `time.RFC3339` in UTC without a fraction, e.g. `2026-01-01T01:00:00Z` (the `Expiration` of
/// the STS response and the `assumed_at` of minted tokens).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// [`rfc3339`] of a Unix time; `None` outside the years -9999..=9999.
pub fn rfc3339_from_unix(seconds: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .map(rfc3339)
}

/// Go's `time.RFC3339Nano` in UTC: like [`rfc3339`], with the fraction trimmed of trailing zeros.
pub fn rfc3339_nano(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    let whole = rfc3339(t);
    let nanos = t.nanosecond();
    if nanos == 0 {
        return whole;
    }
    let fraction = format!("{nanos:09}");
    let fraction = fraction.trim_end_matches('0');
    format!("{}.{}Z", &whole[..whole.len() - 1], fraction)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;
    use time::macros::datetime;

    #[test]
    fn assumed_at_keeps_a_trimmed_fraction_like_rfc3339nano() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_120_000_000).unwrap();
        assert_eq!(rfc3339_nano(t), "2026-01-01T00:00:00.12Z");
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_from_unix_formats_the_expiration() {
        assert_eq!(
            rfc3339_from_unix(1_767_229_200).unwrap(),
            "2026-01-01T01:00:00Z"
        );
        assert_eq!(rfc3339_from_unix(i64::MAX), None);
    }

    #[test]
    fn rfc3339_converts_offsets_to_utc() {
        let t = OffsetDateTime::parse("2026-01-01T02:00:00+02:00", &Rfc3339).unwrap();
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn whole_seconds_are_kept_and_fractions_dropped() {
        assert_eq!(
            rfc3339(datetime!(2014-10-24 23:00:23.999 UTC)),
            "2014-10-24T23:00:23Z"
        );
    }
}
