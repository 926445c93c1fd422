//! DynamoDB's limits, checked before anything is written, so that a commit
//! that would fail half way is refused whole with a clear error.

use crate::error::{Error, Limit};

/// The largest item DynamoDB stores, 400 KB.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// The most items in one TransactWriteItems call.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// The largest TransactWriteItems call, 4 MB.
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// The longest id, in bytes. The key `"{name}#{id}"` must stay within
/// DynamoDB's 2048-byte partition key limit.
pub const MAX_ID_BYTES: usize = 1024;
/// The longest idempotency key, in bytes: like an id, its stored key must
/// stay within DynamoDB's partition key limit.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 1024;
/// The most bytes a read page returns, as a DynamoDB Query does.
pub const PAGE_BYTES: usize = 1024 * 1024;

/// Checks an id: 1 to 1024 bytes of UTF-8. Any character is allowed, `#` included,
/// because keys are only ever passed as values, never spliced into expressions.
pub fn check_id(aggregate: &'static str, id: &str) -> Result<(), Error> {
    let reason = if id.is_empty() {
        "an id must not be empty"
    } else if id.len() > MAX_ID_BYTES {
        "an id must be at most 1024 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidId {
        aggregate,
        id: id.chars().take(64).collect(),
        reason,
    })
}

/// Checks an aggregate name: not empty, no `#` (it separates name and id in the
/// key) and no leading `$` (reserved for es's own records).
pub fn check_name(aggregate: &'static str) -> Result<(), Error> {
    let reason = if aggregate.is_empty() {
        "the aggregate name must not be empty"
    } else if aggregate.contains('#') {
        "the aggregate name must not contain '#', which separates name and id in the key"
    } else if aggregate.starts_with('$') {
        "the aggregate name must not start with '$', which es reserves for its own records"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: aggregate,
        reason,
    })
}

/// Checks an idempotency key: 1 to 1024 bytes of UTF-8, any characters; an
/// [`Error::InvalidKey`] otherwise.
pub fn check_idempotency_key(key: &str) -> Result<(), Error> {
    let reason = if key.is_empty() {
        "an idempotency key must not be empty"
    } else if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        "an idempotency key must be at most 1024 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        key: key.chars().take(64).collect(),
        reason,
    })
}

/// Checks a write of items of the given sizes, in one request. A single item
/// is a PutItem; more make a transaction.
pub fn check_write(aggregate: &'static str, id: &str, item_bytes: &[usize]) -> Result<(), Error> {
    let too_large = |limit, actual, max| Error::TooLarge {
        aggregate,
        id: id.to_owned(),
        limit,
        actual,
        max,
    };
    if let Some(&big) = item_bytes.iter().find(|&&b| b > MAX_ITEM_BYTES) {
        return Err(too_large(Limit::ItemBytes, big, MAX_ITEM_BYTES));
    }
    if item_bytes.len() > 1 {
        if item_bytes.len() > MAX_TRANSACTION_ITEMS {
            return Err(too_large(
                Limit::TransactionItems,
                item_bytes.len(),
                MAX_TRANSACTION_ITEMS,
            ));
        }
        let total: usize = item_bytes.iter().sum();
        if total > MAX_TRANSACTION_BYTES {
            return Err(too_large(
                Limit::TransactionBytes,
                total,
                MAX_TRANSACTION_BYTES,
            ));
        }
    }
    Ok(())
}

/// The items of a write whose snapshots must be left out for it to fit
/// DynamoDB's limits. `items` holds, for each item of one request, its size
/// and, when it carries a snapshot, its size without it.
///
/// A snapshot is only ever a shortcut: a load without it reads further back
/// and gives the same state. So a snapshot never makes a commit fail: every
/// snapshot whose item would be over 400 KB is left out, and then, while a
/// transaction would be over 4 MB, the largest ones left. A write that is
/// still too large is refused by [`check_write`] for its events alone.
/// Both stores call this, so they leave out the same snapshots.
pub fn snapshots_to_leave_out(items: &[(usize, Option<usize>)]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut sizes: Vec<usize> = items.iter().map(|&(size, _)| size).collect();
    for (i, &(size, bare)) in items.iter().enumerate() {
        if let Some(bare) = bare {
            if size > MAX_ITEM_BYTES {
                out.push(i);
                sizes[i] = bare;
            }
        }
    }
    if items.len() > 1 {
        let mut total: usize = sizes.iter().sum();
        // The largest snapshots first: the fewest left out.
        let mut candidates: Vec<(usize, usize)> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| !out.contains(i))
            .filter_map(|(i, &(size, bare))| bare.map(|bare| (size.saturating_sub(bare), i)))
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        for (saved, i) in candidates {
            if total <= MAX_TRANSACTION_BYTES {
                break;
            }
            out.push(i);
            total -= saved;
        }
    }
    out.sort_unstable();
    out
}

