//! The items on the table have exactly the documented attributes and types,
//! read back raw through the SDK.

use crate::common::*;
use aws_sdk_dynamodb::types::AttributeValue;
use es_core::conformance::model::*;
use es_core::store::{CommandRecord, Commit, Committed};
use es_core::{AggregateExt, EventStore, Metadata, Root};
use es_dynamo::testing::{skip_without_dynamodb, store_on_new_table};

#[tokio::test]
async fn events_have_exactly_the_documented_attributes() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("shape").await;
    let mut product = Root::<Product, _>::new(&store, "sku-1").with_metadata(Metadata {
        correlation_id: Some("corr-1".into()),
        ..Metadata::default()
    });
    product
        .commit(Restocked { amount: 5 })
        .await
        .expect("commit");
    let mut product = Product::load(&store, "sku-1").await.expect("load");
    product.commit(Discontinued).await.expect("commit");

    let first = get(&store, "Product#sku-1", 1).await.expect("version 1");
    assert_eq!(
        names(&first),
        [
            "aggregateId",
            "eventStoreId",
            "metadata",
            "payload",
            "timestamp",
            "type",
            "version"
        ]
    );
    assert_eq!(first["aggregateId"], s("Product#sku-1"));
    assert_eq!(first["version"], n(1));
    assert_eq!(first["type"], s("Restocked"));
    assert!(
        matches!(&first["timestamp"], AttributeValue::S(t) if es_dynamo::testing::is_timestamp(t)),
        "{:?}",
        first["timestamp"]
    );
    assert_eq!(
        first["payload"],
        m([("amount", n(5))]),
        "the payload is a native map"
    );
    assert_eq!(first["metadata"], m([("correlationId", s("corr-1"))]));
    assert_eq!(
        first["eventStoreId"],
        s("Product"),
        "version 1 is in the initialEvents index"
    );

    let second = get(&store, "Product#sku-1", 2).await.expect("version 2");
    assert_eq!(
        names(&second),
        ["aggregateId", "timestamp", "type", "version"],
        "no payload for an event without fields, no eventStoreId after version 1, no metadata when empty"
    );
    assert_eq!(second["type"], s("Discontinued"));
}

#[tokio::test]
async fn schema_and_snapshots_are_es_attributes_beside_castores() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("shape-snap").await;
    let mut meter = Meter::load(&store, "m-1").await.expect("load");
    meter.commit(Reading { value: 3 }).await.expect("commit");
    meter.commit(Reading { value: -1 }).await.expect("commit");

    let first = get(&store, "Meter#m-1", 1).await.expect("version 1");
    assert_eq!(
        names(&first),
        [
            "aggregateId",
            "eventStoreId",
            "payload",
            "schema",
            "timestamp",
            "type",
            "version"
        ]
    );
    assert_eq!(first["schema"], n(2), "schema only when it is not 1");
    assert_eq!(first["payload"], m([("value", n(3))]));

    let second = get(&store, "Meter#m-1", 2).await.expect("version 2");
    assert_eq!(
        names(&second),
        [
            "aggregateId",
            "payload",
            "schema",
            "snapshot",
            "snapshotSchema",
            "timestamp",
            "type",
            "version"
        ]
    );
    assert_eq!(
        second["snapshot"],
        m([("total", n(2))]),
        "the state after version 2"
    );
    assert_eq!(second["snapshotSchema"], n(1));
}

#[tokio::test]
async fn command_records_sit_at_version_zero_of_their_own_partition() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("shape-cmd").await;
    let product = Product::load(&store, "sku-1").await.expect("load");
    let record = CommandRecord {
        key: "order-1".into(),
        outcome: vec![("Product".into(), "sku-1".into(), 1)],
        expires_at: 1_900_000_000,
    };
    let written = store
        .commit(Commit {
            appends: vec![append(
                &store,
                "Product",
                product.id(),
                product.version(),
                &[Restocked { amount: 1 }],
            )],
            command: Some(record.clone()),
            exact_conflict: true,
        })
        .await
        .expect("commit");
    assert_eq!(written, Committed::Written);

    let stored = get(&store, "$command#order-1", 0)
        .await
        .expect("the record");
    assert_eq!(
        names(&stored),
        ["aggregateId", "expiresAt", "outcome", "version"]
    );
    assert_eq!(stored["version"], n(0));
    assert_eq!(stored["expiresAt"], n(1_900_000_000u64));
    assert_eq!(
        stored["outcome"],
        AttributeValue::L(vec![m([
            ("aggregate", s("Product")),
            ("id", s("sku-1")),
            ("version", n(1))
        ])])
    );
    assert_eq!(
        store.command("order-1").await.expect("command"),
        Some(record)
    );
}

#[tokio::test]
async fn the_table_has_the_documented_keys_index_and_stream() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("shape-table").await;
    let table = describe(&store).await;
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("aggregateId", "HASH"), ("version", "RANGE")]);
    let mut types: Vec<_> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            ("aggregateId", "S"),
            ("eventStoreId", "S"),
            ("timestamp", "S"),
            ("version", "N")
        ]
    );
    let index = &table.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("initialEvents"));
    let keys: Vec<_> = index
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("eventStoreId", "HASH"), ("timestamp", "RANGE")]);
    assert_eq!(
        index
            .projection()
            .and_then(|p| p.projection_type())
            .map(|p| p.as_str()),
        Some("KEYS_ONLY")
    );
    let stream = table.stream_specification().expect("streams");
    assert!(stream.stream_enabled());
    assert_eq!(
        stream.stream_view_type().map(|v| v.as_str()),
        Some("NEW_IMAGE")
    );
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str()),
        Some("PAY_PER_REQUEST")
    );
}
