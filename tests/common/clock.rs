//! The wall clock as Unix seconds, for claims and expectations built around "now".

/// The current time in whole seconds since the Unix epoch.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
