//! Item sizes as DynamoDB counts them, for the limit checks and the capacity
//! formulas.
//!
//! The rules are AWS's ("DynamoDB item sizes and formats",
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>):
//! an item is the sum of its attribute names and values; a string is its UTF-8
//! length; a number is 1 byte per pair of significant digits plus 1 (see
//! [`number_size`] for the pairing); binary is its
//! raw length; null and boolean are 1 byte; a list or map is 3 bytes plus its
//! elements, each with 1 byte of overhead (a map element also counts its name).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::layout::attributes::{AGGREGATE_ID, TIMESTAMP, VERSION};

/// The size DynamoDB counts for an item: every attribute name plus its value.
/// It is what the 400 KB item limit applies to, and what capacity units are
/// billed on (1 WCU per KB written, 1 RCU per 4 KB read consistently).
///
/// ```
/// use std::collections::HashMap;
/// use aws_sdk_dynamodb::types::AttributeValue;
///
/// let item = HashMap::from([
///     ("aggregateId".to_owned(), AttributeValue::S("Product#sku-1".into())),
///     ("version".to_owned(), AttributeValue::N("1".into())),
/// ]);
/// // 11 + 13 for the key, 7 + 2 for the version: 1 byte per two digits, plus 1.
/// assert_eq!(es::dynamo::item_size(&item), 33);
/// ```
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// The size of an item's entry in the KEYS_ONLY `initialEvents` index, whose
/// HASH attribute is `marker`: the table's keys and the index's keys. Writing
/// an initial event also writes this entry, billed like any write.
pub(crate) fn index_entry_size(item: &HashMap<String, AttributeValue>, marker: &str) -> usize {
    [AGGREGATE_ID, VERSION, marker, TIMESTAMP]
        .iter()
        .filter_map(|name| item.get(*name).map(|v| name.len() + value_size(v)))
        .sum()
}

/// The size of one value, without its attribute name.
pub(crate) fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        // Only ever built by the SDK for a type it does not know, in a
        // response; a request never holds one.
        _ => 0,
    }
}

/// A number's size. AWS documents it as "approximately 1 byte per two
/// significant digits, plus 1"; DynamoDB stores a number as base-100 digit
/// pairs aligned on the decimal point, so `1.5` (`01.50`) and `110` (`01 10`)
/// take 3 bytes, not 2. A negative number takes 1 byte more. This is the count
/// DynamoDB Local bills, checked to the byte by `tests/dynamodb/sizes.rs`.
pub(crate) fn number_size(n: &str) -> usize {
    let n = n.trim();
    let (negative, n) = match n.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let (mantissa, exponent) = n.split_once(['e', 'E']).unwrap_or((n, ""));
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The value is 0.{digits} × 10^point, where point = int.len() + exponent
    // - leading zeros. Only the parity of `point` matters, so it is computed
    // modulo 2: no exponent, however long or extreme, can overflow.
    let mut digits: Vec<u8> = int
        .bytes()
        .chain(frac.bytes())
        .filter(u8::is_ascii_digit)
        .collect();
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..leading);
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return 1; // zero
    }
    let odd_point = (int.len() % 2 == 1) ^ exponent_is_odd(exponent) ^ (leading % 2 == 1);
    // Pairs start at the decimal point: an odd number of integer digits
    // leaves the first pair half empty.
    let len = digits.len() + usize::from(odd_point);
    len.div_ceil(2) + 1 + usize::from(negative)
}

/// Whether a number's exponent (`"7"`, `"+12"`, `"-9223372036854775809"`) is
/// odd, from its last digit, so that any length of exponent is fine. An
/// exponent that is not a signed run of digits counts as 0, like a missing one:
/// DynamoDB never returns such a number, and refuses to store one.
fn exponent_is_odd(exponent: &str) -> bool {
    let digits = exponent
        .strip_prefix(['+', '-'])
        .unwrap_or(exponent)
        .as_bytes();
    match digits.last() {
        Some(last) if digits.iter().all(u8::is_ascii_digit) => last % 2 == 1,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_base_100_digit_pairs_plus_one() {
        let cases = [
            ("0", 1),
            ("1", 2),
            ("12", 2),
            ("123", 3),
            ("100", 2),
            ("110", 3),
            ("0.001", 2),
            ("1.5", 3),
            ("1.23", 3),
            ("10.1", 3),
            ("123.456", 5),
            ("-1", 3),
            ("-12", 3),
            ("-1.5", 4),
            ("1E+5", 2),
            ("1.5e-7", 2),
            ("12345678901234567890", 11),
            ("1.5E-7", 2),
            ("15e-8", 2),
            ("1.5e+1", 2),
            ("1.5e1", 2),
        ];
        for (n, size) in cases {
            assert_eq!(number_size(n), size, "{n}");
        }
    }

    #[test]
    fn extreme_or_malformed_numbers_never_panic() {
        // Exponents at and past the ends of i64, which an item read back from
        // the table or built by a caller may hold: the sizes are still the
        // digit pairs, with the point's parity taken from the exponent.
        let cases = [
            ("1e9223372036854775807", 2),
            ("12e9223372036854775807", 3),
            ("-1e-9223372036854775808", 3),
            ("-12e-9223372036854775808", 3),
            ("99999999999999999999e9223372036854775807", 12),
            ("1e99999999999999999999999999999999999999", 2),
            ("1e-99999999999999999999999999999999999999", 2),
            ("1e+9223372036854775807", 2),
        ];
        for (n, size) in cases {
            assert_eq!(number_size(n), size, "{n}");
        }
        let long_int = "9".repeat(10_000);
        assert_eq!(
            number_size(&format!("{long_int}e9223372036854775807")),
            5002
        );
        assert_eq!(
            number_size(&format!("-0.{long_int}E-9223372036854775808")),
            5002
        );
        for junk in [
            "", "-", "+", "e", "E5", "1e", "1e+", "1e-", "1ex", "--1", ".", "1.2.3", "☃", "1e☃",
        ] {
            let _ = number_size(junk);
        }
        let item = HashMap::from([
            (
                "n".to_owned(),
                AttributeValue::N("1e9223372036854775807".into()),
            ),
            (
                "ns".to_owned(),
                AttributeValue::Ns(vec!["-1e-9223372036854775808".into()]),
            ),
        ]);
        assert_eq!(item_size(&item), 1 + 2 + 2 + 3);
    }

    #[test]
    fn containers_cost_three_bytes_plus_one_per_element() {
        let map = AttributeValue::M(HashMap::from([
            ("ab".to_owned(), AttributeValue::S("xyz".into())),
            ("n".to_owned(), AttributeValue::N("7".into())),
        ]));
        // 3 + (1 + 2 + 3) + (1 + 1 + 2)
        assert_eq!(value_size(&map), 13);
        let list = AttributeValue::L(vec![AttributeValue::Bool(true), AttributeValue::Null(true)]);
        assert_eq!(value_size(&list), 3 + 2 + 2);
        assert_eq!(value_size(&AttributeValue::M(HashMap::new())), 3);
    }

    #[test]
    fn an_item_counts_names_and_values() {
        let item = HashMap::from([
            (
                "aggregateId".to_owned(),
                AttributeValue::S("Product#1".into()),
            ),
            ("version".to_owned(), AttributeValue::N("1".into())),
        ]);
        assert_eq!(item_size(&item), 11 + 9 + 7 + 2);
    }
}
