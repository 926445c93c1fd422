//! The item es writes for a one-unit `ProductRestocked`, built by hand, for
//! the benches that time es against hand-written requests of the same item.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// The event item at `version` of the stream `key` (`Product#id`).
pub fn item(key: &str, version: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("aggregateId".to_owned(), AttributeValue::S(key.to_owned())),
        ("version".to_owned(), AttributeValue::N(version.to_string())),
        (
            "type".to_owned(),
            AttributeValue::S("ProductRestocked".to_owned()),
        ),
        ("timestamp".to_owned(), AttributeValue::S(es::store::now())),
        (
            "payload".to_owned(),
            AttributeValue::M(HashMap::from([(
                "amount".to_owned(),
                AttributeValue::N("1".to_owned()),
            )])),
        ),
    ])
}
