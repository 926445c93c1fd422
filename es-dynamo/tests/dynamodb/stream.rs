//! The table's DynamoDB Stream, read as a Lambda event source mapping reads
//! it, carries every committed event; `decode_stream_image` turns the new
//! images into typed events of one aggregate and passes over the rest.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use es_core::conformance::model::*;
use es_core::{AggregateExt, Error, EventSet, Root};
use es_dynamo::testing::{legacy_store_on_new_table, skip_without_dynamodb, store_on_new_table};
use es_dynamo::DynamoStore;
use futures::TryStreamExt;

use crate::common::*;

const T: &str = "2026-01-01T00:00:00.000Z";

/// The new image of every INSERT record on the table's stream, in stream
/// order, from the start of every shard.
async fn inserted_images(store: &DynamoStore) -> Vec<HashMap<String, AttributeValue>> {
    es_dynamo::testing::stream_records(store)
        .await
        .into_iter()
        .filter(|record| record.event_name == "INSERT")
        .map(|record| record.new_image)
        .collect()
}

async fn decoded<A: es_core::Aggregate>(
    store: &DynamoStore,
    images: &[HashMap<String, AttributeValue>],
) -> Vec<(String, u64, &'static str)> {
    let mut out = Vec::new();
    for image in images {
        if let Some(e) = store
            .decode_stream_image::<A>(image.clone())
            .await
            .expect("decodes")
        {
            out.push((e.id, e.recorded.version, e.recorded.event.name()));
        }
    }
    out
}

async fn commit_a_mixed_history(store: &DynamoStore) {
    let mut sku1 = Root::<Product, _>::new(store, "sku-1");
    sku1.commit(Restocked { amount: 5 }).await.expect("restock");
    // An idempotent command also writes its command record to the table.
    Product::command(store, "sku-1")
        .idempotency_key("order-1")
        .execute(|p| p.reserve("c1", 2))
        .await
        .expect("reserve");
    // Another aggregate type, with snapshots inline on every 4th event.
    let mut counter = Root::<Counter, _>::new(store, "c-1");
    for n in 1..=5 {
        counter.commit(Added { n }).await.expect("add");
    }
    let mut sku2 = Root::<Product, _>::new(store, "sku-2");
    sku2.commit_all(vec![
        ProductEvent::from(Restocked { amount: 1 }),
        ProductEvent::from(Discontinued),
    ])
    .await
    .expect("a batch");
}

#[tokio::test]
async fn the_stream_carries_each_aggregates_events_in_order() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("stream").await;
    commit_a_mixed_history(&store).await;

    let images = inserted_images(&store).await;
    assert_eq!(images.len(), 10, "9 events and 1 command record");
    let mut products = decoded::<Product>(&store, &images).await;
    // Stream order holds within an aggregate, not across aggregates: a
    // stable sort by id alone keeps each aggregate's stream order.
    products.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        products,
        [
            ("sku-1".into(), 1, "Restocked"),
            ("sku-1".into(), 2, "Reserved"),
            ("sku-2".into(), 1, "Restocked"),
            ("sku-2".into(), 2, "Discontinued"),
        ]
    );
    let counters = decoded::<Counter>(&store, &images).await;
    assert_eq!(
        counters.iter().map(|(_, v, _)| *v).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "one shard keeps an aggregate's events in version order"
    );

    // What the stream carries is what a load reads: payload, timestamp and
    // metadata alike.
    let mut decoded_all = Vec::new();
    for i in &images {
        if let Some(e) = store
            .decode_stream_image::<Product>(i.clone())
            .await
            .expect("decodes")
        {
            decoded_all.push(e);
        }
    }
    let from_stream: Vec<_> = decoded_all
        .into_iter()
        .filter(|e| e.id == "sku-1")
        .map(|e| e.recorded)
        .collect();
    let loaded: Vec<_> = Product::load(&store, "sku-1")
        .await
        .expect("load")
        .history()
        .try_collect()
        .await
        .expect("history");
    assert_eq!(format!("{from_stream:?}"), format!("{loaded:?}"));
}

#[tokio::test]
async fn in_the_legacy_layout_every_event_is_the_tables_aggregate() {
    if skip_without_dynamodb() {
        return;
    }
    let store = legacy_store_on_new_table("stream").await;
    let mut sku1 = Root::<Product, _>::new(&store, "sku-1");
    sku1.commit(Restocked { amount: 5 }).await.expect("restock");
    Product::command(&store, "sku-1")
        .idempotency_key("order-1")
        .execute(|p| p.reserve("c1", 2))
        .await
        .expect("reserve");

    let images = inserted_images(&store).await;
    assert_eq!(images.len(), 3, "2 events and 1 command record");
    assert_eq!(
        decoded::<Product>(&store, &images).await,
        [
            ("sku-1".into(), 1, "Restocked"),
            ("sku-1".into(), 2, "Reserved")
        ]
    );
}

