//! Cursors: the opaque positions handed out with pages, and checked when they
//! come back.
//!
//! A cursor never carries a key to send as it is: the store rebuilds the
//! `ExclusiveStartKey` from the parts it validated, inside the partition the
//! request names, so a forged cursor can only move within what the caller may
//! already read.

use es_core::store::Cursor;
use es_core::store::MAX_ID_BYTES;
use es_core::{Error, StoreError};

/// DynamoDB's limit on a sort key, such as the index's `timestamp`, in bytes.
const MAX_SORT_KEY_BYTES: usize = 1024;

/// The cursor after an event page: the last version returned.
pub(crate) fn from_version(version: u64) -> Cursor {
    Cursor::new(version.to_string())
}

/// The version in an event-page cursor.
pub(crate) fn to_version(cursor: &Cursor) -> Result<u64, Error> {
    let valid = !cursor.as_str().is_empty() && cursor.as_str().bytes().all(|b| b.is_ascii_digit());
    match cursor.as_str().parse::<u64>() {
        Ok(version) if valid && version > 0 => Ok(version),
        _ => Err(invalid("Query", cursor)),
    }
}

/// The cursor after a page of ids: the initial event's timestamp and the id,
/// as `"{timestamp length}.{timestamp}{id}"` (ids may hold any character).
pub(crate) fn from_initial(timestamp: &str, id: &str) -> Cursor {
    Cursor::new(format!("{}.{timestamp}{id}", timestamp.len()))
}

/// The timestamp and id in a cursor of ids.
pub(crate) fn to_initial(cursor: &Cursor) -> Result<(String, String), Error> {
    let parse = || {
        let (len, rest) = cursor.as_str().split_once('.')?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let len: usize = len.parse().ok()?;
        if len == 0 || len >= rest.len() || !rest.is_char_boundary(len) {
            return None;
        }
        let (timestamp, id) = rest.split_at(len);
        // Nothing DynamoDB could hold: a sort key is at most 1024 bytes, and
        // so is an id. Refused here rather than by DynamoDB, after a request.
        if timestamp.len() > MAX_SORT_KEY_BYTES || id.len() > MAX_ID_BYTES {
            return None;
        }
        Some((timestamp.to_owned(), id.to_owned()))
    };
    parse().ok_or_else(|| invalid("Query", cursor))
}

fn invalid(operation: &'static str, cursor: &Cursor) -> Error {
    StoreError::permanent(
        operation,
        format!(
            "invalid cursor {:?}: pass back a cursor this store returned",
            cursor.as_str()
        ),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_cursors_round_trip_and_reject_anything_else() {
        assert_eq!(to_version(&from_version(42)).expect("valid"), 42);
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1.0",
            "x",
            "not a cursor ☃",
            "99999999999999999999999",
        ] {
            assert!(to_version(&Cursor::new(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn id_cursors_round_trip_any_id() {
        for id in ["a", "a.b|c", "12.", "🛒 cart ✓", ":v"] {
            let cursor = from_initial("2026-11-22T05:07:54.123Z", id);
            assert_eq!(
                to_initial(&cursor).expect("valid"),
                ("2026-11-22T05:07:54.123Z".into(), id.into())
            );
        }
        for bad in [
            "",
            ".",
            "0.x",
            "3.abc",
            "x.abcd",
            "2.é",
            "24.2026-11-22T05:07:54.123Z",
            "not a cursor ☃",
            "18446744073709551616.x",
            "99999999999999999999999999.x",
        ] {
            assert!(to_initial(&Cursor::new(bad)).is_err(), "{bad:?}");
        }
        let t = "2026-11-22T05:07:54.123Z";
        let longest = from_initial(t, &"x".repeat(MAX_ID_BYTES));
        assert!(to_initial(&longest).is_ok());
        for too_long in [
            from_initial(t, &"x".repeat(MAX_ID_BYTES + 1)),
            from_initial(&"t".repeat(MAX_SORT_KEY_BYTES + 1), "x"),
        ] {
            assert!(to_initial(&too_long).is_err(), "{:.40}", too_long.as_str());
        }
    }
}
