//! Time as the table stores it: epoch seconds for deadlines, leases and TTLs,
//! RFC 3339 UTC for people.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `secs` as RFC 3339 UTC, e.g. `2026-11-21T10:00:00Z`.
pub fn rfc3339(secs: u64) -> String {
    DateTime::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

/// Now as RFC 3339 UTC with fractional seconds, the shape of Step Functions' times.
pub fn now_rfc3339() -> String {
    DateTime::from(SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_seconds_as_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_255_200), "2026-11-21T10:00:00Z");
        assert!(now_rfc3339().ends_with('Z') && epoch_seconds() > 1_700_000_000);
    }
}