/// Puts `image` on the table at `version` of `Product` `id`, after good
/// events at the versions before it, and returns the error decoding it
/// gives, having checked that a load of `id` fails with the same error.
async fn decode_fails_like_a_load(
    store: &DynamoStore,
    id: &str,
    version: u64,
    image: Item,
) -> Error<ProductError> {
    let key = format!("Product#{id}");
    for v in 1..version {
        put(
            store,
            item([
                ("aggregateId", s(&key)),
                ("version", n(v)),
                ("type", s("Noted")),
                ("timestamp", s(T)),
                ("payload", m([("text", s("fine"))])),
            ]),
        )
        .await;
    }
    put(store, image.clone()).await;
    let loaded = Product::load(store, id).await.expect_err("a load fails");
    let decoded = store
        .decode_stream_image::<Product>(image)
        .await
        .expect_err("decoding fails");
    assert_eq!(format!("{decoded:?}"), format!("{loaded:?}"));
    decoded
}

#[tokio::test]
async fn images_that_are_not_events_fail_like_a_load() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("stream").await;
    // A KEYS_ONLY stream's image: the key, and no event in it.
    let keys_only = item([("aggregateId", s("Product#sku-1")), ("version", n(3))]);
    match decode_fails_like_a_load(&store, "sku-1", 3, keys_only).await {
        Error::Corrupt {
            aggregate,
            id,
            version,
            reason,
        } => {
            assert_eq!(
                (aggregate.as_ref(), id.as_str(), version),
                ("Product", "sku-1", 3)
            );
            assert!(reason.contains("`type` is missing"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let unknown = item([
        ("aggregateId", s("Product#sku-2")),
        ("version", n(4)),
        ("type", s("Teleported")),
        ("timestamp", s(T)),
    ]);
    assert!(matches!(
        decode_fails_like_a_load(&store, "sku-2", 4, unknown).await,
        Error::UnknownEvent { name, id, version: 4, .. } if name == "Teleported" && id == "sku-2"
    ));
    // An item without its key cannot be on the table to load.
    let no_key = item([("version", n(1))]);
    assert!(matches!(
        store.decode_stream_image::<Product>(no_key).await,
        Err(Error::Corrupt { reason, .. }) if reason.contains("`aggregateId` is missing")
    ));
}

/// On Lambda, a stream record arrives as JSON, its new image in DynamoDB's
/// JSON format, which `aws_lambda_events` reads into a `serde_dynamo::Item`.
/// The same path, from an item es wrote: JSON out, JSON in, decoded.
#[tokio::test]
async fn a_lambda_records_new_image_decodes() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("stream").await;
    let mut product = Root::<Product, _>::new(&store, "sku-1");
    product
        .commit(Reserved {
            cart_id: "c-🚀".into(),
            quantity: 0,
        })
        .await
        .expect("commit");
    let stored = get(&store, "Product#sku-1", 1).await.expect("the item");

    let record = serde_json::json!({
        "Records": [{
            "eventID": "1",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "awsRegion": "eu-west-1",
            "dynamodb": {
                "Keys": serde_dynamo::Item::from(key_of(&stored)),
                "NewImage": serde_dynamo::Item::from(stored.clone()),
                "SequenceNumber": "100",
                "SizeBytes": 200,
                "StreamViewType": "NEW_IMAGE"
            }
        }]
    })
    .to_string();

    let lambda: serde_json::Value = serde_json::from_str(&record).expect("JSON");
    let image: serde_dynamo::Item =
        serde_json::from_value(lambda["Records"][0]["dynamodb"]["NewImage"].clone())
            .expect("DynamoDB JSON");
    let change = store
        .decode_stream_image::<Product>(image.into())
        .await
        .expect("decodes")
        .expect("a Product event");
    assert_eq!((change.id.as_str(), change.recorded.version), ("sku-1", 1));
    assert!(matches!(
        change.recorded.event,
        ProductEvent::Reserved(Reserved { ref cart_id, quantity: 0 }) if cart_id == "c-🚀"
    ));
}

fn key_of(item: &HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue> {
    ["aggregateId", "version"]
        .into_iter()
        .map(|k| (k.to_owned(), item[k].clone()))
        .collect()
}
