//! Commit timestamps in castore's format: ISO 8601 in UTC with milliseconds,
//! `2026-11-22T05:07:54.123Z`, always 24 characters, so that lexical order is
//! time order (the `initialEvents` index sorts on it).
//!
//! The calendar is the `time` crate's. The text is written from its date and
//! clock fields rather than through a format description, because that cannot
//! fail: formatting a description returns a `Result` whose error path could
//! never be taken here and would only have to be invented away.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// Now, as ISO 8601 UTC with milliseconds: `2026-11-22T05:07:54.123Z`.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Seconds since the Unix epoch, for TTL attributes.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Formats milliseconds since the Unix epoch as ISO 8601 UTC, or `None` for
/// an instant outside the years 0000 to 9999, which castore's four-digit
/// years cannot show.
///
/// ```
/// assert_eq!(es_core::store::format_millis(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
/// assert_eq!(es_core::store::format_millis(i64::MAX), None);
/// ```
pub fn format_millis(millis: i64) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()?;
    (0..=9999).contains(&at.year()).then(|| format(at))
}

/// The fields of `at`, already in UTC, zero-padded to castore's widths.
fn format(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let f = |millis| format_millis(millis).expect("in range");
        assert_eq!(f(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(f(1_795_324_074_123), "2026-11-22T05:07:54.123Z");
        assert_eq!(f(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(f(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(f(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn refuses_years_castore_cannot_show() {
        assert_eq!(format_millis(253_402_300_800_000), None);
        assert_eq!(format_millis(-62_167_219_200_001), None);
        assert_eq!(format_millis(i64::MIN), None);
        assert_eq!(format_millis(i64::MAX), None);
    }

    #[test]
    fn now_has_castore_shape() {
        let now = now();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z'), "{now}");
    }
}