/// Logs a snapshot left out of a commit (see [`snapshots_to_leave_out`]), in
/// the same words for every store.
pub fn warn_snapshot_left_out(aggregate: &str, id: &str, version: u64, item_bytes: usize) {
    tracing::warn!(
        aggregate,
        id,
        version,
        item_bytes,
        "leaving out a snapshot the item cannot hold (400 KB an item, 4 MB a transaction); \
         the event is written without it, and loads read back further"
    );
}

/// The stored key of an aggregate: `"{name}#{id}"`, castore's `aggregateId`.
pub fn stream_key(aggregate: &str, id: &str) -> String {
    let mut key = String::with_capacity(aggregate.len() + 1 + id.len());
    key.push_str(aggregate);
    key.push('#');
    key.push_str(id);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_left_out_to_fit_the_limits() {
        let kb = 1024;
        // Fits: nothing left out.
        assert!(snapshots_to_leave_out(&[(300 * kb, Some(10 * kb))]).is_empty());
        // Over 400 KB with its snapshot, not without.
        assert_eq!(snapshots_to_leave_out(&[(450 * kb, Some(100 * kb))]), [0]);
        // Over 400 KB without it too: left out, and `check_write` refuses.
        assert_eq!(snapshots_to_leave_out(&[(900 * kb, Some(500 * kb))]), [0]);
        // A transaction over 4 MB: the largest snapshots go first.
        let mut items = vec![(390 * kb, Some(kb)); 11];
        items.push((100 * kb, None));
        let out = snapshots_to_leave_out(&items);
        let total = |out: &[usize]| -> usize {
            items
                .iter()
                .enumerate()
                .map(|(i, &(size, bare))| match bare {
                    Some(bare) if out.contains(&i) => bare,
                    _ => size,
                })
                .sum()
        };
        assert!(total(&out) <= MAX_TRANSACTION_BYTES);
        assert!(!out.is_empty() && out.len() < 11, "{out:?}");
        assert!(!out.contains(&11), "an item without a snapshot");
    }

    #[test]
    fn ids_of_one_to_1024_bytes_are_valid() {
        assert!(check_id("A", "x").is_ok());
        assert!(check_id("A", &"é".repeat(512)).is_ok());
        assert!(matches!(check_id("A", ""), Err(Error::InvalidId { .. })));
        assert!(matches!(
            check_id("A", &"x".repeat(1025)),
            Err(Error::InvalidId { .. })
        ));
    }

    #[test]
    fn idempotency_keys_of_one_to_1024_bytes_are_valid() {
        assert!(check_idempotency_key("order-1").is_ok());
        assert!(check_idempotency_key(&"k".repeat(1024)).is_ok());
        for bad in [String::new(), "k".repeat(1025)] {
            assert!(matches!(
                check_idempotency_key(&bad),
                Err(Error::InvalidKey { key, .. }) if key == bad.chars().take(64).collect::<String>()
            ));
        }
    }

    #[test]
    fn names_with_hash_or_leading_dollar_are_invalid() {
        assert!(check_name("Product").is_ok());
        for bad in ["Pro#duct", "$Product", ""] {
            assert!(
                matches!(check_name(bad), Err(Error::InvalidName { name, .. }) if name == bad),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn writes_are_checked_against_each_limit() {
        assert!(check_write("A", "1", &[MAX_ITEM_BYTES]).is_ok());
        let err = check_write("A", "1", &[MAX_ITEM_BYTES + 1]).unwrap_err();
        assert!(matches!(
            err,
            Error::TooLarge {
                limit: Limit::ItemBytes,
                ..
            }
        ));
        let err = check_write("A", "1", &[10; 101]).unwrap_err();
        assert!(matches!(
            err,
            Error::TooLarge {
                limit: Limit::TransactionItems,
                actual: 101,
                ..
            }
        ));
        let err = check_write("A", "1", &[300 * 1024; 14]).unwrap_err();
        assert!(matches!(
            err,
            Error::TooLarge {
                limit: Limit::TransactionBytes,
                ..
            }
        ));
    }
}
