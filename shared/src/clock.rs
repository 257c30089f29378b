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

/// A number of seconds as a person or a template writes it (`5`, `0.5`),
/// within `min..=max`: anything else (not a number, NaN, infinite, out of
/// range, or past what a `Duration` holds) is refused with a message.
pub fn seconds_within(text: &str, min: f64, max: f64) -> Result<std::time::Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(min..=max).contains(&seconds) {
        return Err(format!("{text}: from {min} to {max} seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
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

/// An RFC 3339 UTC time (`Z`, or `+00:00` as moto writes it) as epoch
/// milliseconds; `None` for anything else.
pub fn parse_rfc3339_ms(time: &str) -> Option<i64> {
    let utc = match time.strip_suffix("+00:00") {
        Some(rest) => format!("{rest}Z"),
        None => time.to_owned(),
    };
    let t = DateTime::from_str(&utc, Format::DateTime).ok()?;
    t.to_millis().ok()
}

/// Seconds from `start` to `end` (both RFC 3339 UTC), if both parse and
/// `end` is not before `start`.
pub fn seconds_between(start: &str, end: &str) -> Option<f64> {
    let span = parse_rfc3339_ms(end)? - parse_rfc3339_ms(start)?;
    #[allow(clippy::cast_precision_loss)]
    (span >= 0).then(|| span as f64 / 1000.0)
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

    #[test]
    fn reads_step_functions_and_moto_times() {
        assert_eq!(
            seconds_between("2026-11-21T10:00:00.250Z", "2026-11-21T10:07:30.750+00:00"),
            Some(450.5)
        );
        assert_eq!(
            seconds_between("2026-11-21T10:00:01Z", "2026-11-21T10:00:00Z"),
            None
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert_eq!(parse_rfc3339_ms("2026-11-21T10:00:00+02:00"), None);
    }
}
