//! Item sizes as DynamoDB counts them, for the limit checks and the capacity
//! formulas.
//!
//! The rules are AWS's ("DynamoDB item sizes and formats",
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>):
//! an item is the sum of its attribute names and values; a string is its UTF-8
//! length; a number is 1 byte per two significant digits plus 1; binary is its
//! raw length; null and boolean are 1 byte; a list or map is 3 bytes plus its
//! elements, each with 1 byte of overhead (a map element also counts its name).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

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
/// assert_eq!(es_dynamo::item_size(&item), 33);
/// ```
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
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

/// A number's size: leading and trailing zeros are trimmed, then 1 byte per
/// two significant digits, plus 1. A negative number takes 1 more byte (it is
/// stored with a terminator), so that the estimate errs on the large side.
pub(crate) fn number_size(n: &str) -> usize {
    let n = n.trim();
    let (negative, n) = match n.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let mantissa = n.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1 + usize::from(negative && significant > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_one_byte_per_two_significant_digits_plus_one() {
        assert_eq!(number_size("0"), 1);
        assert_eq!(number_size("1"), 2);
        assert_eq!(number_size("12"), 2);
        assert_eq!(number_size("123"), 3);
        assert_eq!(number_size("100"), 2, "trailing zeros are trimmed");
        assert_eq!(number_size("0.001"), 2, "leading zeros are trimmed");
        assert_eq!(number_size("1.5"), 2);
        assert_eq!(number_size("-12"), 3);
        assert_eq!(number_size("1234567890123"), 8);
        assert_eq!(number_size("1.5E+10"), 2);
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
