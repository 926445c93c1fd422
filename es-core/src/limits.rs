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
    Err(Error::InvalidId {
        aggregate,
        id: String::new(),
        reason,
    })
}

/// Checks an idempotency key: 1 to 1024 bytes of UTF-8, any characters. The
/// error is an [`Error::InvalidId`] of the pseudo-aggregate `$command`, the
/// name es stores command records under.
pub fn check_idempotency_key(key: &str) -> Result<(), Error> {
    let reason = if key.is_empty() {
        "an idempotency key must not be empty"
    } else if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        "an idempotency key must be at most 1024 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidId {
        aggregate: "$command",
        id: key.chars().take(64).collect(),
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
                Err(Error::InvalidId {
                    aggregate: "$command",
                    ..
                })
            ));
        }
    }

    #[test]
    fn names_with_hash_or_leading_dollar_are_invalid() {
        assert!(check_name("Product").is_ok());
        assert!(check_name("Pro#duct").is_err());
        assert!(check_name("$Product").is_err());
        assert!(check_name("").is_err());
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
