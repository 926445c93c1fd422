//! FIFO message group and deduplication ids.
//!
//! SQS and SNS take at most 128 characters for each, of ASCII letters,
//! digits and punctuation. An aggregate's id may be up to 1,024 bytes of
//! any UTF-8, so a key that does not fit is replaced by its SHA-256 digest:
//! still one group per aggregate, and one deduplication id per event.

use sha2::{Digest as _, Sha256};

/// The longest group or deduplication id SQS and SNS take.
const MAX_LEN: usize = 128;

fn fits(value: &str) -> bool {
    value.len() <= MAX_LEN && value.chars().all(|c| c.is_ascii_graphic())
}

fn digest(value: &str) -> String {
    let hash = Sha256::digest(value.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash.iter() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The message group of an aggregate's messages: its key,
/// `"{aggregate}#{id}"`, or `"sha256:{hex digest of the key}"` when the key
/// is longer than 128 characters or holds a character SQS refuses (a space,
/// anything not ASCII).
pub fn group_id(aggregate: &str, id: &str) -> String {
    let key = format!("{aggregate}#{id}");
    if fits(&key) {
        key
    } else {
        digest(&key)
    }
}

/// The deduplication id of an event's message: `"{aggregate}#{id}#{version}"`,
/// or its digest as for [`group_id`].
pub fn deduplication_id(aggregate: &str, id: &str, version: u64) -> String {
    let key = format!("{aggregate}#{id}#{version}");
    if fits(&key) {
        key
    } else {
        digest(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_kept_and_others_digested() {
        assert_eq!(group_id("Cart", "c-1"), "Cart#c-1");
        assert_eq!(deduplication_id("Cart", "c-1", 7), "Cart#c-1#7");
        let long = "x".repeat(200);
        for id in [long.as_str(), "has space", "café"] {
            let group = group_id("Cart", id);
            assert!(group.starts_with("sha256:") && group.len() == 71, "{group}");
            assert!(fits(&group));
            assert_ne!(
                deduplication_id("Cart", id, 1),
                deduplication_id("Cart", id, 2)
            );
        }
        assert_eq!(group_id("Cart", "café"), group_id("Cart", "café"));
    }
}
