//! es's item sizes are the ones DynamoDB bills: an item es counts as 1024
//! bytes costs 1 WCU, and one byte more costs 2, for every kind of value.

use crate::common::*;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use es_dynamo::testing::{skip_without_dynamodb, store_on_new_table};
use es_dynamo::DynamoStore;

/// Writes `value` padded so that es counts the item as `bytes`, and returns
/// the write units DynamoDB charged.
async fn units_for(store: &DynamoStore, n: usize, value: &AttributeValue, bytes: usize) -> f64 {
    let mut it = item([
        ("aggregateId", s(&format!("k{n}"))),
        ("version", self::n(1)),
        ("v", value.clone()),
    ]);
    let base = es_dynamo::item_size(&it) + "pad".len();
    it.insert("pad".into(), s(&"p".repeat(bytes - base)));
    assert_eq!(es_dynamo::item_size(&it), bytes);
    let out = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(it))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("put_item");
    out.consumed_capacity()
        .and_then(|c| c.capacity_units())
        .expect("consumed capacity")
}

#[tokio::test]
async fn item_sizes_match_dynamodbs_billing_to_the_byte() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("sizes").await;
    let values = [
        ("a string", s("héllo 🛒")),
        ("an empty string", s("")),
        ("1", n(1)),
        ("12", n(12)),
        ("123", n(123)),
        ("100", n(100)),
        ("12345678901234567890", n("12345678901234567890")),
        ("0.001", n("0.001")),
        ("1.5", n("1.5")),
        ("110", n(110)),
        ("1.23", n("1.23")),
        ("10.1", n("10.1")),
        ("123.456", n("123.456")),
        ("0", n(0)),
        ("-1", n(-1)),
        ("-12", n(-12)),
        ("-123", n(-123)),
        ("-1.5", n("-1.5")),
        ("1E+5", n("1E+5")),
        ("1.5e-7", n("1.5e-7")),
        (
            "a map",
            m([
                ("a", s("x")),
                ("bb", n(7)),
                ("c", AttributeValue::Bool(true)),
            ]),
        ),
        ("an empty map", m([])),
        (
            "a list",
            AttributeValue::L(vec![s("x"), AttributeValue::Null(true), m([("k", s("v"))])]),
        ),
        ("binary", AttributeValue::B(Blob::new(vec![0u8, 1, 2, 255]))),
        (
            "a string set",
            AttributeValue::Ss(vec!["a".into(), "bcd".into()]),
        ),
    ];
    let mut mismatches = Vec::new();
    for (i, (what, value)) in values.iter().enumerate() {
        let at = units_for(&store, 2 * i, value, 1024).await;
        let over = units_for(&store, 2 * i + 1, value, 1025).await;
        if (at, over) != (1.0, 2.0) {
            mismatches.push(format!(
                "{what}: 1024 bytes cost {at} WCU, 1025 cost {over}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "es counts these differently from DynamoDB: {mismatches:#?}"
    );
}
